//! Anthropic's Messages API with tool use (`POST {base_url}/v1/messages`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, ApiKey, RetryPolicy};
use super::{Message, ModelError, ModelReply, ModelRequest, StopReason, TokenUsage, ToolCall};

/// The API version this client speaks (the `anthropic-version` header).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Where and how to reach an Anthropic model. Holds the *name* of the environment variable
/// with the key, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicConfig {
    /// The API root without `/v1`: `https://api.anthropic.com`.
    pub base_url: String,
    /// The model name sent in each request (and recorded on the run as `anthropic:{model}`).
    pub model: String,
    /// The environment variable holding the key.
    pub api_key_env: String,
    /// The whole of one HTTP attempt, connection to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx (529 "overloaded" included) and timeouts.
    pub max_retries: u32,
    /// The first pause between attempts; it doubles each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl AnthropicConfig {
    /// Anthropic's API with the key in `ANTHROPIC_API_KEY` and the default limits: 60 s per
    /// attempt, 3 retries, backoff from 500 ms to 30 s.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: "https://api.anthropic.com".into(),
            model: model.into(),
            api_key_env: "ANTHROPIC_API_KEY".into(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A Messages API client; the key is read once, when it is built.
#[derive(Clone)]
pub struct AnthropicClient {
    config: AnthropicConfig,
    key: ApiKey,
    http: reqwest::Client,
    endpoint: String,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("base_url", &self.config.base_url)
            .field("model", &self.config.model)
            .field("api_key_env", &self.config.api_key_env)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AnthropicClient {
    /// Builds the client, reading the key from the process environment.
    pub fn new(config: AnthropicConfig) -> Result<Self, ModelError> {
        Self::with_env(config, |name| std::env::var(name).ok())
    }

    /// Builds the client, reading the key through `lookup` (an environment of the caller's
    /// choosing, e.g. in tests, where the process environment cannot be changed safely).
    pub fn with_env(
        config: AnthropicConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ModelError> {
        if config.model.trim().is_empty() {
            return Err(ModelError::NotConfigured(
                "the Anthropic model name is empty".into(),
            ));
        }
        let key = ApiKey::from_env(&config.api_key_env, &lookup)?;
        let endpoint = format!("{}/v1/messages", config.base_url.trim_end_matches('/'));
        Ok(Self {
            http: http::build_client(config.timeout)?,
            key,
            endpoint,
            config,
        })
    }

    /// The model name sent to the provider.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// One turn: sends the conversation and tools, returns the model's answer.
    pub async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let body = request_body(&self.config, request);
        let key = self.key.header_value("")?;
        let policy = RetryPolicy {
            max_retries: self.config.max_retries,
            initial_backoff: self.config.initial_backoff,
            max_backoff: self.config.max_backoff,
        };
        let raw = http::post_with_retries("anthropic", &self.config.model, &policy, || {
            self.http
                .post(&self.endpoint)
                .header("x-api-key", key.clone())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .json(&body)
        })
        .await?;
        let reply = reply_from_body(&raw)?;
        http::log_turn("anthropic", &self.config.model, &reply);
        Ok(reply)
    }
}

/// The Messages API request for `request`: the system prompt top-level, turns as content
/// blocks, tool results as `tool_result` blocks of a user turn. The API wants user and
/// assistant turns to alternate, so consecutive user-side messages (several tool results, a
/// tool result and the clinician's answer) merge into one turn, tool results first.
pub(crate) fn request_body(config: &AnthropicConfig, request: &ModelRequest) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            Message::User { content } => ("user", vec![json!({"type": "text", "text": content})]),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let text = content
                    .iter()
                    .filter(|text| !text.is_empty())
                    .map(|text| json!({"type": "text", "text": text}));
                let calls = tool_calls.iter().map(|call| {
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
                });
                ("assistant", text.chain(calls).collect())
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
            } => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": tool_call_id,
                    "content": content,
                    "is_error": is_error,
                })],
            ),
        };
        // An empty assistant turn is rejected by the API and says nothing.
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // A stable sort: tool results first, each kind in conversation order.
            blocks.sort_by_key(|block| block["type"] != "tool_result");
            json!({"role": role, "content": blocks})
        })
        .collect();
    let mut body = json!({
        "model": config.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
    }
    body
}

