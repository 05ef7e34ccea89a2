//! The loop of one claimed run: context, then model turns calling tools, each persisted as an
//! `ai_steps` row with the whole conversation, until finish, a question, or a limit. Every
//! read and write is made as the run's requester. The model is called outside any
//! transaction; before each write the worker checks it still holds the run's lease (a worker
//! that lost it, e.g. after a long pause, writes nothing).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::caller::act_as;
use super::context::{self, RunFacts};
use super::settings::AiSettings;
use super::tools::{self, Control, ToolContext};
use super::{AiError, Span};
use crate::dictation::{DictationContext, ProposedAction};
use crate::model::rules::{AnswerMessage, CONTEXT_MARKER};
use crate::model::{Message, ModelRequest};

/// A run the worker holds.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub org_id: Uuid,
    pub id: Uuid,
    pub requested_by_user_id: Uuid,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    ReadyToCommit,
    NeedsClarification,
    Failed(String),
    /// Another worker holds the run now, or it left `running`; nothing was written.
    LostLease,
}

const INSTRUCTIONS: &str = "You are the assistant of a behavioral-health practice. A clinician \
dictated what happened in a session. Propose, with the tools, the session's encounter, a note \
draft in the provider's note format, the billing (give the session's facts; the practice's rules \
choose the codes), medication changes, and follow-up appointments that have a time of day. Use \
only the patients of the run context (or find_patient). Each proposal cites the character \
offsets of the dictation it rests on. When something needed is ambiguous, call \
ask_clarification and propose nothing before the answer; after an answer, propose everything \
again. Call finish when done.";

fn system_prompt(context: &Value) -> String {
    format!("{INSTRUCTIONS}{CONTEXT_MARKER}{context}")
}

struct State {
    messages: Vec<Message>,
    step: i32,
    model_steps: i64,
    tokens: i64,
    context: Value,
    input_chars: usize,
    credentials: String,
    time_zone: String,
}

