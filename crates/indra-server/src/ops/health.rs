//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers and its schema
//! is the one this binary was built with).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let expected = indra_db::MIGRATOR.iter().map(|m| m.version).max();
    match state.db.schema_version().await {
        Ok(version) if version == expected => (StatusCode::OK, "ready".to_owned()),
        Ok(version) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("schema at {version:?}, expected {expected:?}: run indra migrate"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable".to_owned(),
        ),
    }
}
