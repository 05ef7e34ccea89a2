//! `/patients/{id}`: the chart a clinician reads before a session, from the API's
//! [`load_chart`], and the form that adds a diagnosis through the API's handler. Row-level
//! security decides which parts each role gets; another practice's patient is the 404 page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use indra_rules::clinical::recurrence::Zone;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::extract;
use crate::billing::coverage::{AuthorizationUsage, Coverage, list_coverage};
use crate::clinical::patients::chart::{Chart, load_chart};
use crate::clinical::patients::diagnoses::{NewDiagnosis, add_diagnosis};
use crate::clinical::plans::medications::{
    Discontinuation, MedicationChange, NewMedication, change_medication, discontinue_medication,
    start_medication,
};
use crate::clinical::scheduling::appointments::practice_zone;
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{FieldError, Layout, PageTx, Section, clock, day_label, filled, render};

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    registered: Option<String>,
    diagnosis_added: Option<String>,
    updated: Option<String>,
    medication_started: Option<String>,
    medication_changed: Option<String>,
    medication_discontinued: Option<String>,
}

/// The values of a medication form (start, change or discontinue), kept when the API refuses
/// them so that nothing typed is lost.
#[derive(Debug, Default, Deserialize)]
pub struct MedicationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    dose: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    started_on: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    changed_on: String,
    #[serde(default)]
    ended_on: String,
}

/// A medication form the API refused: which one (`start`, `change-{id}`, `discontinue-{id}`),
/// what was typed, and the field at fault.
struct MedicationRefusal {
    form: String,
    values: MedicationForm,
    error: FieldError,
}

/// A changed or discontinued medication, with why.
#[derive(sqlx::FromRow)]
struct MedicationHistoryLine {
    name: String,
    dose: Option<String>,
    route: Option<String>,
    frequency: Option<String>,
    status: String,
    started_on: time::Date,
    ended_on: Option<time::Date>,
    change_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiagnosisForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    icd10_code: String,
    /// A checkbox: present when ticked.
    is_primary: Option<String>,
}

/// An appointment or encounter as the chart lists it, in the practice's time.
struct When {
    day: String,
    time: String,
}

struct AppointmentLine {
    when: When,
    ends: String,
    kind: String,
    modality: String,
    location: Option<String>,
    provider: String,
}

struct EncounterLine {
    id: Uuid,
    when: Option<When>,
    kind: String,
    status: String,
    provider: String,
    /// `draft`, `signed`... or none when no note was started.
    note_status: Option<String>,
    note_version: Option<i32>,
    /// The current version of the note, to open it.
    note_id: Option<Uuid>,
}

#[derive(Template)]
#[template(path = "chart.html")]
struct ChartPage {
    layout: Layout,
    chart: Chart,
    age: i32,
    time_zone: String,
    appointments: Vec<AppointmentLine>,
    encounters: Vec<EncounterLine>,
    /// Roles that read diagnoses, medications and the treatment plan (not the front desk).
    sees_diagnoses: bool,
    sees_clinical: bool,
    may_add_diagnosis: bool,
    /// Providers start, change and discontinue medications (policy `medications_update`).
    may_prescribe: bool,
    /// Front desk, clinicians and admins edit demographics and status.
    may_edit_patient: bool,
    medication_history: Vec<MedicationHistoryLine>,
    /// The patient's active coverage, primary first, with the authorizations' usage.
    coverage: Vec<Coverage>,
    /// Billers, admins and the front desk keep the insurance (its own page).
    may_keep_insurance: bool,
    notice: Option<&'static str>,
    form: DiagnosisForm,
    error: Option<FieldError>,
    refusal: Option<MedicationRefusal>,
    empty: MedicationForm,
    /// The assistant's panel dictates about this patient.
    assistant_patient_id: String,
}

impl ChartPage {
    fn priority(&self, coverage: &Coverage) -> &'static str {
        crate::web::billing::insurance::priority_word(coverage.priority)
    }

    fn level(&self, usage: &AuthorizationUsage) -> &'static str {
        crate::web::billing::insurance::usage_level(usage)
    }

    fn bounds(&self, usage: &AuthorizationUsage) -> (String, String) {
        crate::web::billing::insurance::meter_bounds(usage)
    }

    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }

    /// The refused medication form `form`, when it is the one refused (its panel opens).
    fn refused(&self, form: &str) -> bool {
        self.refusal.as_ref().is_some_and(|r| r.form == form)
    }

    /// What was typed into medication form `form` (empty values for the other forms).
    fn typed(&self, form: &str) -> &MedicationForm {
        match &self.refusal {
            Some(r) if r.form == form => &r.values,
            _ => &self.empty,
        }
    }

    /// The message for `field` of medication form `form`, when it is the field at fault.
    fn med_error(&self, form: &str, field: &str) -> Option<&str> {
        self.refusal
            .as_ref()
            .filter(|r| r.form == form && r.error.field == field)
            .map(|r| r.error.message.as_str())
    }

    /// The one-line fields of the form that starts a medication: name, label, typed value.
    fn start_fields(&self) -> [(&'static str, &'static str, &str); 4] {
        let typed = self.typed("start");
        [
            ("name", "Medication", typed.name.as_str()),
            ("dose", "Dose", typed.dose.as_str()),
            ("route", "Route", typed.route.as_str()),
            ("frequency", "Frequency", typed.frequency.as_str()),
        ]
    }

    /// A refusal of medication form `form` that names none of its fields.
    fn med_form_error(&self, form: &str, fields: &[&str]) -> Option<&str> {
        self.refusal
            .as_ref()
            .filter(|r| r.form == form && !fields.contains(&r.error.field.as_str()))
            .map(|r| r.error.message.as_str())
    }
}

