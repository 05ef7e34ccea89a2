//! Assistant runs in the database: create, watch, answer, review, commit.
//!
//! Every function here takes the caller's connection inside the caller's transaction, with the
//! caller's claims set (role `authenticated`, `request.jwt.claims`), exactly as the server's
//! `CallerTx` opens it: row-level security decides what the caller sees and changes. A provider
//! sees only their own runs (0009's policies). The caller commits.
//!
//! ```text
//! create_run(conn, &NewRun)                      -> run id (status pending, queued)
//! get_run(conn, run_id)                          -> RunView
//! list_runs(conn, &RunFilter)                    -> [RunSummary], newest first
//! answer_clarification(conn, run_id, &answer)    -> re-queues the run (needs_clarification -> running)
//! review_action(conn, action_id, Review)         -> accept, reject or edit one proposal
//! commit_run(conn, run_id)                       -> CommitOutcome (see commit)
//! accept_note_draft(conn, draft_id)              -> the unsigned clinical_notes draft's id
//! monthly_costs(conn)                            -> [MonthlyCost]
//! ```
//!
//! Runs execute in the background ([`crate::worker`]): the loop (context, model steps calling
//! tools, each step stored in `ai_steps` with the whole conversation) runs as the run's
//! requester, so the same policies hold there.

mod caller;
pub mod commit;
mod context;
pub(crate) mod engine;
pub mod settings;
mod tools;

use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

pub use caller::act_as;
pub(crate) use caller::as_service as caller_as_service;
pub use commit::{CommitOutcome, CreatedRecord, accept_note_draft, commit_run};
pub use engine::RunEnd;
pub use settings::{AiSettings, Limits, Price};

use crate::dictation::{ClarificationOption, ProposedAction};
use crate::model::ModelError;

/// Why a run operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// No such run, action or draft visible to the caller.
    #[error("not found")]
    NotFound,
    /// The run or action is in a state that does not allow this.
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The commit applied nothing; the run is marked failed with this reason (the caller
    /// commits the transaction to keep that mark).
    #[error("the commit failed: {0}")]
    CommitFailed(String),
}

impl AiError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// A dictation to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewRun {
    /// The dictating clinician: must be the caller's own provider record (the policy says so).
    pub provider_id: Uuid,
    /// The caller.
    pub requested_by_user_id: Uuid,
    /// The patient when the run is started from a chart.
    pub patient_id: Option<Uuid>,
    pub input_text: String,
    /// The run's "now" when not the present moment (evaluation, back-dated dictation).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub run_clock: Option<OffsetDateTime>,
}

/// A span of the dictation, in characters (half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl From<&Range<usize>> for Span {
    fn from(r: &Range<usize>) -> Self {
        Span {
            start: r.start,
            end: r.end,
        }
    }
}

/// The question a run waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenClarification {
    pub id: Uuid,
    pub question: String,
    /// patient, duration, date_time, encounter_type or medication.
    pub topic: String,
    /// Offered answers; the clinician may also answer in words.
    pub options: Vec<ClarificationOption>,
    pub evidence: Vec<Span>,
}

/// One proposed action, for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub id: Uuid,
    /// One group per patient: an encounter, its note draft, its billing, medications, visits.
    pub action_group: i32,
    pub position: i32,
    /// create_encounter, create_note_draft, suggest_billing, update_medication, create_appointment.
    pub action_type: String,
    /// What the assistant proposed ([`ProposedAction`] as JSON, tagged by `type`).
    pub payload: Value,
    /// The reviewer's edit, committed instead of `payload`.
    pub edited_payload: Option<Value>,
    pub evidence: Vec<Span>,
    /// proposed, accepted, edited, rejected, committed.
    pub status: String,
    pub depends_on_action_id: Option<Uuid>,
    pub created_record_table: Option<String>,
    pub created_record_id: Option<Uuid>,
}

impl ActionView {
    /// The proposal as it would be committed (the edit when there is one).
    pub fn effective(&self) -> Option<ProposedAction> {
        serde_json::from_value(self.edited_payload.clone().unwrap_or(self.payload.clone())).ok()
    }
}

