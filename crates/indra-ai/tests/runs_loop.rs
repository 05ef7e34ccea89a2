//! The run loop, queue and commit against a real PostgreSQL (the demo organizations).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;
use std::time::Duration;

use indra_ai::model::{
    Message, Model, ModelReply, ScriptedModel, StopReason, TokenUsage, ToolCall,
};
use indra_ai::runs::{
    self, AiError, AiSettings, ClarificationAnswer, Limits, NewRun, Review, RunView, act_as,
};
use indra_ai::worker;
use indra_db::testing::TestDb;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

struct Clinician {
    org: Uuid,
    user: Uuid,
    provider: Uuid,
}

async fn clinician(pool: &PgPool, org_index: i64) -> Clinician {
    let (org, user, provider): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select u.org_id, u.id, p.id from users u join providers p on p.org_id = u.org_id and p.user_id = u.id
          where u.org_id = (select id from organizations order by name offset $1 limit 1) and u.is_active
          order by u.email limit 1",
    )
    .bind(org_index)
    .fetch_one(pool)
    .await
    .unwrap();
    Clinician {
        org,
        user,
        provider,
    }
}

/// A patient of the organization whose full name is unique there.
async fn patient(pool: &PgPool, org: Uuid) -> (Uuid, String) {
    sqlx::query_as(
        "select id, first_name || ' ' || last_name from patients p where org_id = $1 and status = 'active'
            and (select count(*) from patients q where q.org_id = p.org_id and q.first_name = p.first_name) = 1
          order by mrn limit 1",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn start(pool: &PgPool, who: &Clinician, text: &str) -> Uuid {
    let mut tx = pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    let id = runs::create_run(
        &mut tx,
        &NewRun {
            provider_id: who.provider,
            requested_by_user_id: who.user,
            patient_id: None,
            input_text: text.to_owned(),
            run_clock: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn view(pool: &PgPool, who: &Clinician, run: Uuid) -> RunView {
    let mut tx = pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    let v = runs::get_run(&mut tx, run).await.unwrap();
    tx.commit().await.unwrap();
    v
}

fn settings(worker: &str) -> AiSettings {
    AiSettings {
        worker_id: worker.to_owned(),
        ..AiSettings::default()
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_dictation_runs_to_ready_then_commits_once_under_the_providers_rights() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let (patient_id, name) = patient(&db.pool, who.org).await;
    let text = format!(
        "Individual session with {name} today, 50 minutes. Reports sleeping better. Plan: next Tuesday at 3."
    );
    let started = std::time::Instant::now();
    let run = start(&db.pool, &who, &text).await;
    assert_eq!(
        worker::process_one(&db.pool, &settings("a")).await.unwrap(),
        Some(run)
    );
    let elapsed = started.elapsed();
    eprintln!("request -> ready_to_commit: {elapsed:?}");
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "ready_to_commit", "{:?}", v.error);
    assert_eq!(v.model, "rules");
    let types: Vec<&str> = v.actions.iter().map(|a| a.action_type.as_str()).collect();
    assert_eq!(types[..2], ["create_encounter", "create_note_draft"]);
    assert!(types.contains(&"create_appointment"));
    assert!(v.actions.iter().all(|a| !a.evidence.is_empty()));
    assert!(
        v.actions
            .iter()
            .all(|a| a.payload["patient_id"] == json!(patient_id.to_string()))
    );
    // Steps persisted with their messages.
    assert!(
        count(
            &db.pool,
            &format!("select count(*) from ai_steps where run_id = '{run}'")
        )
        .await
            >= 3
    );

    let notes_before = count(&db.pool, "select count(*) from clinical_notes").await;
    let mut tx = db.pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    for action in &v.actions {
        let review = if action.action_type == "suggest_billing" {
            Review::Reject
        } else {
            Review::Accept
        };
        runs::review_action(&mut tx, action.id, review)
            .await
            .unwrap();
    }
    let first = runs::commit_run(&mut tx, run).await.unwrap();
    let again = runs::commit_run(&mut tx, run).await.unwrap();
    assert_eq!(first, again, "committing twice changes nothing");
    let tables: Vec<&str> = first.created.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(tables[..2], ["encounters", "note_drafts"]);
    assert!(tables.contains(&"appointments"));
    // The draft is not a clinical note until accepted.
    assert_eq!(
        count(&db.pool, "select count(*) from clinical_notes").await,
        notes_before
    );
    let draft = first.created[1].record_id;
    let note = runs::accept_note_draft(&mut tx, draft).await.unwrap();
    tx.commit().await.unwrap();
    let status: String =
        sqlx::query_scalar("select status::text from clinical_notes where id = $1")
            .bind(note)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "draft");
    assert_eq!(view(&db.pool, &who, run).await.status, "committed");
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_question_is_answered_and_a_new_worker_resumes_from_the_stored_messages() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let (_, name) = patient(&db.pool, who.org).await;
    let run = start(
        &db.pool,
        &who,
        &format!("Individual session with {name} today. Discussed coping skills."),
    )
    .await;
    {
        let first = settings("first");
        worker::process_one(&db.pool, &first).await.unwrap();
    } // the first worker is gone
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "needs_clarification");
    let question = v.clarification.unwrap();
    assert_eq!(question.topic, "duration");
    assert!(
        v.actions.is_empty(),
        "nothing is proposed before the answer"
    );

    let mut tx = db.pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    runs::answer_clarification(
        &mut tx,
        run,
        &ClarificationAnswer {
            option_id: None,
            text: Some("45 minutes".into()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        worker::process_one(&db.pool, &settings("second"))
            .await
            .unwrap(),
        Some(run)
    );
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "ready_to_commit", "{:?}", v.error);
    let encounter = v
        .actions
        .iter()
        .find(|a| a.action_type == "create_encounter")
        .unwrap();
    assert_eq!(encounter.payload["duration_minutes"], json!(45));
    db.close().await.unwrap();
}

fn call(name: &str, arguments: serde_json::Value) -> ModelReply {
    ModelReply {
        message: Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: format!("c-{name}"),
                name: name.into(),
                arguments,
            }],
        },
        usage: TokenUsage {
            input_tokens: 100,
            output_tokens: 10,
        },
        stop: StopReason::ToolUse,
    }
}

