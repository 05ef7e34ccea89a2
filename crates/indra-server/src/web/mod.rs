//! The web application: server-rendered pages for a browser, signed in with a session cookie.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
