//! Models behind one interface: the embedded `rules` model, any OpenAI-compatible
//! chat-completions endpoint, and Anthropic's Messages API. The run loop talks only in these
//! types; each client translates them to its wire protocol. Messages serialize (serde) into
//! `ai_steps.messages`, so a run resumes from what is stored, after a clarification or a restart.

use serde::{Deserialize, Serialize};

/// One turn's request: the conversation so far and the tools the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// Instructions and the run's context (provider, time zone and clock, candidate patients).
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// Upper bound on the reply's tokens.
    pub max_tokens: u32,
}

/// A message of the conversation, as stored in `ai_steps.messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// The clinician's words: the dictation, or the answer to a clarification.
    User { content: String },
    /// The model's turn: text and/or tool calls.
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// What a tool call returned (JSON text), or why it failed.
    Tool {
        tool_call_id: String,
        content: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// The model asks the loop to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Parsed arguments. A client that receives arguments that are not valid JSON reports
    /// [`ModelError::MalformedToolArguments`] rather than guessing.
    pub arguments: serde_json::Value,
}

/// A tool the model may call, with its JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Tokens a turn used, as the provider reported them (zero for the rules model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    ToolUse,
    EndTurn,
    MaxTokens,
}

/// The model's answer to one request: always a [`Message::Assistant`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReply {
    pub message: Message,
    pub usage: TokenUsage,
    pub stop: StopReason,
}

/// Why a turn failed. Retryable ones (rate limits, server errors, timeouts) are retried with
/// backoff by the client up to its limit before they reach the loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the model's provider is rate limiting (HTTP 429)")]
    RateLimited { retry_after_ms: Option<u64> },
    #[error("the model's provider failed (HTTP {status})")]
    Server { status: u16 },
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model's provider refused the credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    #[error("the model called {tool} with arguments that are not valid JSON")]
    MalformedToolArguments { tool: String },
    #[error("the model's answer could not be read: {0}")]
    Protocol(String),
    #[error("the model is not configured: {0}")]
    NotConfigured(String),
}

impl ModelError {
    /// Worth trying again after a pause.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout
        )
    }
}

pub mod anthropic;
mod http;
pub mod openai;
pub mod rules;
pub use anthropic::{AnthropicClient, AnthropicConfig};
pub use openai::{OpenAiClient, OpenAiConfig};
pub use rules::RulesModel;

/// The model a run talks to, chosen per organization (`ai_settings`) or for a whole worker
/// (tests, `indra ai eval --model`).
#[derive(Debug, Clone)]
pub enum Model {
    /// The embedded, offline, deterministic dictation reader.
    Rules(RulesModel),
    /// Any OpenAI-compatible chat-completions endpoint.
    OpenAi(OpenAiClient),
    /// Anthropic's Messages API.
    Anthropic(AnthropicClient),
    /// Replays fixed replies in order (tests, and recorded conversations); after the last
    /// one it repeats it.
    Scripted(ScriptedModel),
}

impl Model {
    pub async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        match self {
            Self::Rules(model) => model.complete(request).await,
            Self::OpenAi(model) => model.complete(request).await,
            Self::Anthropic(model) => model.complete(request).await,
            Self::Scripted(model) => model.complete(request).await,
        }
    }

    /// What `ai_runs.model` records: `rules`, `openai:gpt-4o-mini`, `anthropic:claude-...`.
    pub fn name(&self) -> String {
        match self {
            Self::Rules(_) => "rules".to_owned(),
            Self::OpenAi(model) => format!("openai:{}", model.model()),
            Self::Anthropic(model) => format!("anthropic:{}", model.model()),
            Self::Scripted(model) => format!("scripted:{}", model.label),
        }
    }

    /// Whether the model runs outside the practice (its input leaves the server).
    pub fn is_external(&self) -> bool {
        !matches!(self, Self::Rules(_) | Self::Scripted(_))
    }
}

/// An external model as `ai_settings` names it: `kind` openai or anthropic, the model's name,
/// an endpoint (the provider's own when `None`), the environment variable with the key.
pub fn external(
    kind: &str,
    name: Option<&str>,
    base_url: Option<&str>,
    api_key_env: Option<&str>,
) -> Result<Model, ModelError> {
    let name = name.ok_or_else(|| ModelError::NotConfigured("no model name".into()))?;
    match kind {
        "openai" => {
            let mut config = OpenAiConfig::openai(name);
            if let Some(url) = base_url {
                config.base_url = url.to_owned();
            }
            if let Some(env) = api_key_env {
                config.api_key_env = Some(env.to_owned());
            }
            OpenAiClient::new(config).map(Model::OpenAi)
        }
        "anthropic" => {
            let mut config = AnthropicConfig::new(name);
            if let Some(url) = base_url {
                config.base_url = url.to_owned();
            }
            if let Some(env) = api_key_env {
                config.api_key_env = env.to_owned();
            }
            AnthropicClient::new(config).map(Model::Anthropic)
        }
        other => Err(ModelError::NotConfigured(format!(
            "unknown model kind {other}"
        ))),
    }
}

/// Fixed replies, answered in turn: the n-th request of a run (counted by the assistant turns
/// already in its messages) gets the n-th reply.
#[derive(Debug, Clone)]
pub struct ScriptedModel {
    pub label: String,
    pub replies: Vec<ModelReply>,
}

impl ScriptedModel {
    pub async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let turn = request
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        self.replies
            .get(turn)
            .or_else(|| self.replies.last())
            .cloned()
            .ok_or_else(|| ModelError::NotConfigured("the script has no replies".to_owned()))
    }
}
