//! Clinical workflows: patients and their chart, diagnoses, encounters, the legal record
//! (notes, signatures, amendments), treatment plans, appointments, medications.
//!
//! Each area owns its routes and its part of the OpenAPI document; this module only joins them.

pub mod notes;
pub mod patients;
pub mod plans;
pub mod scheduling;

use axum::Router;

use crate::state::AppState;

/// Every clinical route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(patients::routes())
        .merge(notes::routes())
        .merge(scheduling::routes())
        .merge(plans::routes())
}

/// The clinical part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    patients::openapi()
        .merge_from(notes::openapi())
        .merge_from(scheduling::openapi())
        .merge_from(plans::openapi())
}
