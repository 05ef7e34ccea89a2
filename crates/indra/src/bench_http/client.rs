//! One benchmark client: its own HTTP connection (keep-alive) and, once signed in, its token.

use std::time::Duration;

use reqwest::{Method, header};
use serde_json::Value;

/// A failed call: what was asked (the route, not the ids) and what came back.
#[derive(Debug, Clone)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub etag: Option<String>,
    /// The JSON body (`Null` for an empty or non-JSON body).
    pub body: Value,
    /// Body bytes received.
    pub bytes: usize,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Requests sent, successful or not.
    pub requests: u64,
}

/// A request that takes longer than this failed (the server's statement timeout is 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // One connection per client, kept open, as a browser tab or an integration would.
            .pool_max_idle_per_host(1)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            requests: 0,
        })
    }

    /// Signs in; keeps the access token for the following calls.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Result<(), Failure> {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/auth/token",
                "POST /api/v1/auth/token",
                Some(&serde_json::json!({"email": email, "password": password})),
                None,
            )
            .await?;
        let token = answer.body["access_token"]
            .as_str()
            .ok_or_else(|| Failure("POST /api/v1/auth/token: no access_token".into()))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    pub async fn get(&mut self, path: &str, route: &str) -> Result<Answer, Failure> {
        self.call(Method::GET, path, route, None, None).await
    }

    /// Sends a request; anything but a 2xx answer is a failure naming `route` and the
    /// problem's title and detail.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        route: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, Failure> {
        self.requests += 1;
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(etag) = if_match {
            request = request.header(header::IF_MATCH, etag);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure(format!("{route}: {}", transport_error(&e))))?;
        let status = response.status();
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| {
            Failure(format!(
                "{route}: reading the body: {}",
                transport_error(&e)
            ))
        })?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = [&body["title"], &body["detail"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(": ");
            return Err(Failure(format!("{route}: {status} {detail}")));
        }
        Ok(Answer {
            etag,
            body,
            bytes: bytes.len(),
        })
    }
}

/// A transport error in a few words (reqwest's own text nests the URL and its causes).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}
