//! `/api/v1/encounters`: a clinical session, from an appointment or ad hoc, moving
//! scheduled -> in_progress -> completed (the database's status machine), with its duration
//! derived from its start and end. Completing an appointment's encounter completes the
//! appointment (trigger `encounters_complete_appointment`, migration 0014).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::appointments::{Modality, SessionType};
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{Json, Path};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Encounter {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_id: Option<Uuid>,
    pub group_session_id: Option<Uuid>,
    pub encounter_type: String,
    pub modality: String,
    /// scheduled, in_progress, completed.
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub scheduled_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Whole minutes from start to end, derived by the database.
    pub duration_minutes: Option<i32>,
    pub place_of_service: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const ENCOUNTER_COLUMNS: &str = "id, patient_id, provider_id, appointment_id, group_session_id, \
     encounter_type::text as encounter_type, modality::text as modality, status::text as status, scheduled_start, \
     started_at, ended_at, duration_minutes, place_of_service, created_at, updated_at";

/// An encounter from an appointment (`appointment_id`: its patient, provider, type, modality
/// and start are copied), or ad hoc (`patient_id`, `provider_id` and `encounter_type`).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewEncounter {
    pub appointment_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub encounter_type: Option<SessionType>,
    pub modality: Option<Modality>,
    /// CMS place of service, two digits (11 office, 10 telehealth at home, 02 telehealth).
    pub place_of_service: Option<String>,
    /// A group session: each participant has an encounter (and later a note) of their own,
    /// and all of them share this id. Open the first without it and pass its id to the others,
    /// or choose one id for all.
    pub group_session_id: Option<Uuid>,
}

async fn fetch_encounter(db: &mut CallerTx, id: Uuid) -> Result<Encounter, ApiError> {
    sqlx::query_as(&format!(
        "select {ENCOUNTER_COLUMNS} from encounters where id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

/// Opens an encounter. Honours `Idempotency-Key`. An appointment has at most one encounter (409).
#[utoipa::path(post, path = "/api/v1/encounters", tag = "scheduling", request_body = NewEncounter,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Encounter, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn open_encounter(
    mut db: CallerTx,
    headers: HeaderMap,
    Json(new): Json<NewEncounter>,
) -> Result<Response, ApiError> {
    let key =
        match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/encounters", &new).await? {
            Claim::Replay(answer) => return Ok(answer),
            Claim::Fresh(key) => key,
        };
    let org_id = db.caller.org_id;
    let encounter: Encounter = if let Some(appointment_id) = new.appointment_id {
        sqlx::query_as(&format!(
            "insert into encounters (org_id, patient_id, provider_id, appointment_id, encounter_type, modality,
                                     scheduled_start, place_of_service, group_session_id)
             select $1, a.patient_id, a.provider_id, a.id, coalesce($3::encounter_type, a.appointment_type),
                    coalesce($4::session_modality, a.modality), a.starts_at, $5, $6
               from appointments a where a.id = $2
             returning {ENCOUNTER_COLUMNS}"
        ))
        .bind(org_id)
        .bind(appointment_id)
        .bind(new.encounter_type.map(SessionType::code))
        .bind(new.modality.map(Modality::code))
        .bind(new.place_of_service.as_deref().map(str::trim))
        .bind(new.group_session_id)
        .fetch_optional(db.conn())
        .await?
        // An appointment the caller cannot see (another organization's) names nothing.
        .ok_or_else(|| ApiError::invalid("appointment_id", "no such appointment"))?
    } else {
        let (Some(patient_id), Some(provider_id), Some(encounter_type)) =
            (new.patient_id, new.provider_id, new.encounter_type)
        else {
            return Err(ApiError::invalid(
                "appointment_id",
                "give an appointment_id, or patient_id, provider_id and encounter_type",
            ));
        };
        sqlx::query_as(&format!(
            "insert into encounters (org_id, patient_id, provider_id, encounter_type, modality, place_of_service,
                                     group_session_id)
             values ($1, $2, $3, $4::encounter_type, $5::session_modality, $6, $7)
             returning {ENCOUNTER_COLUMNS}"
        ))
        .bind(org_id)
        .bind(patient_id)
        .bind(provider_id)
        .bind(encounter_type.code())
        .bind(new.modality.unwrap_or(Modality::InPerson).code())
        .bind(new.place_of_service.as_deref().map(str::trim))
        .bind(new.group_session_id)
        .fetch_one(db.conn())
        .await?
    };
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &encounter).await?;
    }
    db.commit().await?;
    let location = format!("/api/v1/encounters/{}", encounter.id);
    let mut response = (StatusCode::CREATED, Tagged(encounter)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/encounters/{id}", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The encounter's id")),
    responses((status = 200, body = Encounter, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_encounter(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Encounter>, ApiError> {
    let encounter = fetch_encounter(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(encounter))
}

/// When a move happened, if not now (a session recorded afterwards). The body may be empty.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EncounterMoment {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

fn moment(body: &Bytes) -> Result<EncounterMoment, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(EncounterMoment::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        detail: e.to_string(),
        field: None,
    })
}

async fn move_encounter(
    db: &mut CallerTx,
    id: Uuid,
    headers: &HeaderMap,
    set: &str,
    at: Option<OffsetDateTime>,
) -> Result<Encounter, ApiError> {
    let current = fetch_encounter(db, id).await?;
    if headers.contains_key(header::IF_MATCH) {
        require_if_match(headers, &etag_of(&current))?;
    }
    // `set` is one of this module's two constants, never input.
    sqlx::query_as(&format!(
        "update encounters set {set} where id = $1 returning {ENCOUNTER_COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_optional(db.conn())
    .await?
    .ok_or_else(|| ApiError::Forbidden("your role may not change encounters".into()))
}

/// The session begins: `in_progress`, `started_at` now (or `at`). Only from `scheduled` (422).
#[utoipa::path(post, path = "/api/v1/encounters/{id}/start", tag = "scheduling", request_body(content = Option<EncounterMoment>),
    params(("id" = Uuid, Path, description = "The encounter's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Encounter, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn start_encounter(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Tagged<Encounter>, ApiError> {
    let at = moment(&body)?.at;
    let encounter = move_encounter(
        &mut db,
        id,
        &headers,
        "status = 'in_progress', started_at = coalesce($2, now())",
        at,
    )
    .await?;
    db.commit().await?;
    Ok(Tagged(encounter))
}

/// The session ends: `completed`, `ended_at` now (or `at`); the duration follows. Only from
/// `in_progress` (422). The encounter's appointment, if still scheduled, is completed with it.
#[utoipa::path(post, path = "/api/v1/encounters/{id}/complete", tag = "scheduling", request_body(content = Option<EncounterMoment>),
    params(("id" = Uuid, Path, description = "The encounter's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Encounter, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn complete_encounter(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Tagged<Encounter>, ApiError> {
    let at = moment(&body)?.at;
    let encounter = move_encounter(
        &mut db,
        id,
        &headers,
        "status = 'completed', ended_at = coalesce($2, now())",
        at,
    )
    .await?;
    db.commit().await?;
    Ok(Tagged(encounter))
}
