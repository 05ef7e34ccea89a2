//! Clinical workflows: patients and their chart, diagnoses, encounters, the legal record
//! (notes, signatures, amendments), treatment plans, appointments, medications.
//!
//! Each area owns its routes and its part of the OpenAPI document; this module only joins them.

use axum::Router;

use crate::state::AppState;

/// Every clinical route.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The clinical part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
