//! The note editor: `/notes/{id}` shows a version of a note in its format's sections, with its
//! signatures; its author edits a draft there (saved with the version's ETag, and autosaved by
//! `/assets/note-autosave.js` through the JSON API) and signs it; a signed note is amended or
//! gets an addendum; a supervisor cosigns. `/notes/{id}/history` lists every version with what
//! changed and whether the record is intact. Every change goes through the notes API's own
//! handlers, so the pages follow the same rules (row-level security decides who may do what;
//! billing and the front desk get the 404 page).

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::etag::etag_of;
use crate::api::extract;
use crate::api::idempotency::IDEMPOTENCY_HEADER;
use crate::clinical::notes::drafts::{NewNote, NoteChange, create_note, update_draft};
use crate::clinical::notes::signing::{cosign, sign};
use crate::clinical::notes::versions::{
    Addendum, Amendment, NoteHistory, NoteVerification, add_addendum, amend, history, verification,
};
use crate::clinical::notes::{ChangeKind, Note, NoteStatus, SignatureType, fetch_note};
use crate::clinical::scheduling::appointments::practice_zone;
use crate::error::ApiError;
use crate::platform::providers::NoteFormatCode;
use crate::state::AppState;
use crate::web::chart::words;
use crate::web::error::WebError;
use crate::web::page::{
    Choice, FieldError, Layout, PageTx, Section, api_body, capitalized, clock, created_id,
    day_label, filled, render,
};

/// The note pages run the autosave script and let it call the API; nothing else loads.
const NOTE_PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The autosave script, compiled into the binary.
const AUTOSAVE_SCRIPT: &str = include_str!("../../assets/note-autosave.js");

/// Form fields holding a section's text are named `section_<key>`.
const SECTION_FIELD: &str = "section_";

pub async fn autosave_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        AUTOSAVE_SCRIPT,
    )
        .into_response()
}

/// A section of a note as shown or edited.
struct SectionView {
    key: String,
    label: String,
    text: String,
}

/// A signature as a reader wants it: who, as what, when.
struct SignatureLine {
    signer: String,
    kind: &'static str,
    when: String,
    /// What verifying the signature found, on the history page.
    check: Option<String>,
}

/// What a note page shows besides the note: a confirmation, a refusal, and the text the user
/// typed in a form that was refused (never lost).
#[derive(Default)]
struct Outcome {
    notice: Option<&'static str>,
    error: Option<FieldError>,
    /// The editor's sections as typed, when a save was refused.
    typed: Option<HashMap<String, String>>,
    /// The amendment form as typed (sections and reason), when it was refused.
    amendment: Option<(HashMap<String, String>, String)>,
    /// The addendum form as typed (text and reason), when it was refused.
    addendum: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "note.html")]
struct NotePage {
    layout: Layout,
    note_id: Uuid,
    patient_id: Uuid,
    patient_name: String,
    format: &'static str,
    version: i32,
    status: &'static str,
    is_current: bool,
    change: &'static str,
    change_reason: Option<String>,
    addendum_text: Option<String>,
    author: String,
    signed_when: Option<String>,
    signatures: Vec<SignatureLine>,
    awaiting_cosignature: bool,
    sections: Vec<SectionView>,
    /// The draft is the caller's: the editor and the Sign form.
    editable: bool,
    /// The current signed version is the caller's: the amendment and addendum forms.
    may_amend: bool,
    /// The note waits for the caller's cosignature.
    may_cosign: bool,
    etag: String,
    amend_sections: Vec<SectionView>,
    amend_reason: String,
    addendum_form_text: String,
    addendum_reason: String,
    notice: Option<&'static str>,
    error: Option<FieldError>,
}

impl NotePage {
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    saved: Option<String>,
    signed: Option<String>,
    cosigned: Option<String>,
    amended: Option<String>,
    addended: Option<String>,
    started: Option<String>,
}

