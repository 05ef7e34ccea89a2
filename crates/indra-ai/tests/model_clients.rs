//! The external model clients against recorded protocol exchanges (tests/recorded/*.json,
//! fictitious content in each provider's documented wire format), served by a local HTTP server
//! inside each test: no network. The server answers from a script and keeps what it received,
//! so each test checks both what the client sent (path, headers, body) and what it made of the
//! answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use indra_ai::model::anthropic::{AnthropicClient, AnthropicConfig};
use indra_ai::model::openai::{OpenAiClient, OpenAiConfig};
use indra_ai::model::{
    Message, ModelError, ModelReply, ModelRequest, StopReason, TokenUsage, ToolCall, ToolSpec,
};

const OPENAI_KEY: &str = "sk-test-fictitious-openai-0000";
const AZURE_KEY: &str = "azure-test-fictitious-key-0000";
const ANTHROPIC_KEY: &str = "sk-ant-test-fictitious-0000";
const PATIENT_ID: &str = "7f1c2a9e-5b3d-4c8e-9a61-0d2f4b7e8c13";

/// The environment the clients read their keys from (the process environment cannot be
/// changed safely in a multi-threaded test binary).
fn test_env(name: &str) -> Option<String> {
    match name {
        "INDRA_TEST_OPENAI_KEY" => Some(OPENAI_KEY.into()),
        "INDRA_TEST_AZURE_KEY" => Some(AZURE_KEY.into()),
        "INDRA_TEST_ANTHROPIC_KEY" => Some(ANTHROPIC_KEY.into()),
        _ => None,
    }
}

