//! A patient's medications: started, changed (dose, frequency, route or instructions) and
//! discontinued, each with a reason. A change keeps the old row as history (status `changed`,
//! its end date and reason) and links the new row to it (`previous_medication_id`), in one
//! transaction; changed and discontinued rows never change again (migration 0015).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{date_field, iso_date, practice_today, require_patient, required_text, state_conflict};
use crate::api::etag::Tagged;
use crate::api::extract::{Json, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

/// Longest name, dose, route, frequency or reason, in characters.
const MAX_FIELD_CHARS: usize = 200;
/// Longest instructions, in characters.
const MAX_INSTRUCTIONS_CHARS: usize = 2000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "medication_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MedicationStatus {
    /// Being taken.
    Active,
    /// Stopped (see `change_reason` and `ended_on`).
    Discontinued,
    /// Replaced by a new dose or frequency: the row that replaced it links back to it.
    Changed,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Medication {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The provider who started or changed it, when one did.
    pub prescriber_provider_id: Option<Uuid>,
    pub name: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub frequency: Option<String>,
    pub instructions: Option<String>,
    pub status: MedicationStatus,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub started_on: Date,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub ended_on: Option<Date>,
    /// Why it was changed or discontinued.
    pub change_reason: Option<String>,
    /// The row this one replaced (a change of dose or frequency).
    pub previous_medication_id: Option<Uuid>,
    /// The row that replaced this one, when it was changed.
    pub next_medication_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const MEDICATION_COLUMNS: &str = "m.id, m.patient_id, m.prescriber_provider_id, m.name, m.dose, m.route, m.frequency, \
     m.instructions, m.status, m.started_on, m.ended_on, m.change_reason, m.previous_medication_id, \
     (select n.id from medications n where n.org_id = m.org_id and n.previous_medication_id = m.id) as next_medication_id, \
     m.created_at, m.updated_at";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MedicationList {
    pub items: Vec<Medication>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MedicationQuery {
    /// Also list changed and discontinued rows (default: active medications only).
    #[serde(default)]
    pub include_history: bool,
}

/// A medication the patient starts; the caller (when a provider) is its prescriber.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewMedication {
    pub name: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub frequency: Option<String>,
    pub instructions: Option<String>,
    /// `YYYY-MM-DD`; today in the practice's time zone when absent.
    #[schema(format = Date)]
    pub started_on: Option<String>,
}

/// A new dose, frequency, route or instructions (at least one different), and why.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicationChange {
    pub dose: Option<String>,
    pub frequency: Option<String>,
    pub route: Option<String>,
    pub instructions: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`: the old row ends and the new starts on this day (default today).
    #[schema(format = Date)]
    pub changed_on: Option<String>,
}

/// Why and when a medication stops.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Discontinuation {
    pub reason: String,
    /// `YYYY-MM-DD`; today in the practice's time zone when absent.
    #[schema(format = Date)]
    pub ended_on: Option<String>,
}

/// How the database's refusals read to a clinician.
const MEDICATION_STATE_RULES: &[(&str, &str)] = &[
    (
        "medications_status_transition",
        "only an active medication can be changed or discontinued; this one is already changed or discontinued",
    ),
    (
        "medications_history_immutable",
        "only an active medication can be changed or discontinued; this one is already changed or discontinued",
    ),
    (
        "medications_previous_key",
        "this medication was already changed; change its current row",
    ),
];

/// An optional text field: trimmed, blank as absent, at most `max` characters.
fn optional_text(field: &str, text: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(ApiError::invalid(
            field,
            format!("longer than {max} characters"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

async fn fetch_medication(db: &mut CallerTx, id: Uuid) -> Result<Medication, ApiError> {
    sqlx::query_as(&format!(
        "select {MEDICATION_COLUMNS} from medications m where m.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

fn created(medication: Medication) -> Response {
    let location = format!("/api/v1/medications/{}", medication.id);
    let mut response = (StatusCode::CREATED, Tagged(medication)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The patient's medications: active ones (most recently started first), and with
/// `include_history=true` the changed and discontinued rows after them.
#[utoipa::path(get, path = "/api/v1/patients/{id}/medications", tag = "clinical",
    params(("id" = Uuid, Path, description = "The patient's id"), MedicationQuery),
    responses((status = 200, body = MedicationList), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_patient_medications(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    Query(query): Query<MedicationQuery>,
) -> Result<axum::Json<MedicationList>, ApiError> {
    require_patient(&mut db, patient_id).await?;
    let items = sqlx::query_as(&format!(
        "select {MEDICATION_COLUMNS} from medications m
          where m.patient_id = $1 and ($2 or m.status = 'active')
          order by m.status = 'active' desc, m.started_on desc, m.created_at desc, m.id"
    ))
    .bind(patient_id)
    .bind(query.include_history)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(axum::Json(MedicationList { items }))
}

/// Starts a medication (providers). Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/patients/{id}/medications", tag = "clinical",
    request_body = NewMedication,
    params(("id" = Uuid, Path, description = "The patient's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Medication, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn start_medication(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    headers: HeaderMap,
    Json(new): Json<NewMedication>,
) -> Result<Response, ApiError> {
    require_patient(&mut db, patient_id).await?;
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/patients/{patient_id}/medications"),
        &new,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let name = optional_text("name", Some(&new.name), MAX_FIELD_CHARS)?
        .ok_or_else(|| ApiError::invalid("name", "required"))?;
    let dose = optional_text("dose", new.dose.as_deref(), MAX_FIELD_CHARS)?;
    let route = optional_text("route", new.route.as_deref(), MAX_FIELD_CHARS)?;
    let frequency = optional_text("frequency", new.frequency.as_deref(), MAX_FIELD_CHARS)?;
    let instructions = optional_text(
        "instructions",
        new.instructions.as_deref(),
        MAX_INSTRUCTIONS_CHARS,
    )?;
    let started_on = match date_field("started_on", new.started_on.as_deref())? {
        Some(date) => date,
        None => practice_today(&mut db).await?,
    };
    let id: Uuid = sqlx::query_scalar(
        "insert into medications (org_id, patient_id, prescriber_provider_id, name, dose, route, frequency,
                                  instructions, started_on)
         values ($1, $2, app.provider_id(), $3, $4, $5, $6, $7, $8)
         returning id",
    )
    .bind(db.caller.org_id)
    .bind(patient_id)
    .bind(name)
    .bind(dose)
    .bind(route)
    .bind(frequency)
    .bind(instructions)
    .bind(started_on)
    .fetch_one(db.conn())
    .await?;
    let medication = fetch_medication(&mut db, id).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &medication).await?;
    }
    db.commit().await?;
    Ok(created(medication))
}

/// One medication row, current or history.
#[utoipa::path(get, path = "/api/v1/medications/{id}", tag = "clinical",
    params(("id" = Uuid, Path, description = "The medication's id")),
    responses((status = 200, body = Medication, headers(("ETag" = String))),
              (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_medication(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Medication>, ApiError> {
    let medication = fetch_medication(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(medication))
}

/// Changes an active medication's dose, frequency, route or instructions (providers): the
/// old row becomes history (`changed`, ended, with the reason) and a new active row, linked to
/// it, carries the new values. Answers the new row. Honours `Idempotency-Key`; an inactive
/// medication is 409.
#[utoipa::path(post, path = "/api/v1/medications/{id}/change", tag = "clinical",
    request_body = MedicationChange,
    params(("id" = Uuid, Path, description = "The active medication's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Medication, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn change_medication(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<MedicationChange>,
) -> Result<Response, ApiError> {
    let old = fetch_medication(&mut db, id).await?;
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/medications/{id}/change"),
        &change,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let reason = required_text("reason", &change.reason, MAX_FIELD_CHARS)?;
    // A field sent replaces the old value; one left out keeps it.
    let keep = |new: Option<String>, old: &Option<String>| new.or_else(|| old.clone());
    let dose = keep(
        optional_text("dose", change.dose.as_deref(), MAX_FIELD_CHARS)?,
        &old.dose,
    );
    let frequency = keep(
        optional_text("frequency", change.frequency.as_deref(), MAX_FIELD_CHARS)?,
        &old.frequency,
    );
    let route = keep(
        optional_text("route", change.route.as_deref(), MAX_FIELD_CHARS)?,
        &old.route,
    );
    let instructions = keep(
        optional_text(
            "instructions",
            change.instructions.as_deref(),
            MAX_INSTRUCTIONS_CHARS,
        )?,
        &old.instructions,
    );
    if (&dose, &frequency, &route, &instructions)
        == (&old.dose, &old.frequency, &old.route, &old.instructions)
    {
        return Err(ApiError::invalid(
            "dose",
            "a change needs a new dose, frequency, route or instructions",
        ));
    }
    let changed_on = match date_field("changed_on", change.changed_on.as_deref())? {
        Some(date) => date,
        None => practice_today(&mut db).await?,
    };
    // The old row first: its status transition is where the database refuses a medication that
    // is no longer active (409).
    let ended = sqlx::query(
        "update medications set status = 'changed', ended_on = $2, change_reason = $3 where id = $1",
    )
    .bind(id)
    .bind(changed_on)
    .bind(&reason)
    .execute(db.conn())
    .await
    .map_err(|e| state_conflict(e, MEDICATION_STATE_RULES))?;
    if ended.rows_affected() == 0 {
        // Visible (it was read above) but not the caller's to change.
        return Err(ApiError::Forbidden(
            "only providers change medications".into(),
        ));
    }
    let new_id: Uuid = sqlx::query_scalar(
        "insert into medications (org_id, patient_id, prescriber_provider_id, name, dose, route, frequency,
                                  instructions, started_on, previous_medication_id)
         values ($1, $2, app.provider_id(), $3, $4, $5, $6, $7, $8, $9)
         returning id",
    )
    .bind(db.caller.org_id)
    .bind(old.patient_id)
    .bind(&old.name)
    .bind(dose)
    .bind(route)
    .bind(frequency)
    .bind(instructions)
    .bind(changed_on)
    .bind(id)
    .fetch_one(db.conn())
    .await
    .map_err(|e| state_conflict(e, MEDICATION_STATE_RULES))?;
    let medication = fetch_medication(&mut db, new_id).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &medication).await?;
    }
    db.commit().await?;
    Ok(created(medication))
}

/// Discontinues an active medication (providers), with the reason and the day it stopped.
/// An inactive medication is 409.
#[utoipa::path(post, path = "/api/v1/medications/{id}/discontinue", tag = "clinical",
    request_body = Discontinuation,
    params(("id" = Uuid, Path, description = "The active medication's id")),
    responses((status = 200, body = Medication, headers(("ETag" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn discontinue_medication(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(stop): Json<Discontinuation>,
) -> Result<Tagged<Medication>, ApiError> {
    fetch_medication(&mut db, id).await?;
    let reason = required_text("reason", &stop.reason, MAX_FIELD_CHARS)?;
    let ended_on = match date_field("ended_on", stop.ended_on.as_deref())? {
        Some(date) => date,
        None => practice_today(&mut db).await?,
    };
    let stopped = sqlx::query(
        "update medications set status = 'discontinued', ended_on = $2, change_reason = $3 where id = $1",
    )
    .bind(id)
    .bind(ended_on)
    .bind(&reason)
    .execute(db.conn())
    .await
    .map_err(|e| state_conflict(e, MEDICATION_STATE_RULES))?;
    if stopped.rows_affected() == 0 {
        return Err(ApiError::Forbidden(
            "only providers discontinue medications".into(),
        ));
    }
    let medication = fetch_medication(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(medication))
}
