//! Optimistic concurrency: every record that can change is answered with an `ETag` (a hash of
//! its representation), and a change must send it back in `If-Match`. Two people editing one
//! record cannot silently overwrite each other: the second gets 412 and reloads.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The strong ETag of a representation.
pub fn etag_of<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

/// The change may go ahead only when `If-Match` names the current version (or `*`).
pub fn require_if_match(headers: &HeaderMap, current: &str) -> Result<(), ApiError> {
    check_version(if_match(headers), current)
}

/// The `If-Match` header of a request, when it sent one.
pub fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

/// The version a change names (an `If-Match` header, or a web form's hidden field) against the
/// current one: none is 428, another is 412, the current one or `*` goes ahead.
pub fn check_version(sent: Option<&str>, current: &str) -> Result<(), ApiError> {
    let Some(sent) = sent else {
        return Err(ApiError::PreconditionRequired);
    };
    if sent.trim() == "*" || sent.split(',').any(|tag| tag.trim() == current) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// A JSON body answered with its ETag.
pub struct Tagged<T>(pub T);

impl<T: Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        let tag = etag_of(&self.0);
        let mut response = Json(self.0).into_response();
        if let Ok(value) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_must_name_the_current_version() {
        let current = etag_of(&serde_json::json!({"name": "a"}));
        let mut headers = HeaderMap::new();
        assert!(matches!(
            require_if_match(&headers, &current),
            Err(ApiError::PreconditionRequired)
        ));
        headers.insert(header::IF_MATCH, HeaderValue::from_str(&current).unwrap());
        assert!(require_if_match(&headers, &current).is_ok());
        let stale = etag_of(&serde_json::json!({"name": "b"}));
        assert!(matches!(
            require_if_match(&headers, &stale),
            Err(ApiError::PreconditionFailed)
        ));
    }
}
