//! Treatment plans (versioned, signed, reviewed) and medications (start, change, discontinue).
//!
//! Providers write both; admins read them; billing and the front desk see neither. Those rules,
//! a signed plan's immutability, one current version per plan and per patient, problems tied
//! to active diagnoses, and medication history that never changes are the database's
//! (migrations 0005, 0009, 0015); these handlers ask and explain its answers.

pub mod medications;
pub mod treatment_plans;

use axum::Router;
use axum::routing::{get, post};
use time::Date;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/patients/{id}/treatment-plans",
            get(treatment_plans::list_patient_plans).post(treatment_plans::create_plan),
        )
        .route(
            "/api/v1/treatment-plans/due-for-review",
            get(treatment_plans::plans_due_for_review),
        )
        .route(
            "/api/v1/treatment-plans/{id}",
            get(treatment_plans::get_plan).patch(treatment_plans::update_draft),
        )
        .route(
            "/api/v1/treatment-plans/{id}/sign",
            post(treatment_plans::sign_plan),
        )
        .route(
            "/api/v1/treatment-plans/{id}/revisions",
            post(treatment_plans::revise_plan),
        )
        .route(
            "/api/v1/patients/{id}/medications",
            get(medications::list_patient_medications).post(medications::start_medication),
        )
        .route("/api/v1/medications/{id}", get(medications::get_medication))
        .route(
            "/api/v1/medications/{id}/change",
            post(medications::change_medication),
        )
        .route(
            "/api/v1/medications/{id}/discontinue",
            post(medications::discontinue_medication),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(
        treatment_plans::list_patient_plans, treatment_plans::create_plan, treatment_plans::get_plan,
        treatment_plans::update_draft, treatment_plans::sign_plan, treatment_plans::revise_plan,
        treatment_plans::plans_due_for_review,
        medications::list_patient_medications, medications::start_medication, medications::get_medication,
        medications::change_medication, medications::discontinue_medication,
    ),
    components(schemas(
        treatment_plans::TreatmentPlan, treatment_plans::TreatmentPlanStatus, treatment_plans::TreatmentPlanList,
        treatment_plans::NewTreatmentPlan, treatment_plans::TreatmentPlanChange, treatment_plans::PlanRevision,
        treatment_plans::PlanDueForReview, treatment_plans::PlanContentDoc, treatment_plans::ProblemDoc,
        treatment_plans::GoalDoc, treatment_plans::ObjectiveDoc, treatment_plans::InterventionDoc,
        medications::Medication, medications::MedicationStatus, medications::MedicationList,
        medications::NewMedication, medications::MedicationChange, medications::Discontinuation,
    )),
    tags((name = "clinical", description = "Patients' clinical record"))
)]
struct PlansDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    PlansDoc::openapi()
}

/// `YYYY-MM-DD` in JSON, for `time::Date`.
pub(crate) mod iso_date {
    use serde::Serializer;
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub mod option {
        use serde::Serializer;
        use time::Date;

        pub fn serialize<S: Serializer>(
            date: &Option<Date>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => serializer.collect_str(date),
                None => serializer.serialize_none(),
            }
        }
    }
}

/// A date field of a request (`YYYY-MM-DD`), answered 422 naming the field when it is not one.
pub(crate) fn date_field(field: &str, text: Option<&str>) -> Result<Option<Date>, ApiError> {
    text.map(|text| {
        indra_rules::clinical::treatment_plan::parse_date(text.trim())
            .ok_or_else(|| ApiError::invalid(field, "not a date (YYYY-MM-DD)"))
    })
    .transpose()
}

/// Today in the practice's time zone: what "started today" or "due in 14 days" means there.
pub(crate) async fn practice_today(db: &mut CallerTx) -> Result<Date, ApiError> {
    Ok(
        sqlx::query_scalar("select (now() at time zone time_zone)::date from organizations")
            .fetch_one(db.conn())
            .await?,
    )
}

/// The patient exists in the caller's practice (else 404).
pub(crate) async fn require_patient(
    db: &mut CallerTx,
    patient_id: uuid::Uuid,
) -> Result<(), ApiError> {
    sqlx::query_scalar::<_, i32>("select 1 from patients where id = $1")
        .bind(patient_id)
        .fetch_optional(db.conn())
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

/// The database refused a change because of the record's state (a signed plan, a medication
/// that is history): a 409 in words, instead of the generic 422 of a check violation.
pub(crate) fn state_conflict(error: sqlx::Error, explained: &[(&str, &str)]) -> ApiError {
    if let Some(db) = error.as_database_error()
        && let Some(constraint) = db.constraint()
        && let Some((_, detail)) = explained.iter().find(|(name, _)| *name == constraint)
    {
        return ApiError::conflict(None, *detail);
    }
    error.into()
}

/// A required free-text reason (why a medication changed or stopped), trimmed.
pub(crate) fn required_text(field: &str, text: &str, max_chars: usize) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid(field, "required: say why"));
    }
    if text.chars().count() > max_chars {
        return Err(ApiError::invalid(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    Ok(text.to_owned())
}
