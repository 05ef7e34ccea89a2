//! Any OpenAI-compatible chat-completions endpoint with tool calling: OpenAI, Azure OpenAI,
//! vLLM, Ollama and llama.cpp's server (`POST {base_url}/chat/completions`).

use std::fmt;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, ApiKey, RetryPolicy};
use super::{Message, ModelError, ModelReply, ModelRequest, StopReason, TokenUsage, ToolCall};

/// The Azure OpenAI REST API version sent when the configuration names none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Where and how to reach an OpenAI-compatible model. Holds the *name* of the environment
/// variable with the key, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// The API root the paths hang off: `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1` (Ollama), `http://host:8000/v1` (vLLM, llama.cpp); for
    /// Azure the deployment, `https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT`.
    pub base_url: String,
    /// The model name sent in each request (and recorded on the run as `openai:{model}`).
    pub model: String,
    /// The environment variable holding the key; `None` for local servers without one.
    pub api_key_env: Option<String>,
    /// The whole of one HTTP attempt, connection to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx and timeouts.
    pub max_retries: u32,
    /// The first pause between attempts; it doubles each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Azure OpenAI: the key in an `api-key` header and `api-version` in the query.
    pub azure: bool,
    /// Azure's `api-version`; [`DEFAULT_AZURE_API_VERSION`] when `None`.
    pub azure_api_version: Option<String>,
    /// Send `max_completion_tokens` (OpenAI's reasoning models require it) instead of
    /// `max_tokens` (what every compatible server understands).
    pub max_completion_tokens: bool,
}

impl OpenAiConfig {
    /// A server at `base_url` with the default limits: 60 s per attempt, 3 retries, backoff
    /// from 500 ms to 30 s, no key.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            azure: false,
            azure_api_version: None,
            max_completion_tokens: false,
        }
    }

    /// OpenAI's own API with the key in `OPENAI_API_KEY`.
    pub fn openai(model: impl Into<String>) -> Self {
        Self {
            api_key_env: Some("OPENAI_API_KEY".into()),
            ..Self::new("https://api.openai.com/v1", model)
        }
    }
}

/// A chat-completions client; the key is read once, when it is built.
#[derive(Clone)]
pub struct OpenAiClient {
    config: OpenAiConfig,
    key: Option<ApiKey>,
    http: reqwest::Client,
    endpoint: String,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("base_url", &self.config.base_url)
            .field("model", &self.config.model)
            .field("azure", &self.config.azure)
            .field("api_key_env", &self.config.api_key_env)
            .field("api_key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl OpenAiClient {
    /// Builds the client, reading the key from the process environment.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        Self::with_env(config, |name| std::env::var(name).ok())
    }

    /// Builds the client, reading the key through `lookup` (an environment of the caller's
    /// choosing, e.g. in tests, where the process environment cannot be changed safely).
    pub fn with_env(
        config: OpenAiConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ModelError> {
        if config.model.trim().is_empty() {
            return Err(ModelError::NotConfigured(
                "the OpenAI model name is empty".into(),
            ));
        }
        let key = config
            .api_key_env
            .as_deref()
            .map(|name| ApiKey::from_env(name, &lookup))
            .transpose()?;
        if config.azure && key.is_none() {
            return Err(ModelError::NotConfigured(
                "Azure OpenAI needs an API key (api_key_env)".into(),
            ));
        }
        let base = config.base_url.trim_end_matches('/');
        let endpoint = if config.azure {
            let version = config
                .azure_api_version
                .as_deref()
                .unwrap_or(DEFAULT_AZURE_API_VERSION);
            format!("{base}/chat/completions?api-version={version}")
        } else {
            format!("{base}/chat/completions")
        };
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

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// One turn: sends the conversation and tools, returns the model's answer.
    pub async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let body = request_body(&self.config, request);
        let auth = match &self.key {
            Some(key) if self.config.azure => Some(("api-key", key.header_value("")?)),
            Some(key) => Some((AUTHORIZATION.as_str(), key.header_value("Bearer ")?)),
            None => None,
        };
        let policy = RetryPolicy {
            max_retries: self.config.max_retries,
            initial_backoff: self.config.initial_backoff,
            max_backoff: self.config.max_backoff,
        };
        let raw = http::post_with_retries("openai", &self.config.model, &policy, || {
            let builder = self.http.post(&self.endpoint).json(&body);
            match &auth {
                Some((name, value)) => builder.header(*name, value.clone()),
                None => builder,
            }
        })
        .await?;
        let reply = reply_from_body(&raw)?;
        http::log_turn("openai", &self.config.model, &reply);
        Ok(reply)
    }
}

/// The chat-completions request for `request`: the system prompt first, tool calls with their
/// arguments as JSON text, tool results by `tool_call_id`.
pub(crate) fn request_body(config: &OpenAiConfig, request: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        messages.push(match message {
            Message::User { content } => json!({"role": "user", "content": content}),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut wire = json!({"role": "assistant", "content": content});
                if !tool_calls.is_empty() {
                    wire["tool_calls"] = tool_calls
                        .iter()
                        .map(|call| {
                            json!({
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments.to_string()},
                            })
                        })
                        .collect();
                }
                wire
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
            } => {
                // The protocol has no error flag on tool messages; say it in the content.
                let content = if *is_error {
                    format!("Error: {content}")
                } else {
                    content.clone()
                };
                json!({"role": "tool", "tool_call_id": tool_call_id, "content": content})
            }
        });
    }
    let mut body = json!({"model": config.model, "messages": messages});
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
    }
    let limit_field = if config.max_completion_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[limit_field] = json!(request.max_tokens);
    body
}

