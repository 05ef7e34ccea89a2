//! `/admin/providers`: the practice's clinicians as the record and the claims name them (NPI,
//! credentials, license, note format, supervision). An admin adds the provider record of a user
//! who has the provider role; the database checks the NPI's check digit, the supervision rule
//! and the formats, and the page says which field it refused.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Connection;
use uuid::Uuid;

use crate::error::ApiError;
use crate::web::error::WebError;
use crate::web::page::{Choice, FieldError, Layout, PageTx, Section, filled, render};

const ADMINS_ONLY: &str = "only admins manage the practice's providers";
const NOTE_FORMATS: [&str; 3] = ["SOAP", "DAP", "BIRP"];

#[derive(Debug, sqlx::FromRow)]
struct ProviderRow {
    id: Uuid,
    name: String,
    email: String,
    credentials: String,
    npi: String,
    license: Option<String>,
    note_format: String,
    requires_supervision: bool,
    supervisor: Option<String>,
    is_active: bool,
}

/// What the form shows: empty, or what was typed when it was refused.
#[derive(Debug, Default, Deserialize)]
pub struct ProviderForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    credentials: String,
    #[serde(default)]
    npi: String,
    #[serde(default)]
    license_number: String,
    #[serde(default)]
    license_state: String,
    #[serde(default)]
    taxonomy_code: String,
    #[serde(default)]
    preferred_note_format: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    requires_supervision: Option<String>,
    #[serde(default)]
    supervisor_id: String,
}

#[derive(Template)]
#[template(path = "admin/providers.html")]
struct ProvidersPage {
    layout: Layout,
    providers: Vec<ProviderRow>,
    notice: Option<String>,
    error: Option<FieldError>,
    form: ProviderForm,
    users: Vec<Choice>,
    supervisors: Vec<Choice>,
    formats: Vec<Choice>,
}

impl ProvidersPage {
    /// Whether the refused form's error is about `field`.
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    added: Option<String>,
}

pub async fn page(mut db: PageTx, Query(notice): Query<Notice>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::AdminProviders).await?;
    if !db.is_admin() {
        return Err(layout.forbidden(ADMINS_ONLY));
    }
    show(
        db,
        layout,
        StatusCode::OK,
        notice.added,
        None,
        ProviderForm::default(),
    )
    .await
}

async fn show(
    mut db: PageTx,
    layout: Layout,
    status: StatusCode,
    added: Option<String>,
    error: Option<FieldError>,
    form: ProviderForm,
) -> Result<Response, WebError> {
    let providers: Vec<ProviderRow> = sqlx::query_as(
        "select p.id, p.first_name || ' ' || p.last_name as name, u.email::text as email,
                p.credentials, p.npi,
                nullif(concat_ws(' ', p.license_state, p.license_number), '') as license,
                p.preferred_note_format::text as note_format, p.requires_supervision,
                s.first_name || ' ' || s.last_name || ', ' || s.credentials as supervisor,
                p.is_active
           from providers p
           join users u on u.org_id = p.org_id and u.id = p.user_id
           left join providers s on s.org_id = p.org_id and s.id = p.supervisor_id
          order by p.is_active desc, lower(p.last_name), lower(p.first_name), p.id",
    )
    .fetch_all(db.conn())
    .await?;
    // Users with the provider role who have no provider record yet.
    let candidates: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select u.id, u.full_name, u.email::text from users u
          where u.role = 'provider' and u.is_active
            and not exists (select 1 from providers p where p.org_id = u.org_id and p.user_id = u.id)
          order by lower(u.full_name), u.id",
    )
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;

    let notice = added
        .and_then(|id| Uuid::parse_str(&id).ok())
        .and_then(|id| providers.iter().find(|p| p.id == id))
        .map(|p| format!("Added {}, {}.", p.name, p.credentials));
    let users = candidates
        .into_iter()
        .map(|(id, name, email)| {
            Choice::new(id.to_string(), format!("{name} ({email})"), &form.user_id)
        })
        .collect();
    let supervisors = providers
        .iter()
        .filter(|p| p.is_active)
        .map(|p| {
            Choice::new(
                p.id.to_string(),
                format!("{}, {}", p.name, p.credentials),
                &form.supervisor_id,
            )
        })
        .collect();
    let format = if form.preferred_note_format.is_empty() {
        "SOAP"
    } else {
        form.preferred_note_format.as_str()
    };
    let formats = NOTE_FORMATS
        .iter()
        .map(|f| Choice::new(*f, *f, format))
        .collect();
    render(
        status,
        &ProvidersPage {
            layout,
            providers,
            notice,
            error,
            users,
            supervisors,
            formats,
            form,
        },
    )
}

