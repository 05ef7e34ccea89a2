//! The tools a model may call, and what calling them does. They run as the run's requester:
//! a patient the requester cannot see (another organization's) is not found, whatever id the
//! model names. Proposing writes nothing but the tool's answer: the run's proposals are
//! gathered from the conversation when the model finishes.

use indra_rules::billing::code_suggestion::{
    PatientStatus, SessionFacts, is_prescriber, suggest_codes,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::dictation::{
    BillingLine, BillingProposal, ClarificationOption, ClarificationTopic, EncounterKind, Modality,
    ProposedAction,
};
use crate::model::{Message, ToolCall, ToolSpec};

use super::Span;

/// What the loop does after a tool call.
pub(crate) enum Control {
    Continue,
    Clarify(Question),
    Finish,
}

/// A question the model asks.
pub(crate) struct Question {
    pub topic: ClarificationTopic,
    pub question: String,
    pub options: Vec<ClarificationOption>,
    pub evidence: Vec<Span>,
}

/// What a tool returns to the model.
pub(crate) struct Outcome {
    pub content: String,
    pub is_error: bool,
    pub control: Control,
}

impl Outcome {
    fn ok(content: Value) -> Self {
        Outcome {
            content: content.to_string(),
            is_error: false,
            control: Control::Continue,
        }
    }

    fn error(message: impl Into<String>) -> Self {
        Outcome {
            content: json!({"error": message.into()}).to_string(),
            is_error: true,
            control: Control::Continue,
        }
    }
}

/// What the tools know of the run.
pub(crate) struct ToolContext<'a> {
    pub input_chars: usize,
    pub credentials: &'a str,
    pub time_zone: &'a str,
}

