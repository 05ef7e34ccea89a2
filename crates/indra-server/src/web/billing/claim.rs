//! `/billing/claims/{id}`: the claim editor. The claim's header (patient, payer and coverage,
//! rendering provider, place of service, prior authorization), its box 21 diagnoses A-L chosen
//! from the patient's diagnoses, its box 24 lines with their pointers as letters, and the
//! scrubber's findings beside the field each names. Saving, marking ready, voiding and the
//! admin's authorization override go through the claims API's functions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::Date;
use uuid::Uuid;

use super::{dollars, letter, path_id, pointers_from_letters, require_biller, status_word};
use crate::api::etag::etag_of;
use crate::billing::claims::{
    ClaimDetail, ClaimEdit, ClaimStatus, DiagnosisInput, LineInput, ReadyError, Reason,
    ScrubFinding, edit_claim, get_claim, mark_ready, override_authorization, void_claim,
};
use crate::billing::coverage::{Coverage, InsurancePriority, get_coverage};
use crate::error::ApiError;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Reopen, Section, capitalized, filled, render};

/// Box 21 holds twelve diagnoses, A-L.
const DIAGNOSIS_SLOTS: usize = 12;
/// Empty line rows the editor offers for a new line.
const NEW_LINE_ROWS: usize = 1;
/// A posted form names no line row beyond this index (a claim holds at most 50 lines).
const MAX_LINE_ROWS: usize = 60;

/// One box 24 row of the form, as typed.
#[derive(Debug, Clone, Default)]
struct LineRow {
    encounter_id: String,
    cpt_code: String,
    modifiers: String,
    units: String,
    charge: String,
    service_date: String,
    place_of_service: String,
    /// Letters, e.g. `A,B`.
    pointers: String,
    remove: bool,
}

