//! The fee schedule (what the practice charges per CPT code; new claim lines take their charge
//! from it) and the explainable code suggestion for a session.

use axum::http::HeaderMap;
use indra_rules::billing::claim_document::Cents;
use indra_rules::billing::code_suggestion::{
    EncounterType, Modality, PatientStatus, SessionFacts, is_prescriber, suggest_codes,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{check_version, if_match};
use crate::api::etag::{Tagged, etag_of};
use crate::api::extract::{Json, Path};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// What the practice charges for one code.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FeeScheduleEntry {
    pub cpt_code: String,
    /// The code's short label (Indra's own words).
    pub label: String,
    /// e.g. `"135.00"`.
    pub charge: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeeSchedule {
    /// By CPT code.
    pub items: Vec<FeeScheduleEntry>,
}

/// A code's charge.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeeChange {
    /// More than 0, e.g. `"135.00"`.
    pub charge: String,
}

const FEE_SELECT: &str =
    "select f.cpt_code, c.short_label as label, f.charge::text as charge, f.updated_at
       from fee_schedule_entries f join cpt_codes c on c.code = f.cpt_code";

/// The practice's fee schedule, by code.
pub async fn fee_schedule(db: &mut CallerTx) -> Result<Vec<FeeScheduleEntry>, ApiError> {
    Ok(sqlx::query_as(&format!("{FEE_SELECT} order by f.cpt_code"))
        .fetch_all(db.conn())
        .await?)
}

async fn fee(db: &mut CallerTx, code: &str) -> Result<Option<FeeScheduleEntry>, ApiError> {
    Ok(
        sqlx::query_as(&format!("{FEE_SELECT} where f.cpt_code = $1"))
            .bind(code)
            .fetch_optional(db.conn())
            .await?,
    )
}

/// Sets a code's charge (billers and admins). When the code has a charge already, `if_match`
/// must name its current version.
pub async fn set_fee(
    db: &mut CallerTx,
    code: &str,
    if_match: Option<&str>,
    change: &FeeChange,
) -> Result<FeeScheduleEntry, ApiError> {
    let code = code.trim().to_uppercase();
    let known: Option<i32> = sqlx::query_scalar("select 1 from cpt_codes where code = $1")
        .bind(&code)
        .fetch_optional(db.conn())
        .await?;
    if known.is_none() {
        return Err(ApiError::NotFound);
    }
    let charge = match Cents::parse(&change.charge) {
        Some(cents) if cents.0 > 0 && cents.0 < 100_000_000 => cents,
        _ => {
            return Err(ApiError::invalid(
                "charge",
                "an amount above 0, such as 135.00",
            ));
        }
    };
    if let Some(current) = fee(db, &code).await? {
        check_version(if_match, &etag_of(&current))?;
    }
    let written: Option<String> = sqlx::query_scalar(
        "insert into fee_schedule_entries (org_id, cpt_code, charge) values ($1, $2, ($3::bigint::numeric / 100))
         on conflict (org_id, cpt_code) do update set charge = excluded.charge
         returning cpt_code",
    )
    .bind(db.caller.org_id)
    .bind(&code)
    .bind(charge.0)
    .fetch_optional(db.conn())
    .await?;
    if written.is_none() {
        return Err(ApiError::Forbidden(
            "only billers and admins keep the fee schedule".into(),
        ));
    }
    fee(db, &code).await?.ok_or(ApiError::NotFound)
}

/// One suggested service line, with the practice's charge for it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuggestedLine {
    pub cpt_code: String,
    pub units: u32,
    pub modifiers: Vec<String>,
    /// Why this code, in plain words.
    pub why: String,
    /// From the fee schedule; `null` when the code has no charge there.
    pub charge: Option<String>,
}

/// What to bill for a session, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeSuggestion {
    pub encounter_id: Uuid,
    pub minutes: Option<i32>,
    pub lines: Vec<SuggestedLine>,
    pub place_of_service: String,
    pub place_of_service_why: String,
    /// What was considered and not suggested, with the reason.
    pub not_billed: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    encounter_type: String,
    modality: String,
    duration_minutes: Option<i32>,
    psychotherapy_minutes: Option<i32>,
    interactive_complexity: bool,
    established: bool,
    credentials: String,
}

