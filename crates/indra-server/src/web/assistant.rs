//! The assistant in the web application: the panel on Today and on a chart where a clinician
//! types or dictates, the run page (live status, the run's question, each proposal beside the
//! words it rests on, accept / reject / edit, commit, the records created), the list of the
//! clinician's runs, and the admin's model choice and costs.
//!
//! Every action goes through the same functions as the API (`crate::ai`), on the caller's
//! transaction; every form carries the session's CSRF token. `/assets/assistant.js` (dictation
//! through the browser's speech recognition, and the run page's live status) is optional: the
//! run page refreshes itself without it, and the Dictate button stays hidden.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, Path};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use indra_ai::runs::{ActionView, Review, RunView, Span};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::ai::{self, CreatedRecord, MonthlyCost, SettingsChange};
use crate::error::ApiError;
use crate::web::chart::words;
use crate::web::error::WebError;
use crate::web::page::{FieldError, Layout, PageTx, Section, render};

/// Pages with the assistant's script: it runs and calls this origin; nothing else loads.
const SCRIPT_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

const SCRIPT: &str = include_str!("../../assets/assistant.js");

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// Lets a page that shows the assistant's panel run its script.
pub fn allow_script(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPT_POLICY),
    );
    response
}

fn render_with_script<T: Template>(status: StatusCode, page: &T) -> Result<Response, WebError> {
    Ok(allow_script(render(status, page)?))
}

/// A piece of the dictation, highlighted when it is evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub marked: bool,
}

/// The dictation cut at the spans' **character** offsets (not bytes: a dictation may hold
/// accents, dashes and emoji), marked inside them. Overlapping or out-of-range spans are
/// clamped and merged.
pub fn highlighted(text: &str, spans: &[Span]) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut marked = vec![false; chars.len()];
    for span in spans {
        let end = span.end.min(chars.len());
        for flag in marked.iter_mut().take(end).skip(span.start) {
            *flag = true;
        }
    }
    let mut pieces: Vec<Piece> = Vec::new();
    for (c, m) in chars.into_iter().zip(marked) {
        match pieces.last_mut() {
            Some(last) if last.marked == m => last.text.push(c),
            _ => pieces.push(Piece {
                text: c.to_string(),
                marked: m,
            }),
        }
    }
    pieces
}

/// The words of each span.
fn quoted(text: &str, spans: &[Span]) -> Vec<String> {
    spans
        .iter()
        .map(|s| {
            text.chars()
                .skip(s.start)
                .take(s.end.saturating_sub(s.start))
                .collect()
        })
        .filter(|q: &String| !q.trim().is_empty())
        .collect()
}

// ---- The panel and the run list --------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct DictationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    input_text: String,
    #[serde(default)]
    patient_id: String,
}

/// `POST /assistant/runs`: queues the dictation and opens its run page.
pub async fn start(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    mut db: PageTx,
    Form(form): Form<DictationForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = match form.patient_id.trim() {
        "" => None,
        id => Some(
            Uuid::parse_str(id).map_err(|_| ApiError::invalid("patient_id", "no such patient"))?,
        ),
    };
    match ai::start_run(&mut db, &form.input_text, patient_id).await {
        Ok(id) => {
            db.commit().await?;
            ai::worker::ensure_started(&state);
            Ok(Redirect::to(&format!("/assistant/runs/{id}")).into_response())
        }
        Err(error) => match FieldError::from_api(&error) {
            Some((status, field_error)) => {
                drop(db);
                Err(WebError::new(match status {
                    StatusCode::CONFLICT => ApiError::conflict(None, field_error.message),
                    _ => ApiError::invalid(&field_error.field, field_error.message),
                }))
            }
            None => Err(error.into()),
        },
    }
}

#[derive(Debug, sqlx::FromRow)]
struct RunLine {
    id: Uuid,
    status: String,
    preview: String,
    patient: Option<String>,
    created: String,
}

