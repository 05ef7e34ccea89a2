//! The embedded `rules` model: the conversation in, tool calls out, decided by
//! [`dictation::interpret`](crate::dictation::interpret). No network, no clock, no randomness:
//! the same conversation always gets the same reply, so a resumed run continues exactly.
//!
//! What it reads from the request (the run loop writes it so):
//! - the run's context ([`DictationContext`] without answers) as JSON after [`CONTEXT_MARKER`]
//!   at the end of the system prompt;
//! - the dictation as the first user message;
//! - each clarification answer as a later user message, the JSON [`AnswerMessage`].
//!
//! It answers a fresh user message with either one `ask_clarification` call, or every
//! `propose_*` call followed by `finish`, in one turn; after that turn (tool results in) it
//! calls `finish` alone.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Message, ModelError, ModelReply, ModelRequest, StopReason, TokenUsage, ToolCall};
use crate::dictation::{
    ClarificationAnswer, DictationContext, Interpretation, ProposedAction, interpret,
};

/// Ends the system prompt's instructions; the context's JSON follows it.
pub const CONTEXT_MARKER: &str = "\n\nRUN CONTEXT (JSON):\n";

/// The user message that carries a clarification's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerMessage {
    pub clarification_answer: ClarificationAnswer,
}

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulesModel;

impl RulesModel {
    pub async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        self.reply(request)
    }

    /// The reply, synchronously (the model does no I/O).
    pub fn reply(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let context_json = request
            .system
            .rsplit_once(CONTEXT_MARKER)
            .map(|(_, json)| json)
            .ok_or_else(|| ModelError::Protocol("the system prompt holds no run context".into()))?;
        let mut context: DictationContext = serde_json::from_str(context_json)
            .map_err(|e| ModelError::Protocol(format!("the run context: {e}")))?;

        let mut input: Option<&str> = None;
        let mut answered_since_last_turn = true;
        for message in &request.messages {
            match message {
                Message::User { content } => {
                    answered_since_last_turn = true;
                    if input.is_none() {
                        input = Some(content);
                    } else if let Ok(answer) = serde_json::from_str::<AnswerMessage>(content) {
                        context.answers.push(answer.clarification_answer);
                    }
                }
                Message::Assistant { .. } => answered_since_last_turn = false,
                Message::Tool { .. } => {}
            }
        }
        let input = input.ok_or_else(|| ModelError::Protocol("no dictation".into()))?;
        let turn = request
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        if !answered_since_last_turn {
            return Ok(reply(turn, vec![("finish", json!({}))]));
        }

        let calls = match interpret(input, &context) {
            Interpretation::NeedsClarification(question) => vec![(
                "ask_clarification",
                json!({
                    "topic": question.topic,
                    "question": question.question,
                    "options": question.options,
                    "evidence": question.evidence,
                }),
            )],
            Interpretation::Proposals { actions } => {
                let mut calls: Vec<(&str, Value)> = actions
                    .iter()
                    .filter_map(|action| tool_call_for(action, &actions))
                    .collect();
                calls.push(("finish", json!({})));
                calls
            }
        };
        Ok(reply(turn, calls))
    }
}

fn reply(turn: usize, calls: Vec<(&str, Value)>) -> ModelReply {
    ModelReply {
        message: Message::Assistant {
            content: None,
            tool_calls: calls
                .into_iter()
                .enumerate()
                .map(|(n, (name, arguments))| ToolCall {
                    id: format!("rules_{turn}_{n}"),
                    name: name.to_owned(),
                    arguments,
                })
                .collect(),
        },
        usage: TokenUsage::default(),
        stop: StopReason::ToolUse,
    }
}

/// The tool call proposing `action`. Billing goes as the session's facts (the tool turns them
/// into codes with the billing rules), taken from the same patient's encounter.
fn tool_call_for(action: &ProposedAction, all: &[ProposedAction]) -> Option<(&'static str, Value)> {
    Some(match action {
        ProposedAction::CreateEncounter(p) => ("propose_encounter", json_of(p)),
        ProposedAction::CreateNoteDraft(p) => ("propose_note_draft", json_of(p)),
        ProposedAction::UpdateMedication(p) => ("propose_medication_change", json_of(p)),
        ProposedAction::CreateAppointment(p) => ("propose_appointment", json_of(p)),
        ProposedAction::SuggestBilling(billing) => {
            let encounter = all.iter().find_map(|a| match a {
                ProposedAction::CreateEncounter(e) if e.patient_id == billing.patient_id => Some(e),
                _ => None,
            })?;
            let has = |codes: &[&str]| {
                billing
                    .lines
                    .iter()
                    .any(|l| codes.contains(&l.cpt.as_str()))
            };
            (
                "propose_billing",
                json!({
                    "patient_id": billing.patient_id,
                    "encounter_type": encounter.encounter_type,
                    "modality": encounter.modality,
                    "total_minutes": encounter.duration_minutes,
                    "psychotherapy_minutes": encounter.psychotherapy_minutes,
                    "interactive_complexity": encounter.interactive_complexity,
                    "patient_present": encounter.patient_present,
                    "new_patient": has(&["99202", "99203", "99204", "99205"]),
                    "with_medical_services": has(&["90792"]),
                    "icd10": billing.icd10,
                    "evidence": billing.evidence,
                }),
            )
        }
    })
}

fn json_of<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
