//! Payments in: an X12 835 remittance reviewed before posting (each payment matched to the
//! practice's claims, what does not match listed, what does not balance said), then posted once.
//! The same payment posted again (same payer and trace number) changes nothing.

use indra_db::billing::{ClaimPosting, PaymentPosting, post_remittance, preview_remittance};
use serde::Serialize;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::claims::db_error;
use crate::api::extract::Query;
use crate::api::pagination::{Cursor, Page, PageQuery, Positioned, fetch_page};
use crate::clinical::patients::iso_date;
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// One CLP of a payment: the payer's decision on one claim, and what posting does to it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimPayment {
    pub claim_number: String,
    /// The practice's claim with that number; `null` when none matches.
    pub claim_id: Option<Uuid>,
    /// CLP02: 1, 2, 3 processed; 4 denied; 22 reversal.
    pub status_code: String,
    pub charge: String,
    pub paid: String,
    pub patient_responsibility: String,
    pub status_before: Option<String>,
    pub status_after: Option<String>,
    /// What posting could not do, or what to look at.
    pub note: Option<String>,
}

impl From<&ClaimPosting> for ClaimPayment {
    fn from(claim: &ClaimPosting) -> Self {
        Self {
            claim_number: claim.claim_number.clone(),
            claim_id: claim.claim_id,
            status_code: claim.status_code.clone(),
            charge: claim.charge.to_string(),
            paid: claim.paid.to_string(),
            patient_responsibility: claim.patient_responsibility.to_string(),
            status_before: claim.status_before.clone(),
            status_after: claim.status_after.clone(),
            note: claim.note.clone(),
        }
    }
}

/// One payment (ST..SE) of a remittance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    /// The stored remittance; `null` in a preview of a payment not posted yet.
    pub remittance_id: Option<Uuid>,
    /// Posted before (same payer and trace number): nothing was, or would be, changed.
    pub already_posted: bool,
    pub trace_number: String,
    pub payer_identifier: String,
    pub payer_name: String,
    pub payment_amount: String,
    pub payment_method: String,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub payment_date: Option<Date>,
    /// Why it does not add up (a preview only: posting refuses an unbalanced file).
    pub balance_problems: Vec<String>,
    pub claims: Vec<ClaimPayment>,
    /// The claim numbers that match no claim of the practice.
    pub unmatched: Vec<String>,
}

impl From<&PaymentPosting> for Payment {
    fn from(payment: &PaymentPosting) -> Self {
        Self {
            remittance_id: payment.remittance_id,
            already_posted: payment.already_posted,
            trace_number: payment.trace_number.clone(),
            payer_identifier: payment.payer_identifier.clone(),
            payer_name: payment.payer_name.clone(),
            payment_amount: payment.payment_amount.to_string(),
            payment_method: payment.payment_method.clone(),
            payment_date: payment.payment_date,
            balance_problems: payment.balance_problems.clone(),
            claims: payment.claims.iter().map(ClaimPayment::from).collect(),
            unmatched: payment
                .unmatched()
                .map(|c| c.claim_number.clone())
                .collect(),
        }
    }
}

/// What a remittance file does (or, in a preview, would do).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RemittanceReview {
    pub payments: Vec<Payment>,
    /// Every payment balances: the file may be posted.
    pub balanced: bool,
}

/// A remittance in the list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RemittanceSummary {
    pub id: Uuid,
    pub trace_number: String,
    pub payer_identifier: String,
    pub payer_name: String,
    pub payment_amount: String,
    pub payment_method: String,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub payment_date: Option<Date>,
    pub claim_count: i64,
    pub unmatched_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Positioned for RemittanceSummary {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

const REMITTANCE_SELECT: &str = "select * from (select r.id, r.trace_number, r.payer_identifier, r.payer_name,
            r.payment_amount::text as payment_amount, r.payment_method, r.payment_date,
            (select count(*) from remittance_claims c where c.org_id = r.org_id and c.remittance_id = r.id) as claim_count,
            (select count(*) from remittance_claims c
              where c.org_id = r.org_id and c.remittance_id = r.id and c.claim_id is null) as unmatched_count,
            r.created_at
       from remittances r) remittances";