#[derive(Template)]
#[template(path = "assistant.html")]
struct AssistantPage {
    layout: Layout,
    may_dictate: bool,
    assistant_patient_id: String,
    runs: Vec<RunLine>,
    is_admin: bool,
    costs: Vec<MonthlyCost>,
}

/// `GET /assistant`: the panel and the caller's recent runs.
pub async fn home(mut db: PageTx) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Assistant).await?;
    let has_provider_record: bool = sqlx::query_scalar("select app.provider_id() is not null")
        .fetch_one(db.conn())
        .await?;
    let runs: Vec<RunLine> = sqlx::query_as(
        "select r.id, replace(r.status::text, '_', ' ') as status, left(r.input_text, 120) as preview,
                p.last_name || ', ' || p.first_name as patient,
                to_char(r.created_at at time zone o.time_zone, 'FMMon FMDD, FMHH12:MI AM') as created
           from ai_runs r
           join organizations o on o.id = r.org_id
           left join patients p on p.org_id = r.org_id and p.id = r.patient_id
          where r.requested_by_user_id = app.user_id()
          order by r.created_at desc, r.id desc
          limit 50",
    )
    .fetch_all(db.conn())
    .await?;
    let is_admin = db.is_admin();
    let costs = ai::costs(&mut db).await?;
    db.commit().await?;
    render_with_script(
        StatusCode::OK,
        &AssistantPage {
            may_dictate: layout.role == "provider" && has_provider_record,
            layout,
            assistant_patient_id: String::new(),
            runs,
            is_admin,
            costs,
        },
    )
}

// ---- The run page ----------------------------------------------------------------------------

/// A line of a proposal's summary.
struct Fact {
    label: String,
    value: String,
}

/// One section of a note draft, as shown and edited.
struct SectionEdit {
    key: String,
    label: String,
    text: String,
}

/// A record a commit created, as a link (or, for a note draft, a button).
struct Created {
    label: String,
    href: String,
    note_draft_id: Option<Uuid>,
}

struct Card {
    id: Uuid,
    title: String,
    patient: String,
    status: String,
    facts: Vec<Fact>,
    sections: Vec<SectionEdit>,
    evidence: Vec<String>,
    /// Which edit form the card offers: note, appointment, encounter or none.
    edit: &'static str,
    date: String,
    time: String,
    minutes: String,
    created: Option<Created>,
}

#[derive(Template)]
#[template(path = "assistant_run.html")]
struct RunPage {
    layout: Layout,
    run: RunView,
    status_label: String,
    working: bool,
    reviewable: bool,
    dictation: Vec<Piece>,
    question_evidence: Vec<String>,
    cards: Vec<Card>,
    created: Vec<Created>,
    undecided: usize,
}

fn title(action_type: &str) -> String {
    match action_type {
        "create_encounter" => "Session (encounter)",
        "create_note_draft" => "Note draft",
        "suggest_billing" => "Billing codes",
        "update_medication" => "Medication change",
        "create_appointment" => "Next appointment",
        other => other,
    }
    .to_owned()
}

/// A JSON value as a clinician reads it.
fn shown(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_owned()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(shown)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        other => Some(other.to_string()),
    }
}

fn fact(facts: &mut Vec<Fact>, label: &str, value: Option<String>) {
    if let Some(value) = value {
        facts.push(Fact {
            label: label.to_owned(),
            value,
        });
    }
}

fn section_label(key: &str) -> String {
    words(key)
}