/// `GET /notes/{id}`.
pub async fn page(
    db: PageTx,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = if notice.saved.is_some() {
        Some("Draft saved.")
    } else if notice.signed.is_some() {
        Some("Signed. The note is now part of the legal record.")
    } else if notice.cosigned.is_some() {
        Some("Cosigned.")
    } else if notice.amended.is_some() {
        Some("Amended and signed: this is the note's new version.")
    } else if notice.addended.is_some() {
        Some("Addendum added and signed.")
    } else if notice.started.is_some() {
        Some("Draft started. It is saved as you type; sign it when it is complete.")
    } else {
        None
    };
    show(
        db,
        &id,
        StatusCode::OK,
        Outcome {
            notice,
            ..Outcome::default()
        },
    )
    .await
}

/// The section keys of a format, with their labels.
fn format_sections(format: NoteFormatCode) -> &'static [&'static str] {
    format.format().sections()
}

fn text_of(content: &Value, key: &str) -> String {
    content
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `Tue, Mar 9, 2027, 9:05 AM` in the practice's time.
fn moment(zone: &indra_rules::clinical::recurrence::Zone, at: OffsetDateTime) -> String {
    let local = zone.local(at);
    format!("{}, {}", day_label(local.date()), clock(local))
}

fn status_word(status: NoteStatus) -> &'static str {
    match status {
        NoteStatus::Draft => "draft",
        NoteStatus::Signed => "signed",
        NoteStatus::Amended => "amended",
        NoteStatus::Addended => "addended",
    }
}

fn change_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Original => "original",
        ChangeKind::Amendment => "amendment",
        ChangeKind::Addendum => "addendum",
    }
}

fn signature_word(kind: SignatureType) -> &'static str {
    match kind {
        SignatureType::Author => "Author",
        SignatureType::Supervisor => "Supervisor (cosignature)",
        SignatureType::Cosigner => "Cosigner",
    }
}

/// The note, what the caller may do with it, and who the people in it are.
struct Loaded {
    layout: Layout,
    note: Note,
    me: Option<Uuid>,
    supervisor: Option<Uuid>,
    patient_name: String,
    names: HashMap<Uuid, String>,
    zone: indra_rules::clinical::recurrence::Zone,
}

async fn load(mut db: PageTx, id: &str) -> Result<Loaded, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let note = match fetch_note(&mut db, id).await {
        Ok(note) => note,
        Err(ApiError::NotFound) => return Err(WebError::not_found().with_layout(layout)),
        Err(other) => return Err(other.into()),
    };
    let (me, supervisor): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "select (select app.provider_id()),
                (select p.supervisor_id from providers p where p.id = $1)",
    )
    .bind(note.author_provider_id)
    .fetch_one(db.conn())
    .await?;
    let patient_name: String =
        sqlx::query_scalar("select first_name || ' ' || last_name from patients where id = $1")
            .bind(note.patient_id)
            .fetch_optional(db.conn())
            .await?
            .unwrap_or_default();
    let mut people: Vec<Uuid> = note
        .signatures
        .iter()
        .map(|s| s.signer_provider_id)
        .collect();
    people.push(note.author_provider_id);
    let names: HashMap<Uuid, String> = sqlx::query_as::<_, (Uuid, String)>(
        "select id, first_name || ' ' || last_name || ', ' || credentials from providers where id = any($1)",
    )
    .bind(&people)
    .fetch_all(db.conn())
    .await?
    .into_iter()
    .collect();
    let zone = practice_zone(&mut db).await?;
    db.commit().await?;
    Ok(Loaded {
        layout,
        note,
        me,
        supervisor,
        patient_name,
        names,
        zone,
    })
}