fn review(payments: &[PaymentPosting]) -> RemittanceReview {
    RemittanceReview {
        balanced: payments.iter().all(|p| p.balance_problems.is_empty()),
        payments: payments.iter().map(Payment::from).collect(),
    }
}

fn required_body(text: &str) -> Result<&str, ApiError> {
    if text.trim().is_empty() {
        Err(ApiError::invalid(
            "body",
            "send the 835 file as the request body (text/plain)",
        ))
    } else {
        Ok(text)
    }
}

/// What posting the 835 would do: matched claims, unmatched claim numbers, balance problems.
/// Nothing is written.
pub async fn preview(db: &mut CallerTx, text: &str) -> Result<RemittanceReview, ApiError> {
    let org_id = db.caller.org_id;
    let preview = preview_remittance(db.conn(), org_id, required_body(text)?)
        .await
        .map_err(db_error)?;
    Ok(review(&preview.payments))
}

/// Posts the 835 (billers and admins): paid amounts, adjustments and patient responsibility per
/// line, claims moved to paid, denied or rejected. A file that does not balance is refused
/// whole; a payment posted before changes nothing.
pub async fn post(db: &mut CallerTx, text: &str) -> Result<RemittanceReview, ApiError> {
    let org_id = db.caller.org_id;
    let posted = post_remittance(db.conn(), org_id, required_body(text)?)
        .await
        .map_err(db_error)?;
    Ok(review(&posted.payments))
}

/// The remittances posted, oldest first.
pub async fn list(
    db: &mut CallerTx,
    query: &PageQuery,
) -> Result<Page<RemittanceSummary>, ApiError> {
    fetch_page(db.conn(), REMITTANCE_SELECT, query).await
}

/// The `limit` remittances posted last, newest first (the remittances page's list; the API
/// pages oldest first so that its cursors stay stable while remittances are posted).
pub async fn latest(db: &mut CallerTx, limit: i64) -> Result<Vec<RemittanceSummary>, ApiError> {
    Ok(sqlx::query_as(&format!(
        "{REMITTANCE_SELECT} order by created_at desc, id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(db.conn())
    .await?)
}

/// Reviews an 835 (sent as the text/plain body) before posting it: each payment, the claims it
/// matches and what it would do to them, the claim numbers it does not match, and whether it
/// balances. Nothing is written.
#[utoipa::path(post, path = "/api/v1/remittances/preview", tag = "billing", operation_id = "preview_remittance",
    request_body(content = String, content_type = "text/plain", description = "The X12 835 file"),
    responses((status = 200, body = RemittanceReview), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn preview_handler(
    mut db: CallerTx,
    text: String,
) -> Result<axum::Json<RemittanceReview>, ApiError> {
    let review = preview(&mut db, &text).await?;
    db.commit().await?;
    Ok(axum::Json(review))
}

/// Posts an 835 (sent as the text/plain body; billers and admins). Posting the same payment
/// again answers what it did the first time (`already_posted`) and changes nothing.
#[utoipa::path(post, path = "/api/v1/remittances", tag = "billing", operation_id = "post_remittance",
    request_body(content = String, content_type = "text/plain", description = "The X12 835 file"),
    responses((status = 200, body = RemittanceReview), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn post_handler(
    mut db: CallerTx,
    text: String,
) -> Result<axum::Json<RemittanceReview>, ApiError> {
    let review = post(&mut db, &text).await?;
    db.commit().await?;
    Ok(axum::Json(review))
}

/// The remittances posted, oldest first.
#[utoipa::path(get, path = "/api/v1/remittances", tag = "billing", operation_id = "list_remittances",
    params(PageQuery),
    responses((status = 200, body = Page<RemittanceSummary>), (status = 401, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_handler(
    mut db: CallerTx,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Page<RemittanceSummary>>, ApiError> {
    let page = list(&mut db, &query).await?;
    db.commit().await?;
    Ok(axum::Json(page))
}