pub async fn page(
    db: PageTx,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = if notice.registered.is_some() {
        Some("Registered. This is the patient's chart.")
    } else if notice.diagnosis_added.is_some() {
        Some("Diagnosis added.")
    } else if notice.updated.is_some() {
        Some("Patient saved.")
    } else if notice.medication_started.is_some() {
        Some("Medication started.")
    } else if notice.medication_changed.is_some() {
        Some("Medication changed; the previous dose is kept in the history.")
    } else if notice.medication_discontinued.is_some() {
        Some("Medication discontinued.")
    } else {
        None
    };
    show(
        db,
        &id,
        StatusCode::OK,
        notice,
        DiagnosisForm::default(),
        None,
        None,
    )
    .await
}

async fn show(
    mut db: PageTx,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    form: DiagnosisForm,
    error: Option<FieldError>,
    refusal: Option<MedicationRefusal>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let chart = match load_chart(db.conn(), id).await {
        Ok(chart) => chart,
        Err(ApiError::NotFound) => return Err(WebError::not_found().with_layout(layout)),
        Err(other) => return Err(other.into()),
    };
    let zone = practice_zone(&mut db).await?;
    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(db.caller.org_id)
        .fetch_one(db.conn())
        .await?;
    let today: time::Date =
        sqlx::query_scalar("select (now() at time zone time_zone)::date from organizations")
            .fetch_one(db.conn())
            .await?;
    // Row-level security shows medications to clinicians and admins only; others read none.
    let medication_history = sqlx::query_as(
        "select name, dose, route, frequency, status::text as status, started_on, ended_on, change_reason
           from medications
          where patient_id = $1 and status <> 'active'
          order by coalesce(ended_on, started_on) desc, created_at desc, id",
    )
    .bind(id)
    .fetch_all(db.conn())
    .await?;
    let coverage: Vec<Coverage> = list_coverage(&mut db, id)
        .await?
        .into_iter()
        .filter(|c| c.is_active)
        .collect();
    let role = db.caller.role;
    db.commit().await?;

    let appointments = chart
        .upcoming_appointments
        .iter()
        .map(|a| AppointmentLine {
            when: when(&zone, a.starts_at),
            ends: clock(zone.local(a.ends_at)),
            kind: words(&a.appointment_type),
            modality: words(&a.modality),
            location: a.location.clone(),
            provider: a.provider_name.clone(),
        })
        .collect();
    let encounters = chart
        .recent_encounters
        .iter()
        .map(|e| EncounterLine {
            id: e.id,
            when: e.started_at.map(|at| when(&zone, at)),
            kind: words(&e.encounter_type),
            status: words(&e.status),
            provider: e.provider_name.clone(),
            note_status: e.note_status.clone(),
            note_version: e.note_version,
            note_id: e.note_id,
        })
        .collect();
    let born = chart.patient.date_of_birth;
    let mut age = today.year() - born.year();
    if (today.month() as u8, today.day()) < (born.month() as u8, born.day()) {
        age -= 1;
    }
    let assistant_patient_id = chart.patient.id.to_string();
    let page = render(
        status,
        &ChartPage {
            assistant_patient_id,
            layout,
            chart,
            age,
            time_zone,
            appointments,
            encounters,
            sees_diagnoses: role != UserRole::Staff,
            sees_clinical: matches!(role, UserRole::Provider | UserRole::Admin),
            may_add_diagnosis: role == UserRole::Provider,
            may_prescribe: role == UserRole::Provider,
            may_edit_patient: role != UserRole::Billing,
            medication_history,
            coverage,
            may_keep_insurance: crate::web::billing::insurance::keeps_insurance(role),
            notice,
            form,
            error,
            refusal,
            empty: MedicationForm::default(),
        },
    )?;
    // The assistant panel's dictation script.
    Ok(crate::web::assistant::allow_script(page))
}

fn when(zone: &Zone, at: time::OffsetDateTime) -> When {
    let local = zone.local(at);
    When {
        day: day_label(local.date()),
        time: clock(local),
    }
}

/// `individual_therapy` -> `Individual therapy`.
pub fn words(code: &str) -> String {
    crate::web::page::capitalized(&code.replace('_', " "))
}

