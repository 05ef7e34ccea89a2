//! Operating the server: request ids, logs, metrics, health and readiness.

pub mod health;
pub mod metrics;
pub mod request_id;
