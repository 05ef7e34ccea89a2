//! `/patients/{id}/edit`: demographics and status (active, inactive, discharged with its date
//! and reason), saved through the API's [`update_patient`] with the ETag the form was drawn
//! from, so that a save over someone else's change is refused (412) and the typed values stay.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::etag::etag_of;
use crate::api::extract;
use crate::clinical::patients::demographics::{
    Patient, PatientChange, PatientStatus, fetch_patient, update_patient,
};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Choice, FieldError, Layout, PageTx, Reopen, Section, filled, render};

/// The form's values, as typed (or as the patient is, when the page opens).
#[derive(Debug, Default, Deserialize)]
pub struct PatientForm {
    #[serde(default)]
    csrf_token: String,
    /// The ETag of the version the form was drawn from.
    #[serde(default)]
    etag: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    preferred_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex_at_birth: String,
    #[serde(default)]
    gender_identity: String,
    #[serde(default)]
    pronouns: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address_line1: String,
    #[serde(default)]
    address_line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    discharged_on: String,
    #[serde(default)]
    discharge_reason: String,
}

impl PatientForm {
    fn of(patient: &Patient) -> Self {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        Self {
            csrf_token: String::new(),
            etag: etag_of(patient),
            first_name: patient.first_name.clone(),
            last_name: patient.last_name.clone(),
            preferred_name: text(&patient.preferred_name),
            date_of_birth: patient.date_of_birth.to_string(),
            sex_at_birth: text(&patient.sex_at_birth),
            gender_identity: text(&patient.gender_identity),
            pronouns: text(&patient.pronouns),
            email: text(&patient.email),
            phone: text(&patient.phone),
            address_line1: text(&patient.address_line1),
            address_line2: text(&patient.address_line2),
            city: text(&patient.city),
            state: text(&patient.state),
            postal_code: text(&patient.postal_code),
            status: patient.status.as_str().to_owned(),
            discharged_on: patient
                .discharged_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            discharge_reason: text(&patient.discharge_reason),
        }
    }

    /// The change the form asks for; every field is sent, an empty one clears it.
    fn change(&self) -> Result<PatientChange, ApiError> {
        let optional = |value: &str| Some(filled(value).map(str::to_owned));
        let date_of_birth = match filled(&self.date_of_birth) {
            None => return Err(ApiError::invalid("date_of_birth", "required (YYYY-MM-DD)")),
            Some(text) => Some(parse_date("date_of_birth", text)?),
        };
        let status = match self.status.as_str() {
            "active" => PatientStatus::Active,
            "inactive" => PatientStatus::Inactive,
            "discharged" => PatientStatus::Discharged,
            _ => {
                return Err(ApiError::invalid(
                    "status",
                    "choose active, inactive or discharged",
                ));
            }
        };
        let discharging = status == PatientStatus::Discharged;
        Ok(PatientChange {
            first_name: Some(self.first_name.clone()),
            last_name: Some(self.last_name.clone()),
            preferred_name: optional(&self.preferred_name),
            date_of_birth,
            sex_at_birth: optional(&self.sex_at_birth),
            gender_identity: optional(&self.gender_identity),
            pronouns: optional(&self.pronouns),
            email: optional(&self.email),
            phone: optional(&self.phone),
            address_line1: optional(&self.address_line1),
            address_line2: optional(&self.address_line2),
            city: optional(&self.city),
            state: optional(&self.state),
            postal_code: optional(&self.postal_code),
            status: Some(status),
            // Only a discharge carries a date and a reason (the API clears them otherwise); the
            // database refuses a discharge without either, and says so next to the field.
            discharged_on: if discharging {
                Some(
                    filled(&self.discharged_on)
                        .map(|d| parse_date("discharged_on", d))
                        .transpose()?,
                )
            } else {
                None
            },
            discharge_reason: discharging.then(|| optional(&self.discharge_reason).flatten()),
            ..PatientChange::default()
        })
    }
}

fn parse_date(field: &str, text: &str) -> Result<time::Date, ApiError> {
    indra_rules::clinical::treatment_plan::parse_date(text)
        .ok_or_else(|| ApiError::invalid(field, "not a date (YYYY-MM-DD)"))
}

