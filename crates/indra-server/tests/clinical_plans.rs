//! Treatment plans and medications over HTTP, against the real database: a plan drafted,
//! signed and revised (the old version superseded, one current), a signed plan that no API call
//! can change, content checked field by field, plans coming due for review; medications started,
//! changed (history kept and linked) and discontinued, and the refusals: another practice's
//! records (404), the front desk and billing (nothing), admins (read only).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{Method, StatusCode, header};
use common::{Answer, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

const ORG_A: usize = 0;
const ORG_B: usize = 1;

fn etag(answer: &Answer) -> String {
    answer
        .headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.body))
        .to_str()
        .unwrap()
        .to_owned()
}

fn id(answer: &Answer) -> Uuid {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {:?}", answer.body))
        .parse()
        .unwrap()
}

#[track_caller]
fn assert_status(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
}

/// The answer is a problem document of this status, `type` and (when given) field.
#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_status(answer, status);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(answer.body["type"], format!("/problems/{kind}"));
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), &[])
        .await
}

async fn post_with(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), headers)
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

/// Signs a plan version with its current ETag.
async fn sign(app: &TestApp, plan: Uuid, token: &str) -> Answer {
    let current = app
        .get(&format!("/api/v1/treatment-plans/{plan}"), token)
        .await;
    assert_status(&current, StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/api/v1/treatment-plans/{plan}/sign"),
        Some(token),
        None,
        &[("if-match", &etag(&current))],
    )
    .await
}

/// A demo patient of organization `org_index`: the `n`th (0-based) by record number, with its
/// primary clinician's e-mail and provider id and its primary diagnosis.
struct DemoPatient {
    id: Uuid,
    clinician_email: String,
    provider_id: Uuid,
    diagnosis: String,
}

