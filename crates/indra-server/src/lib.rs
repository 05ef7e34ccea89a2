//! Indra's HTTP server: the JSON API under `/api/v1` and the web application.
//!
//! A request's path reads in one direction: router -> [`CallerTx`](platform::caller::CallerTx)
//! (the caller and their transaction, under row-level security) -> handler -> SQL, and back as
//! one error type, [`ApiError`](error::ApiError), answered as problem+json.

pub mod ai;
pub mod api;
pub mod billing;
pub mod clinical;
pub mod config;
pub mod error;
pub mod ops;
pub mod platform;
pub mod state;
pub mod web;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::ops::{health, metrics, request_id};
use crate::platform::{me, organization, providers, sign_in, users};
use crate::state::AppState;

/// Request bodies larger than this are refused (413).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application, ready to serve.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/token", post(sign_in::sign_in))
        .route("/api/v1/auth/refresh", post(sign_in::refresh))
        .route("/api/v1/auth/logout", post(sign_in::logout))
        .route("/api/v1/me", get(me::me))
        .route(
            "/api/v1/organization",
            get(organization::get_organization).patch(organization::update_organization),
        )
        .route(
            "/api/v1/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/v1/users/{id}",
            get(users::get_user).patch(users::update_user),
        )
        .route(
            "/api/v1/providers",
            get(providers::list_providers).post(providers::create_provider),
        )
        .route(
            "/api/v1/providers/{id}",
            get(providers::get_provider).patch(providers::update_provider),
        )
        .route("/api/v1/openapi.json", get(api::openapi::serve_document))
        .merge(clinical::routes())
        .merge(billing::routes())
        .merge(ai::routes())
        .merge(web::router())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        // After routing, so requests are counted and logged under their route template.
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(request_id::assign_request_id))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

/// An unknown path: problem+json under `/api/`, the web application's page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::NotFound.into_response()
    } else {
        web::error::WebError::not_found().into_response()
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub async fn serve(config: Config, on_listening: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let state = AppState::new(config.clone()).await?;
    // Publish the server's note-signing key before any signature names it.
    clinical::notes::ensure_signing_key(&state).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    on_listening(listener.local_addr()?);
    // The assistant's queue is worked from the start (runs left by a previous process too).
    ai::worker::ensure_started(&state);
    axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    ai::worker::stop(&state).await;
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