#[derive(Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    /// Some local servers leave it out; the call's position stands in.
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// JSON text per the protocol; some servers send the object itself.
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

/// The model's answer from a chat-completions response body.
pub(crate) fn reply_from_body(body: &[u8]) -> Result<ModelReply, ModelError> {
    let completion: ChatCompletion = http::parse_body(body)?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(ModelError::Protocol("the reply has no choices".into()));
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(position, call)| {
            Ok(ToolCall {
                id: call.id.unwrap_or_else(|| format!("call_{position}")),
                arguments: parse_arguments(&call.function.name, call.function.arguments)?,
                name: call.function.name,
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    // Ollama and llama.cpp answer tool calls with "stop"; the calls themselves decide.
    let stop = match choice.finish_reason.as_deref() {
        Some("length") => StopReason::MaxTokens,
        _ if !tool_calls.is_empty() => StopReason::ToolUse,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    let usage = completion
        .usage
        .map_or_else(TokenUsage::default, |usage| TokenUsage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
        });
    Ok(ModelReply {
        message: Message::Assistant {
            content: choice.message.content.filter(|text| !text.is_empty()),
            tool_calls,
        },
        usage,
        stop,
    })
}

/// A call's arguments as a JSON object. No repair: a half-written object is the model's
/// mistake to report, not to guess at.
fn parse_arguments(tool: &str, arguments: Value) -> Result<Value, ModelError> {
    let malformed = || ModelError::MalformedToolArguments {
        tool: tool.to_owned(),
    };
    let parsed = match arguments {
        Value::Null => return Ok(json!({})),
        Value::String(text) if text.trim().is_empty() => return Ok(json!({})),
        Value::String(text) => serde_json::from_str(&text).map_err(|_| malformed())?,
        other => other,
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(malformed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_parsed_from_text_or_taken_as_objects() {
        assert_eq!(
            parse_arguments("t", json!("{\"a\":1}")).expect("parsed"),
            json!({"a": 1})
        );
        assert_eq!(
            parse_arguments("t", json!({"a": 1})).expect("object"),
            json!({"a": 1})
        );
        assert_eq!(parse_arguments("t", json!("")).expect("empty"), json!({}));
        assert_eq!(
            parse_arguments("t", json!("{\"a\":")),
            Err(ModelError::MalformedToolArguments { tool: "t".into() })
        );
        assert_eq!(
            parse_arguments("t", json!("[1]")),
            Err(ModelError::MalformedToolArguments { tool: "t".into() })
        );
    }

    #[test]
    fn tool_calls_answered_with_stop_are_still_tool_use() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"finish","arguments":"{}"}}]},"finish_reason":"stop"}]}"#;
        let reply = reply_from_body(body).expect("a reply");
        assert_eq!(reply.stop, StopReason::ToolUse);
        assert_eq!(reply.usage, TokenUsage::default());
        let Message::Assistant {
            content,
            tool_calls,
        } = reply.message
        else {
            panic!("an assistant message");
        };
        assert_eq!(content, None);
        assert_eq!(tool_calls[0].id, "call_0");
    }

    #[test]
    fn the_token_limit_field_follows_the_configuration() {
        let request = ModelRequest {
            system: String::new(),
            messages: vec![Message::User {
                content: "hi".into(),
            }],
            tools: vec![],
            max_tokens: 64,
        };
        let mut config = OpenAiConfig::new("http://localhost", "m");
        let body = request_body(&config, &request);
        assert_eq!(body["max_tokens"], json!(64));
        assert!(body.get("tools").is_none());
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
        config.max_completion_tokens = true;
        let body = request_body(&config, &request);
        assert_eq!(body["max_completion_tokens"], json!(64));
        assert!(body.get("max_tokens").is_none());
    }
}
