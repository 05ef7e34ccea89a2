//! Patients over HTTP: registering, editing and discharging; search by misspelled and partial
//! names, date of birth and record number, ranked; diagnoses with their rules; the chart as each
//! role gets it; and another practice's patients answered 404 everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{Method, StatusCode};
use common::{Answer, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

const ORG_A: usize = 0;
const ORG_B: usize = 1;

fn etag(answer: &Answer) -> String {
    answer.headers["etag"].to_str().unwrap().to_owned()
}

#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, field: Option<&str>) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), &[])
        .await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value, if_match: &str) -> Answer {
    app.call(
        Method::PATCH,
        path,
        Some(token),
        Some(body),
        &[("if-match", if_match)],
    )
    .await
}

async fn token(app: &TestApp, org: usize, role: &str) -> String {
    app.sign_in(&app.email_of(org, role).await).await
}

async fn new_patient(app: &TestApp, token: &str, first: &str, last: &str, born: &str) -> Value {
    let created = post(
        app,
        "/api/v1/patients",
        token,
        json!({"first_name": first, "last_name": last, "date_of_birth": born}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

fn names(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["first_name"].as_str().unwrap(),
                p["last_name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn registering_editing_and_discharging() {
    let app = TestApp::spawn().await;
    let staff = token(&app, ORG_A, "staff").await;
    let billing = token(&app, ORG_A, "billing").await;

    // Idempotent creation.
    let body = json!({"first_name": " Wren ", "last_name": "Abernathy", "date_of_birth": "1991-06-30",
                      "state": "TX", "postal_code": "78701"});
    let first = app
        .call(
            Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(body.clone()),
            &[("idempotency-key", "wren-1")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["first_name"], "Wren");
    assert_eq!(first.body["date_of_birth"], "1991-06-30");
    assert_eq!(first.body["status"], "active");
    assert!(first.body["mrn"].as_str().unwrap().starts_with('P'));
    let again = app
        .call(
            Method::POST,
            "/api/v1/patients",
            Some(&staff),
            Some(body),
            &[("idempotency-key", "wren-1")],
        )
        .await;
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // Bad values name their field; billing may not register patients.
    let bad = post(&app, "/api/v1/patients", &staff,
        json!({"first_name": "A", "last_name": "B", "date_of_birth": "1991-06-30", "state": "Texas"})).await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, Some("state"));
    let bad = post(
        &app,
        "/api/v1/patients",
        &staff,
        json!({"first_name": "A", "last_name": "B", "date_of_birth": "30/06/1991"}),
    )
    .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, None);
    let refused = post(
        &app,
        "/api/v1/patients",
        &billing,
        json!({"first_name": "A", "last_name": "B", "date_of_birth": "1991-06-30"}),
    )
    .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, None);
    let duplicate = post(&app, "/api/v1/patients", &staff,
        json!({"first_name": "A", "last_name": "B", "date_of_birth": "1991-06-30", "mrn": first.body["mrn"]})).await;
    assert_problem(&duplicate, StatusCode::CONFLICT, Some("mrn"));

    let path = format!("/api/v1/patients/{}", first.body["id"].as_str().unwrap());
    let read = app.get(&path, &staff).await;
    let tag = etag(&read);

    // If-Match: required, and must be current.
    let missing = app
        .call(
            Method::PATCH,
            &path,
            Some(&staff),
            Some(json!({"pronouns": "she/her"})),
            &[],
        )
        .await;
    assert_problem(&missing, StatusCode::PRECONDITION_REQUIRED, None);
    let edited = patch(
        &app,
        &path,
        &staff,
        json!({"pronouns": "she/her", "phone": "555-0199"}),
        &tag,
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(edited.body["pronouns"], "she/her");
    let stale = patch(&app, &path, &staff, json!({"pronouns": "they/them"}), &tag).await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, None);
    // Billing reads demographics but may not change them.
    let refused = patch(
        &app,
        &path,
        &billing,
        json!({"pronouns": "they/them"}),
        &etag(&edited),
    )
    .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, None);

    // Discharging needs a date and a reason: the database says so, and the answer names the field.
    let tag = etag(&edited);
    let no_reason = patch(
        &app,
        &path,
        &staff,
        json!({"status": "discharged", "discharged_on": "2026-01-15"}),
        &tag,
    )
    .await;
    assert_problem(
        &no_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("discharged_on"),
    );
    assert!(
        no_reason.body["detail"]
            .as_str()
            .unwrap()
            .contains("discharge_reason")
    );
    let no_date = patch(
        &app,
        &path,
        &staff,
        json!({"status": "discharged", "discharge_reason": "Treatment goals met"}),
        &tag,
    )
    .await;
    assert_problem(
        &no_date,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("discharged_on"),
    );
    let discharged = patch(&app, &path, &staff,
        json!({"status": "discharged", "discharged_on": "2026-01-15", "discharge_reason": "Treatment goals met"}), &tag).await;
    assert_eq!(discharged.status, StatusCode::OK, "{:?}", discharged.body);
    assert_eq!(discharged.body["status"], "discharged");
    assert_eq!(discharged.body["discharged_on"], "2026-01-15");
    // Coming back clears the discharge.
    let back = patch(
        &app,
        &path,
        &staff,
        json!({"status": "active"}),
        &etag(&discharged),
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_eq!(back.body["discharged_on"], Value::Null);
    assert_eq!(back.body["discharge_reason"], Value::Null);
    app.close().await;
}

#[tokio::test]
async fn searching_by_name_date_of_birth_and_record_number() {
    let app = TestApp::spawn().await;
    let staff = token(&app, ORG_A, "staff").await;
    let kettering = new_patient(&app, &staff, "Marisol", "Kettering", "1988-04-12").await;
    new_patient(&app, &staff, "Margaret", "Kettle", "1979-02-03").await;
    new_patient(&app, &staff, "Ivo", "Ketterman", "1990-09-09").await;
    new_patient(&app, &staff, "Dana", "Whitfield", "1988-04-12").await;
    let search = |q: &str| {
        format!(
            "/api/v1/patients?q={}",
            q.replace(' ', "%20").replace('/', "%2F")
        )
    };

    // A misspelled last name finds the patient; every Kettering ranks before the near names.
    for q in ["Kettring", "Kettering", "kettering"] {
        let found = names(&app.get(&search(q), &staff).await);
        assert!(
            found.contains(&"Marisol Kettering".to_owned()),
            "{q}: {found:?}"
        );
        assert!(
            !found.contains(&"Dana Whitfield".to_owned()),
            "{q}: {found:?}"
        );
        let last_kettering = found
            .iter()
            .rposition(|n| n.ends_with(" Kettering"))
            .unwrap();
        for near in ["Ivo Ketterman", "Margaret Kettle"] {
            if let Some(at) = found.iter().position(|n| n == near) {
                assert!(at > last_kettering, "{q}: {found:?}");
            }
        }
    }
    // A partial first name, alone or with the last name in either order.
    assert!(
        names(&app.get(&search("Mari"), &staff).await).contains(&"Marisol Kettering".to_owned())
    );
    assert_eq!(
        names(&app.get(&search("Kettering, Mari"), &staff).await)[0],
        "Marisol Kettering"
    );
    assert_eq!(
        names(&app.get(&search("mari ketering"), &staff).await)[0],
        "Marisol Kettering"
    );

    // Date of birth, both spellings: both patients born that day, nobody else.
    for q in ["1988-04-12", "04/12/1988"] {
        let mut found = names(&app.get(&search(q), &staff).await);
        found.sort();
        assert_eq!(found, ["Dana Whitfield", "Marisol Kettering"], "{q}");
    }
    assert_problem(
        &app.get(&search("02/30/1988"), &staff).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("q"),
    );
    assert_problem(
        &app.get(&search("k"), &staff).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("q"),
    );

    // Record number: whole, or its beginning, any case.
    let mrn = kettering["mrn"].as_str().unwrap().to_owned();
    assert_eq!(
        names(&app.get(&search(&mrn), &staff).await),
        ["Marisol Kettering"]
    );
    let demo_mrn: String = sqlx::query_scalar(
        "select mrn from patients where org_id = (select org_id from patients where id = $1) and mrn like 'MRN-%' order by mrn limit 1",
    )
    .bind(Uuid::parse_str(kettering["id"].as_str().unwrap()).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let prefix = &demo_mrn[..demo_mrn.len() - 1];
    let demo = app.get(&search(&prefix.to_lowercase()), &staff).await;
    assert!(!names(&demo).is_empty());
    assert!(
        demo.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["mrn"].as_str().unwrap().starts_with(prefix))
    );

    // The plain list pages through everyone.
    let page = app.get("/api/v1/patients?limit=10", &staff).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 10);
    let next = page.body["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("/api/v1/patients?limit=10&cursor={next}"), &staff)
        .await;
    assert_ne!(page2.body["items"][0]["id"], page.body["items"][0]["id"]);
    app.close().await;
}

#[tokio::test]
async fn another_practices_patients_are_never_found_and_answer_404() {
    let app = TestApp::spawn().await;
    let a = token(&app, ORG_A, "provider").await;
    let b_staff = token(&app, ORG_B, "staff").await;
    let theirs = new_patient(&app, &b_staff, "Quentin", "Oyelaran", "1977-07-07").await;
    let id = theirs["id"].as_str().unwrap();
    let mrn = theirs["mrn"].as_str().unwrap();
    for q in ["Oyelaran", "Oyelarn", "Quentin", "1977-07-07", mrn] {
        let answer = app.get(&format!("/api/v1/patients?q={q}"), &a).await;
        assert_eq!(names(&answer), Vec::<String>::new(), "{q}");
    }
    // Nothing of B's demo patients is found by their record numbers' common beginning.
    let b_mrn: String = sqlx::query_scalar(
        "select substr(mrn, 1, 8) from patients where org_id = (select org_id from patients where id = $1) and mrn like 'MRN-%' limit 1",
    )
    .bind(Uuid::parse_str(id).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(
        names(&app.get(&format!("/api/v1/patients?q={b_mrn}"), &a).await).is_empty(),
        "{b_mrn}"
    );

    for path in [
        format!("/api/v1/patients/{id}"),
        format!("/api/v1/patients/{id}/chart"),
        format!("/api/v1/patients/{id}/diagnoses"),
    ] {
        assert_problem(&app.get(&path, &a).await, StatusCode::NOT_FOUND, None);
    }
    let tag = "*";
    assert_problem(
        &patch(
            &app,
            &format!("/api/v1/patients/{id}"),
            &a,
            json!({"pronouns": "x"}),
            tag,
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    );
    assert_problem(
        &post(
            &app,
            &format!("/api/v1/patients/{id}/diagnoses"),
            &a,
            json!({"icd10_code": "F41.1"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    );
    // And B's diagnoses by id.
    let b_provider = token(&app, ORG_B, "provider").await;
    let dx = post(
        &app,
        &format!("/api/v1/patients/{id}/diagnoses"),
        &b_provider,
        json!({"icd10_code": "F41.1"}),
    )
    .await;
    assert_eq!(dx.status, StatusCode::CREATED, "{:?}", dx.body);
    let dx_path = format!("/api/v1/diagnoses/{}", dx.body["id"].as_str().unwrap());
    assert_problem(&app.get(&dx_path, &a).await, StatusCode::NOT_FOUND, None);
    assert_problem(
        &patch(&app, &dx_path, &a, json!({"is_primary": true}), tag).await,
        StatusCode::NOT_FOUND,
        None,
    );
    app.close().await;
}

#[tokio::test]
async fn diagnoses_billable_codes_one_primary_resolve_and_rule_out() {
    let app = TestApp::spawn().await;
    let provider = token(&app, ORG_A, "provider").await;
    let billing = token(&app, ORG_A, "billing").await;
    let staff = token(&app, ORG_A, "staff").await;
    let patient = new_patient(&app, &staff, "Nell", "Pemberton", "1985-03-03").await;
    let base = format!(
        "/api/v1/patients/{}/diagnoses",
        patient["id"].as_str().unwrap()
    );

    let not_billable = post(&app, &base, &provider, json!({"icd10_code": "F32"})).await;
    assert_problem(
        &not_billable,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("icd10_code"),
    );
    let unknown = post(&app, &base, &provider, json!({"icd10_code": "Q99.999"})).await;
    assert_problem(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("icd10_code"),
    );

    let primary = post(
        &app,
        &base,
        &provider,
        json!({"icd10_code": "F41.1", "is_primary": true, "onset_date": "2025-10-01"}),
    )
    .await;
    assert_eq!(primary.status, StatusCode::CREATED, "{:?}", primary.body);
    assert_eq!(primary.body["description"], "Generalized anxiety disorder");
    let second = post(
        &app,
        &base,
        &provider,
        json!({"icd10_code": "F32.1", "is_primary": true}),
    )
    .await;
    assert_problem(&second, StatusCode::CONFLICT, Some("is_primary"));
    assert!(
        second.body["detail"].as_str().unwrap().contains("F41.1"),
        "{:?}",
        second.body
    );
    let secondary = post(
        &app,
        &base,
        &provider,
        json!({"icd10_code": "F32.1", "diagnosed_on": "2025-10-05"}),
    )
    .await;
    assert_eq!(secondary.status, StatusCode::CREATED);
    let secondary_path = format!(
        "/api/v1/diagnoses/{}",
        secondary.body["id"].as_str().unwrap()
    );
    let promote = patch(
        &app,
        &secondary_path,
        &provider,
        json!({"is_primary": true}),
        &etag(&secondary),
    )
    .await;
    assert_problem(&promote, StatusCode::CONFLICT, Some("is_primary"));

    // Staff and billing write nothing; billing reads, staff sees an empty list.
    assert_problem(
        &post(&app, &base, &staff, json!({"icd10_code": "F43.10"})).await,
        StatusCode::FORBIDDEN,
        None,
    );
    assert_problem(
        &post(&app, &base, &billing, json!({"icd10_code": "F43.10"})).await,
        StatusCode::FORBIDDEN,
        None,
    );
    assert_eq!(
        app.get(&base, &billing).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get(&base, &staff).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let read = app.get(&secondary_path, &billing).await;
    assert_problem(
        &patch(
            &app,
            &secondary_path,
            &billing,
            json!({"is_primary": false}),
            &etag(&read),
        )
        .await,
        StatusCode::FORBIDDEN,
        None,
    );

    // Resolve: needs its date, which may not precede the onset.
    let primary_path = format!("/api/v1/diagnoses/{}", primary.body["id"].as_str().unwrap());
    let tag = etag(&primary);
    assert_problem(
        &patch(
            &app,
            &primary_path,
            &provider,
            json!({"status": "resolved"}),
            &tag,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("resolved_on"),
    );
    assert_problem(
        &patch(
            &app,
            &primary_path,
            &provider,
            json!({"status": "resolved", "resolved_on": "2025-01-01"}),
            &tag,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("resolved_on"),
    );
    let resolved = patch(
        &app,
        &primary_path,
        &provider,
        json!({"status": "resolved", "resolved_on": "2026-01-20"}),
        &tag,
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.body);
    assert_eq!(
        (
            resolved.body["status"].as_str(),
            resolved.body["resolved_on"].as_str()
        ),
        (Some("resolved"), Some("2026-01-20"))
    );
    // With the primary resolved, the other may become primary.
    let promote = patch(
        &app,
        &secondary_path,
        &provider,
        json!({"is_primary": true}),
        &etag(&app.get(&secondary_path, &provider).await),
    )
    .await;
    assert_eq!(promote.status, StatusCode::OK, "{:?}", promote.body);
    // Rule out, with its date (not before the diagnosis was made); a ruled-out diagnosis does not come back.
    assert_problem(
        &patch(
            &app,
            &secondary_path,
            &provider,
            json!({"status": "ruled_out", "ruled_out_on": "2025-10-01"}),
            &etag(&promote),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("resolved_on"),
    );
    let ruled = patch(
        &app,
        &secondary_path,
        &provider,
        json!({"status": "ruled_out", "ruled_out_on": "2026-02-01"}),
        &etag(&promote),
    )
    .await;
    assert_eq!(ruled.status, StatusCode::OK, "{:?}", ruled.body);
    assert_eq!(ruled.body["ruled_out_on"], "2026-02-01");
    let back = patch(
        &app,
        &secondary_path,
        &provider,
        json!({"status": "active"}),
        &etag(&ruled),
    )
    .await;
    assert_problem(&back, StatusCode::UNPROCESSABLE_ENTITY, Some("status"));
    // A recurrence: resolved -> active clears the resolution date.
    let recurred = patch(
        &app,
        &primary_path,
        &provider,
        json!({"status": "active"}),
        &etag(&resolved),
    )
    .await;
    assert_eq!(recurred.status, StatusCode::OK, "{:?}", recurred.body);
    assert_eq!(recurred.body["resolved_on"], Value::Null);
    // History keeps all of them.
    assert_eq!(
        app.get(&base, &provider).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.close().await;
}

/// A demo patient of org A with a bit of everything (the prescriber's patient: medications).
async fn rich_demo_patient(app: &TestApp) -> Uuid {
    sqlx::query_scalar(
        "select p.id from patients p join organizations o on o.id = p.org_id
          where exists (select 1 from medications m where m.patient_id = p.id and m.status = 'active')
            and exists (select 1 from encounters e where e.patient_id = p.id)
            and exists (select 1 from patient_insurance i where i.patient_id = p.id and i.is_active)
          order by o.name, p.created_at, p.id limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_chart_as_each_role_gets_it() {
    let app = TestApp::spawn().await;
    let patient = rich_demo_patient(&app).await;
    let path = format!("/api/v1/patients/{patient}/chart");
    let provider = token(&app, ORG_A, "provider").await;
    let chart = app.get(&path, &provider).await;
    assert_eq!(chart.status, StatusCode::OK, "{:?}", chart.body);
    let c = &chart.body;
    assert_eq!(c["patient"]["id"], patient.to_string());
    let diagnoses = c["diagnoses"].as_array().unwrap();
    assert!(!diagnoses.is_empty());
    assert_eq!(diagnoses[0]["is_primary"], true, "primary first");
    assert!(diagnoses.iter().all(|d| d["status"] == "active"));
    assert!(
        c["medications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"].is_string())
    );
    assert!(!c["medications"].as_array().unwrap().is_empty());
    let encounters = c["recent_encounters"].as_array().unwrap();
    assert!(!encounters.is_empty() && encounters.len() <= 10);
    assert!(
        encounters.iter().any(|e| e["note_status"].is_string()),
        "{encounters:?}"
    );
    assert!(c["upcoming_appointments"].as_array().unwrap().len() <= 5);
    let insurance = c["insurance"].as_array().unwrap();
    assert_eq!(insurance[0]["priority"], "primary");
    for coverage in insurance {
        if let Some(authorized) = coverage["authorized_sessions"].as_i64() {
            let used = coverage["sessions_used"].as_i64().unwrap();
            assert_eq!(
                coverage["sessions_used_percent"].as_i64(),
                Some((100.0 * used as f64 / authorized as f64).round() as i64)
            );
        }
    }

    // Billing: no medications, no treatment plan, but diagnoses, encounters with note status, insurance.
    let billing = app.get(&path, &token(&app, ORG_A, "billing").await).await;
    assert_eq!(billing.status, StatusCode::OK);
    assert_eq!(billing.body["medications"], json!([]));
    assert_eq!(billing.body["treatment_plan"], Value::Null);
    assert_eq!(billing.body["diagnoses"], c["diagnoses"]);
    assert_eq!(billing.body["recent_encounters"], c["recent_encounters"]);
    assert_eq!(billing.body["insurance"], c["insurance"]);
    // The front desk: demographics, schedule, encounters and insurance; nothing clinical.
    let staff = app.get(&path, &token(&app, ORG_A, "staff").await).await;
    assert_eq!(staff.status, StatusCode::OK);
    assert_eq!(staff.body["diagnoses"], json!([]));
    assert_eq!(staff.body["medications"], json!([]));
    assert_eq!(staff.body["treatment_plan"], Value::Null);
    assert_eq!(staff.body["patient"], c["patient"]);
    assert_eq!(
        staff.body["upcoming_appointments"],
        c["upcoming_appointments"]
    );
    app.close().await;
}