/// The codes a session would be billed with, each with its reason (from its type, minutes and
/// modality; see `indra_rules::billing::code_suggestion`).
pub async fn code_suggestion(
    db: &mut CallerTx,
    encounter_id: Uuid,
) -> Result<CodeSuggestion, ApiError> {
    let row: SessionRow = sqlx::query_as(
        "select e.encounter_type::text as encounter_type, e.modality::text as modality, e.duration_minutes,
                e.psychotherapy_minutes, e.interactive_complexity,
                exists (select 1 from encounters earlier
                         where earlier.org_id = e.org_id and earlier.patient_id = e.patient_id
                           and earlier.status = 'completed' and earlier.id <> e.id
                           and earlier.started_at < e.started_at) as established,
                p.credentials
           from encounters e join providers p on p.org_id = e.org_id and p.id = e.provider_id
          where e.id = $1",
    )
    .bind(encounter_id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)?;
    let Some(encounter_type) = EncounterType::from_db(&row.encounter_type) else {
        return Err(ApiError::conflict(
            None,
            format!(
                "sessions of type {} are not coded by the suggestion",
                row.encounter_type
            ),
        ));
    };
    let modality = Modality::from_db(&row.modality).unwrap_or(Modality::InPerson);
    let suggestion = suggest_codes(&SessionFacts {
        encounter_type,
        modality,
        total_minutes: row
            .duration_minutes
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
        psychotherapy_minutes: row
            .psychotherapy_minutes
            .and_then(|m| u32::try_from(m).ok()),
        patient_status: if row.established {
            PatientStatus::Established
        } else {
            PatientStatus::New
        },
        interactive_complexity: row.interactive_complexity,
        patient_present: true,
        with_medical_services: is_prescriber(&row.credentials),
    });
    let fees = fee_schedule(db).await?;
    Ok(CodeSuggestion {
        encounter_id,
        minutes: row.duration_minutes,
        lines: suggestion
            .lines
            .iter()
            .map(|line| SuggestedLine {
                cpt_code: line.cpt_code.to_owned(),
                units: line.units,
                modifiers: line.modifiers.iter().map(|m| (*m).to_owned()).collect(),
                why: line.why.clone(),
                charge: fees
                    .iter()
                    .find(|f| f.cpt_code == line.cpt_code)
                    .map(|f| f.charge.clone()),
            })
            .collect(),
        place_of_service: suggestion.place_of_service.code.to_owned(),
        place_of_service_why: suggestion.place_of_service.why,
        not_billed: suggestion.not_billed,
    })
}

/// The practice's fee schedule, by CPT code.
#[utoipa::path(get, path = "/api/v1/fee-schedule", tag = "billing", operation_id = "get_fee_schedule",
    responses((status = 200, body = FeeSchedule), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn fee_schedule_handler(mut db: CallerTx) -> Result<axum::Json<FeeSchedule>, ApiError> {
    let items = fee_schedule(&mut db).await?;
    db.commit().await?;
    Ok(axum::Json(FeeSchedule { items }))
}

/// Sets what the practice charges for a code (billers and admins). Changing an existing charge
/// requires `If-Match` with its ETag (`GET` answers the whole schedule; this answer carries the
/// entry's ETag).
#[utoipa::path(put, path = "/api/v1/fee-schedule/{code}", tag = "billing", operation_id = "set_fee",
    request_body = FeeChange,
    params(("code" = String, Path, description = "The CPT code"),
           ("If-Match" = Option<String>, Header, description = "The entry's ETag, when it exists")),
    responses((status = 200, body = FeeScheduleEntry, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem),
              (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_fee_handler(
    mut db: CallerTx,
    Path(code): Path<String>,
    headers: HeaderMap,
    Json(change): Json<FeeChange>,
) -> Result<Tagged<FeeScheduleEntry>, ApiError> {
    let entry = set_fee(&mut db, &code, if_match(&headers), &change).await?;
    db.commit().await?;
    Ok(Tagged(entry))
}

/// The codes a session would be billed with, each with the reason, and the practice's charges.
#[utoipa::path(get, path = "/api/v1/encounters/{id}/code-suggestion", tag = "billing",
    operation_id = "encounter_code_suggestion",
    params(("id" = Uuid, Path, description = "The encounter's id")),
    responses((status = 200, body = CodeSuggestion), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn code_suggestion_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CodeSuggestion>, ApiError> {
    let suggestion = code_suggestion(&mut db, id).await?;
    db.commit().await?;
    Ok(axum::Json(suggestion))
}
