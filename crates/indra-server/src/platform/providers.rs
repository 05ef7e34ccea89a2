//! `/api/v1/providers`: the practice's clinicians (NPI, credentials, license, note format,
//! supervision). Everyone reads them; admins add and change them. Providers are never deleted;
//! they are deactivated. Who may do what, and what is valid (the NPI's check digit, a supervisor
//! for a pre-licensed clinician), is decided by the database; these handlers only ask.

use std::fmt;

use crate::api::extract::{Path, Query, present};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indra_rules::clinical::note_format::NoteFormat;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract;
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, Page, PageQuery, Positioned, fetch_page};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Provider {
    pub id: Uuid,
    /// The user who signs in as this clinician.
    pub user_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// LCSW, LPC-A, PsyD, MD, PMHNP...
    pub credentials: String,
    /// Type 1 National Provider Identifier: 10 digits, the last a check digit.
    pub npi: String,
    pub license_number: Option<String>,
    /// Two capital letters, e.g. `TX`.
    pub license_state: Option<String>,
    /// NUCC taxonomy code, e.g. `1041C0700X`.
    pub taxonomy_code: Option<String>,
    #[sqlx(try_from = "String")]
    pub preferred_note_format: NoteFormatCode,
    /// A pre-licensed clinician practises under a supervisor, who cosigns their notes.
    pub requires_supervision: bool,
    pub supervisor_id: Option<Uuid>,
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const PROVIDER_COLUMNS: &str = "id, user_id, first_name, last_name, credentials, npi, license_number, license_state, \
     taxonomy_code, preferred_note_format::text as preferred_note_format, requires_supervision, supervisor_id, \
     is_active, created_at, updated_at";

/// The note format a clinician writes in by default, by its code: `SOAP`, `DAP` or `BIRP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum NoteFormatCode {
    Soap,
    Dap,
    Birp,
}

impl NoteFormatCode {
    pub fn format(self) -> NoteFormat {
        match self {
            Self::Soap => NoteFormat::Soap,
            Self::Dap => NoteFormat::Dap,
            Self::Birp => NoteFormat::Birp,
        }
    }

    pub fn code(self) -> &'static str {
        self.format().code()
    }
}

impl From<NoteFormat> for NoteFormatCode {
    fn from(format: NoteFormat) -> Self {
        match format {
            NoteFormat::Soap => Self::Soap,
            NoteFormat::Dap => Self::Dap,
            NoteFormat::Birp => Self::Birp,
        }
    }
}

impl TryFrom<String> for NoteFormatCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse::<NoteFormat>()
            .map(Self::from)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for NoteFormatCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewProvider {
    /// The user of this practice who signs in as the clinician (one provider record per user).
    pub user_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub credentials: String,
    /// 10 digits with a correct check digit.
    pub npi: String,
    pub license_number: Option<String>,
    pub license_state: Option<String>,
    pub taxonomy_code: Option<String>,
    pub preferred_note_format: NoteFormatCode,
    pub requires_supervision: bool,
    /// Required when `requires_supervision` is true: a provider of the same practice.
    pub supervisor_id: Option<Uuid>,
}

/// A change to a provider: only the fields sent change. The optional fields
/// (`license_number`, `license_state`, `taxonomy_code`, `supervisor_id`) are cleared with
/// `null`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub credentials: Option<String>,
    pub npi: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub license_number: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub license_state: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub taxonomy_code: Option<Option<String>>,
    pub preferred_note_format: Option<NoteFormatCode>,
    pub requires_supervision: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Uuid>)]
    pub supervisor_id: Option<Option<Uuid>>,
    /// `false` deactivates the clinician; `true` brings them back.
    pub is_active: Option<bool>,
}