#[tokio::test]
async fn limits_stop_a_run_that_never_finishes() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let run = start(&db.pool, &who, "Session with someone, 50 minutes.").await;
    let looping = Model::Scripted(ScriptedModel {
        label: "loop".into(),
        replies: vec![call("find_patient", json!({"name": "someone"}))],
    });
    let settings = AiSettings {
        model_override: Some(Arc::new(looping)),
        limits: Limits {
            max_steps: 3,
            ..Limits::default()
        },
        ..settings("w")
    };
    worker::process_one(&db.pool, &settings).await.unwrap();
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "failed");
    assert!(v.error.unwrap().contains("3 model steps"));
    assert_eq!(v.input_tokens, 300);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_crashed_workers_run_is_taken_over_and_two_workers_never_share_one() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let (_, name) = patient(&db.pool, who.org).await;
    let run = start(
        &db.pool,
        &who,
        &format!("Individual session with {name} today, 50 minutes."),
    )
    .await;
    let crashed = AiSettings {
        lease: Duration::from_millis(500),
        ..settings("crashed")
    };
    // Claimed, then the worker "dies": the lease is held and nobody else gets the run. Both
    // racers hold short leases, so whichever wins, its lease runs out below.
    let other = AiSettings {
        lease: Duration::from_millis(500),
        ..settings("other")
    };
    let (a, b) = tokio::join!(
        worker::claim(&db.pool, &crashed),
        worker::claim(&db.pool, &other)
    );
    let claims: Vec<Uuid> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(claims, vec![run], "exactly one worker holds the run");
    assert_eq!(
        worker::claim(&db.pool, &settings("other")).await.unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        worker::process_one(&db.pool, &settings("rescuer"))
            .await
            .unwrap(),
        Some(run)
    );
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "ready_to_commit");
    assert_eq!(v.attempts, 2);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_failed_commit_applies_nothing_and_marks_the_run_failed() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let (_, name) = patient(&db.pool, who.org).await;
    let run = start(
        &db.pool,
        &who,
        &format!("Individual session with {name} today, 50 minutes. Plan: continue."),
    )
    .await;
    worker::process_one(&db.pool, &settings("w")).await.unwrap();
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "ready_to_commit");
    let before = (
        count(&db.pool, "select count(*) from encounters").await,
        count(&db.pool, "select count(*) from note_drafts").await,
    );
    let mut tx = db.pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    for action in &v.actions {
        // The billing needs its encounter, which the reviewer rejected.
        let review = if action.action_type == "create_encounter" {
            Review::Reject
        } else {
            Review::Accept
        };
        runs::review_action(&mut tx, action.id, review)
            .await
            .unwrap();
    }
    let failed = runs::commit_run(&mut tx, run).await;
    assert!(
        matches!(failed, Err(AiError::CommitFailed(_))),
        "{failed:?}"
    );
    tx.commit().await.unwrap();
    let after = (
        count(&db.pool, "select count(*) from encounters").await,
        count(&db.pool, "select count(*) from note_drafts").await,
    );
    assert_eq!(before, after, "nothing applied");
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "failed");
    assert!(v.error.unwrap().contains("encounter"));
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_model_naming_another_organizations_patient_touches_nothing() {
    let db = TestDb::with_demo(2).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let other = clinician(&db.pool, 1).await;
    let (foreign, _) = patient(&db.pool, other.org).await;
    let run = start(&db.pool, &who, "Individual session today, 50 minutes.").await;
    let model = Model::Scripted(ScriptedModel {
        label: "intruder".into(),
        replies: vec![
            call("read_chart", json!({"patient_id": foreign})),
            call(
                "propose_encounter",
                json!({
                "patient_id": foreign, "encounter_type": "individual_therapy", "modality": "in_person",
                "date": "2026-03-10", "start_time": null, "duration_minutes": 50, "psychotherapy_minutes": null,
                "interactive_complexity": false, "patient_present": true, "evidence": [{"start": 0, "end": 10}]}),
            ),
            call("finish", json!({})),
        ],
    });
    let settings = AiSettings {
        model_override: Some(Arc::new(model)),
        ..settings("w")
    };
    worker::process_one(&db.pool, &settings).await.unwrap();
    let v = view(&db.pool, &who, run).await;
    assert_eq!(v.status, "ready_to_commit");
    assert!(
        v.actions.is_empty(),
        "nothing proposed for a patient the requester cannot see"
    );
    let errors: i64 = count(
        &db.pool,
        &format!(
            "select count(*) from ai_steps where run_id = '{run}' and kind = 'tool'
                and messages -> -1 ->> 'content' like '%no such patient%'"
        ),
    )
    .await;
    assert_eq!(errors, 2, "both the chart and the proposal were refused");
    db.close().await.unwrap();
}

