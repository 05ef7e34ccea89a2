//! Billing: the payers a practice bills, its patients' coverage and the payers' authorizations
//! of sessions, and (built on `indra_db::billing` and the scrubber) fee schedule, claims,
//! 837P exports, the CMS-1500 and remittances.
//!
//! Who may do what is the database's (migrations 0006 and 0009): everyone of the practice reads
//! payers and coverage; billers and admins keep payers; billers, admins and the front desk keep
//! coverage; billers and admins work claims. The handlers here check what the request says field
//! by field, answer every problem of a request at once, and explain the database's refusals.
//!
//! Each handler is a thin shell around a `pub` function taking the request's [`CallerTx`]
//! (or its connection), so the web pages follow the same rules through the same code.

pub mod claims;
pub mod coverage;
pub mod exports;
pub mod fee_schedule;
pub mod payers;
pub mod remittances;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Every billing route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/payers",
            get(payers::list_payers_handler).post(payers::create_payer_handler),
        )
        .route(
            "/api/v1/payers/{id}",
            get(payers::get_payer_handler).patch(payers::update_payer_handler),
        )
        .route(
            "/api/v1/patients/{id}/insurance",
            get(coverage::list_coverage_handler).post(coverage::create_coverage_handler),
        )
        .route(
            "/api/v1/insurance/{id}",
            get(coverage::get_coverage_handler).patch(coverage::update_coverage_handler),
        )
        .route(
            "/api/v1/insurance/{id}/end",
            post(coverage::end_coverage_handler),
        )
        .route(
            "/api/v1/fee-schedule",
            get(fee_schedule::fee_schedule_handler),
        )
        .route(
            "/api/v1/fee-schedule/{code}",
            put(fee_schedule::set_fee_handler),
        )
        .route(
            "/api/v1/encounters/{id}/code-suggestion",
            get(fee_schedule::code_suggestion_handler),
        )
        .route("/api/v1/claims", get(claims::list_claims_handler))
        .route(
            "/api/v1/claims/from-encounters",
            post(claims::create_claims_handler),
        )
        .route(
            "/api/v1/claims/exports",
            get(exports::list_exports_handler).post(exports::export_claims_handler),
        )
        .route(
            "/api/v1/claims/exports/{id}",
            get(exports::export_file_handler),
        )
        .route(
            "/api/v1/claims/{id}",
            get(claims::get_claim_handler).put(claims::edit_claim_handler),
        )
        .route(
            "/api/v1/claims/{id}/ready",
            post(claims::mark_ready_handler),
        )
        .route(
            "/api/v1/claims/{id}/authorization-override",
            post(claims::override_authorization_handler),
        )
        .route("/api/v1/claims/{id}/void", post(claims::void_claim_handler))
        .route(
            "/api/v1/claims/{id}/cms1500.pdf",
            get(exports::cms1500_handler),
        )
        .route(
            "/api/v1/remittances",
            get(remittances::list_handler).post(remittances::post_handler),
        )
        .route(
            "/api/v1/remittances/preview",
            post(remittances::preview_handler),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(
        payers::list_payers_handler, payers::create_payer_handler, payers::get_payer_handler,
        payers::update_payer_handler,
        coverage::list_coverage_handler, coverage::create_coverage_handler, coverage::get_coverage_handler,
        coverage::update_coverage_handler, coverage::end_coverage_handler,
        fee_schedule::fee_schedule_handler, fee_schedule::set_fee_handler, fee_schedule::code_suggestion_handler,
        claims::list_claims_handler, claims::get_claim_handler, claims::create_claims_handler,
        claims::edit_claim_handler, claims::mark_ready_handler, claims::override_authorization_handler,
        claims::void_claim_handler,
        exports::export_claims_handler, exports::list_exports_handler, exports::export_file_handler,
        exports::cms1500_handler,
        remittances::preview_handler, remittances::post_handler, remittances::list_handler,
    ),
    components(schemas(
        BillingProblem, FieldProblem,
        payers::Payer, payers::NewPayer, payers::PayerChange,
        coverage::Coverage, coverage::CoverageList, coverage::CoveragePayer, coverage::NewCoverage,
        coverage::CoverageChange, coverage::CoverageEnd, coverage::InsurancePriority,
        coverage::SubscriberRelationship, coverage::Authorization, coverage::AuthorizationInput,
        coverage::AuthorizationUsage,
        fee_schedule::FeeScheduleEntry, fee_schedule::FeeSchedule, fee_schedule::FeeChange,
        fee_schedule::CodeSuggestion, fee_schedule::SuggestedLine,
        claims::ClaimStatus, claims::ClaimSummary, claims::ClaimDetail, claims::ClaimDiagnosis, claims::ClaimLine,
        claims::ScrubFinding, claims::ScrubResult, claims::ScrubProblem, claims::ClaimsFromEncounters,
        claims::CreatedClaim, claims::SkippedEncounter, claims::ClaimBatch, claims::DiagnosisInput,
        claims::LineInput, claims::ClaimEdit, claims::Reason,
        exports::ExportRequest, exports::ExportSummary, exports::Paper,
        remittances::ClaimPayment, remittances::Payment, remittances::RemittanceReview,
        remittances::RemittanceSummary,
    )),
    tags((name = "billing", description = "Payers, coverage and authorizations, claims, 837P and 835"))
)]
struct BillingDoc;