/// A run as the review page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: Uuid,
    /// pending, running, needs_clarification, ready_to_commit, committed, failed.
    pub status: String,
    /// Which model saw the dictation.
    pub model: String,
    pub input_text: String,
    pub provider_id: Uuid,
    pub patient_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub run_clock: OffsetDateTime,
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost_usd: f64,
    pub error: Option<String>,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub committed_at: Option<OffsetDateTime>,
    pub clarification: Option<OpenClarification>,
    /// In commit order: by group, then position.
    pub actions: Vec<ActionView>,
}

/// A line of the run list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: Uuid,
    pub status: String,
    pub model: String,
    pub patient_id: Option<Uuid>,
    /// The dictation's first 80 characters.
    pub preview: String,
    pub actions: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunFilter {
    pub status: Option<String>,
    pub patient_id: Option<Uuid>,
    /// At most this many (1-200, default 50).
    pub limit: Option<i64>,
}

/// The clinician's answer: one of the offered options, or words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarificationAnswer {
    pub option_id: Option<String>,
    pub text: Option<String>,
}

/// A reviewer's decision on one proposed action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "payload", rename_all = "snake_case")]
pub enum Review {
    Accept,
    Reject,
    /// The corrected proposal (same `type`; the `type` may be left out).
    Edit(Value),
}

/// An organization's assistant spending in one month (the organization's time zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyCost {
    /// The month's first day.
    pub month: time::Date,
    pub runs: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

/// Queues a run of the assistant on a dictation, as the caller (a provider). The model is the
/// organization's (ai_settings), recorded on the run.
pub async fn create_run(conn: &mut PgConnection, new: &NewRun) -> Result<Uuid, AiError> {
    let chars = new.input_text.trim().chars().count();
    if chars == 0 {
        return Err(AiError::invalid("input_text", "the dictation is empty"));
    }
    if chars > 20_000 {
        return Err(AiError::invalid(
            "input_text",
            "the dictation is longer than 20,000 characters",
        ));
    }
    let id: Option<Uuid> = sqlx::query_scalar(
        "insert into ai_runs (org_id, requested_by_user_id, provider_id, patient_id, input_text, run_clock, model)
         select app.org_id(), $1, $2, $3, $4, coalesce($5, now()),
                coalesce((select case s.model_kind when 'rules' then 'rules'
                                 else s.model_kind || ':' || s.model_name end
                            from ai_settings s where s.org_id = app.org_id()), 'rules')
         returning id",
    )
    .bind(new.requested_by_user_id)
    .bind(new.provider_id)
    .bind(new.patient_id)
    .bind(&new.input_text)
    .bind(new.run_clock)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.code()).as_deref() {
        // The policy: only a provider, for themself.
        Some("42501") => AiError::Conflict(
            "only a clinician starts the assistant, for themself".to_owned(),
        ),
        Some("23503") => AiError::invalid("patient_id", "no such patient"),
        _ => AiError::Database(e),
    })?;
    let id = id.ok_or(AiError::NotFound)?;
    sqlx::query("select pg_notify('indra_ai_runs', '')")
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// A run with its open question and its proposals.
pub async fn get_run(conn: &mut PgConnection, run_id: Uuid) -> Result<RunView, AiError> {
    let row = sqlx::query(
        "select id, status::text as status, model, input_text, provider_id, patient_id, run_clock,
                input_tokens, output_tokens, cost_usd::float8 as cost_usd, error, attempts,
                created_at, finished_at, committed_at
           from ai_runs where id = $1",
    )
    .bind(run_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AiError::NotFound)?;
    let status: String = row.try_get("status")?;
    let clarification = if status == "needs_clarification" {
        open_clarification(conn, run_id).await?
    } else {
        None
    };
    let actions = load_actions(conn, run_id).await?;
    Ok(RunView {
        id: row.try_get("id")?,
        status,
        model: row.try_get("model")?,
        input_text: row.try_get("input_text")?,
        provider_id: row.try_get("provider_id")?,
        patient_id: row.try_get("patient_id")?,
        run_clock: row.try_get("run_clock")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        committed_at: row.try_get("committed_at")?,
        clarification,
        actions,
    })
}