async fn show(
    db: PageTx,
    id: &str,
    status: StatusCode,
    outcome: Outcome,
) -> Result<Response, WebError> {
    let Loaded {
        layout,
        note,
        me,
        supervisor,
        patient_name,
        names,
        zone,
    } = load(db, id).await?;
    let mine = me == Some(note.author_provider_id);
    let editable = mine && note.status == NoteStatus::Draft;
    let may_amend = mine && note.status == NoteStatus::Signed && note.is_current;
    let may_cosign =
        note.awaiting_cosignature && note.is_current && me.is_some() && supervisor == me && !mine;
    let keys = format_sections(note.format);
    let section = |key: &&str, typed: Option<&HashMap<String, String>>| SectionView {
        key: (*key).to_owned(),
        label: capitalized(key),
        text: typed
            .and_then(|t| t.get(*key).cloned())
            .unwrap_or_else(|| text_of(&note.content, key)),
    };
    let sections = keys
        .iter()
        .map(|k| section(k, outcome.typed.as_ref()))
        .collect();
    let (amend_typed, amend_reason) = match outcome.amendment {
        Some((typed, reason)) => (Some(typed), reason),
        None => (None, String::new()),
    };
    let amend_sections = keys
        .iter()
        .map(|k| section(k, amend_typed.as_ref()))
        .collect();
    let (addendum_form_text, addendum_reason) = outcome.addendum.unwrap_or_default();
    let name_of = |id: Uuid| names.get(&id).cloned().unwrap_or_default();
    let page = NotePage {
        layout,
        note_id: note.id,
        patient_id: note.patient_id,
        patient_name,
        format: note.format.code(),
        version: note.version,
        status: status_word(note.status),
        is_current: note.is_current,
        change: change_word(note.change_kind),
        change_reason: note.change_reason.clone(),
        addendum_text: note.addendum_text.clone(),
        author: name_of(note.author_provider_id),
        signed_when: note.signed_at.map(|at| moment(&zone, at)),
        signatures: note
            .signatures
            .iter()
            .map(|s| SignatureLine {
                signer: name_of(s.signer_provider_id),
                kind: signature_word(s.signature_type),
                when: moment(&zone, s.signed_at),
                check: None,
            })
            .collect(),
        awaiting_cosignature: note.awaiting_cosignature,
        sections,
        editable,
        may_amend,
        may_cosign,
        etag: etag_of(&note),
        amend_sections,
        amend_reason,
        addendum_form_text,
        addendum_reason,
        notice: outcome.notice,
        error: outcome.error,
    };
    note_page(status, &page)
}

/// Renders a note page with the policy that lets its script run.
fn note_page<T: Template>(status: StatusCode, page: &T) -> Result<Response, WebError> {
    let mut response = render(status, page)?;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(NOTE_PAGE_POLICY),
    );
    Ok(response)
}

/// A form of the note page: the CSRF token, the version's ETag, and the fields by name.
struct NoteForm(HashMap<String, String>);

impl NoteForm {
    fn field(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The sections typed, by key (`subjective`, ...). A browser posts a text area's lines
    /// with CRLF; autosave sends them with LF: stored alike, versions differ only where the
    /// clinician changed something.
    fn sections(&self) -> HashMap<String, String> {
        self.0
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix(SECTION_FIELD)
                    .map(|key| (key.to_owned(), value.replace("\r\n", "\n")))
            })
            .collect()
    }

    fn content(&self) -> Value {
        Value::Object(
            self.sections()
                .into_iter()
                .map(|(key, text)| (key, Value::String(text)))
                .collect::<Map<String, Value>>(),
        )
    }

    fn if_match(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(self.field("etag")) {
            headers.insert(header::IF_MATCH, value);
        }
        headers
    }
}

fn note_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

/// Said when the version a form was opened on is no longer the saved one.
const CHANGED_MEANWHILE: &str = "This note changed since you opened it (saved from another tab or \
     window). Nothing you typed is lost: it is below. Saving again replaces the newer version with \
     your text.";

