//! A patient's diagnoses (ICD-10-CM): added, resolved, ruled out, never deleted, so the list is
//! also the history. Clinicians write them; billing and admins read them; the front desk does
//! not see them (policies `patient_diagnoses_*`). The database refuses a code that does not
//! exist or is not billable (trigger `patient_diagnoses_billable_code`) and a second active
//! primary diagnosis (index `patient_diagnoses_one_primary`).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::demographics::fetch_patient;
use super::iso_date;
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{self, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, Page, PageQuery, page_of};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosisStatus {
    Active,
    /// No longer present, since `resolved_on`; may become active again (a recurrence).
    Resolved,
    /// Found not to apply, on `ruled_out_on`.
    RuledOut,
}

impl DiagnosisStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Resolved => "resolved",
            Self::RuledOut => "ruled_out",
        }
    }
}

impl TryFrom<String> for DiagnosisStatus {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "active" => Ok(Self::Active),
            "resolved" => Ok(Self::Resolved),
            "ruled_out" => Ok(Self::RuledOut),
            _ => Err(text),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Diagnosis {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// A billable ICD-10-CM code, e.g. `F41.1`.
    pub icd10_code: String,
    /// The code's description.
    pub description: String,
    #[sqlx(try_from = "String")]
    pub status: DiagnosisStatus,
    /// At most one active primary diagnosis per patient.
    pub is_primary: bool,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub onset_date: Option<Date>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub diagnosed_on: Date,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub resolved_on: Option<Date>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub ruled_out_on: Option<Date>,
    pub diagnosed_by_provider_id: Option<Uuid>,
    pub notes: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Selected from `patient_diagnoses d join icd10_codes c`.
pub const DIAGNOSIS_COLUMNS: &str = "d.id, d.patient_id, d.icd10_code, c.description, d.status::text as status, \
     d.is_primary, d.onset_date, d.diagnosed_on, d.resolved_on, d.ruled_out_on, d.diagnosed_by_provider_id, d.notes, \
     d.created_at, d.updated_at";

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewDiagnosis {
    /// A billable ICD-10-CM code (`F41.1`, not the category `F41`).
    pub icd10_code: String,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default, with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub onset_date: Option<Date>,
    /// Today when left out.
    #[serde(default, with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub diagnosed_on: Option<Date>,
    pub notes: Option<String>,
}

/// Resolving (`status: "resolved"` with `resolved_on`), ruling out (`status: "ruled_out"` with
/// `ruled_out_on`), a recurrence (`status: "active"` again, which clears `resolved_on`), or
/// making it the primary diagnosis. Only the fields sent change.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiagnosisChange {
    pub status: Option<DiagnosisStatus>,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub resolved_on: Option<Date>,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub ruled_out_on: Option<Date>,
    pub is_primary: Option<bool>,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub onset_date: Option<Date>,
    pub notes: Option<String>,
}

/// Every diagnosis of the patient, whatever its status (the history), oldest first. The front
/// desk gets an empty list: diagnoses are closed to it.
#[utoipa::path(get, path = "/api/v1/patients/{id}/diagnoses", tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id"), PageQuery),
    responses((status = 200, body = Page<Diagnosis>), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_diagnoses(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Diagnosis>>, ApiError> {
    let (limit, after) = query.resolve()?;
    fetch_patient(db.conn(), patient_id).await?;
    let rows: Vec<Diagnosis> = sqlx::query_as(&format!(
        "select {DIAGNOSIS_COLUMNS} from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and ($2::timestamptz is null or (d.created_at, d.id) > ($2, $3))
          order by d.created_at, d.id limit $4"
    ))
    .bind(patient_id)
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(Json(page_of(rows, limit, |d| Cursor {
        created_at: d.created_at,
        id: d.id,
    })))
}

#[utoipa::path(get, path = "/api/v1/diagnoses/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "The diagnosis's id")),
    responses((status = 200, body = Diagnosis, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_diagnosis(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Diagnosis>, ApiError> {
    let diagnosis = fetch_diagnosis(db.conn(), id).await?;
    db.commit().await?;
    Ok(Tagged(diagnosis))
}

async fn fetch_diagnosis(conn: &mut PgConnection, id: Uuid) -> Result<Diagnosis, ApiError> {
    sqlx::query_as(&format!(
        "select {DIAGNOSIS_COLUMNS} from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(ApiError::NotFound)
}

/// A second active primary diagnosis is refused by the database (`patient_diagnoses_one_primary`);
/// asked first so the answer can say which diagnosis is the primary one. (Two requests racing
/// past this check still meet the index, answered with its generic message.)
async fn refuse_second_primary(
    conn: &mut PgConnection,
    patient_id: Uuid,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let primary: Option<(String, String)> = sqlx::query_as(
        "select d.icd10_code, c.description from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and d.is_primary and d.status = 'active'
            and ($2::uuid is null or d.id <> $2)",
    )
    .bind(patient_id)
    .bind(except)
    .fetch_optional(conn)
    .await?;
    match primary {
        Some((code, description)) => Err(ApiError::conflict(
            Some("is_primary"),
            format!(
                "the patient's active primary diagnosis is already {code} ({description}); \
                 make that one secondary, resolve it or rule it out first"
            ),
        )),
        None => Ok(()),
    }
}

/// Adds a diagnosis (clinicians), by the signed-in clinician. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/patients/{id}/diagnoses", tag = "patients", request_body = NewDiagnosis,
    params(("id" = Uuid, Path, description = "The patient's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Diagnosis, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn add_diagnosis(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    headers: HeaderMap,
    extract::Json(new): extract::Json<NewDiagnosis>,
) -> Result<Response, ApiError> {
    // Another practice's patient is not found, before anything else is said about the request.
    fetch_patient(db.conn(), patient_id).await?;
    let route = format!("POST /api/v1/patients/{patient_id}/diagnoses");
    let key = match IdempotencyKey::claim(&mut db, &headers, &route, &new).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    if new.is_primary {
        refuse_second_primary(db.conn(), patient_id, None).await?;
    }
    let id: Uuid = sqlx::query_scalar(
        "insert into patient_diagnoses (org_id, patient_id, icd10_code, is_primary, onset_date, diagnosed_on,
                                        diagnosed_by_provider_id, notes)
         values ($1, $2, upper($3), $4, $5, coalesce($6, current_date), (select app.provider_id()), $7)
         returning id",
    )
    .bind(db.caller.org_id)
    .bind(patient_id)
    .bind(new.icd10_code.trim())
    .bind(new.is_primary)
    .bind(new.onset_date)
    .bind(new.diagnosed_on)
    .bind(new.notes.as_deref().map(str::trim).filter(|n| !n.is_empty()))
    .fetch_one(db.conn())
    .await?;
    let diagnosis = fetch_diagnosis(db.conn(), id).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &diagnosis).await?;
    }
    db.commit().await?;
    let location = format!("/api/v1/diagnoses/{id}");
    let mut response = (StatusCode::CREATED, Tagged(diagnosis)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Resolves, rules out, reactivates, or makes a diagnosis primary (clinicians). Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/diagnoses/{id}", tag = "patients", request_body = DiagnosisChange,
    params(("id" = Uuid, Path, description = "The diagnosis's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Diagnosis, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_diagnosis(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    extract::Json(change): extract::Json<DiagnosisChange>,
) -> Result<Tagged<Diagnosis>, ApiError> {
    let current = fetch_diagnosis(db.conn(), id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let status = change.status.unwrap_or(current.status);
    if change.is_primary.unwrap_or(current.is_primary)
        && status == DiagnosisStatus::Active
        && !(current.is_primary && current.status == DiagnosisStatus::Active)
    {
        refuse_second_primary(db.conn(), current.patient_id, Some(id)).await?;
    }
    // A diagnosis active again (a recurrence) is no longer resolved; the dates follow the status
    // unless the change sends them, and the database checks they agree.
    let updated: Option<(Uuid,)> = sqlx::query_as(
        "update patient_diagnoses set
             status = coalesce($2::diagnosis_status, status),
             resolved_on = case when $3::date is not null then $3
                                when $2 = 'active' then null else resolved_on end,
             ruled_out_on = case when $4::date is not null then $4 else ruled_out_on end,
             is_primary = coalesce($5, is_primary),
             onset_date = coalesce($6, onset_date),
             notes = coalesce($7, notes)
          where id = $1 and updated_at = $8
          returning id",
    )
    .bind(id)
    .bind(change.status.map(DiagnosisStatus::as_str))
    .bind(change.resolved_on)
    .bind(change.ruled_out_on)
    .bind(change.is_primary)
    .bind(change.onset_date)
    .bind(change.notes.as_deref().map(str::trim))
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    if updated.is_none() {
        // Changed by someone else since it was read, or the caller may read but not change it.
        return Err(
            if etag_of(&fetch_diagnosis(db.conn(), id).await?) != etag_of(&current) {
                ApiError::PreconditionFailed
            } else {
                ApiError::Forbidden("only clinicians change diagnoses".into())
            },
        );
    }
    let diagnosis = fetch_diagnosis(db.conn(), id).await?;
    db.commit().await?;
    Ok(Tagged(diagnosis))
}