async fn open_clarification(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<OpenClarification>, AiError> {
    let row = sqlx::query(
        "select id, question, context, options from ai_clarifications
          where run_id = $1 and answer is null order by created_at desc limit 1",
    )
    .bind(run_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let context: Value = row.try_get("context")?;
    let options: Value = row.try_get("options")?;
    Ok(Some(OpenClarification {
        id: row.try_get("id")?,
        question: row.try_get("question")?,
        topic: context["topic"].as_str().unwrap_or_default().to_owned(),
        options: serde_json::from_value(options).unwrap_or_default(),
        evidence: serde_json::from_value(context["evidence"].clone()).unwrap_or_default(),
    }))
}

pub(crate) async fn load_actions(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Vec<ActionView>, AiError> {
    let rows = sqlx::query(
        "select id, action_group, position, action_type::text as action_type, payload, edited_payload,
                evidence, status::text as status, depends_on_action_id, created_record_table,
                created_record_id
           from ai_proposed_actions where run_id = $1 order by action_group, position",
    )
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let evidence: Value = row.try_get("evidence")?;
            Ok(ActionView {
                id: row.try_get("id")?,
                action_group: row.try_get("action_group")?,
                position: row.try_get("position")?,
                action_type: row.try_get("action_type")?,
                payload: row.try_get("payload")?,
                edited_payload: row.try_get("edited_payload")?,
                evidence: serde_json::from_value(evidence).unwrap_or_default(),
                status: row.try_get("status")?,
                depends_on_action_id: row.try_get("depends_on_action_id")?,
                created_record_table: row.try_get("created_record_table")?,
                created_record_id: row.try_get("created_record_id")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AiError::from)
}

/// The caller's runs, newest first.
pub async fn list_runs(
    conn: &mut PgConnection,
    filter: &RunFilter,
) -> Result<Vec<RunSummary>, AiError> {
    let rows = sqlx::query(
        "select r.id, r.status::text as status, r.model, r.patient_id, left(r.input_text, 80) as preview,
                (select count(*) from ai_proposed_actions a where a.org_id = r.org_id and a.run_id = r.id) as actions,
                r.created_at
           from ai_runs r
          where ($1::text is null or r.status::text = $1) and ($2::uuid is null or r.patient_id = $2)
          order by r.created_at desc, r.id
          limit $3",
    )
    .bind(filter.status.as_deref())
    .bind(filter.patient_id)
    .bind(filter.limit.unwrap_or(50).clamp(1, 200))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(RunSummary {
                id: row.try_get("id")?,
                status: row.try_get("status")?,
                model: row.try_get("model")?,
                patient_id: row.try_get("patient_id")?,
                preview: row.try_get("preview")?,
                actions: row.try_get("actions")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AiError::from)
}

/// Answers the run's open question and queues it again: a worker resumes it from its stored
/// messages. An option must be one of those offered; words are taken as said.
pub async fn answer_clarification(
    conn: &mut PgConnection,
    run_id: Uuid,
    answer: &ClarificationAnswer,
) -> Result<(), AiError> {
    let status: String = sqlx::query_scalar("select status::text from ai_runs where id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AiError::NotFound)?;
    if status != "needs_clarification" {
        return Err(AiError::Conflict(format!(
            "the run is {}, not waiting for an answer",
            status.replace('_', " ")
        )));
    }
    let open = open_clarification(conn, run_id)
        .await?
        .ok_or_else(|| AiError::Conflict("the run has no open question".to_owned()))?;
    let text = answer
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (option_id, answer_text) = match (&answer.option_id, text) {
        (Some(id), _) => {
            let option =
                open.options.iter().find(|o| &o.id == id).ok_or_else(|| {
                    AiError::invalid("option_id", "not one of the offered answers")
                })?;
            (Some(option.id.clone()), option.label.clone())
        }
        (None, Some(text)) => {
            if text.chars().count() > 2000 {
                return Err(AiError::invalid("text", "longer than 2,000 characters"));
            }
            (None, text.to_owned())
        }
        (None, None) => {
            return Err(AiError::invalid(
                "text",
                "choose one of the offered answers or answer in words",
            ));
        }
    };
    sqlx::query(
        "update ai_clarifications set answer = $2, answer_option_id = $3, answered_by_user_id = app.user_id(),
                answered_at = now()
          where id = $1",
    )
    .bind(open.id)
    .bind(&answer_text)
    .bind(option_id)
    .execute(&mut *conn)
    .await?;
    // Queued again: running without a lease; each resumption gets its own attempts.
    sqlx::query(
        "update ai_runs set status = 'running', locked_until = null, lease_owner = null, attempts = 0
          where id = $1",
    )
    .bind(run_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("select pg_notify('indra_ai_runs', '')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Accepts, rejects or edits one proposed action of a run that is ready to commit.
pub async fn review_action(
    conn: &mut PgConnection,
    action_id: Uuid,
    review: Review,
) -> Result<(), AiError> {
    let row = sqlx::query(
        "select a.action_type::text as action_type, a.payload, r.status::text as run_status
           from ai_proposed_actions a join ai_runs r on r.org_id = a.org_id and r.id = a.run_id
          where a.id = $1",
    )
    .bind(action_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AiError::NotFound)?;
    let run_status: String = row.try_get("run_status")?;
    if run_status != "ready_to_commit" {
        return Err(AiError::Conflict(format!(
            "the run is {}: only a run ready to commit is reviewed",
            run_status.replace('_', " ")
        )));
    }
    let action_type: String = row.try_get("action_type")?;
    let (status, edited): (&str, Option<Value>) = match review {
        Review::Accept => ("accepted", None),
        Review::Reject => ("rejected", None),
        Review::Edit(mut value) => {
            let Some(object) = value.as_object_mut() else {
                return Err(AiError::invalid("payload", "an edit is a JSON object"));
            };
            let given = object
                .entry("type")
                .or_insert_with(|| Value::String(action_type.clone()));
            if given.as_str() != Some(action_type.as_str()) {
                return Err(AiError::invalid(
                    "type",
                    format!("an edit keeps the action's type ({action_type})"),
                ));
            }
            let original: Value = row.try_get("payload")?;
            let parsed: ProposedAction = serde_json::from_value(value.clone())
                .map_err(|e| AiError::invalid("payload", e.to_string()))?;
            if Some(parsed.patient_id()) != original["patient_id"].as_str() {
                return Err(AiError::invalid(
                    "patient_id",
                    "an edit keeps the action's patient; reject it and dictate again",
                ));
            }
            ("edited", Some(value))
        }
    };
    sqlx::query(
        "update ai_proposed_actions
            set status = $2::ai_action_status, edited_payload = coalesce($3, edited_payload),
                reviewed_by_user_id = app.user_id(), reviewed_at = now()
          where id = $1",
    )
    .bind(action_id)
    .bind(status)
    .bind(edited)
    .execute(&mut *conn)
    .await
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("ai_proposed_actions_status_transition") => {
                AiError::Conflict("the action was committed already".to_owned())
            }
            _ => AiError::Database(e),
        },
    )?;
    Ok(())
}

/// The organization's assistant costs by month (admins), or the caller's own (anyone else).
pub async fn monthly_costs(conn: &mut PgConnection) -> Result<Vec<MonthlyCost>, AiError> {
    let rows = sqlx::query(
        "select month, runs, input_tokens, output_tokens, cost_usd::float8 as cost_usd
           from app.ai_monthly_costs()",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(MonthlyCost {
                month: row.try_get("month")?,
                runs: row.try_get("runs")?,
                input_tokens: row.try_get("input_tokens")?,
                output_tokens: row.try_get("output_tokens")?,
                cost_usd: row.try_get("cost_usd")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AiError::from)
}