async fn demo_patient(app: &TestApp, org_index: usize, n: i64) -> DemoPatient {
    let org: Uuid = sqlx::query_scalar("select org_id from users where email = $1")
        .bind(app.email_of(org_index, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (id, clinician_email, provider_id, diagnosis): (Uuid, String, Uuid, String) =
        sqlx::query_as(
            "select p.id, u.email::text, pr.id, d.icd10_code
               from patients p
               join providers pr on pr.org_id = p.org_id and pr.id = p.primary_provider_id
               join users u on u.id = pr.user_id
               join patient_diagnoses d on d.org_id = p.org_id and d.patient_id = p.id
                                       and d.is_primary and d.status = 'active'
              where p.org_id = $1 order by p.mrn offset $2 limit 1",
        )
        .bind(org)
        .bind(n)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    DemoPatient {
        id,
        clinician_email,
        provider_id,
        diagnosis,
    }
}

/// A complete plan for a patient with diagnosis `code`, its objectives due in 2099.
fn plan_content(code: &str, intervention: &str) -> Value {
    json!({"problems": [{
        "icd10_code": code,
        "statement": "Client reports worry that keeps them from sleeping.",
        "goals": [
            {"goal": "Reduce anxiety", "measure": "GAD-7 below 10 on two screenings",
             "objectives": [{"objective": "Practise paced breathing daily", "target_date": "2099-01-15"}]},
            {"goal": "Sleep through the night", "measure": "5 of 7 nights in a sleep log",
             "objectives": [{"objective": "Keep a sleep log", "target_date": "2099-02-01"}]}
        ],
        "interventions": [{"intervention": intervention, "frequency": "weekly"}]
    }]})
}

/// The patient's plan versions, as the database holds them: (version, status, is_current).
async fn versions_in_db(app: &TestApp, patient: Uuid) -> Vec<(i32, String, bool)> {
    sqlx::query_as(
        "select version, status::text, is_current from treatment_plans where patient_id = $1 order by version",
    )
    .bind(patient)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_plan_is_drafted_signed_and_revised() {
    let app = TestApp::spawn().await;
    // The fifth patient has no plan yet; their clinician writes one.
    let patient = demo_patient(&app, ORG_A, 4).await;
    let author = app.sign_in(&patient.clinician_email).await;
    let plans = format!("/api/v1/patients/{}/treatment-plans", patient.id);

    let content = plan_content(&patient.diagnosis, "CBT");
    let body = json!({"content": content, "effective_on": "2026-12-01"});
    let draft = post_with(
        &app,
        &plans,
        &author,
        body.clone(),
        &[("idempotency-key", "plan-1")],
    )
    .await;
    assert_status(&draft, StatusCode::CREATED);
    let v1 = id(&draft);
    assert_eq!(draft.body["status"], "draft");
    assert_eq!(draft.body["version"], 1);
    assert_eq!(draft.body["is_current"], true);
    assert_eq!(draft.body["provider_id"], patient.provider_id.to_string());
    assert_eq!(
        draft.body["review_due_on"], "2027-03-01",
        "90 days after it takes effect"
    );
    assert_eq!(draft.body["content"], content);
    assert_eq!(
        draft.headers[header::LOCATION],
        format!("/api/v1/treatment-plans/{v1}")
    );
    // A retry is answered once; a second plan for the patient is refused: revise the current one.
    let retried = post_with(
        &app,
        &plans,
        &author,
        body.clone(),
        &[("idempotency-key", "plan-1")],
    )
    .await;
    assert_status(&retried, StatusCode::CREATED);
    assert_eq!(id(&retried), v1);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    let second = post(&app, &plans, &author, body).await;
    assert_problem(&second, StatusCode::CONFLICT, "conflict", None);
    assert!(
        second.body["detail"]
            .as_str()
            .unwrap()
            .contains("revise it")
    );

    // The author edits the draft; another clinician may read it but neither edit nor sign it.
    let url = format!("/api/v1/treatment-plans/{v1}");
    let read = app.get(&url, &author).await;
    let edited = patch(
        &app,
        &url,
        &author,
        json!({"content": plan_content(&patient.diagnosis, "Exposure and response prevention"),
               "review_due_on": "2027-02-15"}),
        &etag(&read),
    )
    .await;
    assert_status(&edited, StatusCode::OK);
    assert_eq!(
        edited.body["content"]["problems"][0]["interventions"][0]["intervention"],
        "Exposure and response prevention"
    );
    assert_eq!(edited.body["review_due_on"], "2027-02-15");
    let stale = patch(&app, &url, &author, json!({}), &etag(&read)).await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );
    let colleague = app
        .sign_in(&demo_patient(&app, ORG_A, 1).await.clinician_email)
        .await;
    let theirs = patch(
        &app,
        &url,
        &colleague,
        json!({"review_due_on": "2027-01-01"}),
        &etag(&edited),
    )
    .await;
    assert_problem(&theirs, StatusCode::FORBIDDEN, "forbidden", None);
    assert_problem(
        &sign(&app, v1, &colleague).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );

    let signed = sign(&app, v1, &author).await;
    assert_status(&signed, StatusCode::OK);
    assert_eq!(signed.body["status"], "signed");
    assert!(signed.body["signed_at"].is_string());

    // Signed: no API call changes it, whoever asks.
    for token in [&author, &colleague] {
        let refused = patch(
            &app,
            &url,
            token,
            json!({"content": plan_content(&patient.diagnosis, "Changed after signing")}),
            &etag(&signed),
        )
        .await;
        assert_problem(&refused, StatusCode::CONFLICT, "conflict", None);
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("revise it")
        );
    }
    assert_problem(
        &sign(&app, v1, &author).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let unchanged = app.get(&url, &author).await;
    assert_eq!(unchanged.body, signed.body);
    assert_eq!(etag(&unchanged), etag(&signed));

    // A revision is a new version; the database supersedes the signed one in the same statement.
    let revised = post(
        &app,
        &format!("{url}/revisions"),
        &author,
        json!({"content": plan_content(&patient.diagnosis, "CBT and sleep hygiene")}),
    )
    .await;
    assert_status(&revised, StatusCode::CREATED);
    let v2 = id(&revised);
    assert_eq!(revised.body["version"], 2);
    assert_eq!(revised.body["status"], "draft");
    assert_eq!(revised.body["lineage_id"], v1.to_string());
    assert_eq!(revised.body["previous_version_id"], v1.to_string());
    let old = app.get(&url, &author).await;
    assert_eq!(old.body["status"], "superseded");
    assert_eq!(old.body["is_current"], false);
    assert_eq!(
        old.body["content"], signed.body["content"],
        "kept as signed"
    );

    // Only the current signed version can be revised: not the superseded one, not a draft.
    for from in [v1, v2] {
        let refused = post(
            &app,
            &format!("/api/v1/treatment-plans/{from}/revisions"),
            &author,
            json!({"content": plan_content(&patient.diagnosis, "CBT")}),
        )
        .await;
        assert_problem(&refused, StatusCode::CONFLICT, "conflict", None);
    }

    // Signed at once: a third version, signed, that supersedes the second.
    assert_status(&sign(&app, v2, &author).await, StatusCode::OK);
    let v3 = post(
        &app,
        &format!("/api/v1/treatment-plans/{v2}/revisions"),
        &author,
        json!({"content": plan_content(&patient.diagnosis, "CBT, every other week"), "sign": true}),
    )
    .await;
    assert_status(&v3, StatusCode::CREATED);
    assert_eq!(v3.body["status"], "signed");
    assert_eq!(v3.body["version"], 3);

    let history = app.get(&plans, &author).await;
    assert_status(&history, StatusCode::OK);
    let items = history.body["items"].as_array().unwrap();
    let listed: Vec<(i64, &str, bool)> = items
        .iter()
        .map(|p| {
            (
                p["version"].as_i64().unwrap(),
                p["status"].as_str().unwrap(),
                p["is_current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (3, "signed", true),
            (2, "superseded", false),
            (1, "superseded", false)
        ],
        "every version, the current first"
    );
    assert_eq!(
        versions_in_db(&app, patient.id).await,
        [
            (1, "superseded".to_owned(), false),
            (2, "superseded".to_owned(), false),
            (3, "signed".to_owned(), true)
        ]
    );
    app.close().await;
}

#[tokio::test]
async fn plan_content_is_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let patient = demo_patient(&app, ORG_A, 4).await;
    let author = app.sign_in(&patient.clinician_email).await;
    let plans = format!("/api/v1/patients/{}/treatment-plans", patient.id);

    let mut content = plan_content(&patient.diagnosis, "CBT");
    content["problems"][0]["goals"][1]["objectives"][0]["target_date"] = json!("next month");
    let bad_date = post(&app, &plans, &author, json!({"content": content})).await;
    assert_problem(
        &bad_date,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content.problems[0].goals[1].objectives[0].target_date"),
    );
    assert_eq!(
        bad_date.body["detail"],
        "problems[0].goals[1].objectives[0].target_date: not a date (YYYY-MM-DD)"
    );

    let mut content = plan_content(&patient.diagnosis, "CBT");
    content["problems"][0]["goals"][0]["measure"] = json!(" ");
    content["problems"][0]["interventions"] = json!([]);
    let several = post(&app, &plans, &author, json!({"content": content})).await;
    assert_problem(
        &several,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content.problems[0].goals[0].measure"),
    );
    assert_eq!(
        several.body["detail"],
        "problems[0].goals[0].measure: must not be blank; \
         problems[0].interventions: at least one intervention is required"
    );

    let no_problems = post(&app, &plans, &author, json!({"content": {"problems": []}})).await;
    assert_problem(
        &no_problems,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content.problems"),
    );

    // Objectives fall after the plan takes effect; the review after that too.
    let early = post(
        &app,
        &plans,
        &author,
        json!({"content": plan_content(&patient.diagnosis, "CBT"), "effective_on": "2099-01-20"}),
    )
    .await;
    assert_problem(
        &early,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content.problems[0].goals[0].objectives[0].target_date"),
    );
    let review = post(
        &app,
        &plans,
        &author,
        json!({"content": plan_content(&patient.diagnosis, "CBT"),
               "effective_on": "2026-12-01", "review_due_on": "2026-11-30"}),
    )
    .await;
    assert_problem(
        &review,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("review_due_on"),
    );
    let not_a_date = post(
        &app,
        &plans,
        &author,
        json!({"content": plan_content(&patient.diagnosis, "CBT"), "effective_on": "tomorrow"}),
    )
    .await;
    assert_problem(
        &not_a_date,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("effective_on"),
    );

    // A problem is one of the patient's active diagnoses (the database's rule, migration 0015).
    let not_diagnosed = post(
        &app,
        &plans,
        &author,
        json!({"content": plan_content("F20.9", "CBT")}),
    )
    .await;
    assert_problem(
        &not_diagnosed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content"),
    );
    assert!(
        not_diagnosed.body["detail"]
            .as_str()
            .unwrap()
            .contains("problems[0].icd10_code: F20.9 is not an active diagnosis"),
        "{:?}",
        not_diagnosed.body
    );

    assert!(
        versions_in_db(&app, patient.id).await.is_empty(),
        "nothing was written"
    );
    app.close().await;
}

#[tokio::test]
async fn plans_due_for_review_surface_for_their_clinician() {
    let app = TestApp::spawn().await;
    // The demo's first patient has a signed plan due for review in 3 days; the second's is due
    // in 80.
    let first = demo_patient(&app, ORG_A, 0).await;
    let second = demo_patient(&app, ORG_A, 1).await;
    let due = |answer: &Answer| -> Vec<(Uuid, i64)> {
        assert_status(answer, StatusCode::OK);
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["patient_id"].as_str().unwrap().parse().unwrap(),
                    row["days_until_due"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let path = "/api/v1/treatment-plans/due-for-review";

    let clinician = app.sign_in(&first.clinician_email).await;
    let listed = app.get(&format!("{path}?within_days=14"), &clinician).await;
    assert_eq!(due(&listed), [(first.id, 3)]);
    assert_eq!(listed.body["items"][0]["version"], 2);
    assert!(listed.body["items"][0]["patient_name"].is_string());
    assert_eq!(
        due(&app.get(&format!("{path}?within_days=2"), &clinician).await),
        []
    );
    assert_eq!(
        due(&app.get(path, &clinician).await),
        [(first.id, 3)],
        "14 days by default"
    );

    // Another clinician sees their own patients' plans, not the first patient's.
    let other = app.sign_in(&second.clinician_email).await;
    assert_eq!(
        due(&app.get(&format!("{path}?within_days=14"), &other).await),
        []
    );
    assert_eq!(
        due(&app.get(&format!("{path}?within_days=90"), &other).await),
        [(second.id, 80)]
    );

    // The admin sees the practice's, and only theirs (the other practice has a plan due too).
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let practice = due(&app.get(&format!("{path}?within_days=90"), &admin).await);
    assert_eq!(practice, [(first.id, 3), (second.id, 80)]);
    let paged = app
        .get(&format!("{path}?within_days=90&limit=1"), &admin)
        .await;
    assert_eq!(due(&paged), [(first.id, 3)]);
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("{path}?within_days=90&limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(due(&next), [(second.id, 80)]);
    assert!(next.body["next_cursor"].is_null());

    // The front desk and billing see no plan at all.
    for role in ["staff", "billing"] {
        let token = app.sign_in(&app.email_of(ORG_A, role).await).await;
        assert_eq!(
            due(&app.get(&format!("{path}?within_days=365"), &token).await),
            [],
            "{role}"
        );
    }
    let too_far = app.get(&format!("{path}?within_days=400"), &admin).await;
    assert_problem(
        &too_far,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("within_days"),
    );

    // A revision signed today moves the review date: the plan no longer surfaces.
    let current = listed.body["items"][0]["plan_id"].as_str().unwrap();
    let revised = post(
        &app,
        &format!("/api/v1/treatment-plans/{current}/revisions"),
        &clinician,
        json!({"content": plan_content(&first.diagnosis, "CBT"), "sign": true}),
    )
    .await;
    assert_status(&revised, StatusCode::CREATED);
    assert_eq!(due(&app.get(path, &clinician).await), []);
    app.close().await;
}

/// The medications of a patient as listed, by id: (status, dose).
fn listed(answer: &Answer) -> Vec<(Uuid, String, String)> {
    assert_status(answer, StatusCode::OK);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().parse().unwrap(),
                m["status"].as_str().unwrap().to_owned(),
                m["dose"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn medications_are_started_changed_and_discontinued_with_history() {
    let app = TestApp::spawn().await;
    // The fourth patient sees the practice's psychiatric nurse practitioner.
    let patient = demo_patient(&app, ORG_A, 3).await;
    let prescriber = app.sign_in(&patient.clinician_email).await;
    let meds = format!("/api/v1/patients/{}/medications", patient.id);
    let before = listed(&app.get(&meds, &prescriber).await);

    let started = post_with(
        &app,
        &meds,
        &prescriber,
        json!({"name": " lamotrigine ", "dose": "25 mg", "route": "oral", "frequency": "daily",
               "instructions": "Take with food", "started_on": "2026-10-01"}),
        &[("idempotency-key", "start-lamotrigine")],
    )
    .await;
    assert_status(&started, StatusCode::CREATED);
    let first = id(&started);
    assert_eq!(started.body["name"], "lamotrigine");
    assert_eq!(started.body["status"], "active");
    assert_eq!(started.body["started_on"], "2026-10-01");
    assert_eq!(
        started.body["prescriber_provider_id"],
        patient.provider_id.to_string()
    );

    let change = format!("/api/v1/medications/{first}/change");
    let no_reason = post(
        &app,
        &change,
        &prescriber,
        json!({"dose": "50 mg", "reason": " "}),
    )
    .await;
    assert_problem(
        &no_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("reason"),
    );
    let nothing_new = post(
        &app,
        &change,
        &prescriber,
        json!({"dose": "25 mg", "reason": "titration"}),
    )
    .await;
    assert_problem(
        &nothing_new,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("dose"),
    );
    let backwards = post(
        &app,
        &change,
        &prescriber,
        json!({"dose": "50 mg", "reason": "titration", "changed_on": "2026-09-01"}),
    )
    .await;
    assert_problem(
        &backwards,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("ended_on"),
    );

    let changed = post(
        &app,
        &change,
        &prescriber,
        json!({"dose": "50 mg", "reason": "Titration, week 3", "changed_on": "2026-10-15"}),
    )
    .await;
    assert_status(&changed, StatusCode::CREATED);
    let second = id(&changed);
    assert_eq!(changed.body["previous_medication_id"], first.to_string());
    assert_eq!(changed.body["status"], "active");
    assert_eq!(changed.body["dose"], "50 mg");
    assert_eq!(changed.body["frequency"], "daily", "kept from the old row");
    assert_eq!(changed.body["instructions"], "Take with food");
    assert_eq!(changed.body["started_on"], "2026-10-15");

    let old = app
        .get(&format!("/api/v1/medications/{first}"), &prescriber)
        .await;
    assert_eq!(old.body["status"], "changed");
    assert_eq!(old.body["dose"], "25 mg", "kept as history");
    assert_eq!(old.body["ended_on"], "2026-10-15");
    assert_eq!(old.body["change_reason"], "Titration, week 3");
    assert_eq!(old.body["next_medication_id"], second.to_string());

    let active = listed(&app.get(&meds, &prescriber).await);
    assert!(active.contains(&(second, "active".into(), "50 mg".into())));
    assert!(!active.iter().any(|(id, _, _)| *id == first));
    assert!(active.iter().all(|(_, status, _)| status == "active"));
    assert_eq!(active.len(), before.len() + 1);
    let history = listed(
        &app.get(&format!("{meds}?include_history=true"), &prescriber)
            .await,
    );
    assert!(history.contains(&(first, "changed".into(), "25 mg".into())));
    assert!(history.contains(&(second, "active".into(), "50 mg".into())));

    // The changed row is history: changing or stopping it again is refused.
    let again = post(
        &app,
        &change,
        &prescriber,
        json!({"dose": "100 mg", "reason": "x"}),
    )
    .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict", None);
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("only an active medication")
    );

    let stopped = post(
        &app,
        &format!("/api/v1/medications/{second}/discontinue"),
        &prescriber,
        json!({"reason": "Rash; stopped", "ended_on": "2026-11-01"}),
    )
    .await;
    assert_status(&stopped, StatusCode::OK);
    assert_eq!(stopped.body["status"], "discontinued");
    assert_eq!(stopped.body["ended_on"], "2026-11-01");
    assert_eq!(stopped.body["change_reason"], "Rash; stopped");

    // A discontinued medication is neither changed nor discontinued again (its reason stays).
    let changed_after = post(
        &app,
        &format!("/api/v1/medications/{second}/change"),
        &prescriber,
        json!({"dose": "25 mg", "reason": "restart"}),
    )
    .await;
    assert_problem(&changed_after, StatusCode::CONFLICT, "conflict", None);
    assert!(
        changed_after.body["detail"]
            .as_str()
            .unwrap()
            .contains("only an active medication")
    );
    let stopped_again = post(
        &app,
        &format!("/api/v1/medications/{second}/discontinue"),
        &prescriber,
        json!({"reason": "Another reason", "ended_on": "2026-11-20"}),
    )
    .await;
    assert_problem(&stopped_again, StatusCode::CONFLICT, "conflict", None);
    let kept = app
        .get(&format!("/api/v1/medications/{second}"), &prescriber)
        .await;
    assert_eq!(kept.body["change_reason"], "Rash; stopped");
    assert_eq!(kept.body["ended_on"], "2026-11-01");

    // The demo's discontinued bupropion, likewise.
    let bupropion: Uuid = sqlx::query_scalar(
        "select id from medications where patient_id = $1 and status = 'discontinued' and name = 'bupropion XL'",
    )
    .bind(patient.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let refused = post(
        &app,
        &format!("/api/v1/medications/{bupropion}/change"),
        &prescriber,
        json!({"dose": "300 mg", "reason": "retry"}),
    )
    .await;
    assert_problem(&refused, StatusCode::CONFLICT, "conflict", None);
    app.close().await;
}

#[tokio::test]
async fn another_practices_plans_and_medications_are_not_found() {
    let app = TestApp::spawn().await;
    let theirs = demo_patient(&app, ORG_A, 0).await;
    let prescribed = demo_patient(&app, ORG_A, 3).await;
    let plan: Uuid =
        sqlx::query_scalar("select id from treatment_plans where patient_id = $1 and is_current")
            .bind(theirs.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let medication: Uuid = sqlx::query_scalar(
        "select id from medications where patient_id = $1 and status = 'active' limit 1",
    )
    .bind(prescribed.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let ours = demo_patient(&app, ORG_B, 3).await;
    let token = app.sign_in(&ours.clinician_email).await;
    let content = plan_content(&theirs.diagnosis, "CBT");

    let answers = [
        app.get(&format!("/api/v1/treatment-plans/{plan}"), &token)
            .await,
        app.get(
            &format!("/api/v1/patients/{}/treatment-plans", theirs.id),
            &token,
        )
        .await,
        post(
            &app,
            &format!("/api/v1/patients/{}/treatment-plans", theirs.id),
            &token,
            json!({"content": content}),
        )
        .await,
        patch(
            &app,
            &format!("/api/v1/treatment-plans/{plan}"),
            &token,
            json!({}),
            "*",
        )
        .await,
        app.call(
            Method::POST,
            &format!("/api/v1/treatment-plans/{plan}/sign"),
            Some(&token),
            None,
            &[("if-match", "*")],
        )
        .await,
        post(
            &app,
            &format!("/api/v1/treatment-plans/{plan}/revisions"),
            &token,
            json!({"content": content}),
        )
        .await,
        app.get(
            &format!("/api/v1/patients/{}/medications", prescribed.id),
            &token,
        )
        .await,
        post(
            &app,
            &format!("/api/v1/patients/{}/medications", prescribed.id),
            &token,
            json!({"name": "sertraline"}),
        )
        .await,
        app.get(&format!("/api/v1/medications/{medication}"), &token)
            .await,
        post(
            &app,
            &format!("/api/v1/medications/{medication}/change"),
            &token,
            json!({"dose": "1 mg", "reason": "x"}),
        )
        .await,
        post(
            &app,
            &format!("/api/v1/medications/{medication}/discontinue"),
            &token,
            json!({"reason": "x"}),
        )
        .await,
    ];
    for answer in &answers {
        assert_problem(answer, StatusCode::NOT_FOUND, "not-found", None);
    }
    let due = app
        .get(
            "/api/v1/treatment-plans/due-for-review?within_days=365",
            &token,
        )
        .await;
    assert!(
        !due.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["plan_id"] == plan.to_string()),
        "another practice's plan is never due for us"
    );
    let status: String = sqlx::query_scalar("select status::text from medications where id = $1")
        .bind(medication)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    app.close().await;
}

#[tokio::test]
async fn only_providers_write_admins_read_and_others_see_nothing() {
    let app = TestApp::spawn().await;
    let planned = demo_patient(&app, ORG_A, 0).await;
    let prescribed = demo_patient(&app, ORG_A, 3).await;
    let plan: Uuid =
        sqlx::query_scalar("select id from treatment_plans where patient_id = $1 and is_current")
            .bind(planned.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let medication: Uuid = sqlx::query_scalar(
        "select id from medications where patient_id = $1 and status = 'active' limit 1",
    )
    .bind(prescribed.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let plans = format!("/api/v1/patients/{}/treatment-plans", planned.id);
    let meds = format!("/api/v1/patients/{}/medications", prescribed.id);
    let draft_patient = demo_patient(&app, ORG_A, 4).await;
    let new_plan = json!({"content": plan_content(&draft_patient.diagnosis, "CBT")});
    let new_plans = format!("/api/v1/patients/{}/treatment-plans", draft_patient.id);

    // The front desk and billing: the patient exists for them, the plans and medications do not.
    for role in ["staff", "billing"] {
        let token = app.sign_in(&app.email_of(ORG_A, role).await).await;
        assert_eq!(
            app.get(&plans, &token).await.body["items"],
            json!([]),
            "{role}"
        );
        assert_eq!(
            app.get(&meds, &token).await.body["items"],
            json!([]),
            "{role}"
        );
        let hidden = app
            .get(&format!("/api/v1/treatment-plans/{plan}"), &token)
            .await;
        assert_problem(&hidden, StatusCode::NOT_FOUND, "not-found", None);
        let hidden = app
            .get(&format!("/api/v1/medications/{medication}"), &token)
            .await;
        assert_problem(&hidden, StatusCode::NOT_FOUND, "not-found", None);
        let change = post(
            &app,
            &format!("/api/v1/medications/{medication}/change"),
            &token,
            json!({"dose": "1 mg", "reason": "x"}),
        )
        .await;
        assert_problem(&change, StatusCode::NOT_FOUND, "not-found", None);
        let start = post(&app, &meds, &token, json!({"name": "sertraline"})).await;
        assert_problem(&start, StatusCode::FORBIDDEN, "forbidden", None);
        let write = post(&app, &new_plans, &token, new_plan.clone()).await;
        assert_problem(&write, StatusCode::FORBIDDEN, "forbidden", None);
    }

    // The admin reads everything and writes nothing.
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let read = app.get(&plans, &admin).await;
    assert_eq!(read.body["items"].as_array().unwrap().len(), 2);
    assert!(
        !app.get(&meds, &admin).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let current = app
        .get(&format!("/api/v1/treatment-plans/{plan}"), &admin)
        .await;
    assert_status(&current, StatusCode::OK);
    let refused = [
        post(&app, &new_plans, &admin, new_plan.clone()).await,
        post(
            &app,
            &format!("/api/v1/treatment-plans/{plan}/revisions"),
            &admin,
            json!({"content": plan_content(&planned.diagnosis, "CBT")}),
        )
        .await,
        post(&app, &meds, &admin, json!({"name": "sertraline"})).await,
        post(
            &app,
            &format!("/api/v1/medications/{medication}/change"),
            &admin,
            json!({"dose": "1 mg", "reason": "x"}),
        )
        .await,
        post(
            &app,
            &format!("/api/v1/medications/{medication}/discontinue"),
            &admin,
            json!({"reason": "x"}),
        )
        .await,
    ];
    for answer in &refused {
        assert_problem(answer, StatusCode::FORBIDDEN, "forbidden", None);
    }
    // A draft by a clinician: the admin can neither edit nor sign it.
    let author = app.sign_in(&draft_patient.clinician_email).await;
    let draft = post(&app, &new_plans, &author, new_plan).await;
    assert_status(&draft, StatusCode::CREATED);
    let draft_url = format!("/api/v1/treatment-plans/{}", id(&draft));
    let edit = patch(
        &app,
        &draft_url,
        &admin,
        json!({"review_due_on": "2099-01-01"}),
        &etag(&draft),
    )
    .await;
    assert_problem(&edit, StatusCode::FORBIDDEN, "forbidden", None);
    assert_problem(
        &sign(&app, id(&draft), &admin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_eq!(
        app.get(&draft_url, &author).await.body,
        draft.body,
        "unchanged"
    );

    let status: String = sqlx::query_scalar("select status::text from medications where id = $1")
        .bind(medication)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    app.close().await;
}