#[derive(Template)]
#[template(path = "patient_edit.html")]
struct EditPage {
    layout: Layout,
    patient: Patient,
    form: PatientForm,
    sexes: Vec<Choice>,
    statuses: Vec<Choice>,
    /// A refusal that is about the whole form (someone else saved first).
    problem: Option<String>,
    error: Option<FieldError>,
}

impl EditPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// Front desk, clinicians and admins change demographics (policy `patients_update`).
fn may_edit(role: UserRole) -> bool {
    matches!(role, UserRole::Staff | UserRole::Provider | UserRole::Admin)
}

/// `GET /patients/{id}/edit`.
pub async fn page(db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    show(db, &id, StatusCode::OK, None, None, None).await
}

async fn show(
    mut db: PageTx,
    id: &str,
    status: StatusCode,
    form: Option<PatientForm>,
    problem: Option<String>,
    error: Option<FieldError>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let patient = match fetch_patient(db.conn(), id).await {
        Ok(patient) => patient,
        Err(ApiError::NotFound) => return Err(WebError::not_found().with_layout(layout)),
        Err(other) => return Err(other.into()),
    };
    if !may_edit(db.caller.role) {
        return Err(layout.forbidden("front desk, clinicians and admins edit patients"));
    }
    db.commit().await?;
    let mut form = form.unwrap_or_else(|| PatientForm::of(&patient));
    if problem.is_some() {
        // Saved by someone else: saving again replaces their change with the values kept here.
        form.etag = etag_of(&patient);
    }
    let sexes = [
        ("", "Not recorded"),
        ("female", "Female"),
        ("male", "Male"),
        ("intersex", "Intersex"),
        ("unknown", "Unknown"),
    ]
    .into_iter()
    .map(|(value, label)| Choice::new(value, label, &form.sex_at_birth))
    .collect();
    let statuses = [
        ("active", "Active"),
        ("inactive", "Inactive"),
        ("discharged", "Discharged"),
    ]
    .into_iter()
    .map(|(value, label)| Choice::new(value, label, &form.status))
    .collect();
    render(
        status,
        &EditPage {
            layout,
            patient,
            form,
            sexes,
            statuses,
            problem,
            error,
        },
    )
}

/// `POST /patients/{id}/edit`: saves through the API's handler with `If-Match`.
pub async fn save(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<PatientForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let Ok(patient_id) = Uuid::parse_str(&id) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    let change = match form.change() {
        Ok(change) => change,
        Err(error) => {
            let (_, reopen) = db.into_api();
            return refused(reopen, &id, form, error).await;
        }
    };
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&form.etag) {
        headers.insert(header::IF_MATCH, tag);
    }
    let (tx, reopen) = db.into_api();
    match update_patient(
        tx,
        extract::Path(patient_id),
        headers,
        extract::Json(change),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}?updated=1")).into_response()),
        Err(error) => refused(reopen, &id, form, error).await,
    }
}

async fn refused(
    reopen: Reopen,
    id: &str,
    form: PatientForm,
    error: ApiError,
) -> Result<Response, WebError> {
    let db = reopen.open().await?;
    if matches!(error, ApiError::PreconditionFailed) {
        let problem = "Not saved: someone else changed this patient since you opened the form. \
                       Your values are kept below; check them and save again to replace the other change."
            .to_owned();
        return show(
            db,
            id,
            StatusCode::PRECONDITION_FAILED,
            Some(form),
            Some(problem),
            None,
        )
        .await;
    }
    let Some((status, mut field_error)) = FieldError::from_api(&error) else {
        let mut db = db;
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::new(error).with_layout(layout));
    };
    // The database names the discharge date for a discharge missing either; point at the one
    // that is missing.
    if field_error.field == "discharged_on"
        && filled(&form.discharged_on).is_some()
        && filled(&form.discharge_reason).is_none()
    {
        field_error.field = "discharge_reason".to_owned();
    }
    show(db, id, status, Some(form), None, Some(field_error)).await
}
