//! Treatment plans: a provider drafts a plan (problems tied to diagnoses, measurable goals,
//! objectives with target dates, interventions with their frequency), signs it, and revises it
//! with a new version; a signed version never changes. Each plan is due for review on a date
//! (90 days after it takes effect unless the clinician sets another), and the plans coming due
//! are listed for the clinician's Today page.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indra_rules::clinical::treatment_plan::{InvalidPlanContent, TreatmentPlanContent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

use super::{date_field, iso_date, practice_today, require_patient, state_conflict};
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{Json, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, MAX_LIMIT, Page, page_of};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

/// Plans are reviewed this many days after they take effect unless the clinician says otherwise.
pub const DEFAULT_REVIEW_DAYS: i64 = 90;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "treatment_plan_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TreatmentPlanStatus {
    /// Being written; only its author changes it.
    Draft,
    /// Signed by its provider: part of the record, changed only by a new version.
    Signed,
    /// Replaced by a newer version; kept as it was.
    Superseded,
}

/// One version of a treatment plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TreatmentPlan {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The provider who wrote (and signs) this version.
    pub provider_id: Uuid,
    /// The id of the plan's first version: every version of one plan shares it.
    pub lineage_id: Uuid,
    pub version: i32,
    /// Whether this is the plan's current version (a draft or the signed plan in force).
    pub is_current: bool,
    pub status: TreatmentPlanStatus,
    #[schema(value_type = PlanContentDoc)]
    pub content: Value,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub effective_on: Date,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub review_due_on: Date,
    /// The version this one revises.
    pub previous_version_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const PLAN_COLUMNS: &str = "id, patient_id, provider_id, lineage_id, version, is_current, status, content, \
     effective_on, review_due_on, previous_version_id, signed_at, created_at, updated_at";

/// The shape of a plan's content (documentation of the JSON the API takes and gives).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanContentDoc {
    /// At least one.
    pub problems: Vec<ProblemDoc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// One of the patient's active diagnoses, e.g. `F41.1`.
    pub icd10_code: String,
    pub statement: String,
    /// At least one.
    pub goals: Vec<GoalDoc>,
    /// At least one.
    pub interventions: Vec<InterventionDoc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoalDoc {
    pub goal: String,
    /// How progress is measured, e.g. "GAD-7 below 10".
    pub measure: String,
    /// At least one.
    pub objectives: Vec<ObjectiveDoc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectiveDoc {
    pub objective: String,
    /// `YYYY-MM-DD`, on or after the plan's effective date.
    #[schema(format = Date)]
    pub target_date: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterventionDoc {
    pub intervention: String,
    /// e.g. "weekly", "every other week".
    pub frequency: String,
}

/// Every version of a patient's plans, current versions first, then newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TreatmentPlanList {
    pub items: Vec<TreatmentPlan>,
}

/// A new plan, written as a draft by the calling provider.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewTreatmentPlan {
    #[schema(value_type = PlanContentDoc)]
    pub content: Value,
    /// `YYYY-MM-DD`; today in the practice's time zone when absent.
    #[schema(format = Date)]
    pub effective_on: Option<String>,
    /// `YYYY-MM-DD`, after `effective_on`; 90 days after it when absent.
    #[schema(format = Date)]
    pub review_due_on: Option<String>,
}

/// A change to a draft: only the fields sent change.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TreatmentPlanChange {
    #[schema(value_type = Option<PlanContentDoc>)]
    pub content: Option<Value>,
    #[schema(format = Date)]
    pub effective_on: Option<String>,
    #[schema(format = Date)]
    pub review_due_on: Option<String>,
}

/// A new version of a signed plan (after a review, or when the treatment changes).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanRevision {
    #[schema(value_type = PlanContentDoc)]
    pub content: Value,
    #[schema(format = Date)]
    pub effective_on: Option<String>,
    #[schema(format = Date)]
    pub review_due_on: Option<String>,
    /// Sign the new version at once (default: it is a draft, signed later).
    #[serde(default)]
    pub sign: bool,
}

/// A signed plan whose review date has come, or comes within the window asked for.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PlanDueForReview {
    pub plan_id: Uuid,
    pub lineage_id: Uuid,
    pub version: i32,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub mrn: String,
    pub provider_id: Uuid,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub review_due_on: Date,
    /// Days from today (in the practice's time zone) to the review date; negative when overdue.
    pub days_until_due: i32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Plans due within this many days from today (0-365, default 14); overdue plans always.
    pub within_days: Option<u32>,
    /// Rows per page, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Parses and checks a plan's content: 422 naming the first field at fault (as