fn card(run: &RunView, action: &ActionView, patients: &HashMap<String, String>) -> Card {
    let p = action.edited_payload.as_ref().unwrap_or(&action.payload);
    let text = |key: &str| shown(&p[key]);
    let mut facts = Vec::new();
    let mut sections = Vec::new();
    let (mut date, mut time, mut minutes) = (String::new(), String::new(), String::new());
    let edit = match action.action_type.as_str() {
        "create_encounter" => {
            fact(
                &mut facts,
                "Type",
                text("encounter_type").map(|t| words(&t)),
            );
            fact(&mut facts, "Modality", text("modality").map(|t| words(&t)));
            fact(&mut facts, "Date", text("date"));
            fact(&mut facts, "Started", text("start_time"));
            fact(&mut facts, "Minutes", text("duration_minutes"));
            fact(
                &mut facts,
                "Psychotherapy minutes",
                text("psychotherapy_minutes"),
            );
            if p["interactive_complexity"] == Value::Bool(true) {
                fact(&mut facts, "Interactive complexity", Some("yes".into()));
            }
            date = text("date").unwrap_or_default();
            minutes = text("duration_minutes").unwrap_or_default();
            "encounter"
        }
        "create_note_draft" => {
            fact(&mut facts, "Format", text("format"));
            if let Some(map) = p["sections"].as_object() {
                for (key, value) in map {
                    sections.push(SectionEdit {
                        key: key.clone(),
                        label: section_label(key),
                        text: value.as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
            // The format's own order (SOAP reads S, O, A, P), not the alphabet's.
            const ORDER: [&str; 9] = [
                "subjective",
                "objective",
                "data",
                "behavior",
                "intervention",
                "response",
                "assessment",
                "plan",
                "other",
            ];
            sections.sort_by_key(|s| {
                ORDER
                    .iter()
                    .position(|k| *k == s.key.as_str())
                    .unwrap_or(ORDER.len())
            });
            "note"
        }
        "suggest_billing" => {
            for line in p["lines"].as_array().into_iter().flatten() {
                let modifiers = shown(&line["modifiers"])
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                fact(
                    &mut facts,
                    "CPT",
                    Some(format!(
                        "{} × {}{modifiers}{}",
                        shown(&line["cpt"]).unwrap_or_default(),
                        shown(&line["units"]).unwrap_or_default(),
                        shown(&line["why"])
                            .map(|w| format!(" — {w}"))
                            .unwrap_or_default()
                    )),
                );
            }
            fact(&mut facts, "ICD-10", text("icd10"));
            fact(&mut facts, "Place of service", text("place_of_service"));
            fact(&mut facts, "Not billed", text("not_billed"));
            "none"
        }
        "update_medication" => {
            fact(&mut facts, "Change", text("change").map(|t| words(&t)));
            fact(&mut facts, "Medication", text("name"));
            fact(&mut facts, "Dose", text("dose"));
            fact(&mut facts, "Frequency", text("frequency"));
            fact(&mut facts, "Previous dose", text("previous_dose"));
            "none"
        }
        "create_appointment" => {
            let start = text("start").unwrap_or_default();
            let (d, t) = start.split_once('T').unwrap_or((start.as_str(), ""));
            date = d.to_owned();
            time = t.chars().take(5).collect();
            fact(&mut facts, "Date", Some(date.clone()));
            fact(&mut facts, "Time", Some(time.clone()));
            fact(&mut facts, "Minutes", text("duration_minutes"));
            if let Some(r) = p["recurrence"].as_object() {
                let freq = r.get("freq").and_then(shown).unwrap_or_default();
                let count = r
                    .get("count")
                    .and_then(shown)
                    .map(|c| format!(", {c} visits"))
                    .unwrap_or_else(|| ", first visit only (no end said)".into());
                fact(
                    &mut facts,
                    "Repeats",
                    Some(format!("{}{count}", words(&freq.to_lowercase()))),
                );
            }
            minutes = text("duration_minutes").unwrap_or_default();
            "appointment"
        }
        _ => "none",
    };
    let patient_id = p["patient_id"].as_str().unwrap_or_default();
    let created = created_link(run, action);
    Card {
        id: action.id,
        title: title(&action.action_type),
        patient: patients
            .get(patient_id)
            .cloned()
            .unwrap_or_else(|| "Unknown patient".into()),
        status: action.status.clone(),
        facts,
        sections,
        evidence: quoted(&run.input_text, &action.evidence),
        edit,
        date,
        time,
        minutes,
        created,
    }
}

fn created_link(run: &RunView, action: &ActionView) -> Option<Created> {
    let record: CreatedRecord = ai::created_records(run)
        .into_iter()
        .find(|c| c.action_id == action.id)?;
    let label = match record.table.as_str() {
        "encounters" => "The session, on the patient's chart",
        "note_drafts" => "Open as note",
        "billing_claims" => "The draft claim",
        "medications" => "The medication, on the patient's chart",
        "appointments" => "The appointment",
        _ => "The record",
    };
    Some(Created {
        label: label.to_owned(),
        href: record.page,
        note_draft_id: (record.table == "note_drafts").then_some(record.record_id),
    })
}

async fn load_run(
    db: &mut PageTx,
    layout: Layout,
    id: &str,
) -> Result<(Layout, RunView), WebError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    match indra_ai::runs::get_run(db.conn(), id).await {
        Ok(run) => Ok((layout, run)),
        Err(indra_ai::runs::AiError::NotFound) => Err(WebError::not_found().with_layout(layout)),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

/// `GET /assistant/runs/{id}`.
pub async fn run_page(mut db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Assistant).await?;
    let (layout, run) = load_run(&mut db, layout, &id).await?;
    let patient_ids: Vec<Uuid> = run
        .actions
        .iter()
        .filter_map(|a| a.payload["patient_id"].as_str()?.parse().ok())
        .collect();
    let patients: HashMap<String, String> = sqlx::query_as::<_, (Uuid, String)>(
        "select id, first_name || ' ' || last_name from patients where id = any($1)",
    )
    .bind(&patient_ids)
    .fetch_all(db.conn())
    .await?
    .into_iter()
    .map(|(id, name)| (id.to_string(), name))
    .collect();
    db.commit().await?;

    let mut all: Vec<Span> = run
        .actions
        .iter()
        .flat_map(|a| a.evidence.clone())
        .collect();
    if let Some(q) = &run.clarification {
        all.extend(q.evidence.iter().copied());
    }
    let cards: Vec<Card> = run
        .actions
        .iter()
        .map(|a| card(&run, a, &patients))
        .collect();
    let created = cards
        .iter()
        .filter_map(|c| {
            c.created.as_ref().map(|l| Created {
                label: format!("{} — {}", l.label, c.patient),
                href: l.href.clone(),
                note_draft_id: l.note_draft_id,
            })
        })
        .collect();
    let page = RunPage {
        status_label: words(&run.status),
        working: matches!(run.status.as_str(), "pending" | "running"),
        reviewable: run.status == "ready_to_commit",
        dictation: highlighted(&run.input_text, &all),
        question_evidence: run
            .clarification
            .as_ref()
            .map(|q| quoted(&run.input_text, &q.evidence))
            .unwrap_or_default(),
        undecided: run
            .actions
            .iter()
            .filter(|a| a.status == "proposed")
            .count(),
        cards,
        created,
        layout,
        run,
    };
    render_with_script(StatusCode::OK, &page)
}

/// `GET /assistant/runs/{id}/status`: what the run page's script polls.
pub async fn run_status(mut db: PageTx, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    let status: Option<String> =
        sqlx::query_scalar("select status::text from ai_runs where id = $1")
            .bind(id)
            .fetch_optional(db.conn())
            .await?;
    db.commit().await?;
    let status = status.ok_or_else(WebError::not_found)?;
    Ok(axum::Json(serde_json::json!({ "status": status })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf_token: String,
    option_id: Option<String>,
    text: Option<String>,
}

/// `POST /assistant/runs/{id}/clarification`.
pub async fn answer(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    mut db: PageTx,
    Path(id): Path<Uuid>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let answer = indra_ai::runs::ClarificationAnswer {
        option_id: form.option_id.filter(|o| !o.trim().is_empty()),
        text: form.text,
    };
    indra_ai::runs::answer_clarification(db.conn(), id, &answer)
        .await
        .map_err(ApiError::from)?;
    db.commit().await?;
    ai::worker::ensure_started(&state);
    Ok(Redirect::to(&format!("/assistant/runs/{id}")).into_response())
}

/// `POST /assistant/actions/{id}/review`: accept, reject, or edit (the note's sections, the
/// appointment's day and time, the session's minutes).
pub async fn review(
    mut db: PageTx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    db.require_csrf(field("csrf_token"))?;
    let review = match field("decision") {
        "accept" => Review::Accept,
        "reject" => Review::Reject,
        "edit" => {
            let action = action_of(&mut db, id).await?;
            Review::Edit(edited(&action, &form)?)
        }
        _ => return Err(ApiError::invalid("decision", "one of accept, reject or edit").into()),
    };
    let (run_id, _) = ai::review(&mut db, id, review).await?;
    db.commit().await?;
    Ok(Redirect::to(&format!("/assistant/runs/{run_id}#action-{id}")).into_response())
}

async fn action_of(db: &mut PageTx, id: Uuid) -> Result<ActionView, WebError> {
    let run_id: Uuid = sqlx::query_scalar("select run_id from ai_proposed_actions where id = $1")
        .bind(id)
        .fetch_optional(db.conn())
        .await?
        .ok_or_else(WebError::not_found)?;
    indra_ai::runs::get_run(db.conn(), run_id)
        .await
        .map_err(ApiError::from)?
        .actions
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(WebError::not_found)
}

/// The proposal with the form's corrections.
fn edited(action: &ActionView, form: &HashMap<String, String>) -> Result<Value, ApiError> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let mut payload = action
        .edited_payload
        .clone()
        .unwrap_or_else(|| action.payload.clone());
    let minutes = |payload: &mut Value| -> Result<(), ApiError> {
        if field("minutes").is_empty() {
            return Ok(());
        }
        let minutes: u32 = field("minutes")
            .parse()
            .ok()
            .filter(|m| (1..=600).contains(m))
            .ok_or_else(|| ApiError::invalid("minutes", "a number of minutes, 1 to 600"))?;
        payload["duration_minutes"] = minutes.into();
        Ok(())
    };
    let date = || -> Result<String, ApiError> {
        let text = field("date");
        time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(|_| text.to_owned())
        .map_err(|_| ApiError::invalid("date", "a date (YYYY-MM-DD)"))
    };
    match action.action_type.as_str() {
        "create_note_draft" => {
            let mut sections: BTreeMap<String, Value> = payload["sections"]
                .as_object()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default();
            for (key, value) in sections.iter_mut() {
                if let Some(text) = form.get(&format!("section_{key}")) {
                    *value = Value::String(text.replace("\r\n", "\n"));
                }
            }
            payload["sections"] = serde_json::to_value(sections).unwrap_or_default();
        }
        "create_appointment" => {
            let time = field("time");
            time::Time::parse(time, time::macros::format_description!("[hour]:[minute]"))
                .map_err(|_| ApiError::invalid("time", "a time (HH:MM)"))?;
            payload["start"] = Value::String(format!("{}T{time}:00", date()?));
            // The instant follows from the new local time when committed.
            payload["starts_at"] = Value::Null;
            minutes(&mut payload)?;
        }
        "create_encounter" => {
            payload["date"] = Value::String(date()?);
            minutes(&mut payload)?;
        }
        _ => {}
    }
    Ok(payload)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /assistant/runs/{id}/commit`: a failed commit shows its reason on the run page.
pub async fn commit(
    db: PageTx,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let (tx, _) = db.into_api();
    match ai::commit(tx, id).await {
        Ok(_) | Err(ApiError::Conflict { .. }) => {
            Ok(Redirect::to(&format!("/assistant/runs/{id}")).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /assistant/note-drafts/{id}/accept`: "Open as note" lands on the note editor.
pub async fn open_as_note(
    mut db: PageTx,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let note_id = ai::accept_draft(&mut db, id).await?;
    db.commit().await?;
    Ok(Redirect::to(&format!("/notes/{note_id}")).into_response())
}

// ---- The admin's page ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "assistant_admin.html")]
struct AdminPage {
    layout: Layout,
    settings: ai::AssistantSettings,
    costs: Vec<MonthlyCost>,
    error: Option<FieldError>,
    saved: bool,
}

impl AdminPage {
    fn text<'a>(&self, value: &'a Option<String>) -> &'a str {
        value.as_deref().unwrap_or_default()
    }
}

async fn admin_page(
    mut db: PageTx,
    status: StatusCode,
    error: Option<FieldError>,
    typed: Option<SettingsChange>,
    saved: bool,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Assistant).await?;
    if !db.is_admin() {
        return Err(layout.forbidden("Only an admin chooses the assistant's model."));
    }
    let mut settings = ai::load_settings(&mut db).await?;
    let costs = ai::costs(&mut db).await?;
    db.commit().await?;
    if let Some(typed) = typed {
        settings.model_kind = typed.model_kind;
        settings.model_name = typed.model_name;
        settings.base_url = typed.base_url;
        settings.api_key_env = typed.api_key_env;
        settings.external_allowed = typed.external_allowed;
    }
    render(
        status,
        &AdminPage {
            layout,
            settings,
            costs,
            error,
            saved,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `GET /admin/assistant`.
pub async fn admin(
    db: PageTx,
    axum::extract::Query(query): axum::extract::Query<SavedQuery>,
) -> Result<Response, WebError> {
    admin_page(db, StatusCode::OK, None, None, query.saved.is_some()).await
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    model_kind: String,
    #[serde(default)]
    model_name: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    api_key_env: String,
    external_allowed: Option<String>,
}

/// `POST /admin/assistant`.
pub async fn save_admin(db: PageTx, Form(form): Form<SettingsForm>) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let some = |t: &str| Some(t.to_owned()).filter(|t| !t.trim().is_empty());
    let change = SettingsChange {
        model_kind: form.model_kind.clone(),
        model_name: some(&form.model_name),
        base_url: some(&form.base_url),
        api_key_env: some(&form.api_key_env),
        external_allowed: form.external_allowed.is_some(),
    };
    let (tx, reopen) = db.into_api();
    let mut tx = tx;
    match ai::save_settings(&mut tx, &change).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to("/admin/assistant?saved=1").into_response())
        }
        Err(error) => {
            drop(tx);
            match FieldError::from_api(&error) {
                Some((status, field_error)) => {
                    admin_page(
                        reopen.open().await?,
                        status,
                        Some(field_error),
                        Some(change),
                        false,
                    )
                    .await
                }
                None => Err(error.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_cut_at_characters_not_bytes() {
        let text = "Séance — Zoë, 50 min 🙂 ok";
        let pieces = highlighted(
            text,
            &[Span { start: 9, end: 12 }, Span { start: 21, end: 22 }],
        );
        let marked: Vec<&str> = pieces
            .iter()
            .filter(|p| p.marked)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(marked, ["Zoë", "🙂"]);
        let whole: String = pieces.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(whole, text);
    }

    #[test]
    fn spans_out_of_range_or_overlapping_are_clamped_and_merged() {
        let pieces = highlighted(
            "abcdef",
            &[Span { start: 1, end: 3 }, Span { start: 2, end: 99 }],
        );
        assert_eq!(
            pieces,
            [
                Piece {
                    text: "a".into(),
                    marked: false
                },
                Piece {
                    text: "bcdef".into(),
                    marked: true
                }
            ]
        );
        assert_eq!(
            quoted("héllo wörld", &[Span { start: 6, end: 11 }]),
            ["wörld"]
        );
    }
}
