//! The assistant under `/api/v1/ai`: a clinician queues a dictation (a run), watches it, answers
//! its question, reviews each proposed change and commits the accepted ones; an admin chooses
//! the model and sees the month's costs.
//!
//! The work is `indra_ai::runs`'s, always on the caller's transaction: row-level security
//! decides who sees a run (its provider) and what a commit may write (what that provider may).
//! These handlers check the role first so that the refusal says why, map the assistant's errors
//! to problem+json, and wake the background worker ([`worker`]) when a run is queued.

pub mod worker;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use indra_ai::runs::{self as runs, ActionView, AiError, ClarificationAnswer, Review, RunView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::api::extract::{Json, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, MAX_LIMIT, Page, page_of};
use crate::error::ApiError;
use crate::platform::caller::{CallerTx, UserRole};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ai/runs", get(list_runs).post(create_run))
        .route("/api/v1/ai/runs/{id}", get(get_run))
        .route(
            "/api/v1/ai/runs/{id}/clarification",
            post(answer_clarification),
        )
        .route("/api/v1/ai/runs/{id}/commit", post(commit_run))
        .route("/api/v1/ai/actions/{id}/review", post(review_action))
        .route(
            "/api/v1/ai/note-drafts/{id}/accept",
            post(accept_note_draft),
        )
        .route("/api/v1/ai/costs", get(monthly_costs))
        .route("/api/v1/ai/settings", get(get_settings).put(put_settings))
}

impl From<AiError> for ApiError {
    fn from(error: AiError) -> Self {
        match error {
            AiError::NotFound => ApiError::NotFound,
            AiError::Conflict(detail) => ApiError::conflict(None, detail),
            AiError::Invalid { field, message } => ApiError::invalid(field, message),
            AiError::Database(e) => ApiError::from(e),
            AiError::CommitFailed(reason) => {
                ApiError::conflict(None, format!("nothing was committed: {reason}"))
            }
            AiError::Model(e) => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

// ---- Shared with the web pages -------------------------------------------------------------

/// Queues a dictation as the caller, who must be a clinician with a provider record.
pub(crate) async fn start_run(
    db: &mut CallerTx,
    input_text: &str,
    patient_id: Option<Uuid>,
) -> Result<Uuid, ApiError> {
    if db.caller.role != UserRole::Provider {
        return Err(ApiError::Forbidden(
            "only a clinician dictates to the assistant".into(),
        ));
    }
    let provider_id: Option<Uuid> = sqlx::query_scalar("select app.provider_id()")
        .fetch_one(db.conn())
        .await?;
    let provider_id = provider_id.ok_or_else(|| {
        ApiError::Forbidden(
            "you have no provider record yet; ask an admin of your practice to add it".into(),
        )
    })?;
    if let Some(patient_id) = patient_id {
        let visible: bool =
            sqlx::query_scalar("select exists (select 1 from patients where id = $1)")
                .bind(patient_id)
                .fetch_one(db.conn())
                .await?;
        if !visible {
            return Err(ApiError::invalid("patient_id", "no such patient"));
        }
    }
    let new = runs::NewRun {
        provider_id,
        requested_by_user_id: db.caller.user_id,
        patient_id,
        input_text: input_text.to_owned(),
        run_clock: None,
    };
    Ok(runs::create_run(db.conn(), &new).await?)
}

/// Commits a run's accepted actions and returns the run as it is now. A failed commit keeps
/// the run's failure mark (this transaction commits) and answers 409 with the reason.
pub(crate) async fn commit(mut db: CallerTx, run_id: Uuid) -> Result<RunView, ApiError> {
    match runs::commit_run(db.conn(), run_id).await {
        Ok(_) => {
            let run = runs::get_run(db.conn(), run_id).await?;
            db.commit().await?;
            Ok(run)
        }
        Err(AiError::CommitFailed(reason)) => {
            db.commit().await?;
            Err(AiError::CommitFailed(reason).into())
        }
        Err(other) => Err(other.into()),
    }
}

/// Turns an AI note draft into an unsigned note of the caller's; a draft accepted before gives
/// the note it became.
pub(crate) async fn accept_draft(db: &mut CallerTx, draft_id: Uuid) -> Result<Uuid, ApiError> {
    let accepted: Option<(String, Option<Uuid>)> =
        sqlx::query_as("select status::text, accepted_note_id from note_drafts where id = $1")
            .bind(draft_id)
            .fetch_optional(db.conn())
            .await?;
    match accepted {
        None => Err(ApiError::NotFound),
        Some((status, Some(note_id))) if status == "accepted" => Ok(note_id),
        Some(_) => Ok(runs::accept_note_draft(db.conn(), draft_id).await?),
    }
}

/// A record a commit created, and where to find it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedRecord {
    pub action_id: Uuid,
    /// encounters, note_drafts, billing_claims, medications or appointments.
    pub table: String,
    pub record_id: Uuid,
    /// The record in the API (for a note draft: the POST that turns it into a note).
    pub href: String,
    /// The record in the web application.
    pub page: String,
}

/// What the run's committed actions created, in commit order.
pub(crate) fn created_records(run: &RunView) -> Vec<CreatedRecord> {
    run.actions
        .iter()
        .filter_map(|a| {
            let (table, id) = (a.created_record_table.as_deref()?, a.created_record_id?);
            let patient = a.payload["patient_id"].as_str().unwrap_or_default();
            let (href, page) = match table {
                "encounters" => (
                    format!("/api/v1/encounters/{id}"),
                    format!("/patients/{patient}"),
                ),
                "note_drafts" => (
                    format!("/api/v1/ai/note-drafts/{id}/accept"),
                    format!("/assistant/runs/{}", run.id),
                ),
                "billing_claims" => (
                    format!("/api/v1/claims/{id}"),
                    format!("/billing/claims/{id}"),
                ),
                "medications" => (
                    format!("/api/v1/medications/{id}"),
                    format!("/patients/{patient}"),
                ),
                "appointments" => (
                    format!("/api/v1/appointments/{id}"),
                    format!("/appointments/{id}"),
                ),
                _ => (String::new(), String::new()),
            };
            Some(CreatedRecord {
                action_id: a.id,
                table: table.to_owned(),
                record_id: id,
                href,
                page,
            })
        })
        .collect()
}

fn require_admin(db: &CallerTx) -> Result<(), ApiError> {
    if db.caller.role == UserRole::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only an admin chooses the assistant's model".into(),
        ))
    }
}

