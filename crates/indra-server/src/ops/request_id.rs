//! Every request gets an id: the caller's `X-Request-Id` when it is a plain token, a new UUID
//! otherwise. It is echoed in the response, put on every log line of the request, and recorded
//! in the audit log of every change the request makes.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_plain_token(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    // Every log line of the request carries its id. Never the URI: a query string can hold a
    // patient's name.
    let span = tracing::info_span!("request", request_id = %id, method = %request.method());
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Only short ids of letters, digits, `-` and `_` are taken from outside: anything else could
/// smuggle text into logs and the audit trail.
fn is_plain_token(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::is_plain_token;

    #[test]
    fn only_plain_ids_are_taken_from_outside() {
        assert!(is_plain_token("3f2a-77_b"));
        assert!(!is_plain_token(""));
        assert!(!is_plain_token("Jane Doe"));
        assert!(!is_plain_token(&"a".repeat(65)));
    }
}