async fn begin_as(
    pool: &PgPool,
    run: &Claimed,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, AiError> {
    let mut tx = pool.begin().await?;
    act_as(&mut tx, run.org_id, run.requested_by_user_id).await?;
    Ok(tx)
}

/// Whether this worker still holds the run; extends the lease when it does.
async fn hold(
    conn: &mut PgConnection,
    run: &Claimed,
    settings: &AiSettings,
) -> Result<bool, AiError> {
    let held: Option<Uuid> = sqlx::query_scalar(
        "update ai_runs set locked_until = now() + make_interval(secs => $3)
          where id = $1 and status = 'running' and lease_owner = $2 returning id",
    )
    .bind(run.id)
    .bind(&settings.worker_id)
    .bind(settings.lease.as_secs_f64())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(held.is_some())
}

#[allow(clippy::too_many_arguments)] // one column each
async fn insert_step(
    conn: &mut PgConnection,
    run: &Claimed,
    step: i32,
    kind: &str,
    tool: Option<&str>,
    messages: &[Message],
    tokens: (i64, i64),
    duration_ms: Option<i64>,
) -> Result<Uuid, AiError> {
    let messages = serde_json::to_value(messages).map_err(|e| AiError::Conflict(e.to_string()))?;
    Ok(sqlx::query_scalar(
        "insert into ai_steps (org_id, run_id, step_number, kind, tool_name, messages, input_tokens,
                               output_tokens, duration_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
    )
    .bind(run.org_id)
    .bind(run.id)
    .bind(step)
    .bind(kind)
    .bind(tool)
    .bind(messages)
    .bind(i32::try_from(tokens.0).unwrap_or(i32::MAX))
    .bind(i32::try_from(tokens.1).unwrap_or(i32::MAX))
    .bind(duration_ms.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
    .fetch_one(&mut *conn)
    .await?)
}

async fn fail(conn: &mut PgConnection, run: &Claimed, reason: &str) -> Result<RunEnd, AiError> {
    sqlx::query(
        "update ai_runs set status = 'failed', error = $2, finished_at = now(), locked_until = null,
                lease_owner = null
          where id = $1",
    )
    .bind(run.id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(RunEnd::Failed(reason.to_owned()))
}

/// Loads (or, on the first execution, builds) the run's conversation. `None`: lost the run.
async fn load(
    conn: &mut PgConnection,
    run: &Claimed,
    settings: &AiSettings,
    model_name: &str,
) -> Result<Option<State>, AiError> {
    let row = sqlx::query(
        "select input_text, provider_id, patient_id, model_context, status::text as status, lease_owner,
                input_tokens + output_tokens as tokens,
                (select o.time_zone from organizations o where o.id = r.org_id) as time_zone,
                (select p.credentials from providers p where p.org_id = r.org_id and p.id = r.provider_id) as credentials
           from ai_runs r where id = $1",
    )
    .bind(run.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status: String = row.try_get("status")?;
    let owner: Option<String> = row.try_get("lease_owner")?;
    if status != "running" || owner.as_deref() != Some(settings.worker_id.as_str()) {
        return Ok(None);
    }
    let input_text: String = row.try_get("input_text")?;
    let last = sqlx::query(
        "select id, step_number, kind, messages from ai_steps where run_id = $1
          order by step_number desc limit 1",
    )
    .bind(run.id)
    .fetch_optional(&mut *conn)
    .await?;
    let model_steps: i64 =
        sqlx::query_scalar("select count(*) from ai_steps where run_id = $1 and kind = 'model'")
            .bind(run.id)
            .fetch_one(&mut *conn)
            .await?;
    let mut state = State {
        messages: Vec::new(),
        step: 0,
        model_steps,
        tokens: row.try_get::<i32, _>("tokens").map(i64::from).unwrap_or(0),
        context: row
            .try_get::<Option<Value>, _>("model_context")?
            .unwrap_or(Value::Null),
        input_chars: input_text.chars().count(),
        credentials: row.try_get("credentials")?,
        time_zone: row.try_get("time_zone")?,
    };
    match last {
        None => {
            let facts = RunFacts {
                input_text: input_text.clone(),
                provider_id: row.try_get("provider_id")?,
                patient_id: row.try_get("patient_id")?,
            };
            let _ = facts.provider_id;
            let built: DictationContext = context::build(conn, &facts, run.id).await?;
            state.context =
                serde_json::to_value(&built).map_err(|e| AiError::Conflict(e.to_string()))?;
            if let Some(object) = state.context.as_object_mut() {
                object.remove("answers");
            }
            sqlx::query("update ai_runs set model_context = $2, model = $3 where id = $1")
                .bind(run.id)
                .bind(&state.context)
                .bind(model_name)
                .execute(&mut *conn)
                .await?;
            state.messages = vec![Message::User {
                content: input_text,
            }];
            state.step = 1;
            insert_step(conn, run, 1, "context", None, &state.messages, (0, 0), None).await?;
        }
        Some(last) => {
            let messages: Value = last.try_get("messages")?;
            state.messages =
                serde_json::from_value(messages).map_err(|e| AiError::Conflict(e.to_string()))?;
            state.step = last.try_get("step_number")?;
            let kind: String = last.try_get("kind")?;
            if kind == "clarification" {
                let step_id: Uuid = last.try_get("id")?;
                let answer = sqlx::query(
                    "select context, answer, answer_option_id from ai_clarifications
                      where run_id = $1 and step_id = $2 and answer is not null",
                )
                .bind(run.id)
                .bind(step_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(answer) = answer else {
                    return Ok(None);
                };
                let context: Value = answer.try_get("context")?;
                let option_id: Option<String> = answer.try_get("answer_option_id")?;
                let text: String = answer.try_get("answer")?;
                let message = json!({"clarification_answer": {
                    "topic": context["topic"],
                    "option_id": option_id,
                    "text": if option_id.is_some() { Value::Null } else { Value::String(text) },
                }});
                // Checked: it is what the rules model reads back.
                let _: AnswerMessage = serde_json::from_value(message.clone())
                    .map_err(|e| AiError::Conflict(e.to_string()))?;
                state.messages.push(Message::User {
                    content: message.to_string(),
                });
                state.step += 1;
                insert_step(
                    conn,
                    run,
                    state.step,
                    "context",
                    None,
                    &state.messages,
                    (0, 0),
                    None,
                )
                .await?;
            }
        }
    }
    Ok(Some(state))
}

/// Executes a claimed run until it needs the clinician, is ready, fails, or is lost.
pub(crate) async fn execute(
    pool: &PgPool,
    settings: &AiSettings,
    run: &Claimed,
) -> Result<RunEnd, AiError> {
    let started = Instant::now();
    let limits = settings.limits;
    let deadline = Duration::from_secs(limits.max_seconds);

    let mut tx = begin_as(pool, run).await?;
    let model = match settings.model_for(&mut tx).await {
        Ok(model) => model,
        Err(reason) => {
            let end = fail(&mut tx, run, &format!("no model: {reason}")).await?;
            tx.commit().await?;
            return Ok(end);
        }
    };
    let model_name = model.name();
    let Some(mut state) = load(&mut tx, run, settings, &model_name).await? else {
        return Ok(RunEnd::LostLease);
    };
    tx.commit().await?;
    let tool_specs = tools::specs();

    loop {
        let mut tx = begin_as(pool, run).await?;
        if !hold(&mut tx, run, settings).await? {
            return Ok(RunEnd::LostLease);
        }
        let limit = if state.model_steps >= i64::from(limits.max_steps) {
            Some(format!(
                "stopped after {} model steps (the limit)",
                limits.max_steps
            ))
        } else if u64::try_from(state.tokens).unwrap_or(0) >= limits.max_tokens {
            Some(format!(
                "stopped after {} tokens (the limit is {})",
                state.tokens, limits.max_tokens
            ))
        } else if started.elapsed() >= deadline {
            Some(format!(
                "stopped after {} seconds (the limit)",
                limits.max_seconds
            ))
        } else {
            None
        };
        if let Some(reason) = limit {
            let end = fail(&mut tx, run, &reason).await?;
            tx.commit().await?;
            return Ok(end);
        }
        tx.commit().await?;

        let request = ModelRequest {
            system: system_prompt(&state.context),
            messages: state.messages.clone(),
            tools: tool_specs.clone(),
            max_tokens: 4096,
        };
        let asked = Instant::now();
        let remaining = deadline.saturating_sub(started.elapsed());
        let reply = tokio::time::timeout(remaining, model.complete(&request)).await;
        let took = asked.elapsed();

        let mut tx = begin_as(pool, run).await?;
        if !hold(&mut tx, run, settings).await? {
            return Ok(RunEnd::LostLease);
        }
        let reply = match reply {
            Err(_) => {
                let reason = format!("stopped after {} seconds (the limit)", limits.max_seconds);
                let end = fail(&mut tx, run, &reason).await?;
                tx.commit().await?;
                return Ok(end);
            }
            Ok(Err(e)) => {
                let end = fail(&mut tx, run, &format!("the model failed: {e}")).await?;
                tx.commit().await?;
                return Ok(end);
            }
            Ok(Ok(reply)) => reply,
        };
        let (input_tokens, output_tokens) = (
            i64::from(reply.usage.input_tokens),
            i64::from(reply.usage.output_tokens),
        );
        state.tokens += input_tokens + output_tokens;
        state.model_steps += 1;
        let cost = settings.cost_usd(
            &model_name,
            u64::from(reply.usage.input_tokens),
            u64::from(reply.usage.output_tokens),
        );
        sqlx::query(
            "update ai_runs set input_tokens = input_tokens + $2, output_tokens = output_tokens + $3,
                    cost_usd = cost_usd + $4::float8::numeric(12, 6)
              where id = $1",
        )
        .bind(run.id)
        .bind(i32::try_from(input_tokens).unwrap_or(i32::MAX))
        .bind(i32::try_from(output_tokens).unwrap_or(i32::MAX))
        .bind(cost)
        .execute(&mut *tx)
        .await?;
        let calls = match &reply.message {
            Message::Assistant { tool_calls, .. } => tool_calls.clone(),
            _ => Vec::new(),
        };
        state.messages.push(reply.message.clone());
        state.step += 1;
        insert_step(
            &mut tx,
            run,
            state.step,
            "model",
            None,
            &state.messages,
            (input_tokens, output_tokens),
            Some(i64::try_from(took.as_millis()).unwrap_or(i64::MAX)),
        )
        .await?;

        let tool_context = ToolContext {
            input_chars: state.input_chars,
            credentials: &state.credentials,
            time_zone: &state.time_zone,
        };
        // A turn without tool calls ends the run as if the model had called finish.
        let mut control = if calls.is_empty() {
            Control::Finish
        } else {
            Control::Continue
        };
        for call in &calls {
            let outcome = tools::run(&mut tx, &tool_context, call).await?;
            state.messages.push(Message::Tool {
                tool_call_id: call.id.clone(),
                content: outcome.content,
                is_error: outcome.is_error,
            });
            state.step += 1;
            insert_step(
                &mut tx,
                run,
                state.step,
                "tool",
                Some(&call.name),
                &state.messages,
                (0, 0),
                None,
            )
            .await?;
            if !matches!(outcome.control, Control::Continue) {
                control = outcome.control;
                break;
            }
        }
        match control {
            Control::Continue => {
                tx.commit().await?;
            }
            Control::Clarify(question) => {
                state.step += 1;
                let step_id = insert_step(
                    &mut tx,
                    run,
                    state.step,
                    "clarification",
                    None,
                    &state.messages,
                    (0, 0),
                    None,
                )
                .await?;
                let evidence: Vec<Span> = question.evidence;
                sqlx::query(
                    "insert into ai_clarifications (org_id, run_id, step_id, question, context, options)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(run.org_id)
                .bind(run.id)
                .bind(step_id)
                .bind(&question.question)
                .bind(json!({"topic": question.topic.code(), "evidence": evidence}))
                .bind(serde_json::to_value(&question.options).unwrap_or_else(|_| json!([])))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "update ai_runs set status = 'needs_clarification', locked_until = null, lease_owner = null
                      where id = $1",
                )
                .bind(run.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RunEnd::NeedsClarification);
            }
            Control::Finish => {
                let proposals = tools::proposals(&state.messages);
                store_proposals(&mut tx, run, &proposals).await?;
                state.step += 1;
                insert_step(
                    &mut tx,
                    run,
                    state.step,
                    "finish",
                    None,
                    &state.messages,
                    (0, 0),
                    None,
                )
                .await?;
                let patient: Option<Uuid> = {
                    let mut ids: Vec<&str> = proposals.iter().map(|p| p.patient_id()).collect();
                    ids.dedup();
                    match ids.as_slice() {
                        [only] => only.parse().ok(),
                        _ => None,
                    }
                };
                sqlx::query(
                    "update ai_runs set status = 'ready_to_commit', finished_at = now(), locked_until = null,
                            lease_owner = null, patient_id = coalesce(patient_id, $2),
                            intent_type = $3::ai_intent_type
                      where id = $1",
                )
                .bind(run.id)
                .bind(patient)
                .bind(intent(&proposals))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RunEnd::ReadyToCommit);
            }
        }
    }
}

fn intent(proposals: &[ProposedAction]) -> &'static str {
    let has = |t: &str| proposals.iter().any(|p| p.action_type() == t);
    if has("create_encounter") {
        "post_session"
    } else if has("create_appointment") {
        "scheduling"
    } else if has("update_medication") {
        "medication_update"
    } else if has("create_note_draft") {
        "note_only"
    } else {
        "general"
    }
}

/// The proposals as `ai_proposed_actions`: a group per patient (in the order the patients
/// first appear), positions in commit order, each note draft and billing depending on its
/// group's encounter.
async fn store_proposals(
    conn: &mut PgConnection,
    run: &Claimed,
    proposals: &[ProposedAction],
) -> Result<(), AiError> {
    let mut groups: BTreeMap<String, i32> = BTreeMap::new();
    let mut order: Vec<(i32, usize, &ProposedAction)> = Vec::new();
    for (index, proposal) in proposals.iter().enumerate() {
        let next = i32::try_from(groups.len()).unwrap_or(i32::MAX) + 1;
        let group = *groups
            .entry(proposal.patient_id().to_owned())
            .or_insert(next);
        order.push((group, index, proposal));
    }
    let rank = |p: &ProposedAction| match p {
        ProposedAction::CreateEncounter(_) => 0,
        ProposedAction::CreateNoteDraft(_) => 1,
        ProposedAction::SuggestBilling(_) => 2,
        ProposedAction::UpdateMedication(_) => 3,
        ProposedAction::CreateAppointment(_) => 4,
    };
    order.sort_by_key(|(group, index, p)| (*group, rank(p), *index));
    let mut encounter_of: BTreeMap<i32, Uuid> = BTreeMap::new();
    for (position, (group, _, proposal)) in order.iter().enumerate() {
        let id = Uuid::new_v4();
        let depends = match proposal {
            ProposedAction::CreateNoteDraft(_) | ProposedAction::SuggestBilling(_) => {
                encounter_of.get(group).copied()
            }
            _ => None,
        };
        if matches!(proposal, ProposedAction::CreateEncounter(_)) {
            encounter_of.entry(*group).or_insert(id);
        }
        let evidence: Vec<Span> = proposal.evidence().iter().map(Span::from).collect();
        sqlx::query(
            "insert into ai_proposed_actions (id, org_id, run_id, action_group, position, action_type,
                                              payload, evidence, depends_on_action_id)
             values ($1, $2, $3, $4, $5, $6::ai_action_type, $7, $8, $9)",
        )
        .bind(id)
        .bind(run.org_id)
        .bind(run.id)
        .bind(group)
        .bind(i32::try_from(position).unwrap_or(i32::MAX) + 1)
        .bind(proposal.action_type())
        .bind(serde_json::to_value(proposal).map_err(|e| AiError::Conflict(e.to_string()))?)
        .bind(serde_json::to_value(&evidence).unwrap_or_else(|_| json!([])))
        .bind(depends)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
