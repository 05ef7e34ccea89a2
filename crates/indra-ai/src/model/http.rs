//! What the external clients share: the API key read from the environment, one HTTP client per
//! model, and one POST retried with exponential backoff and jitter on rate limits, server errors
//! and timeouts.
//!
//! Logs carry the provider, the model name, the attempt, the HTTP status, durations and token
//! counts, never the key, the prompt or the reply: prompts hold a clinician's dictation about a
//! patient, and provider error bodies may quote it back.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::{ModelError, ModelReply};

/// The longest `Retry-After` the client waits out itself. A provider asking for more is
/// rationed for minutes; the run loop's own limits decide what happens then.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// An API key. It only leaves this type as a header value marked sensitive.
#[derive(Clone)]
pub(crate) struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// The key held by the environment variable `env_name` (looked up through `lookup`, which is
    /// the process environment outside tests).
    pub(crate) fn from_env(
        env_name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ModelError> {
        match lookup(env_name) {
            Some(key) if !key.trim().is_empty() => Ok(Self(key.trim().to_owned())),
            _ => Err(ModelError::NotConfigured(format!(
                "the environment variable {env_name} holding the API key is not set"
            ))),
        }
    }

    /// The key as a header value that `Debug` on requests and headers does not print.
    pub(crate) fn header_value(&self, prefix: &str) -> Result<HeaderValue, ModelError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).map_err(|_| {
            ModelError::NotConfigured(
                "the API key contains characters not allowed in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// How often and how patiently a client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The pause before attempt `failed_attempt + 1`, or `None` when the provider asked for a
    /// pause longer than [`MAX_RETRY_AFTER`].
    fn pause_after(&self, failed_attempt: u32, error: &ModelError) -> Option<Duration> {
        if let ModelError::RateLimited {
            retry_after_ms: Some(ms),
        } = error
        {
            let asked = Duration::from_millis(*ms);
            if asked > MAX_RETRY_AFTER {
                return None;
            }
            // The provider's pause is a minimum; a little jitter keeps concurrent runs from
            // returning in the same instant.
            return Some(asked + jitter(asked / 10));
        }
        let exponent = failed_attempt.saturating_sub(1).min(20);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        // "Equal jitter": at least half the exponential pause, so backoff still grows.
        let half = ceiling / 2;
        Some(half + jitter(ceiling - half))
    }
}

/// A uniformly random duration in `[0, up_to]`, from the standard library's randomly seeded
/// hasher (backoff jitter needs no cryptographic randomness).
fn jitter(up_to: Duration) -> Duration {
    let nanos = u64::try_from(up_to.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(nanos);
    Duration::from_nanos(hasher.finish() % nanos.saturating_add(1))
}

/// The HTTP client of one model. Redirects are not followed: a provider's API does not
/// redirect, and a redirect to another host would carry the key header with it.
/// The one log line of a completed model turn, for every provider: model and token counts,
/// never a message's text (which carries the dictation, so PHI).
pub(crate) fn log_turn(provider: &str, model: &str, reply: &ModelReply) {
    tracing::info!(
        provider,
        model,
        input_tokens = reply.usage.input_tokens,
        output_tokens = reply.usage.output_tokens,
        stop = ?reply.stop,
        "model turn completed"
    );
}

pub(crate) fn build_client(timeout: Duration) -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| ModelError::NotConfigured("the HTTP client could not be built".into()))
}

/// Sends the request `build` makes until it succeeds, fails for good, or the retries run out;
/// returns the successful response's body. `build` is called once per attempt.
pub(crate) async fn post_with_retries(
    provider: &'static str,
    model: &str,
    policy: &RetryPolicy,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Vec<u8>, ModelError> {
    let attempts = policy.max_retries.saturating_add(1);
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let (status, outcome) = send_once(build()).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let error = match outcome {
            Ok(body) => {
                tracing::debug!(
                    provider,
                    model,
                    attempt,
                    status,
                    duration_ms,
                    "model request succeeded"
                );
                return Ok(body);
            }
            Err(error) => error,
        };
        if !error.is_retryable() || attempt >= attempts {
            tracing::warn!(provider, model, attempt, status, duration_ms, error = %error, "model request failed");
            return Err(error);
        }
        let Some(pause) = policy.pause_after(attempt, &error) else {
            tracing::warn!(provider, model, attempt, status, duration_ms, error = %error, "model provider asked for a pause longer than the client waits");
            return Err(error);
        };
        let pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(provider, model, attempt, status, duration_ms, pause_ms, error = %error, "model request failed, retrying");
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// One attempt: the response's status (when one came back) and its body or the typed error.
async fn send_once(request: reqwest::RequestBuilder) -> (Option<u16>, Result<Vec<u8>, ModelError>) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return (None, Err(transport_error(&error))),
    };
    let status = response.status();
    let code = status.as_u16();
    let retry_after_ms = retry_after_ms(response.headers());
    let body = match response.bytes().await {
        Ok(body) => body.to_vec(),
        Err(error) => return (Some(code), Err(transport_error(&error))),
    };
    let outcome = if status.is_success() {
        Ok(body)
    } else if code == 401 || code == 403 {
        Err(ModelError::Unauthorized { status: code })
    } else if code == 429 {
        Err(ModelError::RateLimited { retry_after_ms })
    } else if status.is_server_error() {
        Err(ModelError::Server { status: code })
    } else {
        Err(ModelError::Protocol(format!(
            "HTTP {code}{}",
            provider_error_code(&body)
                .map(|kind| format!(" ({kind})"))
                .unwrap_or_default()
        )))
    };
    (Some(code), outcome)
}

fn transport_error(error: &reqwest::Error) -> ModelError {
    if error.is_timeout() {
        ModelError::Timeout
    } else if error.is_connect() {
        ModelError::Protocol("could not connect to the model's provider".into())
    } else {
        // reqwest's messages can carry the URL; keep the reason generic.
        ModelError::Protocol("the connection to the model's provider failed".into())
    }
}

/// `retry-after-ms` (Azure, OpenAI) or `retry-after` in seconds; the HTTP-date form is rare
/// from these APIs and falls back to the client's own backoff.
fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|value| value.is_finite() && *value >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(ms.ceil() as u64);
    }
    number("retry-after").map(|seconds| (seconds * 1000.0).ceil() as u64)
}

