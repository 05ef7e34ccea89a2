//! The assistant's API: a clinician's dictation runs in the server's background worker to
//! proposals, which the clinician reviews and commits; other roles and organizations are kept
//! out; only an admin chooses the model.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

/// An active patient of organization `org_index` whose first name is unique there.
async fn patient(app: &TestApp, org_index: i64) -> (Uuid, String) {
    sqlx::query_as(
        "select id, first_name || ' ' || last_name from patients p
          where org_id = (select id from organizations order by name offset $1 limit 1) and status = 'active'
            and (select count(*) from patients q where q.org_id = p.org_id and q.first_name = p.first_name) = 1
          order by mrn limit 1",
    )
    .bind(org_index)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// Polls the run until it leaves pending/running (the worker runs inside the test server).
async fn settled(app: &TestApp, token: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = app.get(&format!("/api/v1/ai/runs/{run}"), token).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let status = answer.body["status"].as_str().unwrap().to_owned();
        if status != "pending" && status != "running" {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "the run is still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> common::Answer {
    app.call(Method::POST, path, Some(token), Some(body), &[])
        .await
}

#[tokio::test]
async fn a_dictation_becomes_reviewed_records_the_clinician_commits() {
    let app = TestApp::spawn().await;
    let token = app.sign_in(&app.email_of(0, "provider").await).await;
    let (patient_id, name) = patient(&app, 0).await;
    let text = format!(
        "Individual session with {name} today, 50 minutes. She reports sleeping better and less worry at work. \
         Plan: continue CBT. Schedule her next Tuesday at 3."
    );
    let created = post(&app, "/api/v1/ai/runs", &token, json!({"input_text": text})).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let run = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/api/v1/ai/runs/{run}")
    );

    let view = settled(&app, &token, &run).await;
    assert_eq!(view["status"], "ready_to_commit", "{:?}", view["error"]);
    assert_eq!(view["model"], "rules");
    let actions = view["actions"].as_array().unwrap();
    let types: Vec<&str> = actions
        .iter()
        .map(|a| a["action_type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"create_encounter"), "{types:?}");
    assert!(types.contains(&"create_note_draft"), "{types:?}");
    assert!(types.contains(&"create_appointment"), "{types:?}");
    for action in actions {
        assert_eq!(
            action["payload"]["patient_id"],
            json!(patient_id.to_string())
        );
        assert!(
            !action["evidence"].as_array().unwrap().is_empty(),
            "{action}"
        );
    }

    // The list shows it, newest first.
    let list = app.get("/api/v1/ai/runs?limit=1", &token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"][0]["id"], json!(run));

    // Review: billing rejected, the note edited, the rest accepted.
    for action in actions {
        let id = action["id"].as_str().unwrap();
        let body = match action["action_type"].as_str().unwrap() {
            "suggest_billing" => json!({"decision": "reject"}),
            "create_note_draft" => {
                let mut payload = action["payload"].clone();
                let sections = payload["sections"].as_object_mut().unwrap();
                let first = sections.keys().next().unwrap().clone();
                sections.insert(first, json!("Edited by the clinician."));
                json!({"decision": "edit", "payload": payload})
            }
            _ => json!({"decision": "accept"}),
        };
        let reviewed = post(
            &app,
            &format!("/api/v1/ai/actions/{id}/review"),
            &token,
            body,
        )
        .await;
        assert_eq!(reviewed.status, StatusCode::OK, "{:?}", reviewed.body);
    }
    let bad = post(
        &app,
        &format!(
            "/api/v1/ai/actions/{}/review",
            actions[0]["id"].as_str().unwrap()
        ),
        &token,
        json!({"decision": "maybe"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "decision");

    let committed = post(
        &app,
        &format!("/api/v1/ai/runs/{run}/commit"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
    assert_eq!(committed.body["status"], "committed");
    let created = committed.body["created"].as_array().unwrap();
    let tables: Vec<&str> = created
        .iter()
        .map(|c| c["table"].as_str().unwrap())
        .collect();
    assert!(tables.contains(&"encounters"), "{tables:?}");
    assert!(tables.contains(&"note_drafts"), "{tables:?}");
    assert!(tables.contains(&"appointments"), "{tables:?}");
    assert!(!tables.contains(&"billing_claims"), "billing was rejected");
    let encounter = created.iter().find(|c| c["table"] == "encounters").unwrap();
    let fetched = app.get(encounter["href"].as_str().unwrap(), &token).await;
    assert_eq!(fetched.status, StatusCode::OK, "{:?}", fetched.body);
    assert_eq!(fetched.body["patient_id"], json!(patient_id.to_string()));

    // Committing again is harmless.
    let again = post(
        &app,
        &format!("/api/v1/ai/runs/{run}/commit"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["created"], committed.body["created"]);

    // The note draft becomes an unsigned note with the clinician's edit; accepting it twice
    // gives the same note.
    let draft = created
        .iter()
        .find(|c| c["table"] == "note_drafts")
        .unwrap();
    let accepted = post(&app, draft["href"].as_str().unwrap(), &token, json!({})).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
    let note = app
        .get(accepted.body["href"].as_str().unwrap(), &token)
        .await;
    assert_eq!(note.status, StatusCode::OK, "{:?}", note.body);
    assert_eq!(note.body["status"], "draft");
    assert!(note.body.to_string().contains("Edited by the clinician."));
    let twice = post(&app, draft["href"].as_str().unwrap(), &token, json!({})).await;
    assert_eq!(twice.body["note_id"], accepted.body["note_id"]);

    // Costs: the rules model is free, but the run is counted in this month.
    let costs = app.get("/api/v1/ai/costs", &token).await;
    assert_eq!(costs.status, StatusCode::OK);
    let months = costs.body["items"].as_array().unwrap();
    assert!(
        months.last().unwrap()["runs"].as_i64().unwrap() >= 1,
        "{months:?}"
    );
    app.close().await;
}

#[tokio::test]
async fn an_ambiguous_name_is_asked_about_and_the_answer_resumes_the_run() {
    let app = TestApp::spawn().await;
    let token = app.sign_in(&app.email_of(0, "provider").await).await;
    let (patient_id, name) = patient(&app, 0).await;
    let first = name.split_whitespace().next().unwrap().to_owned();
    // A second patient with the same first name.
    sqlx::query(
        "insert into patients (org_id, mrn, first_name, last_name, date_of_birth, sex_at_birth)
         select org_id, 'AMBIG-1', first_name, 'Zellweger', date '1990-02-03', sex_at_birth from patients where id = $1",
    )
    .bind(patient_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let text = format!("Individual session with {first} today, 45 minutes. Reports less worry.");
    let created = post(&app, "/api/v1/ai/runs", &token, json!({"input_text": text})).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let run = created.body["id"].as_str().unwrap().to_owned();
    let view = settled(&app, &token, &run).await;
    assert_eq!(view["status"], "needs_clarification", "{view}");
    let question = &view["clarification"];
    assert_eq!(question["topic"], "patient");
    let options = question["options"].as_array().unwrap();
    assert!(options.len() >= 2, "{options:?}");
    assert!(view["actions"].as_array().unwrap().is_empty());

    let wrong = post(
        &app,
        &format!("/api/v1/ai/runs/{run}/clarification"),
        &token,
        json!({"option_id": "not-offered"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let answered = post(
        &app,
        &format!("/api/v1/ai/runs/{run}/clarification"),
        &token,
        json!({"option_id": patient_id.to_string()}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    let view = settled(&app, &token, &run).await;
    assert_eq!(view["status"], "ready_to_commit", "{view}");
    assert!(
        view["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["payload"]["patient_id"] == json!(patient_id.to_string()))
    );
    // Answering again: the run no longer waits.
    let late = post(
        &app,
        &format!("/api/v1/ai/runs/{run}/clarification"),
        &token,
        json!({"text": "never mind"}),
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    app.close().await;
}

#[tokio::test]
async fn runs_stay_with_their_clinician_and_only_clinicians_dictate() {
    let app = TestApp::spawn().await;
    let token = app.sign_in(&app.email_of(0, "provider").await).await;
    let created = post(
        &app,
        "/api/v1/ai/runs",
        &token,
        json!({"input_text": "Individual session today, 50 minutes."}),
    )
    .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let run = created.body["id"].as_str().unwrap().to_owned();

    // Another organization's clinician and admin: not found, as if it did not exist.
    for role in ["provider", "admin"] {
        let other = app.sign_in(&app.email_of(1, role).await).await;
        let answer = app.get(&format!("/api/v1/ai/runs/{run}"), &other).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{role}");
        let commit = post(
            &app,
            &format!("/api/v1/ai/runs/{run}/commit"),
            &other,
            json!({}),
        )
        .await;
        assert_eq!(commit.status, StatusCode::NOT_FOUND, "{role}");
        let list = app.get("/api/v1/ai/runs", &other).await;
        assert!(!list.body.to_string().contains(&run), "{role}");
    }
    // Billing and the front desk cannot start runs.
    for role in ["billing", "staff"] {
        let other = app.sign_in(&app.email_of(0, role).await).await;
        let answer = post(
            &app,
            "/api/v1/ai/runs",
            &other,
            json!({"input_text": "Individual session today, 50 minutes."}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{role}: {:?}",
            answer.body
        );
    }
    // An empty dictation is refused.
    let empty = post(&app, "/api/v1/ai/runs", &token, json!({"input_text": "  "})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.body["field"], "input_text");
    app.close().await;
}

#[tokio::test]
async fn creating_a_run_is_idempotent() {
    let app = TestApp::spawn().await;
    let token = app.sign_in(&app.email_of(0, "provider").await).await;
    let body = json!({"input_text": "Individual session today, 50 minutes."});
    let key = [("Idempotency-Key", "dictation-1")];
    let first = app
        .call(
            Method::POST,
            "/api/v1/ai/runs",
            Some(&token),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    let again = app
        .call(
            Method::POST,
            "/api/v1/ai/runs",
            Some(&token),
            Some(body),
            &key,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = app
        .call(
            Method::POST,
            "/api/v1/ai/runs",
            Some(&token),
            Some(json!({"input_text": "Something else entirely."})),
            &key,
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    let runs: i64 = sqlx::query_scalar(
        "select count(*) from ai_runs where input_text = 'Individual session today, 50 minutes.'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(runs, 1);
    app.close().await;
}

#[tokio::test]
async fn only_an_admin_chooses_the_model_and_external_ones_need_consent() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(0, "admin").await).await;
    let provider = app.sign_in(&app.email_of(0, "provider").await).await;

    let current = app.get("/api/v1/ai/settings", &admin).await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(current.body["model_kind"], "rules");
    assert_eq!(current.body["external_allowed"], false);
    for token in [&provider] {
        assert_eq!(
            app.get("/api/v1/ai/settings", token).await.status,
            StatusCode::FORBIDDEN
        );
        let put = app
            .call(
                Method::PUT,
                "/api/v1/ai/settings",
                Some(token),
                Some(json!({"model_kind": "rules"})),
                &[],
            )
            .await;
        assert_eq!(put.status, StatusCode::FORBIDDEN);
    }

    let put = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/api/v1/ai/settings",
                Some(&admin),
                Some(body),
                &[],
            )
            .await
        }
    };
    let without_consent = put(json!({"model_kind": "openai", "model_name": "gpt-4o-mini"})).await;
    assert_eq!(without_consent.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without_consent.body["field"], "external_allowed");
    let bad_env = put(json!({"model_kind": "openai", "model_name": "gpt-4o-mini",
                             "api_key_env": "sk-live-secret", "external_allowed": true}))
    .await;
    assert_eq!(bad_env.body["field"], "api_key_env");

    let external = put(json!({"model_kind": "openai", "model_name": "gpt-4o-mini",
                              "api_key_env": "INDRA_TEST_NO_SUCH_KEY", "external_allowed": true}))
    .await;
    assert_eq!(external.status, StatusCode::OK, "{:?}", external.body);
    assert_eq!(external.body["external_allowed"], true);
    assert_eq!(external.body["api_key_present"], false);
    assert!(external.body["enabled_at"].is_string());

    let back = put(json!({"model_kind": "rules"})).await;
    assert_eq!(back.status, StatusCode::OK);
    assert_eq!(back.body["model_kind"], "rules");
    assert_eq!(back.body["external_allowed"], false);
    assert!(back.body["enabled_at"].is_null());

    // The other organization still has the default.
    let other = app.sign_in(&app.email_of(1, "admin").await).await;
    let theirs = app.get("/api/v1/ai/settings", &other).await;
    assert_eq!(theirs.body["model_kind"], "rules");
    app.close().await;
}