fn recorded(name: &str) -> Value {
    let path = format!("{}/tests/recorded/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn exchanges(file: &Value) -> &[Value] {
    file["exchanges"].as_array().expect("exchanges")
}

// ---------------------------------------------------------------------------------------------
// The fake provider

/// One scripted answer.
#[derive(Clone)]
struct Scripted {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

impl Scripted {
    /// A recorded response: `{status, headers, body}`.
    fn recorded(response: &Value) -> Self {
        let headers = response["headers"]
            .as_object()
            .map(|headers| {
                headers
                    .iter()
                    .map(|(name, value)| (name.clone(), value.as_str().expect("header").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            status: u16::try_from(response["status"].as_u64().expect("status")).expect("status"),
            headers,
            body: response["body"].to_string(),
            delay: Duration::ZERO,
        }
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the server received.
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
    at: Instant,
}

#[derive(Default)]
struct ServerState {
    script: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Received>>,
}

struct FakeProvider {
    base: String,
    state: Arc<ServerState>,
}

impl FakeProvider {
    async fn start(script: impl IntoIterator<Item = Scripted>) -> Self {
        logs::install();
        let state = Arc::new(ServerState {
            script: Mutex::new(script.into_iter().collect()),
            received: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let address = listener.local_addr().expect("the address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{address}"),
            state,
        }
    }

    fn received(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.state.received.lock().expect("not poisoned")
    }

    fn received_count(&self) -> usize {
        self.received().len()
    }
}

async fn answer(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.received.lock().expect("not poisoned").push(Received {
        method,
        path: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let next = state.script.lock().expect("not poisoned").pop_front();
    let Some(next) = next else {
        return (StatusCode::IM_A_TEAPOT, "the script has no more answers").into_response();
    };
    tokio::time::sleep(next.delay).await;
    let mut response = (
        StatusCode::from_u16(next.status).expect("a status"),
        next.body,
    )
        .into_response();
    for (name, value) in next.headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(&value).expect("a header value"),
        );
    }
    response
}

/// The request the server received is the recorded one: method, path and query, the recorded
/// headers, and the JSON body exactly.
fn assert_matches_recorded(received: &Received, expected: &Value) {
    assert_eq!(received.method.as_str(), expected["method"]);
    assert_eq!(received.path, expected["path"].as_str().expect("path"));
    for (name, value) in expected["headers"].as_object().expect("headers") {
        let got = received
            .headers
            .get(name.as_str())
            .map(|v| v.to_str().expect("text"));
        assert_eq!(got, value.as_str(), "header {name}");
    }
    assert!(
        received.body == expected["body"],
        "the body differs from the recorded request\n--- sent ---\n{:#}\n--- recorded ---\n{:#}",
        received.body,
        expected["body"]
    );
}

// ---------------------------------------------------------------------------------------------
// Clients and requests

fn openai_config(server: &FakeProvider) -> OpenAiConfig {
    OpenAiConfig {
        api_key_env: Some("INDRA_TEST_OPENAI_KEY".into()),
        timeout: Duration::from_secs(5),
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..OpenAiConfig::new(format!("{}/v1", server.base), "gpt-4o-mini")
    }
}

fn openai(server: &FakeProvider) -> OpenAiClient {
    OpenAiClient::with_env(openai_config(server), test_env).expect("a client")
}

fn anthropic_config(server: &FakeProvider) -> AnthropicConfig {
    AnthropicConfig {
        base_url: server.base.clone(),
        api_key_env: "INDRA_TEST_ANTHROPIC_KEY".into(),
        timeout: Duration::from_secs(5),
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..AnthropicConfig::new("claude-sonnet-4-5")
    }
}

fn anthropic(server: &FakeProvider) -> AnthropicClient {
    AnthropicClient::with_env(anthropic_config(server), test_env).expect("a client")
}

/// The tools a recorded OpenAI request offers, as the loop would hand them over.
fn openai_tools(body: &Value) -> Vec<ToolSpec> {
    body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| ToolSpec {
            name: tool["function"]["name"].as_str().expect("name").into(),
            description: tool["function"]["description"]
                .as_str()
                .expect("description")
                .into(),
            parameters: tool["function"]["parameters"].clone(),
        })
        .collect()
}

fn anthropic_tools(body: &Value) -> Vec<ToolSpec> {
    body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| ToolSpec {
            name: tool["name"].as_str().expect("name").into(),
            description: tool["description"].as_str().expect("description").into(),
            parameters: tool["input_schema"].clone(),
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().expect("text").to_owned()
}

/// The one-turn request of the text-reply recordings.
fn thanks_request(system: &str) -> ModelRequest {
    ModelRequest {
        system: system.into(),
        messages: vec![Message::User {
            content: "Thanks, that is all for today.".into(),
        }],
        tools: vec![],
        max_tokens: 256,
    }
}

fn openai_system() -> String {
    let file = recorded("openai_text_reply.json");
    text(&exchanges(&file)[0]["request"]["body"]["messages"][0]["content"])
}

fn anthropic_system() -> String {
    let file = recorded("anthropic_text_reply.json");
    text(&exchanges(&file)[0]["request"]["body"]["system"])
}

fn error_response(file: &str, name: &str) -> Scripted {
    Scripted::recorded(&recorded(file)[name])
}

fn text_reply(file: &str) -> Scripted {
    Scripted::recorded(&exchanges(&recorded(file))[0]["response"])
}

fn assistant_text(reply: &ModelReply) -> Option<&str> {
    match &reply.message {
        Message::Assistant { content, .. } => content.as_deref(),
        other => panic!("not an assistant message: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible chat completions

#[tokio::test]
async fn openai_tool_call_round_trip_sends_the_recorded_requests() {
    let file = recorded("openai_tool_round_trip.json");
    let exchanges = exchanges(&file);
    let server =
        FakeProvider::start(exchanges.iter().map(|e| Scripted::recorded(&e["response"]))).await;
    let client = openai(&server);
    let first = &exchanges[0]["request"]["body"];
    let mut request = ModelRequest {
        system: text(&first["messages"][0]["content"]),
        messages: vec![Message::User {
            content: text(&first["messages"][1]["content"]),
        }],
        tools: openai_tools(first),
        max_tokens: 1024,
    };

    let reply = client.complete(&request).await.expect("the first turn");
    assert_eq!(
        reply,
        ModelReply {
            message: Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "call_fict_find".into(),
                    name: "find_patient".into(),
                    arguments: json!({"name": "Robin Okafor"}),
                }],
            },
            usage: TokenUsage {
                input_tokens: 412,
                output_tokens: 19
            },
            stop: StopReason::ToolUse,
        }
    );

    request.messages.push(reply.message);
    request.messages.push(Message::Tool {
        tool_call_id: "call_fict_find".into(),
        content: text(&exchanges[1]["request"]["body"]["messages"][3]["content"]),
        is_error: false,
    });
    let reply = client.complete(&request).await.expect("the second turn");
    assert_eq!(reply.stop, StopReason::ToolUse);
    assert_eq!(
        reply.usage,
        TokenUsage {
            input_tokens: 538,
            output_tokens: 61
        }
    );
    assert_eq!(
        reply.message,
        Message::Assistant {
            content: None,
            tool_calls: vec![
                ToolCall {
                    id: "call_fict_encounter".into(),
                    name: "propose_encounter".into(),
                    arguments: json!({
                        "patient_id": PATIENT_ID,
                        "encounter_type": "individual_therapy",
                        "duration_minutes": 53,
                    }),
                },
                ToolCall {
                    id: "call_fict_finish".into(),
                    name: "finish".into(),
                    arguments: json!({}),
                },
            ],
        }
    );

    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_matches_recorded(&received[0], &exchanges[0]["request"]);
    assert_matches_recorded(&received[1], &exchanges[1]["request"]);
}

#[tokio::test]
async fn openai_text_reply() {
    let file = recorded("openai_text_reply.json");
    let server = FakeProvider::start([Scripted::recorded(&exchanges(&file)[0]["response"])]).await;
    let reply = openai(&server)
        .complete(&thanks_request(&openai_system()))
        .await
        .expect("a reply");
    assert_eq!(reply.stop, StopReason::EndTurn);
    assert_eq!(
        assistant_text(&reply),
        Some("Understood; there is nothing to propose for this text.")
    );
    let received = server.received();
    assert_matches_recorded(&received[0], &exchanges(&file)[0]["request"]);
}

#[tokio::test]
async fn openai_malformed_tool_arguments_are_reported_not_guessed() {
    let server = FakeProvider::start([text_reply("openai_malformed_arguments.json")]).await;
    let error = openai(&server)
        .complete(&thanks_request("system"))
        .await
        .expect_err("cut-off arguments");
    assert_eq!(
        error,
        ModelError::MalformedToolArguments {
            tool: "propose_encounter".into()
        }
    );
    assert!(!error.is_retryable());
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn openai_rate_limit_waits_as_long_as_retry_after_says() {
    let server = FakeProvider::start([
        error_response("openai_errors.json", "rate_limited"),
        text_reply("openai_text_reply.json"),
    ])
    .await;
    let reply = openai(&server)
        .complete(&thanks_request(&openai_system()))
        .await
        .expect("the retry succeeds");
    assert_eq!(reply.stop, StopReason::EndTurn);
    let received = server.received();
    assert_eq!(received.len(), 2);
    // Retry-After: 1; the client's own backoff would be about 10 ms.
    let pause = received[1].at - received[0].at;
    assert!(
        pause >= Duration::from_millis(950) && pause < Duration::from_secs(3),
        "{pause:?}"
    );
    assert_eq!(received[0].body, received[1].body);
}

#[tokio::test]
async fn openai_server_errors_twice_then_success() {
    let server = FakeProvider::start([
        error_response("openai_errors.json", "server_error"),
        error_response("openai_errors.json", "server_error"),
        text_reply("openai_text_reply.json"),
    ])
    .await;
    let reply = openai(&server)
        .complete(&thanks_request(&openai_system()))
        .await
        .expect("the third attempt succeeds");
    assert_eq!(reply.usage.output_tokens, 14);
    assert_eq!(server.received_count(), 3);
}

#[tokio::test]
async fn openai_retries_run_out_with_the_last_error() {
    let server = FakeProvider::start([
        error_response("openai_errors.json", "unavailable"),
        error_response("openai_errors.json", "unavailable"),
        error_response("openai_errors.json", "unavailable"),
        text_reply("openai_text_reply.json"),
    ])
    .await;
    let client = OpenAiClient::with_env(
        OpenAiConfig {
            max_retries: 2,
            ..openai_config(&server)
        },
        test_env,
    )
    .expect("a client");
    let error = client
        .complete(&thanks_request(&openai_system()))
        .await
        .expect_err("three failures");
    assert_eq!(error, ModelError::Server { status: 503 });
    assert_eq!(server.received_count(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn openai_unauthorized_is_not_retried() {
    let server = FakeProvider::start([
        error_response("openai_errors.json", "unauthorized"),
        text_reply("openai_text_reply.json"),
    ])
    .await;
    let error = openai(&server)
        .complete(&thanks_request(&openai_system()))
        .await
        .expect_err("a refused key");
    assert_eq!(error, ModelError::Unauthorized { status: 401 });
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn openai_bad_request_keeps_the_error_code_but_not_the_message() {
    let server = FakeProvider::start([error_response("openai_errors.json", "bad_request")]).await;
    let error = openai(&server)
        .complete(&thanks_request(&openai_system()))
        .await
        .expect_err("a rejected request");
    assert_eq!(
        error,
        ModelError::Protocol("HTTP 400 (context_length_exceeded)".into())
    );
    assert_eq!(server.received_count(), 1);
}

#[tokio::test]
async fn openai_timeout_is_retried_then_reported() {
    let slow = text_reply("openai_text_reply.json").after(Duration::from_secs(3));
    let server = FakeProvider::start([slow.clone(), slow]).await;
    let client = OpenAiClient::with_env(
        OpenAiConfig {
            timeout: Duration::from_millis(300),
            max_retries: 1,
            ..openai_config(&server)
        },
        test_env,
    )
    .expect("a client");
    let started = Instant::now();
    let error = client
        .complete(&thanks_request(&openai_system()))
        .await
        .expect_err("too slow");
    assert_eq!(error, ModelError::Timeout);
    assert_eq!(server.received_count(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn azure_sends_the_key_in_api_key_and_the_version_in_the_query() {
    let file = recorded("azure_text_reply.json");
    let server = FakeProvider::start([Scripted::recorded(&exchanges(&file)[0]["response"])]).await;
    let config = OpenAiConfig {
        api_key_env: Some("INDRA_TEST_AZURE_KEY".into()),
        azure: true,
        ..OpenAiConfig::new(
            format!("{}/openai/deployments/indra-gpt-4o-mini/", server.base),
            "gpt-4o-mini",
        )
    };
    let client = OpenAiClient::with_env(config, test_env).expect("a client");
    let reply = client
        .complete(&thanks_request(&openai_system()))
        .await
        .expect("a reply");
    assert_eq!(reply.usage.input_tokens, 96);
    let received = server.received();
    assert_matches_recorded(&received[0], &exchanges(&file)[0]["request"]);
    assert!(received[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_named_key_that_is_not_set_is_a_configuration_error() {
    let config = OpenAiConfig {
        api_key_env: Some("INDRA_TEST_UNSET_KEY".into()),
        ..OpenAiConfig::openai("gpt-4o-mini")
    };
    let error = OpenAiClient::with_env(config, test_env).expect_err("no key");
    assert!(
        matches!(error, ModelError::NotConfigured(ref m) if m.contains("INDRA_TEST_UNSET_KEY"))
    );
    let error = AnthropicClient::with_env(AnthropicConfig::new("claude-sonnet-4-5"), test_env)
        .expect_err("ANTHROPIC_API_KEY is not in the test environment");
    assert!(matches!(error, ModelError::NotConfigured(_)));
    let error = OpenAiClient::with_env(
        OpenAiConfig {
            azure: true,
            ..OpenAiConfig::new("http://127.0.0.1:9", "m")
        },
        test_env,
    )
    .expect_err("Azure needs a key");
    assert!(matches!(error, ModelError::NotConfigured(_)));
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_header() {
    let server = FakeProvider::start([text_reply("openai_text_reply.json")]).await;
    let client = OpenAiClient::with_env(
        OpenAiConfig::new(format!("{}/v1", server.base), "llama3.1"),
        test_env,
    )
    .expect("a client");
    client
        .complete(&thanks_request(&openai_system()))
        .await
        .expect("a reply");
    let received = server.received();
    assert!(received[0].headers.get("authorization").is_none());
    assert_eq!(received[0].body["model"], "llama3.1");
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages API

#[tokio::test]
async fn anthropic_tool_use_round_trip_sends_the_recorded_requests() {
    let file = recorded("anthropic_tool_round_trip.json");
    let exchanges = exchanges(&file);
    let server =
        FakeProvider::start(exchanges.iter().map(|e| Scripted::recorded(&e["response"]))).await;
    let client = anthropic(&server);
    let first = &exchanges[0]["request"]["body"];
    let mut request = ModelRequest {
        system: text(&first["system"]),
        messages: vec![Message::User {
            content: text(&first["messages"][0]["content"][0]["text"]),
        }],
        tools: anthropic_tools(first),
        max_tokens: 1024,
    };

    let reply = client.complete(&request).await.expect("the first turn");
    assert_eq!(
        reply,
        ModelReply {
            message: Message::Assistant {
                content: Some("I will find the patient and read the chart.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "toolu_fict_find".into(),
                        name: "find_patient".into(),
                        arguments: json!({"name": "Robin Okafor"}),
                    },
                    ToolCall {
                        id: "toolu_fict_chart".into(),
                        name: "read_chart".into(),
                        arguments: json!({"patient_id": PATIENT_ID}),
                    },
                ],
            },
            usage: TokenUsage {
                input_tokens: 388,
                output_tokens: 92
            },
            stop: StopReason::ToolUse,
        }
    );

    request.messages.push(reply.message);
    let results = &exchanges[1]["request"]["body"]["messages"][2]["content"];
    request.messages.push(Message::Tool {
        tool_call_id: "toolu_fict_find".into(),
        content: text(&results[0]["content"]),
        is_error: false,
    });
    request.messages.push(Message::Tool {
        tool_call_id: "toolu_fict_chart".into(),
        content: "the chart could not be read".into(),
        is_error: true,
    });
    let reply = client.complete(&request).await.expect("the second turn");
    assert_eq!(
        reply,
        ModelReply {
            message: Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "toolu_fict_encounter".into(),
                    name: "propose_encounter".into(),
                    arguments: json!({
                        "patient_id": PATIENT_ID,
                        "encounter_type": "individual_therapy",
                        "duration_minutes": 53,
                    }),
                }],
            },
            // 120 fresh input tokens and 400 read from the prompt cache.
            usage: TokenUsage {
                input_tokens: 520,
                output_tokens: 71
            },
            stop: StopReason::ToolUse,
        }
    );

    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_matches_recorded(&received[0], &exchanges[0]["request"]);
    assert_matches_recorded(&received[1], &exchanges[1]["request"]);
}

#[tokio::test]
async fn anthropic_text_reply() {
    let file = recorded("anthropic_text_reply.json");
    let server = FakeProvider::start([Scripted::recorded(&exchanges(&file)[0]["response"])]).await;
    let reply = anthropic(&server)
        .complete(&thanks_request(&anthropic_system()))
        .await
        .expect("a reply");
    assert_eq!(reply.stop, StopReason::EndTurn);
    assert_eq!(
        assistant_text(&reply),
        Some("Understood; there is nothing to propose for this text.")
    );
    let received = server.received();
    assert_matches_recorded(&received[0], &exchanges(&file)[0]["request"]);
}

#[tokio::test]
async fn anthropic_tool_input_that_is_not_an_object_is_malformed() {
    let server = FakeProvider::start([text_reply("anthropic_malformed_tool_input.json")]).await;
    let error = anthropic(&server)
        .complete(&thanks_request("system"))
        .await
        .expect_err("a string input");
    assert_eq!(
        error,
        ModelError::MalformedToolArguments {
            tool: "propose_encounter".into()
        }
    );
}

#[tokio::test]
async fn anthropic_rate_limit_waits_as_long_as_retry_after_says() {
    let server = FakeProvider::start([
        error_response("anthropic_errors.json", "rate_limited"),
        text_reply("anthropic_text_reply.json"),
    ])
    .await;
    anthropic(&server)
        .complete(&thanks_request(&anthropic_system()))
        .await
        .expect("the retry succeeds");
    let received = server.received();
    assert_eq!(received.len(), 2);
    let pause = received[1].at - received[0].at;
    assert!(
        pause >= Duration::from_millis(950) && pause < Duration::from_secs(3),
        "{pause:?}"
    );
}

#[tokio::test]
async fn anthropic_overloaded_and_server_errors_are_retried() {
    let server = FakeProvider::start([
        error_response("anthropic_errors.json", "overloaded"),
        error_response("anthropic_errors.json", "server_error"),
        text_reply("anthropic_text_reply.json"),
    ])
    .await;
    let reply = anthropic(&server)
        .complete(&thanks_request(&anthropic_system()))
        .await
        .expect("the third attempt succeeds");
    assert_eq!(reply.stop, StopReason::EndTurn);
    assert_eq!(server.received_count(), 3);
}

#[tokio::test]
async fn anthropic_retries_run_out_with_the_last_error() {
    let server = FakeProvider::start([
        error_response("anthropic_errors.json", "overloaded"),
        error_response("anthropic_errors.json", "rate_limited"),
        error_response("anthropic_errors.json", "overloaded"),
        text_reply("anthropic_text_reply.json"),
    ])
    .await;
    let client = AnthropicClient::with_env(
        AnthropicConfig {
            max_retries: 2,
            ..anthropic_config(&server)
        },
        test_env,
    )
    .expect("a client");
    let error = client
        .complete(&thanks_request(&anthropic_system()))
        .await
        .expect_err("three failures");
    assert_eq!(error, ModelError::Server { status: 529 });
    assert_eq!(server.received_count(), 3);
}

#[tokio::test]
async fn anthropic_refused_credentials_are_not_retried() {
    for (name, status) in [("unauthorized", 401), ("forbidden", 403)] {
        let server = FakeProvider::start([
            error_response("anthropic_errors.json", name),
            text_reply("anthropic_text_reply.json"),
        ])
        .await;
        let error = anthropic(&server)
            .complete(&thanks_request(&anthropic_system()))
            .await
            .expect_err("a refused key");
        assert_eq!(error, ModelError::Unauthorized { status });
        assert_eq!(server.received_count(), 1, "{name}");
    }
}

#[tokio::test]
async fn anthropic_timeout_is_retried_then_reported() {
    let slow = text_reply("anthropic_text_reply.json").after(Duration::from_secs(3));
    let server = FakeProvider::start([slow.clone(), slow.clone(), slow]).await;
    let client = AnthropicClient::with_env(
        AnthropicConfig {
            timeout: Duration::from_millis(250),
            max_retries: 2,
            ..anthropic_config(&server)
        },
        test_env,
    )
    .expect("a client");
    let started = Instant::now();
    let error = client
        .complete(&thanks_request(&anthropic_system()))
        .await
        .expect_err("too slow");
    assert_eq!(error, ModelError::Timeout);
    assert_eq!(server.received_count(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Both

#[tokio::test]
async fn token_accounting_follows_each_providers_usage_fields() {
    let openai_file = recorded("openai_tool_round_trip.json");
    let anthropic_file = recorded("anthropic_tool_round_trip.json");
    let openai_server = FakeProvider::start(
        exchanges(&openai_file)
            .iter()
            .map(|e| Scripted::recorded(&e["response"])),
    )
    .await;
    let anthropic_server = FakeProvider::start(
        exchanges(&anthropic_file)
            .iter()
            .map(|e| Scripted::recorded(&e["response"])),
    )
    .await;
    let request = thanks_request("system");
    let (openai, anthropic) = (openai(&openai_server), anthropic(&anthropic_server));
    let mut openai_total = TokenUsage::default();
    let mut anthropic_total = TokenUsage::default();
    for _ in 0..2 {
        let usage = openai.complete(&request).await.expect("a reply").usage;
        openai_total.input_tokens += usage.input_tokens;
        openai_total.output_tokens += usage.output_tokens;
        let usage = anthropic.complete(&request).await.expect("a reply").usage;
        anthropic_total.input_tokens += usage.input_tokens;
        anthropic_total.output_tokens += usage.output_tokens;
    }
    // prompt_tokens / completion_tokens: 412 + 538, 19 + 61.
    assert_eq!(
        openai_total,
        TokenUsage {
            input_tokens: 950,
            output_tokens: 80
        }
    );
    // input_tokens + cache_creation_input_tokens + cache_read_input_tokens: 388 + 120 + 400.
    assert_eq!(
        anthropic_total,
        TokenUsage {
            input_tokens: 908,
            output_tokens: 163
        }
    );
}

/// Logs go to the buffer of the test thread that emits them (each `#[tokio::test]` runs its
/// client and its server on its own thread). One global subscriber for the whole binary: a
/// thread-local one would miss events whose callsites another test thread saw first without a
/// subscriber (tracing caches that "nobody listens").
mod logs {
    use std::cell::RefCell;
    use std::io::Write;
    use std::sync::{Arc, Mutex, Once};

    thread_local! {
        static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
    }

    struct ThreadSink;

    impl Write for ThreadSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            CAPTURE.with(|capture| {
                if let Some(buffer) = capture.borrow().as_ref() {
                    buffer
                        .lock()
                        .expect("not poisoned")
                        .extend_from_slice(bytes);
                }
            });
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(|| ThreadSink)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        });
    }

    /// From now on, what this thread logs.
    pub fn capture_this_thread() -> Arc<Mutex<Vec<u8>>> {
        install();
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(Arc::clone(&buffer)));
        buffer
    }
}

#[tokio::test]
async fn the_key_the_prompt_and_the_reply_stay_out_of_debug_output_and_logs() {
    let captured = logs::capture_this_thread();

    let openai_file = recorded("openai_tool_round_trip.json");
    let openai_server = FakeProvider::start(
        std::iter::once(error_response("openai_errors.json", "rate_limited")).chain(
            exchanges(&openai_file)
                .iter()
                .map(|e| Scripted::recorded(&e["response"])),
        ),
    )
    .await;
    let anthropic_server = FakeProvider::start([
        error_response("anthropic_errors.json", "overloaded"),
        text_reply("anthropic_text_reply.json"),
        error_response("anthropic_errors.json", "unauthorized"),
    ])
    .await;
    let openai = openai(&openai_server);
    let anthropic = anthropic(&anthropic_server);

    let dictation = "Saw Robin Okafor today for 53 minutes of individual therapy, in person. \
                     Worked on sleep hygiene; she reports fewer awakenings.";
    let request = ModelRequest {
        system: openai_system(),
        messages: vec![Message::User {
            content: dictation.into(),
        }],
        tools: vec![],
        max_tokens: 1024,
    };
    openai.complete(&request).await.expect("after a rate limit");
    anthropic
        .complete(&request)
        .await
        .expect("after an overload");
    anthropic
        .complete(&request)
        .await
        .expect_err("refused credentials");

    for debug in [
        format!("{openai:?}"),
        format!("{anthropic:?}"),
        format!("{:?}", openai.config()),
        format!("{:?}", anthropic.config()),
    ] {
        assert!(
            !debug.contains(OPENAI_KEY) && !debug.contains(ANTHROPIC_KEY),
            "{debug}"
        );
    }
    assert!(format!("{openai:?}").contains("<redacted>"));

    let logs = String::from_utf8_lossy(&captured.lock().expect("not poisoned")).into_owned();
    // The logs say what happened...
    for expected in [
        "status=429",
        "status=529",
        "status=401",
        "attempt=2",
        "input_tokens=412",
        "output_tokens=13",
    ] {
        assert!(logs.contains(expected), "missing {expected:?} in\n{logs}");
    }
    // ...and nothing of what was said.
    for secret in [
        OPENAI_KEY,
        ANTHROPIC_KEY,
        "Okafor",
        "sleep hygiene",
        "documentation assistant",
        "nothing to propose",
        "Rate limit reached",
        "invalid x-api-key",
    ] {
        assert!(!logs.contains(secret), "{secret:?} was logged:\n{logs}");
    }
}