pub async fn create(
    mut db: PageTx,
    Form(mut form): Form<ProviderForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let layout = Layout::load(&mut db, Section::AdminProviders).await?;
    if !db.is_admin() {
        return Err(layout.forbidden(ADMINS_ONLY));
    }
    match add_provider(&mut db, &form).await {
        Ok(id) => {
            db.commit().await?;
            Ok(Redirect::to(&format!("/admin/providers?added={id}")).into_response())
        }
        Err(error) => {
            let Some((status, field_error)) = FieldError::from_api(&error) else {
                return Err(error.into());
            };
            form.csrf_token.clear();
            show(db, layout, status, None, Some(field_error), form).await
        }
    }
}

/// A value the form must have.
fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    filled(value).ok_or_else(|| ApiError::invalid(field, "required"))
}

/// Adds the provider in a savepoint, so that a refused row leaves the transaction usable for
/// showing the page again.
async fn add_provider(db: &mut PageTx, form: &ProviderForm) -> Result<Uuid, ApiError> {
    let user_id = filled(&form.user_id)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            ApiError::invalid("user_id", "choose the user who signs in as this provider")
        })?;
    let first_name = required("first_name", &form.first_name)?;
    let last_name = required("last_name", &form.last_name)?;
    let credentials = required("credentials", &form.credentials)?;
    let npi = required("npi", &form.npi)?;
    let license_state = filled(&form.license_state).map(str::to_uppercase);
    if license_state
        .as_deref()
        .is_some_and(|s| s.len() != 2 || !s.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::invalid(
            "license_state",
            "the two-letter state code, e.g. TX",
        ));
    }
    let taxonomy_code = filled(&form.taxonomy_code).map(str::to_uppercase);
    if taxonomy_code.as_deref().is_some_and(|t| {
        t.len() != 10 || !t.ends_with('X') || !t.bytes().all(|b| b.is_ascii_alphanumeric())
    }) {
        return Err(ApiError::invalid(
            "taxonomy_code",
            "10 characters ending in X, e.g. 101YP2500X",
        ));
    }
    if !NOTE_FORMATS.contains(&form.preferred_note_format.as_str()) {
        return Err(ApiError::invalid(
            "preferred_note_format",
            "choose SOAP, DAP or BIRP",
        ));
    }
    let supervisor_id = match filled(&form.supervisor_id) {
        None => None,
        Some(id) => Some(Uuid::parse_str(id).map_err(|_| {
            ApiError::invalid("supervisor_id", "choose a supervisor from the list")
        })?),
    };
    let org_id = db.caller.org_id;
    let mut savepoint = db.conn().begin().await?;
    let inserted: Result<Uuid, sqlx::Error> = sqlx::query_scalar(
        "insert into providers (org_id, user_id, first_name, last_name, credentials, npi,
                                license_number, license_state, taxonomy_code,
                                preferred_note_format, requires_supervision, supervisor_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::note_format, $11, $12)
         returning id",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(first_name)
    .bind(last_name)
    .bind(credentials)
    .bind(npi)
    .bind(filled(&form.license_number))
    .bind(license_state)
    .bind(taxonomy_code)
    .bind(&form.preferred_note_format)
    .bind(form.requires_supervision.is_some())
    .bind(supervisor_id)
    .fetch_one(&mut *savepoint)
    .await;
    match inserted {
        Ok(id) => {
            savepoint.commit().await?;
            Ok(id)
        }
        Err(error) => {
            savepoint.rollback().await?;
            Err(error.into())
        }
    }
}