/// `content.problems[0]...`) with every problem found in `detail`.
fn checked_content(content: &Value, effective_on: Date) -> Result<Value, ApiError> {
    let refuse = |errors: InvalidPlanContent| {
        let field = errors.first().map_or_else(
            || "content".to_owned(),
            |e| {
                if e.path.is_empty() {
                    "content".to_owned()
                } else {
                    format!("content.{}", e.path)
                }
            },
        );
        ApiError::Invalid {
            detail: errors.to_string(),
            field: Some(field),
        }
    };
    let parsed = TreatmentPlanContent::parse(content).map_err(refuse)?;
    let early = parsed.objectives_due_before(effective_on);
    if !early.is_empty() {
        return Err(refuse(InvalidPlanContent(early)));
    }
    Ok(parsed.to_json())
}

/// The effective and review dates of a plan: defaults filled in, the order checked here so the
/// answer names the field (the database checks it too: `treatment_plans_review_check`).
fn plan_dates(
    today: Date,
    effective_on: Option<Date>,
    review_due_on: Option<Date>,
) -> Result<(Date, Date), ApiError> {
    let effective_on = effective_on.unwrap_or(today);
    let review_due_on = review_due_on.unwrap_or(effective_on + Duration::days(DEFAULT_REVIEW_DAYS));
    if review_due_on <= effective_on {
        return Err(ApiError::invalid(
            "review_due_on",
            "the review date must be after the plan's effective date",
        ));
    }
    Ok((effective_on, review_due_on))
}

/// How the database's refusals of a plan change read to a clinician.
const PLAN_STATE_RULES: &[(&str, &str)] = &[
    (
        "treatment_plans_revise_signed_only",
        "only the current signed version of a plan can be revised; edit or sign the draft instead",
    ),
    (
        "treatment_plans_one_current_per_patient",
        "this patient already has a current treatment plan; revise it instead of starting another",
    ),
    (
        "treatment_plans_one_current",
        "this plan was revised meanwhile; reload it",
    ),
    (
        "treatment_plans_previous_version_key",
        "this plan version was revised meanwhile; reload it",
    ),
    (
        "treatment_plans_signed_immutable",
        "a signed treatment plan cannot be changed; revise it with a new version",
    ),
    (
        "treatment_plans_status_transition",
        "a signed treatment plan cannot be changed; revise it with a new version",
    ),
];