/// The billing part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    BillingDoc::openapi()
}

/// One field of a request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The request field, e.g. `payer_id` or `authorization.end_on`.
    pub field: String,
    pub detail: String,
}

/// The problem document of a billing refusal: the usual fields, and every field at fault
/// (`errors`) when a request has several problems at once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BillingProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// Every field at fault, in the order of the request (`field` names the first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// A billing handler's failure: any API error, or several fields at fault at once.
#[derive(Debug)]
pub enum BillingError {
    Api(ApiError),
    Fields(Vec<FieldProblem>),
}

impl BillingError {
    /// The one-problem form (the web pages show `detail` and mark `field`).
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::Api(error) => error,
            Self::Fields(problems) => ApiError::Invalid {
                detail: fields_detail(&problems),
                field: problems.first().map(|p| p.field.clone()),
            },
        }
    }

    /// The fields at fault, when the request was refused for its values.
    pub fn field_problems(&self) -> Vec<FieldProblem> {
        match self {
            Self::Fields(problems) => problems.clone(),
            Self::Api(ApiError::Invalid {
                detail,
                field: Some(field),
            }) => vec![FieldProblem {
                field: field.clone(),
                detail: detail.clone(),
            }],
            Self::Api(_) => Vec::new(),
        }
    }
}

fn fields_detail(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<ApiError> for BillingError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for BillingError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<BillingError> for ApiError {
    fn from(error: BillingError) -> Self {
        error.into_api_error()
    }
}

impl IntoResponse for BillingError {
    fn into_response(self) -> Response {
        let errors = self.field_problems();
        let error = self.into_api_error();
        if errors.is_empty() {
            return error.into_response();
        }
        let problem = error.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, axum::Json(BillingProblem { problem, errors })).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Collects the problems of a request's fields, so one answer names them all.
#[derive(Debug, Default)]
pub struct FieldCheck(Vec<FieldProblem>);

impl FieldCheck {
    pub fn add(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldProblem {
            field: field.into(),
            detail: detail.into(),
        });
    }

    /// The value when it is acceptable; otherwise its problem is noted and `None` returned.
    pub fn take<T>(&mut self, field: &str, checked: Result<T, String>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(detail) => {
                self.add(field, detail);
                None
            }
        }
    }

    pub fn is_clean(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when no field is at fault.
    pub fn finish(self) -> Result<(), BillingError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(BillingError::Fields(self.0))
        }
    }
}

/// An optional text: trimmed, blank as absent, at most `max` characters.
pub(crate) fn optional_text(text: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(format!("longer than {max} characters")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A required text: trimmed, 1 to `max` characters.
pub(crate) fn required_text(text: &str, max: usize) -> Result<String, String> {
    optional_text(Some(text), max)?.ok_or_else(|| "required".to_owned())
}

pub use crate::api::etag::{check_version, if_match};

/// A 201 with the record's `ETag` and `Location`.
pub(crate) fn created<T: Serialize>(location: String, record: T) -> Response {
    let mut response = (StatusCode::CREATED, crate::api::etag::Tagged(record)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_fields_are_answered_at_once_naming_the_first() {
        let mut check = FieldCheck::default();
        assert_eq!(check.take("name", required_text("  ", 10)), None);
        assert_eq!(
            check.take("city", optional_text(Some(" Hartford "), 10)),
            Some(Some("Hartford".to_owned()))
        );
        check.add("state", "two capital letters");
        let Err(error) = check.finish() else {
            panic!("accepted");
        };
        let problems = error.field_problems();
        assert_eq!(
            problems
                .iter()
                .map(|p| p.field.as_str())
                .collect::<Vec<_>>(),
            ["name", "state"]
        );
        let problem = error.into_api_error().problem();
        assert_eq!(
            (problem.status, problem.field.as_deref()),
            (422, Some("name"))
        );
        assert_eq!(problem.detail, "name: required; state: two capital letters");
    }
}
