//! The clinical pages over HTTP, in-process against the real database, signed in with a session
//! cookie: the patient search and registration, the chart and its diagnosis form, the schedule
//! and booking (a series that meets a taken slot), and Today's plans due for review.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::web::{encoded, get, html};
use common::{PASSWORD, TestApp};
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

fn csrf_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

/// A patient of organization `org`: id, first and last name, MRN.
async fn a_patient(app: &TestApp, org: usize) -> (Uuid, String, String, String) {
    sqlx::query_as(
        "select p.id, p.first_name, p.last_name, p.mrn from patients p join users u on u.org_id = p.org_id
          where u.email = $1 and length(p.last_name) >= 6 order by p.last_name, p.id limit 1",
    )
    .bind(app.email_of(org, "staff").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_misspelled_name_finds_the_patient_and_opens_the_chart() {
    let app = TestApp::spawn().await;
    let staff = web_sign_in(&app, 0, "staff").await;
    let (id, _, last, mrn) = a_patient(&app, 0).await;
    // The last letter mistyped.
    let mut typo: Vec<char> = last.chars().collect();
    let end = typo.len() - 1;
    typo[end] = if typo[end] == 'a' { 'e' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    let found = app
        .send(get(&format!("/patients?q={}", encoded(&typo)), &staff))
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        html(&found).contains(&format!(r#"<a href="/patients/{id}">"#)),
        "{typo}: {}",
        html(&found)
    );
    assert!(html(&found).contains("closest first"));

    // By MRN too; and the chart opens.
    let by_mrn = app
        .send(get(&format!("/patients?q={}", encoded(&mrn)), &staff))
        .await;
    assert!(html(&by_mrn).contains(&format!("/patients/{id}")));
    let chart = app.send(get(&format!("/patients/{id}"), &staff)).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(html(&chart).contains(&mrn));
    assert!(html(&chart).contains(r#"id="demographics""#));
    // The front desk does not see diagnoses.
    assert!(!html(&chart).contains(r#"id="diagnoses""#));

    // Another practice's patient is the 404 page, as is a malformed id.
    let (other, ..) = a_patient(&app, 1).await;
    for path in [format!("/patients/{other}"), "/patients/nope".to_owned()] {
        let answer = app.send(get(&path, &staff)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(html(&answer).contains("<h1>Not found</h1>"));
    }
    app.close().await;
}

#[tokio::test]
async fn the_front_desk_registers_a_patient() {
    let app = TestApp::spawn().await;
    let staff = web_sign_in(&app, 0, "staff").await;
    let list = app.send(get("/patients", &staff)).await;
    let token = csrf_token(html(&list));
    assert!(html(&list).contains(r#"<form id="new-patient""#));

    // A missing date of birth is named next to its field; what was typed stays.
    let refused = app
        .send(post(
            "/patients",
            &staff,
            &[
                ("csrf_token", &token),
                ("first_name", "Wren"),
                ("last_name", "Halloway"),
                ("date_of_birth", ""),
            ],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html(&refused).contains("Date of birth: required"),
        "{}",
        html(&refused)
    );
    assert!(html(&refused).contains(r#"value="Halloway""#));

    let created = app
        .send(post(
            "/patients",
            &staff,
            &[
                ("csrf_token", &token),
                ("first_name", "Wren"),
                ("last_name", "Halloway"),
                ("date_of_birth", "1990-02-03"),
                ("sex_at_birth", "female"),
                ("phone", "555-0100"),
                ("email", "wren@mail.example"),
                ("mrn", ""),
            ],
        ))
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", html(&created));
    let location = created.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.ends_with("?registered=1"), "{location}");
    let chart = app.send(get(&location, &staff)).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(html(&chart).contains("Wren Halloway"));
    assert!(html(&chart).contains("1990-02-03"));

    // A bad CSRF token changes nothing; billing gets no form.
    let forged = app
        .send(post(
            "/patients",
            &staff,
            &[
                ("csrf_token", "forged"),
                ("first_name", "X"),
                ("last_name", "Y"),
                ("date_of_birth", "1990-01-01"),
            ],
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let billing = web_sign_in(&app, 0, "billing").await;
    assert!(!html(&app.send(get("/patients", &billing)).await).contains(r#"id="new-patient""#));
    app.close().await;
}

/// A patient of the signed-in provider (org 0) who has an active primary diagnosis.
async fn provider_patient(app: &TestApp) -> Uuid {
    sqlx::query_scalar(
        "select d.patient_id from patient_diagnoses d join users u on u.org_id = d.org_id
          where u.email = $1 and d.is_primary and d.status = 'active' order by d.patient_id limit 1",
    )
    .bind(app.email_of(0, "provider").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_chart_shows_the_record_and_adds_diagnoses_inline() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, 0, "provider").await;
    let id = provider_patient(&app).await;
    let chart = app.send(get(&format!("/patients/{id}"), &provider)).await;
    assert_eq!(chart.status, StatusCode::OK);
    let page = html(&chart).to_owned();
    for part in [
        r#"id="diagnoses""#,
        r#"<span class="tag">primary</span>"#,
        r#"id="medications""#,
        r#"id="treatment-plan""#,
        r#"id="upcoming""#,
        r#"id="encounters""#,
        r#"id="insurance""#,
        r#"<form id="new-diagnosis""#,
    ] {
        assert!(page.contains(part), "no {part}");
    }
    let has_authorization: bool = sqlx::query_scalar(
        "select exists (select 1 from patient_insurance where patient_id = $1 and is_active and authorized_sessions > 0)",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    if has_authorization {
        assert!(page.contains("<meter"), "no meter");
        assert!(page.contains("sessions used"));
    }
    let token = csrf_token(&page);
    let path = format!("/patients/{id}/diagnoses");

    // A category is not billable: refused next to the field.
    let category = app
        .send(post(
            &path,
            &provider,
            &[("csrf_token", &token), ("icd10_code", "F41")],
        ))
        .await;
    assert_eq!(
        category.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        html(&category)
    );
    assert!(html(&category).contains(r#"id="form-error""#));
    assert!(html(&category).contains(r#"value="F41""#));

    // A second primary diagnosis names the one there is.
    let second = app
        .send(post(
            &path,
            &provider,
            &[
                ("csrf_token", &token),
                ("icd10_code", "F43.10"),
                ("is_primary", "on"),
            ],
        ))
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", html(&second));
    assert!(html(&second).contains("already"), "{}", html(&second));

    let added = app
        .send(post(
            &path,
            &provider,
            &[("csrf_token", &token), ("icd10_code", "F43.10")],
        ))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", html(&added));
    let after = app.send(get(&format!("/patients/{id}"), &provider)).await;
    assert!(html(&after).contains("F43.10"));
    assert!(html(&after).contains("Diagnosis added") || html(&after).contains("F43.10"));
    app.close().await;
}

#[tokio::test]
async fn a_weekly_series_skips_a_taken_slot_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, 0, "provider").await;
    // The provider's last booked appointment: its time is taken, the weeks after are free.
    let (provider_id, date, time): (Uuid, String, String) = sqlx::query_as(
        "select a.provider_id, to_char(a.starts_at at time zone o.time_zone, 'YYYY-MM-DD'),
                to_char(a.starts_at at time zone o.time_zone, 'HH24:MI')
           from appointments a join providers p on p.org_id = a.org_id and p.id = a.provider_id
           join users u on u.org_id = p.org_id and u.id = p.user_id
           join organizations o on o.id = a.org_id
          where u.email = $1 and a.status = 'scheduled' order by a.starts_at desc limit 1",
    )
    .bind(app.email_of(0, "provider").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (patient, ..) = a_patient(&app, 0).await;
    let schedule = app.send(get("/schedule", &provider)).await;
    assert_eq!(schedule.status, StatusCode::OK);
    assert!(html(&schedule).contains(r#"<form id="book""#));
    assert!(html(&schedule).contains("Times in America/"));
    let token = csrf_token(html(&schedule));
    let patient = patient.to_string();
    let provider_id = provider_id.to_string();
    let form = |skip: bool, key: &'static str| {
        let mut fields = vec![
            ("csrf_token", token.clone()),
            ("booking_key", key.to_owned()),
            ("provider_id", provider_id.clone()),
            ("patient_id", patient.clone()),
            ("date", date.clone()),
            ("time", time.clone()),
            ("minutes", "45".to_owned()),
            ("appointment_type", "individual_therapy".to_owned()),
            ("modality", "video".to_owned()),
            ("repeat", "on".to_owned()),
            ("weeks", "3".to_owned()),
        ];
        if skip {
            fields.push(("skip_conflicts", "on".to_owned()));
        }
        fields
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.send(post("/schedule", &provider, &pairs))
    };

    let refused = send(form(false, "k1")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", html(&refused));
    let message = html(&refused);
    assert!(
        message.contains("already booked on 1 of these dates"),
        "{message}"
    );
    assert!(message.contains("Nothing was booked"));

    let booked = send(form(true, "k2")).await;
    assert_eq!(booked.status, StatusCode::OK, "{}", html(&booked));
    let page = html(&booked);
    assert!(page.contains("Booked 2 weekly appointments"), "{page}");
    assert!(page.contains(r#"<ul id="skipped-dates">"#), "{page}");
    assert!(page.contains("Skipped 1 date"), "{page}");
    let series: i64 = sqlx::query_scalar(
        "select count(*) from appointments where patient_id = $1 and modality = 'video' and ends_at - starts_at = interval '45 minutes'",
    )
    .bind(Uuid::parse_str(&patient).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(series, 2);

    // The day view of the first booked date lists the patient.
    let week = app
        .send(get(
            &format!("/schedule?provider={provider_id}&view=day&date={date}"),
            &provider,
        ))
        .await;
    assert_eq!(week.status, StatusCode::OK);
    app.close().await;
}

#[tokio::test]
async fn today_lists_a_providers_plans_due_for_review() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, 0, "provider").await;
    // One of the practice's signed plans comes due tomorrow, for a patient of this provider.
    let (plan, patient, mrn): (Uuid, Uuid, String) = sqlx::query_as(
        "select t.id, t.patient_id, p.mrn from treatment_plans t join patients p on p.id = t.patient_id
           join users u on u.org_id = t.org_id
          where u.email = $1 and t.is_current and t.status = 'signed' order by t.id limit 1",
    )
    .bind(app.email_of(0, "provider").await)
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo has a signed plan");
    // A signed plan never changes; the test moves its date as the database's owner, with the
    // guard triggers off for this one statement.
    let mut tx = app.db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update treatment_plans set review_due_on = current_date + 1 where id = $1")
        .bind(plan)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query(
        "update patients set primary_provider_id =
             (select p.id from providers p join users u on u.org_id = p.org_id and u.id = p.user_id where u.email = $2)
          where id = $1",
    )
    .bind(patient)
    .bind(app.email_of(0, "provider").await)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let today = app.send(get("/", &provider)).await;
    assert_eq!(today.status, StatusCode::OK);
    let page = html(&today);
    assert!(page.contains("Plans due for review"), "{page}");
    assert!(page.contains(&format!("/patients/{patient}")), "{page}");
    assert!(page.contains(&mrn));
    app.close().await;
}