impl LineRow {
    fn is_blank(&self) -> bool {
        [
            &self.cpt_code,
            &self.modifiers,
            &self.charge,
            &self.service_date,
            &self.pointers,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

/// The editor's form: the claim's header fields, the twelve diagnosis slots (A-L, each an ICD-10
/// code or empty) and the line rows.
#[derive(Debug, Clone, Default)]
struct ClaimForm {
    /// The claim's etag without quotes: the version the biller edits.
    tag: String,
    place_of_service: String,
    prior_authorization_number: String,
    diagnoses: Vec<String>,
    lines: Vec<LineRow>,
}

impl ClaimForm {
    fn of(claim: &ClaimDetail) -> Self {
        let mut diagnoses: Vec<String> = claim
            .diagnoses
            .iter()
            .map(|d| d.icd10_code.clone())
            .collect();
        diagnoses.resize(DIAGNOSIS_SLOTS.max(diagnoses.len()), String::new());
        let lines = claim
            .lines
            .iter()
            .map(|l| LineRow {
                encounter_id: l.encounter_id.to_string(),
                cpt_code: l.cpt_code.clone(),
                modifiers: l.modifiers.join(", "),
                units: l.units.to_string(),
                charge: l.charge.clone(),
                service_date: l.service_date.to_string(),
                place_of_service: l.place_of_service.clone().unwrap_or_default(),
                pointers: l
                    .diagnosis_pointers
                    .iter()
                    .map(|p| letter(usize::try_from(*p).unwrap_or(0)))
                    .collect::<Vec<_>>()
                    .join(","),
                remove: false,
            })
            .collect();
        Self {
            tag: bare_tag(claim),
            place_of_service: claim.place_of_service.clone(),
            prior_authorization_number: claim
                .prior_authorization_number
                .clone()
                .unwrap_or_default(),
            diagnoses,
            lines,
        }
        .padded()
    }

    /// With the twelve diagnosis slots and an empty row for a new line.
    fn padded(mut self) -> Self {
        if self.diagnoses.len() < DIAGNOSIS_SLOTS {
            self.diagnoses.resize(DIAGNOSIS_SLOTS, String::new());
        }
        let blank = self.lines.iter().rev().take_while(|l| l.is_blank()).count();
        for _ in blank..NEW_LINE_ROWS {
            self.lines.push(LineRow::default());
        }
        self
    }

    /// The posted fields (unknown names ignored) and the CSRF token.
    fn from_fields(fields: Vec<(String, String)>) -> (String, Self) {
        let mut csrf = String::new();
        let mut form = Self {
            diagnoses: vec![String::new(); DIAGNOSIS_SLOTS],
            ..Self::default()
        };
        for (name, value) in fields {
            match name.as_str() {
                "csrf_token" => csrf = value,
                "tag" => form.tag = value,
                "place_of_service" => form.place_of_service = value,
                "prior_authorization_number" => form.prior_authorization_number = value,
                _ => {
                    if let Some(slot) = name
                        .strip_prefix("dx")
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        if let Some(code) = form.diagnoses.get_mut(slot) {
                            *code = value.trim().to_owned();
                        }
                    } else if let Some((row, field)) = name
                        .strip_prefix("line")
                        .and_then(|rest| rest.split_once('.'))
                        && let Ok(row) = row.parse::<usize>()
                        && row < MAX_LINE_ROWS
                    {
                        if form.lines.len() <= row {
                            form.lines.resize_with(row + 1, LineRow::default);
                        }
                        let line = &mut form.lines[row];
                        match field {
                            "encounter_id" => line.encounter_id = value,
                            "cpt_code" => line.cpt_code = value,
                            "modifiers" => line.modifiers = value,
                            "units" => line.units = value,
                            "charge" => line.charge = value,
                            "service_date" => line.service_date = value,
                            "place_of_service" => line.place_of_service = value,
                            "pointers" => line.pointers = value,
                            "remove" => line.remove = true,
                            _ => {}
                        }
                    }
                }
            }
        }
        (csrf, form)
    }
}

fn bare_tag(claim: &ClaimDetail) -> String {
    etag_of(claim).trim_matches('"').to_owned()
}

/// A message beside a field of the form (`dx3`, `line0.charge`, `place_of_service`; `claim` for
/// the claim as a whole).
#[derive(Debug, Clone)]
struct FieldNote {
    key: String,
    severity: &'static str,
    message: String,
}

/// What the form sends the API, and where each of the API's items came from in the form: the
/// diagnosis slot of each diagnosis, the row of each line.
struct Edit {
    edit: ClaimEdit,
    diagnosis_slots: Vec<usize>,
    line_rows: Vec<usize>,
}

/// The form as the API's edit, or the fields that cannot be read (pointers at an empty slot,
/// units that are not a number).
fn to_edit(
    form: &ClaimForm,
    claim: &ClaimDetail,
    chart: &[PatientDiagnosis],
) -> Result<Edit, Vec<FieldNote>> {
    let mut notes = Vec::new();
    let mut diagnosis_slots = Vec::new();
    let mut diagnoses = Vec::new();
    for (slot, code) in form.diagnoses.iter().enumerate() {
        let code = code.trim().to_uppercase();
        if code.is_empty() {
            continue;
        }
        let patient_diagnosis_id = chart
            .iter()
            .find(|d| d.icd10_code == code)
            .map(|d| d.id)
            .or_else(|| {
                claim
                    .diagnoses
                    .iter()
                    .find(|d| d.icd10_code == code)
                    .and_then(|d| d.patient_diagnosis_id)
            });
        diagnosis_slots.push(slot);
        diagnoses.push(DiagnosisInput {
            icd10_code: code,
            patient_diagnosis_id,
        });
    }
    // The letters the biller typed name the form's slots; the claim's sequences close the gaps.
    let sequence_of_slot = |slot: usize| {
        diagnosis_slots
            .iter()
            .position(|s| *s == slot)
            .and_then(|i| i32::try_from(i + 1).ok())
    };
    let only_encounter = {
        let mut ids: Vec<Uuid> = claim.lines.iter().map(|l| l.encounter_id).collect();
        ids.dedup();
        (ids.len() == 1).then(|| ids[0])
    };
    let mut lines = Vec::new();
    let mut line_rows = Vec::new();
    for (row, line) in form.lines.iter().enumerate() {
        if line.remove || line.is_blank() {
            continue;
        }
        let key = |field: &str| format!("line{row}.{field}");
        let encounter_id = match Uuid::parse_str(line.encounter_id.trim())
            .ok()
            .or(only_encounter)
        {
            Some(id) => id,
            None => {
                notes.push(error_note(
                    key("encounter_id"),
                    "choose the session this line bills",
                ));
                continue;
            }
        };
        let units = match filled(&line.units) {
            None => None,
            Some(text) => match text.parse::<i16>() {
                Ok(n) => Some(n),
                Err(_) => {
                    notes.push(error_note(key("units"), "a whole number of units, e.g. 1"));
                    None
                }
            },
        };
        let pointers = match pointers_from_letters(&line.pointers) {
            None => {
                notes.push(error_note(
                    key("pointers"),
                    "letters A to L of the diagnoses above, e.g. A,B",
                ));
                Vec::new()
            }
            Some(slots) => {
                let mut sequences = Vec::new();
                for slot in slots {
                    let index = usize::try_from(slot - 1).unwrap_or(usize::MAX);
                    match sequence_of_slot(index) {
                        Some(sequence) => sequences.push(sequence),
                        None => notes.push(error_note(
                            key("pointers"),
                            &format!("diagnosis {} is empty", letter(index + 1)),
                        )),
                    }
                }
                sequences
            }
        };
        line_rows.push(row);
        lines.push(LineInput {
            encounter_id,
            cpt_code: line.cpt_code.trim().to_owned(),
            modifiers: line
                .modifiers
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            units,
            charge: line.charge.trim().trim_start_matches('$').to_owned(),
            service_date: line.service_date.trim().to_owned(),
            place_of_service: filled(&line.place_of_service).map(str::to_owned),
            diagnosis_pointers: pointers,
        });
    }
    if !notes.is_empty() {
        return Err(notes);
    }
    Ok(Edit {
        edit: ClaimEdit {
            diagnoses,
            lines,
            place_of_service: Some(form.place_of_service.trim().to_owned()),
            prior_authorization_number: Some(form.prior_authorization_number.trim().to_owned()),
        },
        diagnosis_slots,
        line_rows,
    })
}

fn error_note(key: String, message: &str) -> FieldNote {
    FieldNote {
        key,
        severity: "error",
        message: message.to_owned(),
    }
}

/// `lines[2].charge` -> (`lines`, 2, `charge`); `diagnoses[B].icd10_code` -> (`diagnoses`,
/// `B`, `icd10_code`).
fn split_path(field: &str) -> Option<(&str, &str, &str)> {
    let (list, rest) = field.split_once('[')?;
    let (index, rest) = rest.split_once(']')?;
    let field = rest.strip_prefix('.').unwrap_or(rest);
    // `modifiers[1]` is the modifiers field.
    let field = field.split('[').next().unwrap_or(field);
    Some((list, index, field))
}

/// The form field a line's field is shown beside.
fn line_field(field: &str) -> &str {
    match field {
        "diagnosis_pointers" => "pointers",
        "cpt_code" | "modifiers" | "units" | "charge" | "service_date" | "place_of_service"
        | "encounter_id" => field,
        _ => "",
    }
}

/// Where an API refusal's field belongs on the form (its items indexed from 0, in the order
/// they were sent).
fn refusal_key(field: &str, edit: &Edit) -> String {
    match split_path(field) {
        Some(("lines", index, name)) => match index
            .parse::<usize>()
            .ok()
            .and_then(|i| edit.line_rows.get(i))
        {
            Some(row) => line_key(*row, line_field(name)),
            None => "lines".to_owned(),
        },
        Some(("diagnoses", index, _)) => {
            match index
                .parse::<usize>()
                .ok()
                .and_then(|i| edit.diagnosis_slots.get(i))
            {
                Some(slot) => format!("dx{slot}"),
                None => "diagnoses".to_owned(),
            }
        }
        _ => field.to_owned(),
    }
}

/// Where a scrubber finding belongs on a form made from the stored claim (lines by their number
/// from 1, diagnoses by their letter).
fn finding_key(field: &str) -> String {
    match split_path(field) {
        Some(("lines", number, name)) => match number.parse::<usize>() {
            Ok(n) if n >= 1 => line_key(n - 1, line_field(name)),
            _ => "lines".to_owned(),
        },
        Some(("diagnoses", letter, _)) => match letter.bytes().next() {
            Some(b) if (b'A'..=b'L').contains(&b) => format!("dx{}", b - b'A'),
            _ => "diagnoses".to_owned(),
        },
        _ => field.to_owned(),
    }
}

fn line_key(row: usize, field: &str) -> String {
    if field.is_empty() {
        format!("line{row}")
    } else {
        format!("line{row}.{field}")
    }
}

/// One of the patient's active diagnoses, offered for a slot.
#[derive(Debug, Clone, sqlx::FromRow)]
struct PatientDiagnosis {
    id: Uuid,
    icd10_code: String,
    description: String,
    is_primary: bool,
}

/// A session the claim bills, for a line's session choice.
#[derive(Debug, Clone)]
struct SessionChoice {
    id: String,
    label: String,
}

#[derive(Debug, sqlx::FromRow)]
struct RenderingProvider {
    name: String,
    npi: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    saved: Option<String>,
    ready: Option<String>,
    voided: Option<String>,
    overridden: Option<String>,
}

/// The typed reason of the void or override form, kept when it is refused.
#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    reason: String,
}

/// A refused void or override form: which, what was typed, and why.
struct ReasonRefusal {
    form: &'static str,
    reason: String,
    message: String,
}

#[derive(Template)]
#[template(path = "billing/claim.html")]
struct ClaimPage {
    layout: Layout,
    claim: ClaimDetail,
    status: &'static str,
    coverage: Option<Coverage>,
    provider: Option<RenderingProvider>,
    form: ClaimForm,
    chart_diagnoses: Vec<PatientDiagnosis>,
    sessions: Vec<SessionChoice>,
    /// The scrubber's findings and the refused fields, each with the form field it belongs to.
    notes: Vec<FieldNote>,
    findings: Vec<ScrubFinding>,
    editable: bool,
    is_admin: bool,
    notice: Option<&'static str>,
    problem: Option<String>,
    reason_refusal: Option<ReasonRefusal>,
}

impl ClaimPage {
    fn notes_for(&self, key: &str) -> Vec<&FieldNote> {
        self.notes.iter().filter(|n| n.key == key).collect()
    }

