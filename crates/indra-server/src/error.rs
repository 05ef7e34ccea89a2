//! One error type for every handler, answered as `application/problem+json` (RFC 9457).
//!
//! Each kind has a stable `type` (`/problems/<kind>`) that clients may branch on. Named
//! constraint violations from the database become 409 or 422 answers that say which field and
//! why; everything unexpected is logged once here, with the request id, and answered as a bare
//! 500 that reveals nothing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid credentials: a missing, expired or forged token, or a deactivated user.
    #[error("sign in to continue")]
    Unauthorized,
    /// Signed in, but the caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The record does not exist, or belongs to another organization (never told apart).
    #[error("not found")]
    NotFound,
    /// The request conflicts with the record's current state.
    #[error("{detail}")]
    Conflict {
        detail: String,
        field: Option<String>,
    },
    /// The request is well-formed but a value is not acceptable.
    #[error("{detail}")]
    Invalid {
        detail: String,
        field: Option<String>,
    },
    /// `If-Match` names a version of the record that is no longer current.
    #[error("the record changed since you read it; reload it and apply your change again")]
    PreconditionFailed,
    /// A change to a record that can change must say which version it changes.
    #[error("send If-Match with the ETag of the version you are changing")]
    PreconditionRequired,
    #[error("too many failed attempts; try again later")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error("the database did not answer in time; try again")]
    Timeout,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable identifier of the kind of problem, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request field the problem is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            detail: detail.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn conflict(field: Option<&str>, detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            field: field.map(str::to_owned),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in"),
            Self::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for your role",
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            ),
            Self::PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "Record changed",
            ),
            Self::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "version-required",
                "Version required",
            ),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            Self::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "Timed out"),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let field = match self {
            Self::Conflict { field, .. } | Self::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // Logged once, here. The message is ours or the database's, never request data.
            tracing::error!(error = %format!("{error:#}"), "request failed");
        }
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::TooManyRequests {
            retry_after_seconds,
        } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Constraint names the API explains in words; others are answered from their name.
const CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "users_email_key",
        "email",
        "a user with this e-mail address already exists",
    ),
    ("users_email_check", "email", "not an e-mail address"),
    (
        "users_last_admin",
        "role",
        "the practice needs at least one active admin; make someone else admin first",
    ),
    (
        "providers_npi_check",
        "npi",
        "not a valid NPI: 10 digits with a correct check digit",
    ),
    (
        "providers_npi_key",
        "npi",
        "another provider of the practice has this NPI",
    ),
    (
        "providers_user_key",
        "user_id",
        "this user already has a provider record",
    ),
    (
        "providers_supervision_check",
        "supervisor_id",
        "a clinician who requires supervision needs a supervisor",
    ),
    (
        "providers_supervisor_check",
        "supervisor_id",
        "a provider cannot supervise themself",
    ),
    (
        "organizations_time_zone_check",
        "time_zone",
        "not a time zone of the tz database (e.g. America/Chicago)",
    ),
    (
        "appointments_no_double_booking",
        "starts_at",
        "the provider already has an appointment at that time",
    ),
    (
        "patient_insurance_sessions_check",
        "sessions_used",
        "more sessions than the payer authorized",
    ),
    (
        "clinical_notes_content_check",
        "content",
        "a note has exactly the sections of its format, each a text: SOAP subjective, objective, assessment, plan; DAP data, assessment, plan; BIRP behavior, intervention, response, plan",
    ),
    (
        "clinical_notes_change_reason_check",
        "reason",
        "say why the note is amended or the addendum added",
    ),
    (
        "clinical_notes_addendum_check",
        "text",
        "an addendum needs the text it adds",
    ),
    (
        "note_signatures_once_key",
        "signature_type",
        "this clinician has already signed this version of the note",
    ),
    (
        "note_signatures_signer_check",
        "signature_type",
        "the author signs a note; their supervisor, or another clinician, cosigns it",
    ),
    (
        "appointments_time_check",
        "ends_at",
        "an appointment ends after it starts, within 12 hours",
    ),
    (
        "encounters_appointment_key",
        "appointment_id",
        "this appointment already has an encounter",
    ),
    (
        "encounters_times_check",
        "at",
        "an encounter ends after it starts",
    ),
    (
        "treatment_plans_review_check",
        "review_due_on",
        "the review date must be after the plan's effective date",
    ),
    (
        "medications_end_check",
        "ended_on",
        "a medication ends on or after the day it started, with a reason",
    ),
    (
        "patients_discharge_check",
        "discharged_on",
        "discharging a patient needs discharged_on and a discharge_reason; only a discharged patient has a discharge date",
    ),
    (
        "patients_mrn_key",
        "mrn",
        "another patient of the practice has this record number",
    ),
    (
        "patients_mrn_check",
        "mrn",
        "a record number is 1-32 letters, digits or dashes",
    ),
    (
        "patients_state_check",
        "state",
        "a state is two capital letters, e.g. TX",
    ),
    (
        "patients_postal_code_check",
        "postal_code",
        "a ZIP code is 5 digits, or 5+4",
    ),
    (
        "patient_diagnoses_one_primary",
        "is_primary",
        "the patient already has an active primary diagnosis",
    ),
    (
        "patient_diagnoses_active_code_key",
        "icd10_code",
        "the patient already has this diagnosis active",
    ),
    (
        "patient_diagnoses_resolved_check",
        "resolved_on",
        "a resolved diagnosis has a resolved_on date, and only a resolved one",
    ),
    (
        "patient_diagnoses_ruled_out_check",
        "ruled_out_on",
        "a ruled-out diagnosis has a ruled_out_on date, and only a ruled-out one",
    ),
    (
        "patient_diagnoses_dates_check",
        "resolved_on",
        "a diagnosis is resolved after its onset, and ruled out on or after it was made",
    ),
    (
        "insurance_payers_payer_id_key",
        "payer_id",
        "another payer of the practice has this payer id",
    ),
    (
        "insurance_payers_payer_id_check",
        "payer_id",
        "a payer id is 2-80 letters or digits, as the clearinghouse lists it",
    ),
    (
        "patient_insurance_one_active_per_priority",
        "priority",
        "the patient already has active coverage of this priority; end it first or choose another priority",
    ),
    (
        "patient_insurance_dates_check",
        "effective_to",
        "coverage ends on or after the day it takes effect, and an authorization on or after the day it starts",
    ),
    (
        "patient_insurance_subscriber_check",
        "subscriber_first_name",
        "when the patient is not the subscriber, the subscriber's names and date of birth are required",
    ),
];

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let Some(db) = error.as_database_error() else {
            if matches!(error, sqlx::Error::RowNotFound) {
                return Self::NotFound;
            }
            return Self::Internal(error.into());
        };
        let code = db.code().unwrap_or_default().to_string();
        let constraint = db.constraint().unwrap_or_default().to_owned();
        let known = CONSTRAINTS.iter().find(|(name, _, _)| *name == constraint);
        let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
        let field = known
            .map(|(_, field, _)| (*field).to_owned())
            .or_else(|| pg.and_then(|e| e.column()).map(str::to_owned))
            .or_else(|| field_of(&constraint, db.table().unwrap_or_default()));
        let detail = known
            .map(|(_, _, detail)| (*detail).to_owned())
            .unwrap_or_else(|| db.message().to_owned());
        match code.as_str() {
            // unique_violation, exclusion_violation: the state of other records is in the way.
            "23505" | "23P01" => Self::Conflict { detail, field },
            // check, not-null, foreign key, invalid text: the request's values are not acceptable.
            "23514" | "23502" | "23503" | "22P02" | "22007" | "22008" | "22001" => {
                Self::Invalid { detail, field }
            }
            // Row-level security refused a row of the caller's own organization (another
            // organization's rows are invisible, hence 404 before this could happen).
            "42501" => Self::Forbidden("your role may not make this change".to_owned()),
            "57014" => Self::Timeout,
            _ => Self::Internal(error.into()),
        }
    }
}

/// `users_email_key` on `users` -> `email`: the column of a constraint named by PostgreSQL's
/// convention (`<table>_<column>_<kind>`).
fn field_of(constraint: &str, table: &str) -> Option<String> {
    let stem = ["_key", "_check", "_fkey", "_excl"]
        .iter()
        .find_map(|suffix| constraint.strip_suffix(suffix))?;
    let column = stem.strip_prefix(table)?.strip_prefix('_')?;
    // Foreign keys between tenant tables carry org_id first: the field is the column after it.
    let column = column.strip_prefix("org_id_").unwrap_or(column);
    (!column.is_empty()).then(|| column.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_have_stable_types() {
        assert_eq!(ApiError::NotFound.problem().kind, "/problems/not-found");
        assert_eq!(ApiError::PreconditionFailed.problem().status, 412);
        let invalid = ApiError::invalid("npi", "bad").problem();
        assert_eq!(
            (invalid.status, invalid.field.as_deref()),
            (422, Some("npi"))
        );
    }

    #[test]
    fn constraint_names_point_at_their_field() {
        assert_eq!(
            field_of("users_email_key", "users").as_deref(),
            Some("email")
        );
        assert_eq!(
            field_of(
                "claim_line_items_diagnosis_pointers_check",
                "claim_line_items"
            )
            .as_deref(),
            Some("diagnosis_pointers")
        );
        assert_eq!(
            field_of("encounters_org_id_patient_id_fkey", "encounters").as_deref(),
            Some("patient_id")
        );
        assert_eq!(field_of("nonsense", "users"), None);
    }

    #[test]
    fn internal_errors_reveal_nothing() {
        let problem =
            ApiError::Internal(anyhow::anyhow!("password for postgres is hunter2")).problem();
        assert_eq!(problem.detail, "internal error");
    }
}
