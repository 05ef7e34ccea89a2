//! `/patients`: finding a patient (the ranked, typo-tolerant search of the API: a misspelled or
//! partial name, a date of birth, a record number) and registering one. Row-level security
//! decides what each role sees and who may register; the form goes through the API's handler.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::Date;
use uuid::Uuid;

use crate::api::extract;
use crate::clinical::patients::demographics::{NewPatient, create_patient};
use crate::clinical::patients::iso_date;
use crate::clinical::patients::search::{PatientQuery, search_patients};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Choice, FieldError, Layout, PageTx, Section, created_id, filled, render};

/// Patients shown at most; a longer list asks for a narrower search.
const LIMIT: i64 = 100;
/// Best matches shown for a search.
const SEARCH_LIMIT: i64 = 25;

const SEXES: [(&str, &str); 5] = [
    ("", "Not recorded"),
    ("female", "Female"),
    ("male", "Male"),
    ("intersex", "Intersex"),
    ("unknown", "Unknown"),
];

#[derive(Debug, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Debug, sqlx::FromRow)]
struct PatientRow {
    id: Uuid,
    name: String,
    preferred_name: Option<String>,
    mrn: String,
    date_of_birth: Date,
    status: String,
}

/// What the registration form shows: empty, or what was typed when it was refused.
#[derive(Debug, Default, Deserialize)]
pub struct NewPatientForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex_at_birth: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mrn: String,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    layout: Layout,
    q: String,
    /// Why the search text could not be read (e.g. one letter).
    search_error: Option<String>,
    /// Ranked search results rather than the alphabetical list.
    ranked: bool,
    patients: Vec<PatientRow>,
    more: bool,
    can_register: bool,
    form: NewPatientForm,
    sexes: Vec<Choice>,
    error: Option<FieldError>,
}

impl PatientsPage {
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

/// Every role but billing registers patients (policy `patients_insert`).
fn may_register(role: UserRole) -> bool {
    role != UserRole::Billing
}

pub async fn list(db: PageTx, Query(search): Query<Search>) -> Result<Response, WebError> {
    show(
        db,
        StatusCode::OK,
        search.q.trim(),
        NewPatientForm::default(),
        None,
    )
    .await
}

async fn show(
    mut db: PageTx,
    status: StatusCode,
    q: &str,
    form: NewPatientForm,
    error: Option<FieldError>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let mut search_error = None;
    let ranked = filled(q).is_some();
    let mut patients: Vec<PatientRow> = match filled(q) {
        None => {
            sqlx::query_as(
                "select id, last_name || ', ' || first_name as name,
                        nullif(btrim(preferred_name), '') as preferred_name,
                        mrn, date_of_birth, status::text as status
                   from patients
                  order by lower(last_name), lower(first_name), id
                  limit $1",
            )
            .bind(LIMIT + 1)
            .fetch_all(db.conn())
            .await?
        }
        Some(q) => match PatientQuery::parse(q) {
            Ok(query) => search_patients(db.conn(), &query, SEARCH_LIMIT)
                .await?
                .into_iter()
                .map(|p| PatientRow {
                    id: p.id,
                    name: format!("{}, {}", p.last_name, p.first_name),
                    preferred_name: p.preferred_name.filter(|n| !n.trim().is_empty()),
                    mrn: p.mrn,
                    date_of_birth: p.date_of_birth,
                    status: p.status.as_str().to_owned(),
                })
                .collect(),
            Err(error) => {
                search_error = match error {
                    ApiError::Invalid { detail, .. } => Some(detail),
                    other => return Err(other.into()),
                };
                Vec::new()
            }
        },
    };
    let can_register = may_register(db.caller.role);
    db.commit().await?;
    let limit = if ranked { SEARCH_LIMIT } else { LIMIT };
    let more = !ranked && patients.len() > limit as usize;
    patients.truncate(limit as usize);
    let sexes = SEXES
        .iter()
        .map(|(value, label)| Choice::new(*value, *label, &form.sex_at_birth))
        .collect();
    render(
        status,
        &PatientsPage {
            layout,
            q: q.to_owned(),
            search_error,
            ranked,
            patients,
            more,
            can_register,
            form,
            sexes,
            error,
        },
    )
}

/// `POST /patients`: registers a patient through the API's handler, then opens their chart.
pub async fn register(
    mut db: PageTx,
    Form(form): Form<NewPatientForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    if !may_register(db.caller.role) {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(layout.forbidden("billing does not register patients"));
    }
    let new = match new_patient(&form) {
        Ok(new) => new,
        Err(error) => return refused(db, form, error).await,
    };
    let (tx, reopen) = db.into_api();
    match create_patient(tx, HeaderMap::new(), extract::Json(new)).await {
        Ok(response) => {
            let id = created_id(&response)
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no Location")))?;
            Ok(Redirect::to(&format!("/patients/{id}?registered=1")).into_response())
        }
        Err(error) => refused(reopen.open().await?, form, error).await,
    }
}

/// The page again with the form as it was typed and the error next to its field.
async fn refused(db: PageTx, form: NewPatientForm, error: ApiError) -> Result<Response, WebError> {
    let Some((status, field_error)) = FieldError::from_api(&error) else {
        return Err(error.into());
    };
    show(db, status, "", form, Some(field_error)).await
}

fn new_patient(form: &NewPatientForm) -> Result<NewPatient, ApiError> {
    let first_name =
        filled(&form.first_name).ok_or_else(|| ApiError::invalid("first_name", "required"))?;
    let last_name =
        filled(&form.last_name).ok_or_else(|| ApiError::invalid("last_name", "required"))?;
    let date_of_birth = filled(&form.date_of_birth)
        .ok_or_else(|| ApiError::invalid("date_of_birth", "required"))
        .and_then(|text| {
            iso_date::parse(text)
                .map_err(|_| ApiError::invalid("date_of_birth", "not a date (YYYY-MM-DD)"))
        })?;
    let text = |value: &str| filled(value).map(str::to_owned);
    Ok(NewPatient {
        mrn: text(&form.mrn),
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        preferred_name: None,
        date_of_birth,
        sex_at_birth: text(&form.sex_at_birth),
        gender_identity: None,
        pronouns: None,
        email: text(&form.email),
        phone: text(&form.phone),
        address_line1: None,
        address_line2: None,
        city: None,
        state: None,
        postal_code: None,
        primary_provider_id: None,
    })
}