// ---- Runs ------------------------------------------------------------------------------------

/// A dictation to run.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewRunRequest {
    /// What the clinician said or typed (at most 20,000 characters).
    pub input_text: String,
    /// The patient, when the dictation starts from their chart.
    pub patient_id: Option<Uuid>,
}

/// A character range of the dictation (half-open, Unicode scalar values).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SpanDoc {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OptionDoc {
    pub id: String,
    pub label: String,
}

/// The question a run waits on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClarificationDoc {
    pub id: Uuid,
    pub question: String,
    /// patient, duration, date_time, encounter_type or medication.
    pub topic: String,
    pub options: Vec<OptionDoc>,
    pub evidence: Vec<SpanDoc>,
}

/// One proposed change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionDoc {
    pub id: Uuid,
    /// One group per patient.
    pub action_group: i32,
    pub position: i32,
    /// create_encounter, create_note_draft, suggest_billing, update_medication, create_appointment.
    pub action_type: String,
    /// The proposal, tagged by `type`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The reviewer's edit, committed instead of `payload`.
    #[schema(value_type = Option<Object>)]
    pub edited_payload: Option<Value>,
    /// Where in the dictation the proposal comes from.
    pub evidence: Vec<SpanDoc>,
    /// proposed, accepted, edited, rejected, committed.
    pub status: String,
    pub depends_on_action_id: Option<Uuid>,
    pub created_record_table: Option<String>,
    pub created_record_id: Option<Uuid>,
}