/// `POST /patients/{id}/diagnoses`: adds a diagnosis through the API's handler (which refuses a
/// code that is not billable and a second primary diagnosis, naming the one there is).
pub async fn add(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<DiagnosisForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let Ok(patient_id) = Uuid::parse_str(&id) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    if db.caller.role != UserRole::Provider {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(layout.forbidden("only clinicians add diagnoses"));
    }
    let code = form.icd10_code.trim();
    if code.is_empty() {
        let error = ApiError::invalid("icd10_code", "type a code, e.g. F41.1");
        return refused(db, &id, form, error).await;
    }
    let new = NewDiagnosis {
        icd10_code: code.to_owned(),
        is_primary: form.is_primary.is_some(),
        onset_date: None,
        diagnosed_on: None,
        notes: None,
    };
    let (tx, reopen) = db.into_api();
    match add_diagnosis(
        tx,
        extract::Path(patient_id),
        HeaderMap::new(),
        extract::Json(new),
    )
    .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/patients/{patient_id}?diagnosis_added=1")).into_response())
        }
        Err(error) => refused(reopen.open().await?, &id, form, error).await,
    }
}

async fn refused(
    db: PageTx,
    id: &str,
    form: DiagnosisForm,
    error: ApiError,
) -> Result<Response, WebError> {
    let Some((status, field_error)) = FieldError::from_api(&error) else {
        return Err(error.into());
    };
    show(db, id, status, None, form, Some(field_error), None).await
}

/// `POST /patients/{id}/medications`: starts a medication through the API's handler.
pub async fn start(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<MedicationForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = prescriber_target(&mut db, &id).await?;
    let new = NewMedication {
        name: form.name.clone(),
        dose: Some(form.dose.clone()),
        route: Some(form.route.clone()),
        frequency: Some(form.frequency.clone()),
        instructions: Some(form.instructions.clone()),
        started_on: filled(&form.started_on).map(str::to_owned),
    };
    let (tx, reopen) = db.into_api();
    match start_medication(
        tx,
        extract::Path(patient_id),
        HeaderMap::new(),
        extract::Json(new),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/patients/{patient_id}?medication_started=1#medications"
        ))
        .into_response()),
        Err(error) => medication_refused(reopen, &id, "start".to_owned(), form, error).await,
    }
}

/// `POST /patients/{id}/medications/{medication}/change`: a new dose or frequency, with why;
/// the API keeps the old row as history (`changed`).
pub async fn change(
    mut db: PageTx,
    Path((id, medication)): Path<(String, String)>,
    Form(form): Form<MedicationForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = prescriber_target(&mut db, &id).await?;
    let Ok(medication_id) = Uuid::parse_str(&medication) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    let change = MedicationChange {
        dose: Some(form.dose.clone()),
        frequency: Some(form.frequency.clone()),
        route: None,
        instructions: None,
        reason: form.reason.clone(),
        changed_on: filled(&form.changed_on).map(str::to_owned),
    };
    let (tx, reopen) = db.into_api();
    match change_medication(
        tx,
        extract::Path(medication_id),
        HeaderMap::new(),
        extract::Json(change),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/patients/{patient_id}?medication_changed=1#medications"
        ))
        .into_response()),
        Err(error) => {
            let key = format!("change-{medication_id}");
            medication_refused(reopen, &id, key, form, error).await
        }
    }
}

/// `POST /patients/{id}/medications/{medication}/discontinue`: stops it, with why and when.
pub async fn discontinue(
    mut db: PageTx,
    Path((id, medication)): Path<(String, String)>,
    Form(form): Form<MedicationForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = prescriber_target(&mut db, &id).await?;
    let Ok(medication_id) = Uuid::parse_str(&medication) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    let stop = Discontinuation {
        reason: form.reason.clone(),
        ended_on: filled(&form.ended_on).map(str::to_owned),
    };
    let (tx, reopen) = db.into_api();
    match discontinue_medication(tx, extract::Path(medication_id), extract::Json(stop)).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/patients/{patient_id}?medication_discontinued=1#medications"
        ))
        .into_response()),
        Err(error) => {
            let key = format!("discontinue-{medication_id}");
            medication_refused(reopen, &id, key, form, error).await
        }
    }
}

/// The patient a medication form is about; 404 for a malformed id, 403 for a caller who is
/// not a provider (the database would refuse them too; this says it in words).
async fn prescriber_target(db: &mut PageTx, id: &str) -> Result<Uuid, WebError> {
    let Ok(patient_id) = Uuid::parse_str(id) else {
        let layout = Layout::load(db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    if db.caller.role != UserRole::Provider {
        let layout = Layout::load(db, Section::Patients).await?;
        return Err(layout.forbidden("only clinicians start, change or discontinue medications"));
    }
    Ok(patient_id)
}

/// The chart again with the refused form open, its values kept and the field at fault marked.
async fn medication_refused(
    reopen: crate::web::page::Reopen,
    id: &str,
    form_key: String,
    values: MedicationForm,
    error: ApiError,
) -> Result<Response, WebError> {
    let mut db = reopen.open().await?;
    let Some((status, field_error)) = FieldError::from_api(&error) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::new(error).with_layout(layout));
    };
    let refusal = MedicationRefusal {
        form: form_key,
        values,
        error: field_error,
    };
    show(
        db,
        id,
        status,
        None,
        DiagnosisForm::default(),
        None,
        Some(refusal),
    )
    .await
}