/// The refusal of a form as a message on the note page, or the error page when it is not about
/// what the user did.
fn form_error(error: ApiError) -> Result<(StatusCode, FieldError), WebError> {
    match error {
        ApiError::PreconditionFailed | ApiError::PreconditionRequired => Ok((
            StatusCode::PRECONDITION_FAILED,
            FieldError {
                field: "etag".into(),
                message: CHANGED_MEANWHILE.into(),
            },
        )),
        ApiError::Conflict {
            field: None,
            detail,
        } => Ok((
            StatusCode::CONFLICT,
            FieldError {
                field: String::new(),
                message: capitalized(&detail),
            },
        )),
        other => FieldError::from_api(&other).ok_or_else(|| other.into()),
    }
}

/// `POST /notes/{id}`: saves the draft through the API's PATCH, with the ETag the page was
/// opened on. A stale version shows the page again with the typed text and a clear message.
pub async fn save(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let form = NoteForm(form);
    db.require_csrf(form.field("csrf_token"))?;
    let Some(note) = note_id(&id) else {
        return show(db, &id, StatusCode::NOT_FOUND, Outcome::default()).await;
    };
    let change = NoteChange {
        format: None,
        content: Some(form.content()),
    };
    let (tx, reopen) = db.into_api();
    match update_draft(
        tx,
        extract::Path(note),
        form.if_match(),
        extract::Json(change),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/notes/{note}?saved=1")).into_response()),
        Err(error) => {
            let (status, error) = form_error(error)?;
            let outcome = Outcome {
                error: Some(error),
                typed: Some(form.sections()),
                ..Outcome::default()
            };
            show(reopen.open().await?, &id, status, outcome).await
        }
    }
}

/// `POST /notes/{id}/sign`: signs the saved version the page showed (its ETag).
pub async fn sign_note(
    State(state): State<AppState>,
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let form = NoteForm(form);
    db.require_csrf(form.field("csrf_token"))?;
    let Some(note) = note_id(&id) else {
        return show(db, &id, StatusCode::NOT_FOUND, Outcome::default()).await;
    };
    let (tx, reopen) = db.into_api();
    match sign(State(state), tx, extract::Path(note), form.if_match()).await {
        Ok(_) => Ok(Redirect::to(&format!("/notes/{note}?signed=1")).into_response()),
        Err(error) => {
            let (status, mut error) = form_error(error)?;
            if error.field == "etag" {
                error.message = "This note changed since you opened it: nothing was signed. \
                                 Read the saved text below, then sign again."
                    .into();
            }
            let outcome = Outcome {
                error: Some(error),
                ..Outcome::default()
            };
            show(reopen.open().await?, &id, status, outcome).await
        }
    }
}

/// `POST /notes/{id}/cosign`.
pub async fn cosign_note(
    State(state): State<AppState>,
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let form = NoteForm(form);
    db.require_csrf(form.field("csrf_token"))?;
    let Some(note) = note_id(&id) else {
        return show(db, &id, StatusCode::NOT_FOUND, Outcome::default()).await;
    };
    let (tx, reopen) = db.into_api();
    match cosign(State(state), tx, extract::Path(note)).await {
        Ok(_) => Ok(Redirect::to(&format!("/notes/{note}?cosigned=1")).into_response()),
        Err(error) => {
            let (status, error) = form_error(error)?;
            let outcome = Outcome {
                error: Some(error),
                ..Outcome::default()
            };
            show(reopen.open().await?, &id, status, outcome).await
        }
    }
}