    fn has_error(&self, key: &str) -> bool {
        self.notes
            .iter()
            .any(|n| n.key == key && n.severity == "error")
    }

    /// Findings about the claim as a whole (providers, patient, coverage): not beside a field
    /// of the form.
    fn claim_notes(&self) -> Vec<&FieldNote> {
        let placed = |key: &str| {
            key.starts_with("dx")
                || key.starts_with("line")
                || key == "place_of_service"
                || key == "prior_authorization_number"
        };
        self.notes.iter().filter(|n| !placed(&n.key)).collect()
    }

    fn slot_letter(&self, slot: &usize) -> String {
        letter(slot + 1)
    }

    fn dollars(&self, amount: &str) -> String {
        dollars(amount)
    }

    /// A code in a slot that is not one of the patient's active diagnoses (kept as an option).
    fn unlisted<'a>(&self, code: &'a str) -> Option<&'a str> {
        let listed = self.chart_diagnoses.iter().any(|d| d.icd10_code == code);
        (!code.is_empty() && !listed).then_some(code)
    }

    fn reason_typed(&self, form: &str) -> &str {
        self.reason_refusal
            .as_ref()
            .filter(|r| r.form == form)
            .map_or("", |r| r.reason.as_str())
    }

    fn reason_error(&self, form: &str) -> Option<&str> {
        self.reason_refusal
            .as_ref()
            .filter(|r| r.form == form)
            .map(|r| r.message.as_str())
    }

    fn priority_word(&self, coverage: &Coverage) -> &'static str {
        match coverage.priority {
            InsurancePriority::Primary => "primary",
            InsurancePriority::Secondary => "secondary",
            InsurancePriority::Tertiary => "tertiary",
        }
    }

    /// A line row's fields: name, label, input size.
    fn line_fields(&self) -> [(&'static str, &'static str, &'static str); 7] {
        [
            ("cpt_code", "CPT", "5"),
            ("modifiers", "Modifiers", "8"),
            ("units", "Units", "2"),
            ("charge", "Charge", "8"),
            ("service_date", "Date", "10"),
            ("place_of_service", "POS", "2"),
            ("pointers", "Pointers", "7"),
        ]
    }

    fn line_value<'a>(&self, line: &'a LineRow, field: &str) -> &'a str {
        match field {
            "cpt_code" => &line.cpt_code,
            "modifiers" => &line.modifiers,
            "units" => &line.units,
            "charge" => &line.charge,
            "service_date" => &line.service_date,
            "place_of_service" => &line.place_of_service,
            _ => &line.pointers,
        }
    }

    fn errors_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == "error")
            .count()
    }
}

