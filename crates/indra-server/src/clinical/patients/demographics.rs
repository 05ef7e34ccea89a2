//! `/api/v1/patients`: registering a patient, editing demographics, discharging, and finding
//! patients. Every role reads demographics; front desk, clinicians and admins change them
//! (policy `patients_update`). What is valid (a discharge needs its date and reason, a state is
//! two capitals, a record number is unique in the practice) is decided by the database.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::iso_date;
use super::search::{PatientQuery, search_patients};
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::present;
use crate::api::extract::{self, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, Page, PageQuery, Positioned, fetch_page};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

/// Where a patient is in their care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatientStatus {
    Active,
    Inactive,
    /// Care ended: `discharged_on` and `discharge_reason` say when and why.
    Discharged,
}

impl PatientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Discharged => "discharged",
        }
    }
}

impl TryFrom<String> for PatientStatus {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "discharged" => Ok(Self::Discharged),
            _ => Err(text),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Patient {
    pub id: Uuid,
    /// The practice's record number, unique in the practice.
    pub mrn: String,
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: Date,
    /// `female`, `male`, `intersex` or `unknown`.
    pub sex_at_birth: Option<String>,
    pub gender_identity: Option<String>,
    pub pronouns: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    /// Two capital letters, e.g. `TX`.
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub primary_provider_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub status: PatientStatus,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub discharged_on: Option<Date>,
    pub discharge_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const PATIENT_COLUMNS: &str = "id, mrn, first_name, last_name, preferred_name, date_of_birth, sex_at_birth, \
     gender_identity, pronouns, email::text as email, phone, address_line1, address_line2, city, state, postal_code, \
     primary_provider_id, status::text as status, discharged_on, discharge_reason, created_at, updated_at";

/// A patient in a list or a search result.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatientSummary {
    pub id: Uuid,
    pub mrn: String,
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: Date,
    #[sqlx(try_from = "String")]
    pub status: PatientStatus,
    pub primary_provider_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How well the patient matches the search, 0-1 (1 for a date of birth or a whole record
    /// number); absent in a plain list.
    pub rank: Option<f32>,
}

impl Positioned for PatientSummary {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPatient {
    /// Given by the database (`P` and 8 characters) when left out.
    pub mrn: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: Date,
    pub sex_at_birth: Option<String>,
    pub gender_identity: Option<String>,
    pub pronouns: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// A provider of the practice.
    pub primary_provider_id: Option<Uuid>,
}

/// A change to a patient: only the fields sent change; optional fields are cleared with `null`.
/// Discharging sends `status: "discharged"` with `discharged_on` and `discharge_reason`;
/// making a discharged patient active or inactive again clears both unless they are sent.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatientChange {
    pub mrn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub preferred_name: Option<Option<String>>,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Date>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub sex_at_birth: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub gender_identity: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub pronouns: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub address_line1: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub address_line2: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub city: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub state: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub postal_code: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Uuid>)]
    pub primary_provider_id: Option<Option<Uuid>>,
    pub status: Option<PatientStatus>,
    #[serde(
        default,
        with = "iso_date::change",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub discharged_on: Option<Option<Date>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub discharge_reason: Option<Option<String>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientListQuery {
    /// A name (typos and partial names welcome), a date of birth (`1988-04-12` or
    /// `04/12/1988`) or a record number (whole or its beginning). Without it: every patient,
    /// oldest first, a page at a time.
    pub q: Option<String>,
    /// Rows per page (or best matches of a search), 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (lists only; a search answers one page).
    pub cursor: Option<String>,
}

const SUMMARY_COLUMNS: &str = "id, mrn, first_name, last_name, preferred_name, date_of_birth, status::text as status, \
     primary_provider_id, created_at, null::real as rank";

/// The practice's patients: with `q`, the best matches ranked best first (one page, no
/// cursor); without, all of them oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", params(PatientListQuery),
    responses((status = 200, body = Page<PatientSummary>), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_patients(
    mut db: CallerTx,
    Query(query): Query<PatientListQuery>,
) -> Result<Json<Page<PatientSummary>>, ApiError> {
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let page = match query.q.as_deref() {
        Some(q) => {
            if query.cursor.is_some() {
                return Err(ApiError::invalid(
                    "cursor",
                    "a search answers its best matches in one page; narrow the search instead",
                ));
            }
            let (limit, _) = paging.resolve()?;
            let items = search_patients(db.conn(), &PatientQuery::parse(q)?, limit).await?;
            Page {
                items,
                next_cursor: None,
            }
        }
        None => {
            fetch_page(
                db.conn(),
                &format!("select {SUMMARY_COLUMNS} from patients"),
                &paging,
            )
            .await?
        }
    };
    db.commit().await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, body = Patient, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_patient(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Patient>, ApiError> {
    let patient = fetch_patient(db.conn(), id).await?;
    db.commit().await?;
    Ok(Tagged(patient))
}

/// The patient, as the caller may see them; 404 when missing or of another practice.
pub async fn fetch_patient(conn: &mut PgConnection, id: Uuid) -> Result<Patient, ApiError> {
    sqlx::query_as(&format!(
        "select {PATIENT_COLUMNS} from patients where id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(ApiError::NotFound)
}

fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Registers a patient (front desk, clinicians, admins). Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = NewPatient,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Patient, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_patient(
    mut db: CallerTx,
    headers: HeaderMap,
    extract::Json(new): extract::Json<NewPatient>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/patients", &new).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let patient: Patient = sqlx::query_as(&format!(
        "insert into patients (org_id, mrn, first_name, last_name, preferred_name, date_of_birth, sex_at_birth,
                               gender_identity, pronouns, email, phone, address_line1, address_line2, city, state,
                               postal_code, primary_provider_id)
         values ($1, coalesce($2, 'P' || upper(substr(md5(gen_random_uuid()::text), 1, 8))), $3, $4, $5, $6, $7,
                 $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         returning {PATIENT_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(trimmed(new.mrn.as_deref()))
    .bind(new.first_name.trim())
    .bind(new.last_name.trim())
    .bind(trimmed(new.preferred_name.as_deref()))
    .bind(new.date_of_birth)
    .bind(trimmed(new.sex_at_birth.as_deref()))
    .bind(trimmed(new.gender_identity.as_deref()))
    .bind(trimmed(new.pronouns.as_deref()))
    .bind(trimmed(new.email.as_deref()))
    .bind(trimmed(new.phone.as_deref()))
    .bind(trimmed(new.address_line1.as_deref()))
    .bind(trimmed(new.address_line2.as_deref()))
    .bind(trimmed(new.city.as_deref()))
    .bind(trimmed(new.state.as_deref()))
    .bind(trimmed(new.postal_code.as_deref()))
    .bind(new.primary_provider_id)
    .fetch_one(db.conn())
    .await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &patient).await?;
    }
    db.commit().await?;
    let location = format!("/api/v1/patients/{}", patient.id);
    let mut response = (StatusCode::CREATED, Tagged(patient)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Edits demographics, or changes the status: active, inactive, or discharged (with
/// `discharged_on` and `discharge_reason`). Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/patients/{id}", tag = "patients", request_body = PatientChange,
    params(("id" = Uuid, Path, description = "The patient's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Patient, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_patient(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    extract::Json(change): extract::Json<PatientChange>,
) -> Result<Tagged<Patient>, ApiError> {
    let current = fetch_patient(db.conn(), id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let text = |value: &Option<Option<String>>| -> (bool, Option<String>) {
        match value {
            None => (false, None),
            Some(v) => (true, trimmed(v.as_deref()).map(str::to_owned)),
        }
    };
    // Leaving discharge clears its date and reason, unless the change says otherwise.
    let leaving_discharge = matches!(change.status, Some(s) if s != PatientStatus::Discharged)
        && current.status == PatientStatus::Discharged;
    let discharged_on = match change.discharged_on {
        Some(date) => (true, date),
        None if leaving_discharge => (true, None),
        None => (false, None),
    };
    let discharge_reason = match &change.discharge_reason {
        Some(_) => text(&change.discharge_reason),
        None if leaving_discharge => (true, None),
        None => (false, None),
    };
    let fields = [
        text(&change.preferred_name),
        text(&change.sex_at_birth),
        text(&change.gender_identity),
        text(&change.pronouns),
        text(&change.email),
        text(&change.phone),
        text(&change.address_line1),
        text(&change.address_line2),
        text(&change.city),
        text(&change.state),
        text(&change.postal_code),
        discharge_reason,
    ];
    let sql = format!(
        "update patients set
             mrn = coalesce($2, mrn),
             first_name = coalesce($3, first_name),
             last_name = coalesce($4, last_name),
             date_of_birth = coalesce($5, date_of_birth),
             status = coalesce($6::patient_status, status),
             discharged_on = case when $7 then $8 else discharged_on end,
             primary_provider_id = case when $9 then $10 else primary_provider_id end,
             preferred_name = case when $11 then $12 else preferred_name end,
             sex_at_birth = case when $13 then $14 else sex_at_birth end,
             gender_identity = case when $15 then $16 else gender_identity end,
             pronouns = case when $17 then $18 else pronouns end,
             email = case when $19 then $20 else email end,
             phone = case when $21 then $22 else phone end,
             address_line1 = case when $23 then $24 else address_line1 end,
             address_line2 = case when $25 then $26 else address_line2 end,
             city = case when $27 then $28 else city end,
             state = case when $29 then $30 else state end,
             postal_code = case when $31 then $32 else postal_code end,
             discharge_reason = case when $33 then $34 else discharge_reason end
          where id = $1 and updated_at = $35
          returning {PATIENT_COLUMNS}"
    );
    let mut query = sqlx::query_as::<_, Patient>(&sql)
        .bind(id)
        .bind(trimmed(change.mrn.as_deref()))
        .bind(change.first_name.as_deref().map(str::trim))
        .bind(change.last_name.as_deref().map(str::trim))
        .bind(change.date_of_birth)
        .bind(change.status.map(PatientStatus::as_str))
        .bind(discharged_on.0)
        .bind(discharged_on.1)
        .bind(change.primary_provider_id.is_some())
        .bind(change.primary_provider_id.flatten());
    for (sent, value) in fields {
        query = query.bind(sent).bind(value);
    }
    let updated = query
        .bind(current.updated_at)
        .fetch_optional(db.conn())
        .await?;
    let Some(updated) = updated else {
        // Changed by someone else since it was read, or the caller may read but not change it.
        return Err(
            if etag_of(&fetch_patient(db.conn(), id).await?) != etag_of(&current) {
                ApiError::PreconditionFailed
            } else {
                ApiError::Forbidden("your role may not change patients".into())
            },
        );
    };
    db.commit().await?;
    Ok(Tagged(updated))
}
