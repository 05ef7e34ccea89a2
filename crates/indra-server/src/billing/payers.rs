//! The insurance companies a practice bills, each with its electronic payer id (the id the
//! clearinghouse routes an 837P by). A payer is never deleted: claims and coverage name it; one
//! the practice no longer bills is deactivated, and new coverage cannot name it.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    BillingError, FieldCheck, check_version, created, if_match, optional_text, required_text,
};
use crate::api::etag::{Tagged, etag_of};
use crate::api::extract::present;
use crate::api::extract::{Json, Path, Query};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, Page, Positioned, fetch_page};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// A payer of the practice.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payer {
    pub id: Uuid,
    pub name: String,
    /// The payer's electronic id at the clearinghouse (837P loop 2010BB), 2-80 letters or digits.
    pub payer_id: String,
    /// Claims to this payer need a prior authorization number.
    pub requires_prior_authorization: bool,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    /// Inactive payers stay on the claims and coverage that name them; new coverage cannot.
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Positioned for Payer {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

const PAYER_COLUMNS: &str = "id, name, payer_id, requires_prior_authorization, address_line1, city, state, \
     postal_code, phone, is_active, created_at, updated_at";

/// A payer the practice starts billing (billers and admins).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPayer {
    pub name: String,
    pub payer_id: String,
    #[serde(default)]
    pub requires_prior_authorization: bool,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    /// Two capital letters, e.g. `CT`.
    pub state: Option<String>,
    /// `06103` or `06103-1234`.
    pub postal_code: Option<String>,
    pub phone: Option<String>,
}

/// A change to a payer: only the fields sent change; a nullable field sent as `null` is
/// cleared. `"is_active": false` deactivates the payer, `true` takes it back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayerChange {
    pub name: Option<String>,
    pub payer_id: Option<String>,
    pub requires_prior_authorization: Option<bool>,
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
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayerQuery {
    /// Also list deactivated payers (default: active ones only).
    #[serde(default)]
    pub include_inactive: bool,
    /// Rows per page, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A payer's values as they will be stored, each checked.
struct PayerValues {
    name: String,
    payer_id: String,
    requires_prior_authorization: bool,
    address_line1: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    phone: Option<String>,
    is_active: bool,
}

fn checked_payer_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    if (2..=80).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(text.to_owned())
    } else {
        Err("a payer id is 2-80 letters or digits, as the clearinghouse lists it".to_owned())
    }
}

pub(crate) fn checked_state(text: Option<&str>) -> Result<Option<String>, String> {
    match optional_text(text, 2)? {
        Some(state) if state.len() == 2 && state.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(Some(state))
        }
        Some(_) => Err("a state is two capital letters, e.g. CT".to_owned()),
        None => Ok(None),
    }
}

pub(crate) fn checked_postal_code(text: Option<&str>) -> Result<Option<String>, String> {
    let Some(code) = optional_text(text, 10)? else {
        return Ok(None);
    };
    let digits: Vec<&str> = code.split('-').collect();
    let ok = match digits.as_slice() {
        [five] => five.len() == 5 || five.len() == 9,
        [five, four] => five.len() == 5 && four.len() == 4,
        _ => false,
    } && code.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(Some(code))
    } else {
        Err("a ZIP code is 5 digits, or 5+4".to_owned())
    }
}

impl PayerValues {
    fn check(
        check: &mut FieldCheck,
        name: &str,
        payer_id: &str,
        requires_prior_authorization: bool,
        address: [Option<&str>; 5],
        is_active: bool,
    ) -> Option<Self> {
        let name = check.take("name", required_text(name, 200));
        let payer_id = check.take("payer_id", checked_payer_id(payer_id));
        let [line1, city, state, postal_code, phone] = address;
        let address_line1 = check.take("address_line1", optional_text(line1, 200));
        let city = check.take("city", optional_text(city, 100));
        let state = check.take("state", checked_state(state));
        let postal_code = check.take("postal_code", checked_postal_code(postal_code));
        let phone = check.take("phone", optional_text(phone, 40));
        Some(Self {
            name: name?,
            payer_id: payer_id?,
            requires_prior_authorization,
            address_line1: address_line1?,
            city: city?,
            state: state?,
            postal_code: postal_code?,
            phone: phone?,
            is_active,
        })
    }
}