/// `GET /billing/claims/{id}`.
pub async fn page(
    mut db: PageTx,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let notice = if notice.saved.is_some() {
        Some("Claim saved.")
    } else if notice.ready.is_some() {
        Some("Claim ready: it goes out with the next 837P export.")
    } else if notice.voided.is_some() {
        Some("Claim voided. Its sessions were given back to the authorization.")
    } else if notice.overridden.is_some() {
        Some("Authorization override recorded.")
    } else {
        None
    };
    show(db, id, View::default().notice(notice)).await
}

/// What a rendering of the editor shows besides the stored claim.
#[derive(Default)]
struct View {
    status: Option<StatusCode>,
    notice: Option<&'static str>,
    problem: Option<String>,
    /// The posted form and its refused fields, after a refused save.
    posted: Option<(ClaimForm, Vec<FieldNote>)>,
    reason_refusal: Option<ReasonRefusal>,
}

impl View {
    fn notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }

    fn problem(status: StatusCode, problem: String) -> Self {
        Self {
            status: Some(status),
            problem: Some(problem),
            ..Self::default()
        }
    }
}

async fn show(mut db: PageTx, id: Uuid, view: View) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    let claim = match get_claim(&mut db, id).await {
        Ok(claim) => claim,
        Err(error) => return Err(WebError::new(error).with_layout(layout)),
    };
    let coverage = get_coverage(&mut db, claim.patient_insurance_id).await.ok();
    let provider: Option<RenderingProvider> = sqlx::query_as(
        "select first_name || ' ' || last_name || coalesce(', ' || credentials, '') as name, npi
           from providers where id = $1",
    )
    .bind(claim.rendering_provider_id)
    .fetch_optional(db.conn())
    .await?;
    let chart_diagnoses: Vec<PatientDiagnosis> = sqlx::query_as(
        "select d.id, d.icd10_code, coalesce(c.description, '') as description, d.is_primary
           from patient_diagnoses d left join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and d.status = 'active'
          order by d.is_primary desc, d.diagnosed_on, d.created_at",
    )
    .bind(claim.patient_id)
    .fetch_all(db.conn())
    .await?;
    let session_rows: Vec<(Uuid, Option<Date>, String)> = sqlx::query_as(
        "select e.id, (coalesce(e.started_at, e.scheduled_start) at time zone o.time_zone)::date,
                e.encounter_type::text
           from encounters e join organizations o on o.id = e.org_id
          where e.id = any($1) order by e.started_at",
    )
    .bind(
        claim
            .lines
            .iter()
            .map(|l| l.encounter_id)
            .collect::<Vec<_>>(),
    )
    .fetch_all(db.conn())
    .await?;
    let is_admin = db.is_admin();
    db.commit().await?;
    let sessions = session_rows
        .into_iter()
        .map(|(id, day, kind)| SessionChoice {
            id: id.to_string(),
            label: format!(
                "{} {}",
                day.map(|d| d.to_string()).unwrap_or_default(),
                crate::web::chart::words(&kind)
            ),
        })
        .collect();
    let findings: Vec<ScrubFinding> = claim
        .scrub
        .as_ref()
        .map(|s| s.findings.clone())
        .unwrap_or_default();
    let (form, notes) = match view.posted {
        Some((form, refused)) => {
            // The stored claim's findings name its own lines, not the posted rows: they are
            // listed at the top, and the refused fields beside themselves.
            let mut notes = refused;
            notes.extend(
                findings
                    .iter()
                    .filter(|f| !is_positional(&f.field))
                    .map(|f| FieldNote {
                        key: finding_key(&f.field),
                        severity: severity(&f.severity),
                        message: f.message.clone(),
                    }),
            );
            (form.padded(), notes)
        }
        None => (
            ClaimForm::of(&claim),
            findings
                .iter()
                .map(|f| FieldNote {
                    key: finding_key(&f.field),
                    severity: severity(&f.severity),
                    message: f.message.clone(),
                })
                .collect(),
        ),
    };
    let editable = claim.status == ClaimStatus::Draft;
    render(
        view.status.unwrap_or(StatusCode::OK),
        &ClaimPage {
            layout,
            status: status_word(claim.status),
            coverage,
            provider,
            form,
            chart_diagnoses,
            sessions,
            notes,
            findings,
            editable,
            is_admin,
            notice: view.notice,
            problem: view.problem,
            reason_refusal: view.reason_refusal,
            claim,
        },
    )
}

