//! Browser sessions of the web application: an HttpOnly, SameSite cookie holds an opaque id;
//! the server keeps its hash, the user and a CSRF token that every form must echo.

use axum::http::{HeaderMap, header};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::platform::tokens::{new_opaque_token, opaque_token_hash};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "indra_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a browser session lasts without signing in again.
const SESSION_HOURS: i64 = 12;

#[derive(Debug, Clone)]
pub struct WebSession {
    pub auth_id: Uuid,
    pub csrf_token: String,
}

/// The session id the request's cookie carries, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub fn csrf_header_matches(headers: &HeaderMap, session: &WebSession) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| same_secret(token, &session.csrf_token))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The live session `session_id` names.
pub async fn find(state: &AppState, session_id: &str) -> Result<Option<WebSession>, ApiError> {
    let mut tx = state.db.sign_in_door().await?;
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "select auth_id, csrf_token from indra_auth.web_sessions
          where id_hash = $1 and revoked_at is null and expires_at > now()",
    )
    .bind(opaque_token_hash(session_id))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(auth_id, csrf_token)| WebSession {
        auth_id,
        csrf_token,
    }))
}

/// Starts a session for `auth_id`; returns the cookie's value.
pub async fn start(state: &AppState, auth_id: Uuid) -> Result<String, ApiError> {
    let session_id = new_opaque_token()?;
    let csrf_token = new_opaque_token()?;
    let mut tx = state.db.sign_in_door().await?;
    sqlx::query(
        "insert into indra_auth.web_sessions (id_hash, auth_id, csrf_token, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(opaque_token_hash(&session_id))
    .bind(auth_id)
    .bind(csrf_token)
    .bind(OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(session_id)
}

pub async fn end(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    let mut tx = state.db.sign_in_door().await?;
    sqlx::query("update indra_auth.web_sessions set revoked_at = now() where id_hash = $1 and revoked_at is null")
        .bind(opaque_token_hash(session_id))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The Set-Cookie value for a session (or, with `None`, one that removes it).
pub fn cookie(session_id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match session_id {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_HOURS * 3600
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; indra_session=abc123; x=y"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc123"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_http_only_and_same_site() {
        let set = cookie(Some("s"), true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
        assert!(cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