/// `POST /notes/{id}/amend`: a corrected full version with its reason, signed in the same step.
pub async fn amend_note(
    State(state): State<AppState>,
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let form = NoteForm(form);
    db.require_csrf(form.field("csrf_token"))?;
    let Some(note) = note_id(&id) else {
        return show(db, &id, StatusCode::NOT_FOUND, Outcome::default()).await;
    };
    let reason = form.field("reason").to_owned();
    let refused = |error: FieldError| Outcome {
        error: Some(error),
        amendment: Some((form.sections(), reason.clone())),
        ..Outcome::default()
    };
    if filled(&reason).is_none() {
        let error = FieldError {
            field: "reason".into(),
            message: "Reason for the amendment: say why the note is corrected.".into(),
        };
        return show(db, &id, StatusCode::UNPROCESSABLE_ENTITY, refused(error)).await;
    }
    let amendment = Amendment {
        content: form.content(),
        reason: reason.trim().to_owned(),
        format: None,
        sign: true,
    };
    let (tx, reopen) = db.into_api();
    match amend(
        State(state),
        tx,
        extract::Path(note),
        HeaderMap::new(),
        extract::Json(amendment),
    )
    .await
    {
        Ok(response) => {
            let new = created_id(&response).unwrap_or(note);
            Ok(Redirect::to(&format!("/notes/{new}?amended=1")).into_response())
        }
        Err(error) => {
            let (status, error) = form_error(error)?;
            show(reopen.open().await?, &id, status, refused(error)).await
        }
    }
}

/// `POST /notes/{id}/addendum`: text added to the signed note, signed in the same step.
pub async fn add_addendum_to_note(
    State(state): State<AppState>,
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let form = NoteForm(form);
    db.require_csrf(form.field("csrf_token"))?;
    let Some(note) = note_id(&id) else {
        return show(db, &id, StatusCode::NOT_FOUND, Outcome::default()).await;
    };
    let (text, reason) = (
        form.field("addendum_text").replace("\r\n", "\n"),
        form.field("addendum_reason").to_owned(),
    );
    let refused = |error: FieldError| Outcome {
        error: Some(error),
        addendum: Some((text.clone(), reason.clone())),
        ..Outcome::default()
    };
    let missing = if filled(&text).is_none() {
        Some(("addendum_text", "Addendum: type the text to add."))
    } else if filled(&reason).is_none() {
        Some((
            "addendum_reason",
            "Reason for the addendum: say why it is added.",
        ))
    } else {
        None
    };
    if let Some((field, message)) = missing {
        let error = FieldError {
            field: field.into(),
            message: message.into(),
        };
        return show(db, &id, StatusCode::UNPROCESSABLE_ENTITY, refused(error)).await;
    }
    let addendum = Addendum {
        text: text.trim().to_owned(),
        reason: reason.trim().to_owned(),
        sign: true,
    };
    let (tx, reopen) = db.into_api();
    match add_addendum(
        State(state),
        tx,
        extract::Path(note),
        HeaderMap::new(),
        extract::Json(addendum),
    )
    .await
    {
        Ok(response) => {
            let new = created_id(&response).unwrap_or(note);
            Ok(Redirect::to(&format!("/notes/{new}?addended=1")).into_response())
        }
        Err(error) => {
            let (status, mut error) = form_error(error)?;
            // The API names its fields `text` and `reason`; the form prefixes them.
            if matches!(error.field.as_str(), "text" | "reason") {
                error.field = format!("addendum_{}", error.field);
            }
            show(reopen.open().await?, &id, status, refused(error)).await
        }
    }
}

/// A line of a section's difference.
struct DiffLine {
    /// `unchanged`, `added` or `removed`.
    change: String,
    text: String,
}

struct SectionDiff {
    label: String,
    lines: Vec<DiffLine>,
}

struct HistoryEntry {
    id: Uuid,
    version: i32,
    status: &'static str,
    is_current: bool,
    change: &'static str,
    change_reason: Option<String>,
    created: String,
    signatures: Vec<SignatureLine>,
    changes: Vec<SectionDiff>,
    /// `intact`, `altered`, `not_signed` or `missing`, in words.
    integrity: String,
    integrity_ok: bool,
    problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "note_history.html")]
struct HistoryPage {
    layout: Layout,
    patient_id: Uuid,
    patient_name: String,
    current_version_id: Option<Uuid>,
    versions: Vec<HistoryEntry>,
    verified: bool,
}