/// The practice's payers, oldest first, a page at a time.
pub async fn list_payers(db: &mut CallerTx, query: &PayerQuery) -> Result<Page<Payer>, ApiError> {
    let filter = if query.include_inactive {
        "true"
    } else {
        "is_active"
    };
    let page_query = crate::api::pagination::PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    fetch_page(
        db.conn(),
        &format!(
            "select * from (select {PAYER_COLUMNS} from insurance_payers where {filter}) payers"
        ),
        &page_query,
    )
    .await
}

/// One payer of the practice (404 for another practice's).
pub async fn get_payer(db: &mut CallerTx, id: Uuid) -> Result<Payer, ApiError> {
    sqlx::query_as(&format!(
        "select {PAYER_COLUMNS} from insurance_payers where id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

/// Adds a payer (billers and admins; the database refuses other roles: 403).
pub async fn create_payer(db: &mut CallerTx, new: &NewPayer) -> Result<Payer, BillingError> {
    let mut check = FieldCheck::default();
    let values = PayerValues::check(
        &mut check,
        &new.name,
        &new.payer_id,
        new.requires_prior_authorization,
        [
            new.address_line1.as_deref(),
            new.city.as_deref(),
            new.state.as_deref(),
            new.postal_code.as_deref(),
            new.phone.as_deref(),
        ],
        true,
    );
    check.finish()?;
    let Some(v) = values else {
        return Err(ApiError::invalid("name", "not acceptable").into());
    };
    let payer = sqlx::query_as(&format!(
        "insert into insurance_payers (org_id, name, payer_id, requires_prior_authorization, address_line1,
                                       city, state, postal_code, phone)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning {PAYER_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(v.name)
    .bind(v.payer_id)
    .bind(v.requires_prior_authorization)
    .bind(v.address_line1)
    .bind(v.city)
    .bind(v.state)
    .bind(v.postal_code)
    .bind(v.phone)
    .fetch_one(db.conn())
    .await?;
    Ok(payer)
}

/// Changes a payer (billers and admins) when `if_match` names its current version.
pub async fn update_payer(
    db: &mut CallerTx,
    id: Uuid,
    if_match: Option<&str>,
    change: &PayerChange,
) -> Result<Payer, BillingError> {
    let current = get_payer(db, id).await?;
    check_version(if_match, &etag_of(&current))?;
    let keep = |sent: &Option<Option<String>>, old: &Option<String>| match sent {
        Some(value) => value.clone(),
        None => old.clone(),
    };
    let address_line1 = keep(&change.address_line1, &current.address_line1);
    let city = keep(&change.city, &current.city);
    let state = keep(&change.state, &current.state);
    let postal_code = keep(&change.postal_code, &current.postal_code);
    let phone = keep(&change.phone, &current.phone);
    let mut check = FieldCheck::default();
    let values = PayerValues::check(
        &mut check,
        change.name.as_deref().unwrap_or(&current.name),
        change.payer_id.as_deref().unwrap_or(&current.payer_id),
        change
            .requires_prior_authorization
            .unwrap_or(current.requires_prior_authorization),
        [
            address_line1.as_deref(),
            city.as_deref(),
            state.as_deref(),
            postal_code.as_deref(),
            phone.as_deref(),
        ],
        change.is_active.unwrap_or(current.is_active),
    );
    check.finish()?;
    let Some(v) = values else {
        return Err(ApiError::invalid("name", "not acceptable").into());
    };
    let updated: Option<Payer> = sqlx::query_as(&format!(
        "update insurance_payers
            set name = $2, payer_id = $3, requires_prior_authorization = $4, address_line1 = $5, city = $6,
                state = $7, postal_code = $8, phone = $9, is_active = $10
          where id = $1 and updated_at = $11
          returning {PAYER_COLUMNS}"
    ))
    .bind(id)
    .bind(v.name)
    .bind(v.payer_id)
    .bind(v.requires_prior_authorization)
    .bind(v.address_line1)
    .bind(v.city)
    .bind(v.state)
    .bind(v.postal_code)
    .bind(v.phone)
    .bind(v.is_active)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    match updated {
        Some(payer) => Ok(payer),
        // Changed by someone else since it was read, or the caller may read but not change it.
        None if etag_of(&get_payer(db, id).await?) != etag_of(&current) => {
            Err(ApiError::PreconditionFailed.into())
        }
        None => Err(ApiError::Forbidden("only billers and admins change payers".into()).into()),
    }
}

/// The practice's payers (active ones unless `include_inactive=true`), oldest first.
#[utoipa::path(get, path = "/api/v1/payers", tag = "billing", operation_id = "list_payers",
    params(PayerQuery),
    responses((status = 200, body = Page<Payer>), (status = 401, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_payers_handler(
    mut db: CallerTx,
    Query(query): Query<PayerQuery>,
) -> Result<axum::Json<Page<Payer>>, ApiError> {
    let page = list_payers(&mut db, &query).await?;
    db.commit().await?;
    Ok(axum::Json(page))
}

/// Adds a payer (billers and admins). Honours `Idempotency-Key`. Every field at fault is named
/// in `errors`.
#[utoipa::path(post, path = "/api/v1/payers", tag = "billing", operation_id = "create_payer",
    request_body = NewPayer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Payer, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = super::BillingProblem)),
    security(("bearer" = [])))]
pub async fn create_payer_handler(
    mut db: CallerTx,
    headers: HeaderMap,
    Json(new): Json<NewPayer>,
) -> Result<Response, BillingError> {
    let key = match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/payers", &new).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let payer = create_payer(&mut db, &new).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &payer).await?;
    }
    db.commit().await?;
    Ok(created(format!("/api/v1/payers/{}", payer.id), payer))
}

/// One payer, with its ETag.
#[utoipa::path(get, path = "/api/v1/payers/{id}", tag = "billing", operation_id = "get_payer",
    params(("id" = Uuid, Path, description = "The payer's id")),
    responses((status = 200, body = Payer, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_payer_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Payer>, ApiError> {
    let payer = get_payer(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(payer))
}

/// Changes a payer, or deactivates it (`"is_active": false`). Billers and admins; requires
/// `If-Match`.
#[utoipa::path(patch, path = "/api/v1/payers/{id}", tag = "billing", operation_id = "update_payer",
    request_body = PayerChange,
    params(("id" = Uuid, Path, description = "The payer's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Payer, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
              (status = 422, body = super::BillingProblem), (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_payer_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<PayerChange>,
) -> Result<Tagged<Payer>, BillingError> {
    let payer = update_payer(&mut db, id, if_match(&headers), &change).await?;
    db.commit().await?;
    Ok(Tagged(payer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payer_ids_states_and_zip_codes_are_checked() {
        assert_eq!(checked_payer_id(" BHHP1 ").as_deref(), Ok("BHHP1"));
        assert!(checked_payer_id("B").is_err());
        assert!(checked_payer_id("BH-1").is_err());
        assert_eq!(checked_state(Some("CT")), Ok(Some("CT".to_owned())));
        assert!(checked_state(Some("ct")).is_err());
        assert_eq!(checked_state(Some("  ")), Ok(None));
        assert!(checked_postal_code(Some("06103")).is_ok());
        assert!(checked_postal_code(Some("06103-1234")).is_ok());
        assert!(checked_postal_code(Some("061031234")).is_ok());
        assert!(checked_postal_code(Some("0610")).is_err());
        assert!(checked_postal_code(Some("06103-12")).is_err());
    }
}
