//! `/api/v1/organization`: the caller's practice. Everyone reads it; admins change it.

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract;
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    /// IANA time zone the practice's calendar runs in.
    pub time_zone: String,
    pub tax_id: Option<String>,
    pub billing_npi: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const ORGANIZATION_COLUMNS: &str = "id, name, time_zone, tax_id, billing_npi, address_line1, city, state, postal_code, phone, updated_at";

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganizationChange {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub tax_id: Option<String>,
    pub billing_npi: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
}

pub(crate) async fn fetch_organization(db: &mut CallerTx) -> Result<Organization, ApiError> {
    sqlx::query_as(&format!(
        "select {ORGANIZATION_COLUMNS} from organizations where id = $1"
    ))
    .bind(db.caller.org_id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/organization", tag = "platform",
    responses((status = 200, body = Organization, headers(("ETag" = String)))), security(("bearer" = [])))]
pub async fn get_organization(mut db: CallerTx) -> Result<Tagged<Organization>, ApiError> {
    let organization = fetch_organization(&mut db).await?;
    db.commit().await?;
    Ok(Tagged(organization))
}

/// Changes the practice's details (admins). Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/organization", tag = "platform", request_body = OrganizationChange,
    params(("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Organization), (status = 403, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_organization(
    mut db: CallerTx,
    headers: HeaderMap,
    extract::Json(change): extract::Json<OrganizationChange>,
) -> Result<Tagged<Organization>, ApiError> {
    let current = fetch_organization(&mut db).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let updated: Option<Organization> = sqlx::query_as(&format!(
        "update organizations set
             name = coalesce($2, name), time_zone = coalesce($3, time_zone), tax_id = coalesce($4, tax_id),
             billing_npi = coalesce($5, billing_npi), address_line1 = coalesce($6, address_line1),
             city = coalesce($7, city), state = coalesce($8, state), postal_code = coalesce($9, postal_code),
             phone = coalesce($10, phone)
          where id = $1 and updated_at = $11
          returning {ORGANIZATION_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(change.name.as_deref().map(str::trim))
    .bind(change.time_zone.as_deref())
    .bind(change.tax_id.as_deref())
    .bind(change.billing_npi.as_deref())
    .bind(change.address_line1.as_deref())
    .bind(change.city.as_deref())
    .bind(change.state.as_deref())
    .bind(change.postal_code.as_deref())
    .bind(change.phone.as_deref())
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    let Some(updated) = updated else {
        return Err(
            if etag_of(&fetch_organization(&mut db).await?) != etag_of(&current) {
                ApiError::PreconditionFailed
            } else {
                ApiError::Forbidden("only admins change the practice's details".into())
            },
        );
    };
    db.commit().await?;
    Ok(Tagged(updated))
}
