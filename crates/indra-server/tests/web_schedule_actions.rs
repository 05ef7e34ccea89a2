//! The appointment page over HTTP, in-process against the real database, signed in with a
//! session cookie: rescheduling one occurrence, this and following, or a whole series (the other
//! occurrences checked in the database), a clash and a stale form, cancelling with a reason (the
//! time is free again), a no-show, starting and ending the session (which completes the
//! appointment), billing's read-only view, and another practice's appointment.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::web::{encoded, get, html};
use common::{Answer, PASSWORD, TestApp};
use serde_json::json;
use uuid::Uuid;

fn post(path: &str, cookie: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", encoded(value)))
        .collect::<Vec<_>>()
        .join("&");
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

async fn web_sign_in(app: &TestApp, org: usize, role: &str) -> String {
    let email = app.email_of(org, role).await;
    let answer = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "email={}&password={}",
                    encoded(&email),
                    encoded(PASSWORD)
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{email}");
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).expect(name) + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

/// The page's CSRF token and the appointment's version, as its forms carry them.
async fn form_tokens(app: &TestApp, cookie: &str, id: Uuid) -> (String, String) {
    let page = app.send(get(&format!("/appointments/{id}"), cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", html(&page));
    (
        hidden(html(&page), "csrf_token"),
        hidden(html(&page), "etag"),
    )
}

/// Books, through the API as the provider of organization 0, `count` weekly appointments (one
/// when `count` is 1) on Tuesdays of January 2030 at 7:00 local, far from the demo's.
async fn book(app: &TestApp, count: u32, day: u32) -> Vec<Uuid> {
    let email = app.email_of(0, "provider").await;
    let token = app.sign_in(&email).await;
    let (provider, patient, zone): (Uuid, Uuid, String) = sqlx::query_as(
        "select p.id, (select id from patients where org_id = u.org_id order by id limit 1), o.time_zone
           from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
           join organizations o on o.id = u.org_id where u.email = $1",
    )
    .bind(&email)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (starts, ends): (String, String) = sqlx::query_as(
        "select to_char(t at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                to_char((t + interval '53 minutes') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
           from (select (make_timestamp(2030, 1, $1, 7, 0, 0) at time zone $2) as t) s",
    )
    .bind(i32::try_from(day).unwrap())
    .bind(&zone)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let mut body = json!({"patient_id": patient, "provider_id": provider,
                          "starts_at": starts, "ends_at": ends});
    if count > 1 {
        body["recurrence_rule"] = json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": count});
    }
    let answer = app
        .call(
            Method::POST,
            "/api/v1/appointments",
            Some(&token),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| Uuid::parse_str(a["id"].as_str().unwrap()).unwrap())
        .collect()
}

/// Each appointment's local start (`HH24:MI`), in the order of `ids`.
async fn local_times(app: &TestApp, ids: &[Uuid]) -> Vec<String> {
    let mut times = Vec::new();
    for id in ids {
        times.push(
            sqlx::query_scalar(
                "select to_char(a.starts_at at time zone o.time_zone, 'HH24:MI')
                   from appointments a join organizations o on o.id = a.org_id where a.id = $1",
            )
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap(),
        );
    }
    times
}

async fn local_date(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar(
        "select to_char(a.starts_at at time zone o.time_zone, 'YYYY-MM-DD')
           from appointments a join organizations o on o.id = a.org_id where a.id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn status_of(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("select status::text from appointments where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn reschedule(
    app: &TestApp,
    cookie: &str,
    id: Uuid,
    time: &str,
    scope: &str,
    etag: Option<&str>,
) -> Answer {
    let (csrf, current) = form_tokens(app, cookie, id).await;
    let date = local_date(app, id).await;
    app.send(post(
        &format!("/appointments/{id}/reschedule"),
        cookie,
        &[
            ("csrf_token", &csrf),
            ("etag", etag.unwrap_or(&current)),
            ("date", &date),
            ("time", time),
            ("minutes", "53"),
            ("scope", scope),
        ],
    ))
    .await
}

#[tokio::test]
async fn a_series_is_rescheduled_whole_from_here_on_or_one_occurrence() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, 0, "provider").await;
    let series = book(&app, 4, 8).await;
    assert_eq!(series.len(), 4);

    // The schedule links to the appointment page, which describes the series.
    let page = app
        .send(get(&format!("/appointments/{}", series[1]), &provider))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        html(&page).contains("Appointment 2 of 4 of a weekly series"),
        "{}",
        html(&page)
    );
    assert!(
        html(&page).contains(r#"<input type="radio" id="reschedule-scope-this_and_following""#)
    );
    let week = app
        .send(get("/schedule?view=week&date=2030-01-08", &provider))
        .await;
    assert!(html(&week).contains(&format!(r#"href="/appointments/{}""#, series[0])));

    let all = reschedule(&app, &provider, series[1], "10:00", "all", None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", html(&all));
    assert!(html(&all).contains("Every appointment of the series was rescheduled"));
    assert_eq!(local_times(&app, &series).await, ["10:00"; 4]);

    let following = reschedule(
        &app,
        &provider,
        series[2],
        "11:00",
        "this_and_following",
        None,
    )
    .await;
    assert_eq!(following.status, StatusCode::OK, "{}", html(&following));
    assert_eq!(
        local_times(&app, &series).await,
        ["10:00", "10:00", "11:00", "11:00"]
    );

    let one = reschedule(&app, &provider, series[1], "12:00", "this", None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", html(&one));
    assert_eq!(
        local_times(&app, &series).await,
        ["10:00", "12:00", "11:00", "11:00"]
    );

    // A time the provider has taken: 409, naming the clash next to the time; nothing moves.
    let (csrf, etag) = form_tokens(&app, &provider, series[3]).await;
    let taken_day = local_date(&app, series[0]).await;
    let clash = app
        .send(post(
            &format!("/appointments/{}/reschedule", series[3]),
            &provider,
            &[
                ("csrf_token", &csrf),
                ("etag", &etag),
                ("date", &taken_day),
                ("time", "10:15"),
                ("minutes", "53"),
                ("scope", "this"),
            ],
        ))
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", html(&clash));
    assert!(html(&clash).contains(r#"id="time-error""#));
    assert!(
        html(&clash).contains("already booked 10:00 AM–10:53 AM"),
        "{}",
        html(&clash)
    );
    assert_eq!(local_times(&app, &series[3..]).await, ["11:00"]);

    // A form read before a change: 412, said plainly.
    let stale = reschedule(&app, &provider, series[3], "13:00", "this", Some(&etag)).await;
    assert_eq!(stale.status, StatusCode::OK, "the etag is still current");
    let stale = reschedule(&app, &provider, series[3], "14:00", "this", Some(&etag)).await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        html(&stale)
    );
    assert!(html(&stale).contains("Someone changed this appointment"));
    assert_eq!(local_times(&app, &series[3..]).await, ["13:00"]);
    app.close().await;
}

#[tokio::test]
async fn cancelling_needs_a_reason_and_frees_the_time() {
    let app = TestApp::spawn().await;
    let staff = web_sign_in(&app, 0, "staff").await;
    let single = book(&app, 1, 15).await[0];
    let (csrf, etag) = form_tokens(&app, &staff, single).await;
    let path = format!("/appointments/{single}/cancel");
    let no_reason = app
        .send(post(
            &path,
            &staff,
            &[("csrf_token", &csrf), ("etag", &etag), ("reason", " ")],
        ))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html(&no_reason).contains(r#"id="reason-error""#),
        "{}",
        html(&no_reason)
    );
    assert_eq!(status_of(&app, single).await, "scheduled");

    let cancelled = app
        .send(post(
            &path,
            &staff,
            &[
                ("csrf_token", &csrf),
                ("etag", &etag),
                ("reason", "Client called in sick"),
            ],
        ))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", html(&cancelled));
    assert!(html(&cancelled).contains("Client called in sick"));
    assert!(!html(&cancelled).contains(r#"<form id="reschedule""#));
    assert_eq!(status_of(&app, single).await, "cancelled");
    // The same time books again.
    assert_eq!(book(&app, 1, 15).await.len(), 1);
    app.close().await;
}

#[tokio::test]
async fn a_no_show_and_a_session_started_and_ended() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, 0, "provider").await;
    let missed = book(&app, 1, 8).await[0];
    let held = book(&app, 1, 15).await[0];

    let (csrf, etag) = form_tokens(&app, &provider, missed).await;
    let no_show = app
        .send(post(
            &format!("/appointments/{missed}/no-show"),
            &provider,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(no_show.status, StatusCode::OK, "{}", html(&no_show));
    assert_eq!(status_of(&app, missed).await, "no_show");
    assert!(!html(&no_show).contains(r#"<form id="start-session""#));

    let (csrf, etag) = form_tokens(&app, &provider, held).await;
    let started = app
        .send(post(
            &format!("/appointments/{held}/start"),
            &provider,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", html(&started));
    assert!(html(&started).contains(r#"<form id="end-session""#));
    let encounter: (Uuid, String) =
        sqlx::query_as("select id, status::text from encounters where appointment_id = $1")
            .bind(held)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(encounter.1, "in_progress");
    assert!(html(&started).contains(&format!("/encounters/{}/notes/new", encounter.0)));
    assert_eq!(status_of(&app, held).await, "scheduled");

    let (csrf, etag) = form_tokens(&app, &provider, held).await;
    let ended = app
        .send(post(
            &format!("/appointments/{held}/end"),
            &provider,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", html(&ended));
    assert_eq!(status_of(&app, held).await, "completed");
    assert!(html(&ended).contains(r#"id="appointment-status">Completed"#));
    let status: String = sqlx::query_scalar("select status::text from encounters where id = $1")
        .bind(encounter.0)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    app.close().await;
}

#[tokio::test]
async fn billing_reads_without_forms_and_another_practice_is_not_found() {
    let app = TestApp::spawn().await;
    let series = book(&app, 2, 8).await;
    let billing = web_sign_in(&app, 0, "billing").await;
    let page = app
        .send(get(&format!("/appointments/{}", series[0]), &billing))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(html(&page).contains("Appointment 1 of 2"));
    for form in [
        "reschedule",
        "cancel",
        "no-show",
        "start-session",
        "end-session",
    ] {
        assert!(
            !html(&page).contains(&format!(r#"<form id="{form}""#)),
            "{form}"
        );
    }
    // Refused by the database too, should billing post anyway.
    let provider = web_sign_in(&app, 0, "provider").await;
    let (_, etag) = form_tokens(&app, &provider, series[0]).await;
    let csrf = hidden(html(&page), "csrf_token");
    let refused = app
        .send(post(
            &format!("/appointments/{}/no-show", series[0]),
            &billing,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", html(&refused));
    assert_eq!(status_of(&app, series[0]).await, "scheduled");

    let other = web_sign_in(&app, 1, "provider").await;
    for path in [
        format!("/appointments/{}", series[0]),
        "/appointments/nope".to_owned(),
    ] {
        let answer = app.send(get(&path, &other)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    let (csrf, _) = (
        hidden(
            html(&app.send(get("/schedule", &other)).await),
            "csrf_token",
        ),
        (),
    );
    let answer = app
        .send(post(
            &format!("/appointments/{}/no-show", series[0]),
            &other,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, series[0]).await, "scheduled");
    app.close().await;
}