fn integrity_words(hash: &str) -> &'static str {
    match hash {
        "intact" => "Intact: the content is what was signed",
        "altered" => "Altered: the content no longer matches its signed hash",
        "not_signed" => "Not signed yet (a draft)",
        "missing" => "Signed without a content hash",
        _ => "Unknown",
    }
}

fn check_words(result: &str) -> String {
    match result {
        "valid" => "valid".into(),
        "forged" => "forged: does not verify with the published key".into(),
        "unknown_key" => "unknown key: no published key by that id".into(),
        "over_other_content" => "signed over other content than the note has now".into(),
        other => words(other),
    }
}

/// `GET /notes/{id}/history`: every version, who signed it, what changed, and the verification.
pub async fn history_page(mut db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let Ok(note_id) = Uuid::parse_str(&id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let note = match fetch_note(&mut db, note_id).await {
        Ok(note) => note,
        Err(ApiError::NotFound) => return Err(WebError::not_found().with_layout(layout)),
        Err(other) => return Err(other.into()),
    };
    let patient_name: String =
        sqlx::query_scalar("select first_name || ' ' || last_name from patients where id = $1")
            .bind(note.patient_id)
            .fetch_optional(db.conn())
            .await?
            .unwrap_or_default();
    let zone = practice_zone(&mut db).await?;
    let (tx, reopen) = db.into_api();
    let record: NoteHistory = history(tx, extract::Path(note_id)).await?.0;
    let (tx, _) = reopen.open().await?.into_api();
    let checked: NoteVerification = verification(tx, extract::Path(note_id)).await?.0;
    let checks: HashMap<Uuid, _> = checked.versions.iter().map(|v| (v.note_id, v)).collect();

    let versions = record
        .versions
        .iter()
        .rev()
        .map(|v| {
            let check = checks.get(&v.id);
            let signature_checks: HashMap<Uuid, &str> = check
                .map(|c| {
                    c.signatures
                        .iter()
                        .map(|s| (s.id, s.result.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            HistoryEntry {
                id: v.id,
                version: v.version,
                status: status_word(v.status),
                is_current: v.is_current,
                change: change_word(v.change_kind),
                change_reason: v.change_reason.clone(),
                created: moment(&zone, v.created_at),
                signatures: v
                    .signatures
                    .iter()
                    .map(|s| SignatureLine {
                        signer: s.signer_name.clone(),
                        kind: signature_word(s.signature_type),
                        when: moment(&zone, s.signed_at),
                        check: Some(check_words(
                            signature_checks.get(&s.id).copied().unwrap_or(""),
                        )),
                    })
                    .collect(),
                changes: v
                    .changes
                    .iter()
                    .map(|c| SectionDiff {
                        label: capitalized(&c.section),
                        lines: c
                            .lines
                            .iter()
                            .map(|l| DiffLine {
                                change: l.change.clone(),
                                text: l.text.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                integrity: check
                    .map_or("Unknown", |c| integrity_words(&c.hash))
                    .to_owned(),
                integrity_ok: check.is_some_and(|c| c.ok),
                problems: check.map(|c| c.problems.clone()).unwrap_or_default(),
            }
        })
        .collect();
    note_page(
        StatusCode::OK,
        &HistoryPage {
            layout,
            patient_id: note.patient_id,
            patient_name,
            current_version_id: record.current_version_id,
            versions,
            verified: checked.ok,
        },
    )
}

#[derive(Template)]
#[template(path = "note_new.html")]
struct NewNotePage {
    layout: Layout,
    encounter_id: Uuid,
    patient_id: Uuid,
    patient_name: String,
    session: String,
    when: Option<String>,
    formats: Vec<Choice>,
    note_key: String,
    /// The encounter's current note, when one was started already.
    existing: Option<Uuid>,
    error: Option<FieldError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewNoteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    format: String,
    /// Makes a double submission start one draft, not two.
    #[serde(default)]
    note_key: String,
}

/// `GET /encounters/{id}/notes/new`: the format to write in (the clinician's preferred one
/// chosen) and the button that starts the draft.
pub async fn new_page(db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    show_new(db, &id, StatusCode::OK, None, None).await
}

async fn show_new(
    mut db: PageTx,
    id: &str,
    status: StatusCode,
    chosen: Option<&str>,
    error: Option<FieldError>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    if !db.is_provider() {
        return Err(layout.forbidden("only clinicians write notes"));
    }
    let Ok(encounter_id) = Uuid::parse_str(id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let found: Option<(Uuid, String, String, Option<OffsetDateTime>)> = sqlx::query_as(
        "select e.patient_id, p.first_name || ' ' || p.last_name, e.encounter_type::text,
                coalesce(e.started_at, e.scheduled_start)
           from encounters e join patients p on p.org_id = e.org_id and p.id = e.patient_id
          where e.id = $1",
    )
    .bind(encounter_id)
    .fetch_optional(db.conn())
    .await?;
    let Some((patient_id, patient_name, session, started)) = found else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let existing: Option<Uuid> = sqlx::query_scalar(
        "select id from clinical_notes where encounter_id = $1 and is_current
          order by created_at desc limit 1",
    )
    .bind(encounter_id)
    .fetch_optional(db.conn())
    .await?;
    let preferred: Option<String> = sqlx::query_scalar(
        "select preferred_note_format::text from providers where id = (select app.provider_id())",
    )
    .fetch_optional(db.conn())
    .await?
    .flatten();
    let zone = practice_zone(&mut db).await?;
    db.commit().await?;
    let current = chosen.map_or_else(|| preferred.unwrap_or_default(), str::to_owned);
    let formats = [
        ("SOAP", "SOAP: subjective, objective, assessment, plan"),
        ("DAP", "DAP: data, assessment, plan"),
        ("BIRP", "BIRP: behavior, intervention, response, plan"),
    ]
    .into_iter()
    .map(|(code, label)| Choice::new(code, label, &current))
    .collect();
    render(
        status,
        &NewNotePage {
            layout,
            encounter_id,
            patient_id,
            patient_name,
            session: words(&session),
            when: started.map(|at| moment(&zone, at)),
            formats,
            note_key: Uuid::new_v4().to_string(),
            existing,
            error,
        },
    )
}

/// `POST /encounters/{id}/notes/new`: starts the draft through the API and opens its editor.
pub async fn create(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<NewNoteForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let Ok(encounter_id) = Uuid::parse_str(&id) else {
        return show_new(db, &id, StatusCode::NOT_FOUND, None, None).await;
    };
    let Ok(format) = NoteFormatCode::try_from(form.format.clone()) else {
        let error = FieldError {
            field: "format".into(),
            message: "Note format: choose SOAP, DAP or BIRP.".into(),
        };
        return show_new(db, &id, StatusCode::UNPROCESSABLE_ENTITY, None, Some(error)).await;
    };
    // An empty text per section: the draft is filled in the editor.
    let content = Value::Object(
        format_sections(format)
            .iter()
            .map(|key| ((*key).to_owned(), Value::String(String::new())))
            .collect(),
    );
    let mut headers = HeaderMap::new();
    if let Some(key) = filled(&form.note_key)
        && let Ok(key) = HeaderValue::from_str(&format!("web-note-{key}"))
    {
        headers.insert(IDEMPOTENCY_HEADER, key);
    }
    let (tx, reopen) = db.into_api();
    match create_note(
        tx,
        extract::Path(encounter_id),
        headers,
        extract::Json(NewNote {
            format: Some(format),
            content,
        }),
    )
    .await
    {
        Ok(response) => {
            let note: Note = api_body(response).await?;
            Ok(Redirect::to(&format!("/notes/{}?started=1", note.id)).into_response())
        }
        Err(error) => {
            let Some((status, error)) = FieldError::from_api(&error) else {
                return Err(error.into());
            };
            show_new(
                reopen.open().await?,
                &id,
                status,
                Some(&form.format),
                Some(error),
            )
            .await
        }
    }
}