/// A run: its state, its open question, its proposals, what it cost.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunDoc {
    pub id: Uuid,
    /// pending, running, needs_clarification, ready_to_commit, committed, failed.
    pub status: String,
    /// Which model saw the dictation (`rules`, `openai:gpt-4o-mini` ...).
    pub model: String,
    pub input_text: String,
    pub provider_id: Uuid,
    pub patient_id: Option<Uuid>,
    #[schema(format = DateTime)]
    pub run_clock: String,
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost_usd: f64,
    /// Why the run failed.
    pub error: Option<String>,
    pub attempts: i32,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    #[schema(format = DateTime)]
    pub committed_at: Option<String>,
    pub clarification: Option<ClarificationDoc>,
    pub actions: Vec<ActionDoc>,
}

/// A line of the run list.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RunSummary {
    pub id: Uuid,
    pub status: String,
    pub model: String,
    pub patient_id: Option<Uuid>,
    /// The dictation's first 80 characters.
    pub preview: String,
    pub actions: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub items: Vec<RunSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only runs in this state.
    pub status: Option<String>,
    /// Only runs started from this patient's chart.
    pub patient_id: Option<Uuid>,
    /// Rows per page, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Queues a dictation (clinicians only). Answers 202: the run works in the background; poll
/// `GET /api/v1/ai/runs/{id}`. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/ai/runs", tag = "assistant", request_body = NewRunRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 202, body = RunDoc, headers(("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_run(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut db: CallerTx,
    headers: HeaderMap,
    Json(new): Json<NewRunRequest>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/ai/runs", &new).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let id = start_run(&mut db, &new.input_text, new.patient_id).await?;
    let run = runs::get_run(db.conn(), id).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::ACCEPTED, &run).await?;
    }
    db.commit().await?;
    worker::ensure_started(&state);
    let mut response = (StatusCode::ACCEPTED, axum::Json(run)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("/api/v1/ai/runs/{id}")) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The caller's runs, newest first.
#[utoipa::path(get, path = "/api/v1/ai/runs", tag = "assistant", params(RunQuery),
    responses((status = 200, body = RunList), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_runs(
    mut db: CallerTx,
    Query(query): Query<RunQuery>,
) -> Result<axum::Json<Page<RunSummary>>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("between 1 and {MAX_LIMIT}"),
        ));
    }
    let limit = i64::from(limit);
    let before = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let rows: Vec<RunSummary> = sqlx::query_as(
        "select r.id, r.status::text as status, r.model, r.patient_id, left(r.input_text, 80) as preview,
                (select count(*) from ai_proposed_actions a where a.org_id = r.org_id and a.run_id = r.id) as actions,
                r.created_at
           from ai_runs r
          where r.requested_by_user_id = app.user_id()
            and ($1::timestamptz is null or (r.created_at, r.id) < ($1, $2))
            and ($3::text is null or r.status::text = $3)
            and ($4::uuid is null or r.patient_id = $4)
          order by r.created_at desc, r.id desc
          limit $5",
    )
    .bind(before.map(|c| c.created_at))
    .bind(before.map(|c| c.id))
    .bind(query.status.as_deref())
    .bind(query.patient_id)
    .bind(limit + 1)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(axum::Json(page_of(rows, limit, |r| Cursor {
        created_at: r.created_at,
        id: r.id,
    })))
}

