//! The medication forms of the chart and the patient edit page over HTTP, in-process against
//! the real database, signed in with a session cookie: a medication started, changed (the old
//! row kept as history, `changed`) and discontinued; a missing reason shown next to its field;
//! no medication forms for billing or the front desk; demographics edited, a discharge without
//! a reason refused next to the field and one with a reason saved, a stale save that keeps the
//! typed values, and another practice's patient answered 404.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::web::{get, hidden, html, location, post, section, web_sign_in};
use uuid::Uuid;

/// The value of the field called `name`, whatever attributes come between.
fn field_value(page: &str, name: &str) -> String {
    let start = page
        .find(&format!(r#"name="{name}""#))
        .unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[start..];
    let rest = &rest[rest.find(r#"value=""#).unwrap() + 7..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A patient of organization `org_index` (0 or 1).
async fn patient_of(app: &TestApp, org_index: i64) -> Uuid {
    sqlx::query_scalar(
        "select p.id from patients p
          where p.org_id = (select id from organizations order by name offset $1 limit 1)
            and p.status = 'active'
          order by p.mrn limit 1",
    )
    .bind(org_index)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_clinician_starts_changes_and_discontinues_a_medication() {
    let app = TestApp::spawn().await;
    let patient = patient_of(&app, 0).await;
    let cookie = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(html(&chart).contains("Start a medication"));
    let csrf = hidden(html(&chart), "csrf_token");

    // Started.
    let started = app
        .send(post(
            &format!("/patients/{patient}/medications"),
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("name", "Bupropion XL"),
                ("dose", "150 mg"),
                ("route", "oral"),
                ("frequency", "every morning"),
                ("instructions", "Take with breakfast"),
                ("started_on", "2026-11-01"),
            ],
        ))
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{:?}", started.body);
    assert!(location(&started).contains("medication_started=1"));
    let medication: Uuid = sqlx::query_scalar(
        "select id from medications where patient_id = $1 and name = 'Bupropion XL' and status = 'active'",
    )
    .bind(patient)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    let meds = section(html(&chart), "medications");
    assert!(meds.contains("Bupropion XL"), "{meds}");
    assert!(meds.contains(&format!("/medications/{medication}/change")));

    // A change without a reason: refused next to the reason, the typed dose kept, panel open.
    let change_path = format!("/patients/{patient}/medications/{medication}/change");
    let refused = app
        .send(post(
            &change_path,
            &cookie,
            &[("csrf_token", &csrf), ("dose", "300 mg"), ("reason", "  ")],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = html(&refused);
    let reason_error = format!(r#"id="change-{medication}-reason-error""#);
    assert!(page.contains(&reason_error), "{page}");
    assert!(page.contains(r#"value="300 mg""#));
    assert!(page.contains("Required: say why"));

    // Changed with a reason: the old row is history (changed, with why), the new row active.
    let changed = app
        .send(post(
            &change_path,
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("dose", "300 mg"),
                ("reason", "Partial response"),
            ],
        ))
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{:?}", changed.body);
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("select status::text, change_reason from medications where id = $1")
            .bind(medication)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("changed", Some("Partial response"))
    );
    let current: Uuid = sqlx::query_scalar(
        "select id from medications where previous_medication_id = $1 and status = 'active' and dose = '300 mg'",
    )
    .bind(medication)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    let history = section(html(&chart), "medications");
    let history = &history[history.find(r#"id="medication-history""#).unwrap()..];
    assert!(
        history.contains("Bupropion XL</strong> 150 mg"),
        "{history}"
    );
    assert!(history.contains("Reason: Partial response"), "{history}");

    // Discontinued without a reason: refused next to the field; with one: done.
    let stop_path = format!("/patients/{patient}/medications/{current}/discontinue");
    let refused = app
        .send(post(
            &stop_path,
            &cookie,
            &[("csrf_token", &csrf), ("reason", "")],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&refused).contains(&format!(r#"id="discontinue-{current}-reason-error""#)));
    // The day it stopped: the day the current dose started (no earlier, the database says).
    let from: time::Date = sqlx::query_scalar("select started_on from medications where id = $1")
        .bind(current)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let from = from.to_string();
    let stopped = app
        .send(post(
            &stop_path,
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("reason", "Rash"),
                ("ended_on", &from),
            ],
        ))
        .await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER, "{:?}", stopped.body);
    let (status, ended): (String, Option<time::Date>) =
        sqlx::query_as("select status::text, ended_on from medications where id = $1")
            .bind(current)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "discontinued");
    assert_eq!(ended.unwrap().to_string(), from);
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    let meds = section(html(&chart), "medications");
    assert!(!meds.contains(&format!("/medications/{current}/discontinue")));
    assert!(meds.contains("Reason: Rash"), "{meds}");
    app.close().await;
}

#[tokio::test]
async fn only_clinicians_get_medication_forms() {
    let app = TestApp::spawn().await;
    let patient = patient_of(&app, 0).await;
    let medication: Uuid = sqlx::query_scalar(
        "select id from medications where status = 'active'
          and org_id = (select id from organizations order by name limit 1) limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    // Admins read the medication list but do not prescribe; billing and the front desk see none.
    for role in ["billing", "staff", "admin"] {
        let cookie = web_sign_in(&app, &app.email_of(0, role).await).await;
        let chart = app
            .send(get(&format!("/patients/{patient}"), &cookie))
            .await;
        assert_eq!(chart.status, StatusCode::OK, "{role}");
        assert!(!html(&chart).contains("Start a medication"), "{role}");
        assert!(!html(&chart).contains("/discontinue"), "{role}");
        let csrf = hidden(html(&chart), "csrf_token");
        let refused = app
            .send(post(
                &format!("/patients/{patient}/medications"),
                &cookie,
                &[("csrf_token", &csrf), ("name", "Sertraline")],
            ))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
        let patient_of_med: Uuid =
            sqlx::query_scalar("select patient_id from medications where id = $1")
                .bind(medication)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        let refused = app
            .send(post(
                &format!("/patients/{patient_of_med}/medications/{medication}/discontinue"),
                &cookie,
                &[("csrf_token", &csrf), ("reason", "x")],
            ))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
    }
    let active: String = sqlx::query_scalar("select status::text from medications where id = $1")
        .bind(medication)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(active, "active");
    app.close().await;
}

#[tokio::test]
async fn the_front_desk_edits_demographics_and_discharges_with_a_reason() {
    let app = TestApp::spawn().await;
    let patient = patient_of(&app, 0).await;
    let cookie = web_sign_in(&app, &app.email_of(0, "staff").await).await;
    let path = format!("/patients/{patient}/edit");
    let edit = app.send(get(&path, &cookie)).await;
    assert_eq!(edit.status, StatusCode::OK, "{:?}", edit.body);
    let page = html(&edit).to_owned();
    let csrf = hidden(&page, "csrf_token");
    let etag = hidden(&page, "etag")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"");
    let first = field_value(&page, "first_name");
    let last = field_value(&page, "last_name");
    let born = field_value(&page, "date_of_birth");
    let form = |status: &'static str,
                on: &'static str,
                reason: &'static str,
                phone: &'static str,
                etag: String| {
        vec![
            ("csrf_token", csrf.clone()),
            ("etag", etag),
            ("first_name", first.clone()),
            ("last_name", last.clone()),
            ("date_of_birth", born.clone()),
            ("phone", phone.to_owned()),
            ("status", status.to_owned()),
            ("discharged_on", on.to_owned()),
            ("discharge_reason", reason.to_owned()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        post(&path, &cookie, &fields)
    };

    // Demographics saved.
    let saved = app
        .send(send(form("active", "", "", "512-555-0199", etag.clone())))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{:?}", saved.body);
    assert_eq!(location(&saved), format!("/patients/{patient}?updated=1"));
    let phone: Option<String> = sqlx::query_scalar("select phone from patients where id = $1")
        .bind(patient)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(phone.as_deref(), Some("512-555-0199"));

    // The old etag is stale now: refused with a clear message, the typed values kept.
    let stale = app
        .send(send(form("active", "", "", "512-555-0123", etag)))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(html(&stale).contains("someone else changed this patient"));
    assert!(html(&stale).contains(r#"value="512-555-0123""#));
    let etag = hidden(html(&stale), "etag")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"");

    // A discharge without a reason: refused next to the reason, nothing changed.
    let refused = app
        .send(send(form(
            "discharged",
            "2026-11-20",
            "",
            "512-555-0199",
            etag.clone(),
        )))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert!(
        html(&refused).contains(r#"id="discharge_reason-error""#),
        "{:?}",
        refused.body
    );
    let status: String = sqlx::query_scalar("select status::text from patients where id = $1")
        .bind(patient)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "active");

    // With a reason: discharged.
    let discharged = app
        .send(send(form(
            "discharged",
            "2026-11-20",
            "Treatment goals met",
            "512-555-0199",
            etag,
        )))
        .await;
    assert_eq!(
        discharged.status,
        StatusCode::SEE_OTHER,
        "{:?}",
        discharged.body
    );
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("select status::text, discharge_reason from patients where id = $1")
            .bind(patient)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("discharged", Some("Treatment goals met"))
    );
    app.close().await;
}

#[tokio::test]
async fn another_practices_patient_is_not_found_and_billing_may_not_edit() {
    let app = TestApp::spawn().await;
    let theirs = patient_of(&app, 1).await;
    let cookie = web_sign_in(&app, &app.email_of(0, "staff").await).await;
    let edit = app
        .send(get(&format!("/patients/{theirs}/edit"), &cookie))
        .await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    let provider = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let chart = app.send(get("/", &provider)).await;
    let csrf = hidden(html(&chart), "csrf_token");
    let start = app
        .send(post(
            &format!("/patients/{theirs}/medications"),
            &provider,
            &[("csrf_token", &csrf), ("name", "Sertraline")],
        ))
        .await;
    assert_eq!(start.status, StatusCode::NOT_FOUND);

    let ours = patient_of(&app, 0).await;
    let billing = web_sign_in(&app, &app.email_of(0, "billing").await).await;
    let edit = app
        .send(get(&format!("/patients/{ours}/edit"), &billing))
        .await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    app.close().await;
}