/// The provider's machine-readable error kind (`error.code` or `error.type`, e.g.
/// `context_length_exceeded`, `invalid_request_error`), only when it looks like an identifier:
/// the human-readable message may quote the prompt.
fn provider_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    [error.get("code"), error.get("type")]
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find(|kind| {
            !kind.is_empty()
                && kind.len() <= 64
                && kind
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        })
        .map(str::to_owned)
}

/// Reads a provider's JSON reply. serde's messages can quote the offending value (reply text),
/// so the error names only the kind of problem and where it is.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ModelError> {
    serde_json::from_slice(body).map_err(|error| {
        let kind = match error.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "not in the expected shape",
            serde_json::error::Category::Eof => "truncated",
        };
        ModelError::Protocol(format!(
            "the reply is {kind} (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_stops_at_the_ceiling() {
        let policy = policy();
        let error = ModelError::Server { status: 503 };
        for (attempt, ceiling_ms) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)]
        {
            let pause = policy.pause_after(attempt, &error).expect("a pause");
            let ceiling = Duration::from_millis(ceiling_ms);
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "attempt {attempt}: {pause:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_too_long_a_pause_gives_up() {
        let policy = policy();
        let asked = ModelError::RateLimited {
            retry_after_ms: Some(2000),
        };
        let pause = policy.pause_after(1, &asked).expect("a pause");
        assert!(pause >= Duration::from_millis(2000) && pause <= Duration::from_millis(2200));
        let too_long = ModelError::RateLimited {
            retry_after_ms: Some(120_000),
        };
        assert_eq!(policy.pause_after(1, &too_long), None);
        let unsaid = ModelError::RateLimited {
            retry_after_ms: None,
        };
        assert!(policy.pause_after(1, &unsaid).expect("a pause") <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_headers_in_seconds_or_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_ms(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after_ms(&headers), Some(3000));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500.2"));
        assert_eq!(retry_after_ms(&headers), Some(1501));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_ms(&dated), None);
    }

    #[test]
    fn provider_error_codes_are_kept_but_messages_are_not() {
        let body = br#"{"error":{"message":"Patient Jane said ...","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(
            provider_error_code(body).as_deref(),
            Some("context_length_exceeded")
        );
        let anthropic =
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"x"}}"#;
        assert_eq!(
            provider_error_code(anthropic).as_deref(),
            Some("invalid_request_error")
        );
        let chatty = br#"{"error":{"code":"the patient Jane Roe"}}"#;
        assert_eq!(provider_error_code(chatty), None);
    }

    #[test]
    fn parse_errors_do_not_quote_the_reply() {
        #[derive(Debug, serde::Deserialize)]
        struct Shape {
            #[expect(dead_code, reason = "only the failure matters")]
            count: u32,
        }
        let error = parse_body::<Shape>(br#"{"count":"Jane Roe feels better"}"#)
            .expect_err("a string is not a count");
        assert!(!error.to_string().contains("Jane"), "{error}");
    }

    #[test]
    fn the_key_is_read_by_name_and_never_printed() {
        let lookup = |name: &str| (name == "TEST_KEY").then(|| "sk-test-secret".to_owned());
        let key = ApiKey::from_env("TEST_KEY", &lookup).expect("the key");
        assert!(!format!("{key:?}").contains("sk-test-secret"));
        let header = key.header_value("Bearer ").expect("a header");
        assert!(!format!("{header:?}").contains("sk-test-secret"));
        let missing = ApiKey::from_env("OTHER_KEY", &lookup).expect_err("not set");
        assert!(missing.to_string().contains("OTHER_KEY"));
    }
}