/// A run: status, open question, proposals with their evidence, tokens and cost.
#[utoipa::path(get, path = "/api/v1/ai/runs/{id}", tag = "assistant",
    params(("id" = Uuid, Path, description = "The run's id")),
    responses((status = 200, body = RunDoc), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_run(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<RunView>, ApiError> {
    let run = runs::get_run(db.conn(), id).await?;
    db.commit().await?;
    Ok(axum::Json(run))
}

/// The clinician's answer to the run's question: an offered option's id, or words.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClarificationRequest {
    pub option_id: Option<String>,
    pub text: Option<String>,
}

/// Answers the run's open question; the run resumes in the background.
#[utoipa::path(post, path = "/api/v1/ai/runs/{id}/clarification", tag = "assistant",
    request_body = ClarificationRequest,
    params(("id" = Uuid, Path, description = "The run's id")),
    responses((status = 200, body = RunDoc), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn answer_clarification(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(answer): Json<ClarificationRequest>,
) -> Result<axum::Json<RunView>, ApiError> {
    let answer = ClarificationAnswer {
        option_id: answer.option_id.filter(|o| !o.trim().is_empty()),
        text: answer.text,
    };
    runs::answer_clarification(db.conn(), id, &answer).await?;
    let run = runs::get_run(db.conn(), id).await?;
    db.commit().await?;
    worker::ensure_started(&state);
    Ok(axum::Json(run))
}

/// A reviewer's decision on one proposal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// accept, reject or edit.
    pub decision: String,
    /// For `edit`: the corrected proposal (its `type` and patient unchanged).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

impl ReviewRequest {
    pub(crate) fn review(self) -> Result<Review, ApiError> {
        match (self.decision.as_str(), self.payload) {
            ("accept", _) => Ok(Review::Accept),
            ("reject", _) => Ok(Review::Reject),
            ("edit", Some(payload)) => Ok(Review::Edit(payload)),
            ("edit", None) => Err(ApiError::invalid(
                "payload",
                "an edit sends the corrected proposal",
            )),
            _ => Err(ApiError::invalid(
                "decision",
                "one of accept, reject or edit",
            )),
        }
    }
}

/// Reviews one proposed action of a run that is ready to commit; gives the run's id and the
/// action as it is now.
pub(crate) async fn review(
    db: &mut CallerTx,
    action_id: Uuid,
    review: Review,
) -> Result<(Uuid, ActionView), ApiError> {
    let run_id: Uuid = sqlx::query_scalar("select run_id from ai_proposed_actions where id = $1")
        .bind(action_id)
        .fetch_optional(db.conn())
        .await?
        .ok_or(ApiError::NotFound)?;
    runs::review_action(db.conn(), action_id, review).await?;
    let action = runs::get_run(db.conn(), run_id)
        .await?
        .actions
        .into_iter()
        .find(|a| a.id == action_id)
        .ok_or(ApiError::NotFound)?;
    Ok((run_id, action))
}

/// Accepts, rejects or edits one proposal.
#[utoipa::path(post, path = "/api/v1/ai/actions/{id}/review", tag = "assistant",
    request_body = ReviewRequest,
    params(("id" = Uuid, Path, description = "The proposed action's id")),
    responses((status = 200, body = ActionDoc), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn review_action(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(request): Json<ReviewRequest>,
) -> Result<axum::Json<ActionView>, ApiError> {
    let (_, action) = review(&mut db, id, request.review()?).await?;
    db.commit().await?;
    Ok(axum::Json(action))
}

/// What a commit created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommitAnswer {
    pub run_id: Uuid,
    /// committed.
    pub status: String,
    pub created: Vec<CreatedRecord>,
}

/// Applies the run's accepted and edited proposals in one transaction, as the caller. A
/// failure applies nothing and marks the run failed (409 with the reason); committing again is
/// harmless.
#[utoipa::path(post, path = "/api/v1/ai/runs/{id}/commit", tag = "assistant",
    params(("id" = Uuid, Path, description = "The run's id")),
    responses((status = 200, body = CommitAnswer), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn commit_run(
    db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CommitAnswer>, ApiError> {
    let run = commit(db, id).await?;
    Ok(axum::Json(CommitAnswer {
        run_id: run.id,
        created: created_records(&run),
        status: run.status,
    }))
}

/// The unsigned note an AI draft became.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptedDraft {
    pub note_id: Uuid,
    pub href: String,
    /// The note editor, where the clinician edits and signs it.
    pub page: String,
}

/// Turns a committed note draft into an unsigned clinical note of the caller's, to edit and
/// sign. Accepting it again gives the same note.
#[utoipa::path(post, path = "/api/v1/ai/note-drafts/{id}/accept", tag = "assistant",
    params(("id" = Uuid, Path, description = "The note draft's id")),
    responses((status = 201, body = AcceptedDraft, headers(("Location" = String))),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn accept_note_draft(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let note_id = accept_draft(&mut db, id).await?;
    db.commit().await?;
    let href = format!("/api/v1/notes/{note_id}");
    let mut response = (
        StatusCode::CREATED,
        axum::Json(AcceptedDraft {
            note_id,
            href: href.clone(),
            page: format!("/notes/{note_id}"),
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&href) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

// ---- Costs and settings ----------------------------------------------------------------------

/// A month's assistant spending.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthlyCost {
    /// `YYYY-MM`, in the practice's time zone.
    pub month: String,
    pub runs: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MonthlyCosts {
    pub items: Vec<MonthlyCost>,
}

pub(crate) async fn costs(db: &mut CallerTx) -> Result<Vec<MonthlyCost>, ApiError> {
    Ok(runs::monthly_costs(db.conn())
        .await?
        .into_iter()
        .map(|m| MonthlyCost {
            month: format!("{:04}-{:02}", m.month.year(), u8::from(m.month.month())),
            runs: m.runs,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
            cost_usd: m.cost_usd,
        })
        .collect())
}

/// The assistant's cost by month: the practice's (admins) or the caller's own runs.
#[utoipa::path(get, path = "/api/v1/ai/costs", tag = "assistant",
    responses((status = 200, body = MonthlyCosts), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn monthly_costs(mut db: CallerTx) -> Result<axum::Json<MonthlyCosts>, ApiError> {
    let items = costs(&mut db).await?;
    db.commit().await?;
    Ok(axum::Json(MonthlyCosts { items }))
}

/// The practice's assistant model.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssistantSettings {
    /// rules (embedded, nothing leaves the practice), openai or anthropic.
    pub model_kind: String,
    pub model_name: Option<String>,
    /// An OpenAI-compatible endpoint; the provider's own when absent.
    pub base_url: Option<String>,
    /// The name of the server's environment variable holding the key (never the key).
    pub api_key_env: Option<String>,
    /// Whether the server has that variable set.
    pub api_key_present: bool,
    /// An admin's explicit consent to send dictations to the external model.
    pub external_allowed: bool,
    pub enabled_by_user_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub enabled_at: Option<OffsetDateTime>,
}

/// A new model choice.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SettingsChange {
    /// rules, openai or anthropic.
    pub model_kind: String,
    pub model_name: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// Required for openai and anthropic: dictations and the candidate patients' names, dates
    /// of birth, diagnoses and medications are sent to that provider.
    #[serde(default)]
    pub external_allowed: bool,
}

pub(crate) async fn load_settings(db: &mut CallerTx) -> Result<AssistantSettings, ApiError> {
    let row = sqlx::query(
        "select model_kind, model_name, base_url, api_key_env, external_allowed, enabled_by_user_id, enabled_at
           from ai_settings where org_id = app.org_id()",
    )
    .fetch_optional(db.conn())
    .await?;
    let Some(row) = row else {
        return Ok(AssistantSettings {
            model_kind: "rules".into(),
            model_name: None,
            base_url: None,
            api_key_env: None,
            api_key_present: false,
            external_allowed: false,
            enabled_by_user_id: None,
            enabled_at: None,
        });
    };
    let api_key_env: Option<String> = row.try_get("api_key_env")?;
    Ok(AssistantSettings {
        model_kind: row.try_get("model_kind")?,
        model_name: row.try_get("model_name")?,
        base_url: row.try_get("base_url")?,
        api_key_present: api_key_env
            .as_deref()
            .is_some_and(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty())),
        api_key_env,
        external_allowed: row.try_get("external_allowed")?,
        enabled_by_user_id: row.try_get("enabled_by_user_id")?,
        enabled_at: row.try_get("enabled_at")?,
    })
}

fn optional(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

pub(crate) async fn save_settings(
    db: &mut CallerTx,
    change: &SettingsChange,
) -> Result<AssistantSettings, ApiError> {
    require_admin(db)?;
    let kind = change.model_kind.trim();
    if !matches!(kind, "rules" | "openai" | "anthropic") {
        return Err(ApiError::invalid(
            "model_kind",
            "one of rules, openai or anthropic",
        ));
    }
    let model_name = optional(change.model_name.as_deref());
    let base_url = optional(change.base_url.as_deref());
    let api_key_env = optional(change.api_key_env.as_deref());
    if kind != "rules" {
        if model_name.is_none() {
            return Err(ApiError::invalid(
                "model_name",
                "an external model needs its name (e.g. gpt-4o-mini)",
            ));
        }
        if !change.external_allowed {
            return Err(ApiError::invalid(
                "external_allowed",
                "an external model receives dictations and patients' details: allow it explicitly",
            ));
        }
    }
    if let Some(url) = &base_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid(
            "base_url",
            "an http:// or https:// address",
        ));
    }
    if let Some(name) = &api_key_env
        && !(name.len() <= 100
            && name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err(ApiError::invalid(
            "api_key_env",
            "the name of an environment variable, e.g. OPENAI_API_KEY",
        ));
    }
    sqlx::query(
        "insert into ai_settings (org_id, model_kind, model_name, base_url, api_key_env, external_allowed,
                                  enabled_by_user_id, enabled_at)
         values (app.org_id(), $1, $2, $3, $4, $5, case when $5 then app.user_id() end, case when $5 then now() end)
         on conflict (org_id) do update
            set model_kind = excluded.model_kind, model_name = excluded.model_name,
                base_url = excluded.base_url, api_key_env = excluded.api_key_env,
                external_allowed = excluded.external_allowed,
                enabled_by_user_id = case when excluded.external_allowed
                                          then coalesce(ai_settings.enabled_by_user_id, excluded.enabled_by_user_id) end,
                enabled_at = case when excluded.external_allowed
                                  then coalesce(ai_settings.enabled_at, excluded.enabled_at) end",
    )
    .bind(kind)
    .bind(model_name)
    .bind(base_url)
    .bind(api_key_env)
    .bind(change.external_allowed)
    .execute(db.conn())
    .await?;
    load_settings(db).await
}

/// The practice's model choice (admins).
#[utoipa::path(get, path = "/api/v1/ai/settings", tag = "assistant",
    responses((status = 200, body = AssistantSettings), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_settings(mut db: CallerTx) -> Result<axum::Json<AssistantSettings>, ApiError> {
    require_admin(&db)?;
    let settings = load_settings(&mut db).await?;
    db.commit().await?;
    Ok(axum::Json(settings))
}

/// Chooses the practice's model (admins). An external model (openai, anthropic) needs
/// `external_allowed: true`: the admin's consent to what leaves the practice.
#[utoipa::path(put, path = "/api/v1/ai/settings", tag = "assistant", request_body = SettingsChange,
    responses((status = 200, body = AssistantSettings), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn put_settings(
    mut db: CallerTx,
    Json(change): Json<SettingsChange>,
) -> Result<axum::Json<AssistantSettings>, ApiError> {
    let settings = save_settings(&mut db, &change).await?;
    db.commit().await?;
    Ok(axum::Json(settings))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_run, list_runs, get_run, answer_clarification, review_action, commit_run,
        accept_note_draft, monthly_costs, get_settings, put_settings,
    ),
    components(schemas(
        NewRunRequest, RunDoc, ActionDoc, ClarificationDoc, OptionDoc, SpanDoc, RunSummary, RunList,
        ClarificationRequest, ReviewRequest, CommitAnswer, CreatedRecord, AcceptedDraft,
        MonthlyCost, MonthlyCosts, AssistantSettings, SettingsChange,
    )),
    tags((name = "assistant", description = "Dictation to reviewed, evidence-linked changes a clinician commits"))
)]
struct AssistantDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AssistantDoc::openapi()
}