/// A run started from a chart is about that patient: a word of the dictation that happens to
/// match another patient's name ("better" and a patient named Better) does not turn it into a
/// question about which patient is meant.
#[tokio::test]
async fn a_run_from_a_chart_stays_with_that_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    let who = clinician(&db.pool, 0).await;
    let (patient_id, _) = patient(&db.pool, who.org).await;
    sqlx::query(
        "insert into patients (org_id, first_name, last_name, date_of_birth)
         values ($1, 'Jordan', 'Better', '1990-01-01')",
    )
    .bind(who.org)
    .execute(&db.pool)
    .await
    .unwrap();
    let text = "Individual session today, 50 minutes. She reports sleeping better. Plan: continue weekly work on sleep hygiene.";

    let mut tx = db.pool.begin().await.unwrap();
    act_as(&mut tx, who.org, who.user).await.unwrap();
    let run = runs::create_run(
        &mut tx,
        &NewRun {
            provider_id: who.provider,
            requested_by_user_id: who.user,
            patient_id: Some(patient_id),
            input_text: text.to_owned(),
            run_clock: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    worker::process_one(&db.pool, &settings("chart"))
        .await
        .unwrap();

    let v = view(&db.pool, &who, run).await;
    assert_eq!(
        v.status,
        "ready_to_commit",
        "{:?} {:?}",
        v.clarification.map(|c| c.question),
        v.error
    );
    assert!(!v.actions.is_empty());
    assert!(
        v.actions
            .iter()
            .all(|a| a.payload["patient_id"] == json!(patient_id.to_string()))
    );
    db.close().await.unwrap();
}