pub(crate) fn specs() -> Vec<ToolSpec> {
    let span = json!({"type": "object", "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
                      "required": ["start", "end"]});
    let evidence = json!({"type": "array", "items": span,
                          "description": "Character offsets (half-open) of the dictation the action rests on."});
    let tool = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    };
    vec![
        tool(
            "find_patient",
            "Search the practice's patients by name words.",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        ),
        tool(
            "read_chart",
            "A patient's active diagnoses, medications and upcoming appointments.",
            json!({"type": "object", "properties": {"patient_id": {"type": "string"}}, "required": ["patient_id"]}),
        ),
        tool(
            "propose_encounter",
            "Propose recording the session held.",
            json!({"type": "object", "properties": {
                 "patient_id": {"type": "string"},
                 "encounter_type": {"enum": ["individual_therapy", "group_therapy", "family_therapy", "intake", "crisis", "telehealth", "medication_management"]},
                 "modality": {"enum": ["in_person", "video", "audio_only"]},
                 "date": {"type": "string", "description": "YYYY-MM-DD, local"},
                 "start_time": {"type": ["string", "null"], "description": "HH:MM:SS, local"},
                 "duration_minutes": {"type": "integer"},
                 "psychotherapy_minutes": {"type": ["integer", "null"]},
                 "interactive_complexity": {"type": "boolean"},
                 "patient_present": {"type": "boolean"},
                 "evidence": evidence},
                 "required": ["patient_id", "encounter_type", "modality", "date", "duration_minutes", "interactive_complexity", "patient_present", "evidence"]}),
        ),
        tool(
            "propose_note_draft",
            "Propose a note draft in the provider's format, one text per section.",
            json!({"type": "object", "properties": {
                 "patient_id": {"type": "string"}, "format": {"enum": ["SOAP", "DAP", "BIRP"]},
                 "sections": {"type": "object", "additionalProperties": {"type": "string"}},
                 "evidence": evidence},
                 "required": ["patient_id", "format", "sections", "evidence"]}),
        ),
        tool(
            "propose_billing",
            "Propose billing for the session: give its facts; the practice's billing rules choose the codes. ICD-10 codes must be ICD-10-CM codes.",
            json!({"type": "object", "properties": {
                 "patient_id": {"type": "string"},
                 "encounter_type": {"enum": ["individual_therapy", "group_therapy", "family_therapy", "intake", "crisis", "telehealth", "medication_management"]},
                 "modality": {"enum": ["in_person", "video", "audio_only"]},
                 "total_minutes": {"type": "integer"},
                 "psychotherapy_minutes": {"type": ["integer", "null"]},
                 "interactive_complexity": {"type": "boolean"},
                 "patient_present": {"type": "boolean"},
                 "new_patient": {"type": "boolean"},
                 "with_medical_services": {"type": ["boolean", "null"]},
                 "icd10": {"type": "array", "items": {"type": "string"}},
                 "evidence": evidence},
                 "required": ["patient_id", "encounter_type", "modality", "total_minutes", "icd10", "evidence"]}),
        ),
        tool(
            "propose_medication_change",
            "Propose starting, changing or discontinuing a medication.",
            json!({"type": "object", "properties": {
                 "patient_id": {"type": "string"}, "change": {"enum": ["started", "changed", "discontinued"]},
                 "name": {"type": "string"}, "dose": {"type": ["string", "null"]},
                 "frequency": {"type": ["string", "null"]}, "previous_dose": {"type": ["string", "null"]},
                 "evidence": evidence},
                 "required": ["patient_id", "change", "name", "evidence"]}),
        ),
        tool(
            "propose_appointment",
            "Propose booking a visit (only when a time of day was given).",
            json!({"type": "object", "properties": {
                 "patient_id": {"type": "string"},
                 "start": {"type": "string", "description": "YYYY-MM-DDTHH:MM:SS, local"},
                 "duration_minutes": {"type": "integer"},
                 "recurrence": {"type": ["object", "null"], "properties": {
                     "freq": {"enum": ["WEEKLY", "MONTHLY"]}, "interval": {"type": "integer"}, "count": {"type": ["integer", "null"]}}},
                 "evidence": evidence},
                 "required": ["patient_id", "start", "duration_minutes", "evidence"]}),
        ),
        tool(
            "ask_clarification",
            "Ask the clinician one question when the dictation is ambiguous; propose nothing before the answer.",
            json!({"type": "object", "properties": {
                 "topic": {"enum": ["patient", "duration", "date_time", "encounter_type", "medication"]},
                 "question": {"type": "string"},
                 "options": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "label": {"type": "string"}}}},
                 "evidence": evidence},
                 "required": ["topic", "question"]}),
        ),
        tool(
            "finish",
            "Every action is proposed.",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

/// The proposals of the model's last round: those after the latest user message (after an
/// answer the model proposes everything again).
pub(crate) fn proposals(messages: &[Message]) -> Vec<ProposedAction> {
    let start = messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .map_or(0, |i| i + 1);
    messages[start..]
        .iter()
        .filter_map(|m| match m {
            Message::Tool {
                content,
                is_error: false,
                ..
            } => serde_json::from_str::<Value>(content)
                .ok()
                .and_then(|v| serde_json::from_value(v.get("proposal")?.clone()).ok()),
            _ => None,
        })
        .collect()
}

/// Runs one tool call as the requester.
pub(crate) async fn run(
    conn: &mut PgConnection,
    context: &ToolContext<'_>,
    call: &ToolCall,
) -> Result<Outcome, sqlx::Error> {
    let args = &call.arguments;
    match call.name.as_str() {
        "finish" => Ok(Outcome {
            content: json!({"ok": true}).to_string(),
            is_error: false,
            control: Control::Finish,
        }),
        "ask_clarification" => Ok(ask(context, args)),
        "find_patient" => {
            let words: Vec<String> = args["name"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(super::context::fold)
                .filter(|w| w.chars().count() >= 2)
                .take(3)
                .collect();
            if words.is_empty() {
                return Ok(Outcome::error("give a name to search for"));
            }
            let rows = sqlx::query(
                "select id, first_name, last_name, preferred_name, to_char(date_of_birth, 'YYYY-MM-DD') as dob
                   from app.search_patients($1, null, '', 10)",
            )
            .bind(&words)
            .fetch_all(&mut *conn)
            .await?;
            let found: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.try_get::<Uuid, _>("id").ok(),
                        "first_name": r.try_get::<String, _>("first_name").ok(),
                        "last_name": r.try_get::<String, _>("last_name").ok(),
                        "preferred_name": r.try_get::<Option<String>, _>("preferred_name").ok().flatten(),
                        "date_of_birth": r.try_get::<Option<String>, _>("dob").ok().flatten(),
                    })
                })
                .collect();
            Ok(Outcome::ok(json!({ "patients": found })))
        }
        "read_chart" => {
            let Some(id) = visible_patient(conn, args).await? else {
                return Ok(Outcome::error("no such patient in this practice"));
            };
            // The run id is not needed for the chart's appointments beyond "from now".
            let chart = chart(conn, id).await?;
            Ok(Outcome::ok(chart))
        }
        "propose_encounter"
        | "propose_note_draft"
        | "propose_medication_change"
        | "propose_appointment"
        | "propose_billing" => {
            if visible_patient(conn, args).await?.is_none() {
                return Ok(Outcome::error("no such patient in this practice"));
            }
            let proposal = match call.name.as_str() {
                "propose_billing" => billing(conn, context, args).await?,
                name => typed(name, args, context),
            };
            Ok(match proposal {
                Ok(action) => Outcome::ok(json!({ "proposal": action })),
                Err(message) => Outcome::error(message),
            })
        }
        other => Ok(Outcome::error(format!("there is no tool named {other}"))),
    }
}

