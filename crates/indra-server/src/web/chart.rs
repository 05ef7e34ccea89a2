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
use crate::clinical::patients::chart::{Chart, load_chart};
use crate::clinical::patients::diagnoses::{NewDiagnosis, add_diagnosis};
use crate::clinical::scheduling::appointments::practice_zone;
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{FieldError, Layout, PageTx, Section, clock, day_label, render};

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    registered: Option<String>,
    diagnosis_added: Option<String>,
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
    notice: Option<&'static str>,
    form: DiagnosisForm,
    error: Option<FieldError>,
}

impl ChartPage {
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
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
    render(
        status,
        &ChartPage {
            layout,
            chart,
            age,
            time_zone,
            appointments,
            encounters,
            sees_diagnoses: role != UserRole::Staff,
            sees_clinical: matches!(role, UserRole::Provider | UserRole::Admin),
            may_add_diagnosis: role == UserRole::Provider,
            notice,
            form,
            error,
        },
    )
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
    show(db, id, status, None, form, Some(field_error)).await
}