#[derive(Deserialize)]
struct MessagesReply {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// Thinking and other block kinds: not part of the answer.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
}

/// The model's answer from a Messages API response body.
pub(crate) fn reply_from_body(body: &[u8]) -> Result<ModelReply, ModelError> {
    let reply: MessagesReply = http::parse_body(body)?;
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in reply.content {
        match block {
            Block::Text { text } => texts.push(text),
            // The API sends the input as an object; anything else is a broken call.
            Block::ToolUse { id, name, input } if input.is_object() => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input,
            }),
            Block::ToolUse { name, .. } => {
                return Err(ModelError::MalformedToolArguments { tool: name });
            }
            Block::Other => {}
        }
    }
    let content = texts.join("\n");
    let stop = match reply.stop_reason.as_deref() {
        Some("max_tokens") => StopReason::MaxTokens,
        _ if !tool_calls.is_empty() => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    // Cached prompt tokens are still tokens the model read for this turn.
    let usage = reply
        .usage
        .map_or_else(TokenUsage::default, |usage| TokenUsage {
            input_tokens: usage
                .input_tokens
                .saturating_add(usage.cache_creation_input_tokens.unwrap_or(0))
                .saturating_add(usage.cache_read_input_tokens.unwrap_or(0)),
            output_tokens: usage.output_tokens,
        });
    Ok(ModelReply {
        message: Message::Assistant {
            content: (!content.is_empty()).then_some(content),
            tool_calls,
        },
        usage,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_user_side_messages_merge_with_tool_results_first() {
        let request = ModelRequest {
            system: String::new(),
            messages: vec![
                Message::User {
                    content: "dictation".into(),
                },
                Message::Assistant {
                    content: None,
                    tool_calls: vec![
                        ToolCall {
                            id: "a".into(),
                            name: "find_patient".into(),
                            arguments: json!({"name": "x"}),
                        },
                        ToolCall {
                            id: "b".into(),
                            name: "read_chart".into(),
                            arguments: json!({}),
                        },
                    ],
                },
                Message::Tool {
                    tool_call_id: "a".into(),
                    content: "[]".into(),
                    is_error: false,
                },
                Message::User {
                    content: "answer".into(),
                },
                Message::Tool {
                    tool_call_id: "b".into(),
                    content: "no chart".into(),
                    is_error: true,
                },
                Message::Assistant {
                    content: Some(String::new()),
                    tool_calls: vec![],
                },
            ],
            tools: vec![],
            max_tokens: 10,
        };
        let body = request_body(&AnthropicConfig::new("m"), &request);
        assert!(body.get("system").is_none());
        assert!(body.get("tools").is_none());
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 3, "{body:#}");
        let kinds: Vec<&str> = messages[2]["content"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|block| block["type"].as_str())
            .collect();
        assert_eq!(kinds, ["tool_result", "tool_result", "text"]);
        assert_eq!(messages[2]["content"][1]["is_error"], json!(true));
    }

    #[test]
    fn cached_input_tokens_count_as_input_and_other_blocks_are_skipped() {
        let body = br#"{"content":[{"type":"thinking","thinking":"...","signature":"s"},{"type":"text","text":"Done."}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":null}}"#;
        let reply = reply_from_body(body).expect("a reply");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input_tokens: 110,
                output_tokens: 5
            }
        );
        assert_eq!(reply.stop, StopReason::EndTurn);
        assert_eq!(
            reply.message,
            Message::Assistant {
                content: Some("Done.".into()),
                tool_calls: vec![]
            }
        );
    }
}