fn is_positional(field: &str) -> bool {
    field.starts_with("lines[") || field.starts_with("diagnoses[")
}

fn severity(text: &str) -> &'static str {
    if text == "error" { "error" } else { "warning" }
}

/// `POST /billing/claims/{id}`: saves the draft's header, diagnoses and lines through the API.
pub async fn save(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (csrf, form) = ClaimForm::from_fields(fields);
    db.require_csrf(&csrf)?;
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let claim = match get_claim(&mut db, id).await {
        Ok(claim) => claim,
        Err(error) => {
            let layout = Layout::load(&mut db, Section::Billing).await?;
            return Err(WebError::new(error).with_layout(layout));
        }
    };
    let chart: Vec<PatientDiagnosis> = sqlx::query_as(
        "select d.id, d.icd10_code, '' as description, d.is_primary
           from patient_diagnoses d where d.patient_id = $1 and d.status = 'active'",
    )
    .bind(claim.patient_id)
    .fetch_all(db.conn())
    .await?;
    let edit = match to_edit(&form, &claim, &chart) {
        Ok(edit) => edit,
        Err(notes) => {
            let (tx, reopen) = db.into_api();
            drop(tx);
            return refused_form(reopen, id, form, notes, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let (mut tx, reopen) = db.into_api();
    let tag = format!("\"{}\"", form.tag.trim());
    let saved = edit_claim(&mut tx, id, Some(&tag), &edit.edit).await;
    let saved = match saved {
        // The pointers are checked when the transaction commits.
        Ok(_) => tx
            .commit()
            .await
            .map_err(crate::billing::BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match saved {
        Ok(()) => Ok(Redirect::to(&format!("/billing/claims/{id}?saved=1")).into_response()),
        Err(error) => {
            let problems = error.field_problems();
            let error = error.into_api_error();
            match error {
                ApiError::Invalid { .. } | ApiError::Conflict { .. } if !problems.is_empty() => {
                    let notes = problems
                        .iter()
                        .map(|p| FieldNote {
                            key: refusal_key(&p.field, &edit),
                            severity: "error",
                            message: p.detail.clone(),
                        })
                        .collect();
                    refused_form(reopen, id, form, notes, StatusCode::UNPROCESSABLE_ENTITY).await
                }
                other => {
                    let (status, problem) = problem_of(other)?;
                    let db = reopen.open().await?;
                    show(
                        db,
                        id,
                        View {
                            status: Some(status),
                            problem: Some(format!("Not saved: {problem}")),
                            posted: Some((form, Vec::new())),
                            ..View::default()
                        },
                    )
                    .await
                }
            }
        }
    }
}

/// The editor with the posted values and the refused fields.
async fn refused_form(
    reopen: Reopen,
    id: Uuid,
    form: ClaimForm,
    notes: Vec<FieldNote>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let db = reopen.open().await?;
    show(
        db,
        id,
        View {
            status: Some(status),
            problem: Some("Not saved: correct the fields marked below.".to_owned()),
            posted: Some((form, notes)),
            ..View::default()
        },
    )
    .await
}

/// The status and sentence of a refusal the editor explains; other errors are their own page.
fn problem_of(error: ApiError) -> Result<(StatusCode, String), WebError> {
    let sentence = |detail: &str| {
        let mut text = capitalized(detail);
        if !text.ends_with('.') {
            text.push('.');
        }
        text
    };
    Ok(match error {
        ApiError::Invalid { detail, .. } => (StatusCode::UNPROCESSABLE_ENTITY, sentence(&detail)),
        ApiError::Conflict { detail, .. } => (StatusCode::CONFLICT, sentence(&detail)),
        ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, sentence(&detail)),
        ApiError::PreconditionFailed | ApiError::PreconditionRequired => (
            StatusCode::PRECONDITION_FAILED,
            "The claim changed since you opened it. It is shown again below as it is now."
                .to_owned(),
        ),
        other => return Err(WebError::new(other)),
    })
}

/// `POST /billing/claims/{id}/ready`: the version the biller read becomes ready, or the page says
/// what the scrubber or the database holds it for.
pub async fn ready(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let (mut tx, reopen) = db.into_api();
    let tag = format!("\"{}\"", form.tag.trim());
    let result = match mark_ready(&mut tx, id, Some(&tag)).await {
        Ok(_) => tx.commit().await.map_err(ReadyError::Api),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    let view = match result {
        Ok(()) => return Ok(Redirect::to(&format!("/billing/claims/{id}?ready=1")).into_response()),
        Err(ReadyError::Scrubbed(refusal)) => {
            let errors = refusal
                .findings
                .iter()
                .filter(|f| f.severity == "error")
                .count();
            View::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Not ready: the scrubber found {errors} problem{} to fix first, marked below.",
                    if errors == 1 { "" } else { "s" }
                ),
            )
        }
        Err(ReadyError::Api(error)) => {
            let (status, problem) = problem_of(error)?;
            View::problem(status, format!("Not ready: {problem}"))
        }
    };
    show(reopen.open().await?, id, view).await
}

/// `POST /billing/claims/{id}/void`: withdraws the claim, with the reason.
pub async fn void(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let (mut tx, reopen) = db.into_api();
    let reason = Reason {
        reason: form.reason.clone(),
    };
    let result = match void_claim(&mut tx, id, &reason).await {
        Ok(_) => tx.commit().await,
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/billing/claims/{id}?voided=1")).into_response()),
        Err(error) => reason_refused(reopen, id, "void", form.reason, error).await,
    }
}

/// `POST /billing/claims/{id}/authorization-override`: an admin lets the claim go out past its
/// authorization's sessions, with the reason.
pub async fn override_limit(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let (mut tx, reopen) = db.into_api();
    let reason = Reason {
        reason: form.reason.clone(),
    };
    let result = match override_authorization(&mut tx, id, &reason).await {
        Ok(_) => tx.commit().await,
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/billing/claims/{id}?overridden=1")).into_response()),
        Err(error) => reason_refused(reopen, id, "override", form.reason, error).await,
    }
}

async fn reason_refused(
    reopen: Reopen,
    id: Uuid,
    form: &'static str,
    reason: String,
    error: ApiError,
) -> Result<Response, WebError> {
    let (status, message) = match error {
        ApiError::Invalid {
            field: Some(ref field),
            ref detail,
        } if field == "reason" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Reason: {detail}"),
        ),
        other => problem_of(other)?,
    };
    let db = reopen.open().await?;
    show(
        db,
        id,
        View {
            status: Some(status),
            reason_refusal: Some(ReasonRefusal {
                form,
                reason,
                message,
            }),
            ..View::default()
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_found_fields_land_beside_the_form_field() {
        let edit = Edit {
            edit: ClaimEdit {
                diagnoses: Vec::new(),
                lines: Vec::new(),
                place_of_service: None,
                prior_authorization_number: None,
            },
            diagnosis_slots: vec![0, 2],
            line_rows: vec![1, 3],
        };
        assert_eq!(refusal_key("lines[1].charge", &edit), "line3.charge");
        assert_eq!(
            refusal_key("lines[0].modifiers[1]", &edit),
            "line1.modifiers"
        );
        assert_eq!(
            refusal_key("lines[0].diagnosis_pointers", &edit),
            "line1.pointers"
        );
        assert_eq!(refusal_key("diagnoses[1].icd10_code", &edit), "dx2");
        assert_eq!(refusal_key("place_of_service", &edit), "place_of_service");
        assert_eq!(finding_key("lines[1].charge"), "line0.charge");
        assert_eq!(finding_key("lines[2].documentation"), "line1");
        assert_eq!(finding_key("diagnoses[B].icd10_code"), "dx1");
        assert_eq!(
            finding_key("rendering_provider.npi"),
            "rendering_provider.npi"
        );
    }

    #[test]
    fn the_form_reads_its_rows_and_slots() {
        let fields = [
            ("csrf_token", "t"),
            ("tag", "abc"),
            ("dx0", "f41.1"),
            ("dx2", "F32.1"),
            ("line0.cpt_code", "90834"),
            ("line0.pointers", "A,C"),
            ("line2.cpt_code", "90785"),
            ("line2.remove", "on"),
            ("line99.cpt_code", "ignored"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .to_vec();
        let (csrf, form) = ClaimForm::from_fields(fields);
        assert_eq!(csrf, "t");
        assert_eq!(form.diagnoses[0], "f41.1");
        assert_eq!(form.diagnoses[1], "");
        assert_eq!(form.lines.len(), 3);
        assert!(form.lines[2].remove);
        assert!(form.lines[1].is_blank());
    }
}
