//! Patients: demographics, status, search, diagnoses, and the chart a clinician opens before a session.
//!
//! Who may see and change what is decided by the database (docs/security-model.md): every role
//! reads demographics; front desk, clinicians and admins edit them; only clinicians write
//! diagnoses, which billing reads and the front desk does not see. Another practice's patient
//! is answered 404 everywhere.

pub mod chart;
pub mod demographics;
pub mod diagnoses;
pub mod search;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/patients",
            get(demographics::list_patients).post(demographics::create_patient),
        )
        .route(
            "/api/v1/patients/{id}",
            get(demographics::get_patient).patch(demographics::update_patient),
        )
        .route(
            "/api/v1/patients/{id}/diagnoses",
            get(diagnoses::list_diagnoses).post(diagnoses::add_diagnosis),
        )
        .route(
            "/api/v1/diagnoses/{id}",
            get(diagnoses::get_diagnosis).patch(diagnoses::update_diagnosis),
        )
        .route("/api/v1/patients/{id}/chart", get(chart::get_chart))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        demographics::list_patients, demographics::create_patient, demographics::get_patient, demographics::update_patient,
        diagnoses::list_diagnoses, diagnoses::add_diagnosis, diagnoses::get_diagnosis, diagnoses::update_diagnosis,
        chart::get_chart,
    ),
    components(schemas(
        demographics::Patient, demographics::NewPatient, demographics::PatientChange, demographics::PatientStatus,
        demographics::PatientSummary, diagnoses::Diagnosis, diagnoses::NewDiagnosis, diagnoses::DiagnosisChange,
        diagnoses::DiagnosisStatus, chart::Chart,
    )),
    tags((name = "patients", description = "Patients, their search, diagnoses and chart"))
)]
struct PatientsDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    PatientsDoc::openapi()
}

/// Dates as `YYYY-MM-DD` in JSON (`time::Date`'s own serde form is not).
pub(crate) mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::format_description::well_known::Iso8601;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// `YYYY-MM-DD`, nothing else.
    pub fn parse(text: &str) -> Result<Date, String> {
        let text = text.trim();
        if text.len() != 10 {
            return Err(format!("{text:?} is not a date (YYYY-MM-DD)"));
        }
        Date::parse(text, &Iso8601::DATE)
            .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))
    }

    /// `Option<Date>`: `null` or absent is `None`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            date: &Option<Date>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => serializer.collect_str(date),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Date>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }

    /// A field of a change: absent (`None`), sent as `null` (`Some(None)`), or a date.
    pub mod change {
        use super::*;

        pub fn serialize<S: Serializer>(
            date: &Option<Option<Date>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            option::serialize(&date.flatten(), serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Option<Date>>, D::Error> {
            option::deserialize(deserializer).map(Some)
        }
    }
}