/// The patient the arguments name, if the requester can see them.
async fn visible_patient(
    conn: &mut PgConnection,
    args: &Value,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(id) = args["patient_id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
    else {
        return Ok(None);
    };
    sqlx::query_scalar("select id from patients where id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
}

async fn chart(conn: &mut PgConnection, id: Uuid) -> Result<Value, sqlx::Error> {
    let diagnoses: Vec<(String, bool)> = sqlx::query_as(
        "select icd10_code, is_primary from patient_diagnoses where patient_id = $1 and status = 'active'
          order by is_primary desc, diagnosed_on",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let medications: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "select name, dose, frequency from medications where patient_id = $1 and status = 'active' order by name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let appointments: Vec<(String, i32)> = sqlx::query_as(
        "select to_char(a.starts_at at time zone o.time_zone, 'YYYY-MM-DD\"T\"HH24:MI'),
                (extract(epoch from a.ends_at - a.starts_at) / 60)::integer
           from appointments a join organizations o on o.id = a.org_id
          where a.patient_id = $1 and a.status = 'scheduled' and a.starts_at >= now()
          order by a.starts_at limit 5",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(json!({
        "diagnoses": diagnoses.iter().map(|(c, p)| json!({"code": c, "primary": p})).collect::<Vec<_>>(),
        "medications": medications.iter().map(|(n, d, f)| json!({"name": n, "dose": d, "frequency": f})).collect::<Vec<_>>(),
        "upcoming_appointments": appointments.iter().map(|(s, m)| json!({"start": s, "duration_minutes": m})).collect::<Vec<_>>(),
    }))
}

fn clip(evidence: &[std::ops::Range<usize>], chars: usize) -> Vec<std::ops::Range<usize>> {
    evidence
        .iter()
        .map(|r| r.start.min(chars)..r.end.min(chars))
        .filter(|r| r.start < r.end)
        .collect()
}

/// Encounters, note drafts, medication changes and appointments: the model's arguments are
/// the proposal itself.
fn typed(name: &str, args: &Value, context: &ToolContext<'_>) -> Result<ProposedAction, String> {
    let tag = match name {
        "propose_encounter" => "create_encounter",
        "propose_note_draft" => "create_note_draft",
        "propose_medication_change" => "update_medication",
        _ => "create_appointment",
    };
    let mut tagged = args.clone();
    if let Some(object) = tagged.as_object_mut() {
        object.insert("type".to_owned(), Value::String(tag.to_owned()));
        object.entry("evidence").or_insert_with(|| json!([]));
        if tag == "create_appointment" {
            object.entry("starts_at").or_insert(Value::Null);
            object.entry("recurrence").or_insert(Value::Null);
        }
    }
    let mut action: ProposedAction =
        serde_json::from_value(tagged).map_err(|e| format!("the arguments do not fit: {e}"))?;
    let chars = context.input_chars;
    match &mut action {
        ProposedAction::CreateEncounter(p) => {
            if p.duration_minutes == 0 || p.duration_minutes > 720 {
                return Err("duration_minutes must be 1-720".into());
            }
            p.evidence = clip(&p.evidence, chars);
        }
        ProposedAction::CreateNoteDraft(p) => {
            let format: indra_rules::clinical::note_format::NoteFormat =
                p.format.parse().map_err(|e| format!("format: {e}"))?;
            let _ = format;
            p.evidence = clip(&p.evidence, chars);
        }
        ProposedAction::UpdateMedication(p) => {
            if p.name.trim().is_empty() {
                return Err("name the medication".into());
            }
            p.evidence = clip(&p.evidence, chars);
        }
        ProposedAction::CreateAppointment(p) => {
            if p.duration_minutes == 0 || p.duration_minutes > 720 {
                return Err("duration_minutes must be 1-720".into());
            }
            let zone = jiff::tz::TimeZone::get(context.time_zone).map_err(|e| e.to_string())?;
            p.starts_at = zone.to_timestamp(p.start).ok();
            p.evidence = clip(&p.evidence, chars);
        }
        ProposedAction::SuggestBilling(_) => {}
    }
    Ok(action)
}

#[derive(Deserialize)]
struct BillingFacts {
    patient_id: String,
    encounter_type: EncounterKind,
    modality: Modality,
    total_minutes: u32,
    #[serde(default)]
    psychotherapy_minutes: Option<u32>,
    #[serde(default)]
    interactive_complexity: bool,
    #[serde(default = "yes")]
    patient_present: bool,
    #[serde(default)]
    new_patient: bool,
    #[serde(default)]
    with_medical_services: Option<bool>,
    #[serde(default)]
    icd10: Vec<String>,
    #[serde(default)]
    evidence: Vec<std::ops::Range<usize>>,
}

fn yes() -> bool {
    true
}

/// Codes from the billing rules, never from the model; ICD-10 codes kept only when they are
/// billable ICD-10-CM codes of the reference table.
async fn billing(
    conn: &mut PgConnection,
    context: &ToolContext<'_>,
    args: &Value,
) -> Result<Result<ProposedAction, String>, sqlx::Error> {
    let facts: BillingFacts = match serde_json::from_value(args.clone()) {
        Ok(f) => f,
        Err(e) => return Ok(Err(format!("the arguments do not fit: {e}"))),
    };
    let with_medical_services = facts
        .with_medical_services
        .unwrap_or_else(|| is_prescriber(context.credentials));
    let suggestion = suggest_codes(&SessionFacts {
        encounter_type: facts.encounter_type.for_billing(),
        modality: facts.modality.for_billing(),
        total_minutes: facts.total_minutes,
        psychotherapy_minutes: facts.psychotherapy_minutes,
        patient_status: if facts.new_patient {
            PatientStatus::New
        } else {
            PatientStatus::Established
        },
        interactive_complexity: facts.interactive_complexity,
        patient_present: facts.patient_present,
        with_medical_services,
    });
    if suggestion.lines.is_empty() {
        return Ok(Err(format!(
            "nothing to bill: {}",
            suggestion.not_billed.join("; ")
        )));
    }
    let requested: Vec<String> = facts
        .icd10
        .iter()
        .map(|c| c.trim().to_uppercase())
        .collect();
    let known: Vec<String> =
        sqlx::query_scalar("select code from icd10_codes where code = any ($1) and is_billable")
            .bind(&requested)
            .fetch_all(&mut *conn)
            .await?;
    let mut not_billed = suggestion.not_billed;
    let mut icd10 = Vec::new();
    for code in requested {
        if known.contains(&code) {
            if !icd10.contains(&code) {
                icd10.push(code);
            }
        } else {
            not_billed.push(format!("{code} is not a billable ICD-10-CM code; left out"));
        }
    }
    Ok(Ok(ProposedAction::SuggestBilling(BillingProposal {
        patient_id: facts.patient_id,
        lines: suggestion
            .lines
            .into_iter()
            .map(|l| BillingLine {
                cpt: l.cpt_code.to_owned(),
                units: l.units,
                modifiers: l.modifiers.into_iter().map(str::to_owned).collect(),
                why: l.why,
            })
            .collect(),
        icd10,
        place_of_service: suggestion.place_of_service.code.to_owned(),
        not_billed,
        evidence: clip(&facts.evidence, context.input_chars),
    })))
}

fn ask(context: &ToolContext<'_>, args: &Value) -> Outcome {
    let topic: Option<ClarificationTopic> = serde_json::from_value(args["topic"].clone()).ok();
    let question = args["question"].as_str().unwrap_or_default().trim();
    let (Some(topic), false) = (topic, question.is_empty()) else {
        return Outcome::error("a clarification needs a topic and a question");
    };
    let options: Vec<ClarificationOption> =
        serde_json::from_value(args["options"].clone()).unwrap_or_default();
    let evidence: Vec<std::ops::Range<usize>> =
        serde_json::from_value(args["evidence"].clone()).unwrap_or_default();
    Outcome {
        content: json!({"asked": true}).to_string(),
        is_error: false,
        control: Control::Clarify(Question {
            topic,
            question: question.chars().take(2000).collect(),
            options,
            evidence: clip(&evidence, context.input_chars)
                .iter()
                .map(Span::from)
                .collect(),
        }),
    }
}