async fn fetch_plan(db: &mut CallerTx, id: Uuid) -> Result<TreatmentPlan, ApiError> {
    sqlx::query_as(&format!(
        "select {PLAN_COLUMNS} from treatment_plans where id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

fn created(plan: TreatmentPlan) -> Response {
    let location = format!("/api/v1/treatment-plans/{}", plan.id);
    let mut response = (StatusCode::CREATED, Tagged(plan)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Every version of the patient's treatment plans: current versions first, then newest first.
/// (Not paged: a patient's plan history is a handful of versions.)
#[utoipa::path(get, path = "/api/v1/patients/{id}/treatment-plans", tag = "clinical",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, body = TreatmentPlanList), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_patient_plans(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
) -> Result<axum::Json<TreatmentPlanList>, ApiError> {
    require_patient(&mut db, patient_id).await?;
    let items = sqlx::query_as(&format!(
        "select {PLAN_COLUMNS} from treatment_plans where patient_id = $1
          order by is_current desc, created_at desc, version desc, id"
    ))
    .bind(patient_id)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(axum::Json(TreatmentPlanList { items }))
}

/// Starts a patient's treatment plan as a draft by the calling provider. Honours
/// `Idempotency-Key`. A patient with a current plan gets a revision of it instead (409).
#[utoipa::path(post, path = "/api/v1/patients/{id}/treatment-plans", tag = "clinical",
    request_body = NewTreatmentPlan,
    params(("id" = Uuid, Path, description = "The patient's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = TreatmentPlan, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_plan(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    headers: HeaderMap,
    Json(new): Json<NewTreatmentPlan>,
) -> Result<Response, ApiError> {
    require_patient(&mut db, patient_id).await?;
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/patients/{patient_id}/treatment-plans"),
        &new,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let today = practice_today(&mut db).await?;
    let (effective_on, review_due_on) = plan_dates(
        today,
        date_field("effective_on", new.effective_on.as_deref())?,
        date_field("review_due_on", new.review_due_on.as_deref())?,
    )?;
    let content = checked_content(&new.content, effective_on)?;
    // provider_id is the caller's provider record: the insert policy allows no other, and a
    // caller without one (an admin) is refused by it.
    let plan: TreatmentPlan = sqlx::query_as(&format!(
        "insert into treatment_plans (org_id, patient_id, provider_id, lineage_id, content, effective_on, review_due_on)
         values ($1, $2, app.provider_id(), gen_random_uuid(), $3, $4, $5)
         returning {PLAN_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(patient_id)
    .bind(&content)
    .bind(effective_on)
    .bind(review_due_on)
    .fetch_one(db.conn())
    .await
    .map_err(|e| state_conflict(e, PLAN_STATE_RULES))?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &plan).await?;
    }
    db.commit().await?;
    Ok(created(plan))
}

/// One version of a treatment plan, with its ETag.
#[utoipa::path(get, path = "/api/v1/treatment-plans/{id}", tag = "clinical",
    params(("id" = Uuid, Path, description = "The plan version's id")),
    responses((status = 200, body = TreatmentPlan, headers(("ETag" = String))),
              (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_plan(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<TreatmentPlan>, ApiError> {
    let plan = fetch_plan(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(plan))
}

/// After an update touched no row: someone changed the plan since it was read (412), it is
/// signed (409), or the caller is not its author (403).
async fn why_unchanged(db: &mut CallerTx, current: &TreatmentPlan) -> Result<ApiError, ApiError> {
    let now = fetch_plan(db, current.id).await?;
    Ok(if etag_of(&now) != etag_of(current) {
        ApiError::PreconditionFailed
    } else if now.status != TreatmentPlanStatus::Draft {
        ApiError::conflict(
            None,
            "a signed treatment plan cannot be changed; revise it with a new version",
        )
    } else {
        ApiError::Forbidden("only the plan's author changes or signs a draft".into())
    })
}

/// Changes a draft (its author only). Requires `If-Match`. A signed plan is revised instead.
#[utoipa::path(patch, path = "/api/v1/treatment-plans/{id}", tag = "clinical",
    request_body = TreatmentPlanChange,
    params(("id" = Uuid, Path, description = "The plan version's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = TreatmentPlan, headers(("ETag" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_draft(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<TreatmentPlanChange>,
) -> Result<Tagged<TreatmentPlan>, ApiError> {
    let current = fetch_plan(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let effective_on =
        date_field("effective_on", change.effective_on.as_deref())?.unwrap_or(current.effective_on);
    let review_due_on = date_field("review_due_on", change.review_due_on.as_deref())?
        .unwrap_or(current.review_due_on);
    let (effective_on, review_due_on) =
        plan_dates(effective_on, Some(effective_on), Some(review_due_on))?;
    // The content is checked against the effective date whether or not it is sent again.
    let content = checked_content(
        change.content.as_ref().unwrap_or(&current.content),
        effective_on,
    )?;
    let updated: Option<TreatmentPlan> = sqlx::query_as(&format!(
        "update treatment_plans set content = $2, effective_on = $3, review_due_on = $4
          where id = $1 and updated_at = $5
          returning {PLAN_COLUMNS}"
    ))
    .bind(id)
    .bind(&content)
    .bind(effective_on)
    .bind(review_due_on)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await
    .map_err(|e| state_conflict(e, PLAN_STATE_RULES))?;
    let Some(updated) = updated else {
        return Err(why_unchanged(&mut db, &current).await?);
    };
    db.commit().await?;
    Ok(Tagged(updated))
}

/// Signs a draft (its provider only): it becomes part of the record and never changes again.
/// Requires `If-Match`: what is signed is the version the clinician read.
#[utoipa::path(post, path = "/api/v1/treatment-plans/{id}/sign", tag = "clinical",
    params(("id" = Uuid, Path, description = "The plan version's id"),
           ("If-Match" = String, Header, description = "The ETag of the draft being signed")),
    responses((status = 200, body = TreatmentPlan, headers(("ETag" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn sign_plan(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Tagged<TreatmentPlan>, ApiError> {
    let current = fetch_plan(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let signed: Option<TreatmentPlan> = sqlx::query_as(&format!(
        "update treatment_plans set status = 'signed', signed_at = now()
          where id = $1 and updated_at = $2
          returning {PLAN_COLUMNS}"
    ))
    .bind(id)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await
    .map_err(|e| state_conflict(e, PLAN_STATE_RULES))?;
    let Some(signed) = signed else {
        return Err(why_unchanged(&mut db, &current).await?);
    };
    db.commit().await?;
    Ok(Tagged(signed))
}

/// Revises the current signed plan: a new version (a draft, or signed at once with
/// `"sign": true`) by the calling provider; the database marks the old version superseded in
/// the same statement. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/treatment-plans/{id}/revisions", tag = "clinical",
    request_body = PlanRevision,
    params(("id" = Uuid, Path, description = "The id of the signed version being revised"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = TreatmentPlan, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn revise_plan(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(revision): Json<PlanRevision>,
) -> Result<Response, ApiError> {
    let previous = fetch_plan(&mut db, id).await?;
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/treatment-plans/{id}/revisions"),
        &revision,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let today = practice_today(&mut db).await?;
    let (effective_on, review_due_on) = plan_dates(
        today,
        date_field("effective_on", revision.effective_on.as_deref())?,
        date_field("review_due_on", revision.review_due_on.as_deref())?,
    )?;
    let content = checked_content(&revision.content, effective_on)?;
    let plan: TreatmentPlan = sqlx::query_as(&format!(
        "insert into treatment_plans (org_id, patient_id, provider_id, lineage_id, version, previous_version_id,
                                      content, effective_on, review_due_on, status, signed_at)
         values ($1, $2, app.provider_id(), $3, 2, $4, $5, $6, $7,
                 case when $8 then 'signed' else 'draft' end::treatment_plan_status,
                 case when $8 then now() end)
         returning {PLAN_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(previous.patient_id)
    .bind(previous.lineage_id)
    .bind(previous.id)
    .bind(&content)
    .bind(effective_on)
    .bind(review_due_on)
    .bind(revision.sign)
    .fetch_one(db.conn())
    .await
    .map_err(|e| state_conflict(e, PLAN_STATE_RULES))?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &plan).await?;
    }
    db.commit().await?;
    Ok(created(plan))
}

/// Signed plans due for review within `within_days` (default 14) or overdue, soonest first:
/// for a provider, those of their patients (whose plan they wrote or whose primary clinician
/// they are); for an admin, the practice's.
#[utoipa::path(get, path = "/api/v1/treatment-plans/due-for-review", tag = "clinical",
    params(DueQuery),
    responses((status = 200, body = Page<PlanDueForReview>), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn plans_due_for_review(
    mut db: CallerTx,
    Query(query): Query<DueQuery>,
) -> Result<axum::Json<Page<PlanDueForReview>>, ApiError> {
    let within_days = query.within_days.unwrap_or(14);
    if within_days > 365 {
        return Err(ApiError::invalid("within_days", "between 0 and 365"));
    }
    let limit = query.limit.unwrap_or(crate::api::pagination::DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("between 1 and {MAX_LIMIT}"),
        ));
    }
    // The page is ordered by (review_due_on, plan id); the cursor carries the date as midnight UTC.
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let today = practice_today(&mut db).await?;
    let rows: Vec<PlanDueForReview> = sqlx::query_as(
        "select t.id as plan_id, t.lineage_id, t.version, t.patient_id,
                p.first_name || ' ' || p.last_name as patient_name, p.mrn, t.provider_id, t.review_due_on,
                (t.review_due_on - $1::date) as days_until_due
           from treatment_plans t join patients p on p.org_id = t.org_id and p.id = t.patient_id
          where t.is_current and t.status = 'signed' and t.review_due_on <= $1::date + $2::int
            and (app.provider_id() is null
                 or t.provider_id = app.provider_id() or p.primary_provider_id = app.provider_id())
            and ($3::date is null or (t.review_due_on, t.id) > ($3, $4))
          order by t.review_due_on, t.id
          limit $5",
    )
    .bind(today)
    .bind(i32::try_from(within_days).unwrap_or(365))
    .bind(after.map(|c| c.created_at.date()))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(axum::Json(page_of(rows, i64::from(limit), |row| Cursor {
        created_at: row.review_due_on.with_time(Time::MIDNIGHT).assume_utc(),
        id: row.plan_id,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    #[test]
    fn review_defaults_to_ninety_days_after_the_plan_takes_effect() {
        let today = date!(2026 - 11 - 25);
        assert_eq!(
            plan_dates(today, None, None).unwrap(),
            (today, date!(2027 - 02 - 23))
        );
        assert!(matches!(
            plan_dates(today, None, Some(today)),
            Err(ApiError::Invalid { field: Some(f), .. }) if f == "review_due_on"
        ));
    }

    #[test]
    fn content_errors_name_the_field_under_content() {
        let content = json!({"problems": [{"icd10_code": "F41.1", "statement": "worry",
            "goals": [{"goal": "calm", "measure": "GAD-7 < 10",
                       "objectives": [{"objective": "breathe", "target_date": "soon"}]}],
            "interventions": [{"intervention": "CBT", "frequency": "weekly"}]}]});
        let Err(ApiError::Invalid { field, detail }) =
            checked_content(&content, date!(2026 - 11 - 25))
        else {
            panic!("accepted");
        };
        assert_eq!(
            field.as_deref(),
            Some("content.problems[0].goals[0].objectives[0].target_date")
        );
        assert_eq!(
            detail,
            "problems[0].goals[0].objectives[0].target_date: not a date (YYYY-MM-DD)"
        );
    }
}