/// The organization's clinicians, oldest first.
#[utoipa::path(get, path = "/api/v1/providers", tag = "platform", params(PageQuery),
    responses((status = 200, body = Page<Provider>), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_providers(
    mut db: CallerTx,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Provider>>, ApiError> {
    let page = fetch_page(
        db.conn(),
        &format!("select {PROVIDER_COLUMNS} from providers"),
        &query,
    )
    .await?;
    db.commit().await?;
    Ok(Json(page))
}

impl Positioned for Provider {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "platform",
    params(("id" = Uuid, Path, description = "The provider's id")),
    responses((status = 200, body = Provider, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_provider(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Provider>, ApiError> {
    let provider = fetch_provider(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(provider))
}

async fn fetch_provider(db: &mut CallerTx, id: Uuid) -> Result<Provider, ApiError> {
    sqlx::query_as(&format!(
        "select {PROVIDER_COLUMNS} from providers where id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

/// Adds a clinician to the caller's organization (admins). Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/providers", tag = "platform", request_body = NewProvider,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Provider, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_provider(
    mut db: CallerTx,
    headers: HeaderMap,
    extract::Json(new): extract::Json<NewProvider>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/providers", &new).await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let provider: Provider = sqlx::query_as(&format!(
        "insert into providers (org_id, user_id, first_name, last_name, credentials, npi, license_number,
                                license_state, taxonomy_code, preferred_note_format, requires_supervision,
                                supervisor_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::note_format, $11, $12)
         returning {PROVIDER_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(new.user_id)
    .bind(new.first_name.trim())
    .bind(new.last_name.trim())
    .bind(new.credentials.trim())
    .bind(new.npi.trim())
    .bind(new.license_number.as_deref().map(str::trim))
    .bind(new.license_state.as_deref().map(str::trim))
    .bind(new.taxonomy_code.as_deref().map(str::trim))
    .bind(new.preferred_note_format.code())
    .bind(new.requires_supervision)
    .bind(new.supervisor_id)
    .fetch_one(db.conn())
    .await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &provider).await?;
    }
    db.commit().await?;
    let location = format!("/api/v1/providers/{}", provider.id);
    let mut response = (StatusCode::CREATED, Tagged(provider)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Changes a clinician's details, supervision or note format, or deactivates them (admins).
/// Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/providers/{id}", tag = "platform", request_body = ProviderChange,
    params(("id" = Uuid, Path, description = "The provider's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Provider, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_provider(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    extract::Json(change): extract::Json<ProviderChange>,
) -> Result<Tagged<Provider>, ApiError> {
    let current = fetch_provider(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let trimmed = |value: &Option<Option<String>>| {
        value
            .as_ref()
            .map(|v| v.as_deref().map(str::trim).map(str::to_owned))
    };
    let (license_number, license_state, taxonomy_code) = (
        trimmed(&change.license_number),
        trimmed(&change.license_state),
        trimmed(&change.taxonomy_code),
    );
    let updated: Option<Provider> = sqlx::query_as(&format!(
        "update providers set
             first_name = coalesce($2, first_name),
             last_name = coalesce($3, last_name),
             credentials = coalesce($4, credentials),
             npi = coalesce($5, npi),
             license_number = case when $6 then $7 else license_number end,
             license_state = case when $8 then $9 else license_state end,
             taxonomy_code = case when $10 then $11 else taxonomy_code end,
             preferred_note_format = coalesce($12::note_format, preferred_note_format),
             requires_supervision = coalesce($13, requires_supervision),
             supervisor_id = case when $14 then $15 else supervisor_id end,
             is_active = coalesce($16, is_active)
          where id = $1 and updated_at = $17
          returning {PROVIDER_COLUMNS}"
    ))
    .bind(id)
    .bind(change.first_name.as_deref().map(str::trim))
    .bind(change.last_name.as_deref().map(str::trim))
    .bind(change.credentials.as_deref().map(str::trim))
    .bind(change.npi.as_deref().map(str::trim))
    .bind(license_number.is_some())
    .bind(license_number.flatten())
    .bind(license_state.is_some())
    .bind(license_state.flatten())
    .bind(taxonomy_code.is_some())
    .bind(taxonomy_code.flatten())
    .bind(change.preferred_note_format.map(NoteFormatCode::code))
    .bind(change.requires_supervision)
    .bind(change.supervisor_id.is_some())
    .bind(change.supervisor_id.flatten())
    .bind(change.is_active)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    let Some(updated) = updated else {
        // Changed by someone else since it was read, or the caller may read but not change it.
        return Err(
            if etag_of(&fetch_provider(&mut db, id).await?) != etag_of(&current) {
                ApiError::PreconditionFailed
            } else {
                ApiError::Forbidden("only admins change providers".into())
            },
        );
    };
    db.commit().await?;
    Ok(Tagged(updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_format_codes_match_the_rules_and_the_database() {
        for format in NoteFormat::ALL {
            let code = NoteFormatCode::from(format);
            assert_eq!(code.code(), format.code());
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(format.code())
            );
            assert_eq!(NoteFormatCode::try_from(format.code().to_owned()), Ok(code));
        }
        assert!(NoteFormatCode::try_from("soap".to_owned()).is_err());
    }

    #[test]
    fn a_change_tells_a_null_from_a_missing_field() {
        let change: ProviderChange =
            serde_json::from_value(serde_json::json!({"supervisor_id": null, "npi": "1"})).unwrap();
        assert_eq!(change.supervisor_id, Some(None));
        assert_eq!(change.license_number, None);
        assert_eq!(change.npi.as_deref(), Some("1"));
    }
}
