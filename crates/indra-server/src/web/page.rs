//! What every signed-in page shares: the caller's transaction, the layout around the content
//! (who is signed in, the navigation, the sign-out form), and rendering.

use std::ops::{Deref, DerefMut};

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::ops::request_id::RequestId;
use crate::platform::caller::{CallerTx, UserRole};
use crate::state::AppState;
use crate::web::error::WebError;

/// The request's [`CallerTx`], for a page: a missing or expired session redirects to the
/// sign-in page, other refusals render an HTML error page.
pub struct PageTx(CallerTx, Reopen);

impl FromRequestParts<AppState> for PageTx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let reopen = Reopen {
            state: state.clone(),
            headers: parts.headers.clone(),
            request_id: parts.extensions.get::<RequestId>().cloned(),
        };
        Ok(Self(
            CallerTx::from_request_parts(parts, state).await?,
            reopen,
        ))
    }
}

/// What opening the caller's transaction once more needs. A page hands its transaction to the
/// API handler that does the work (so that the page and the API follow the same rules, in the
/// same code), which commits it or rolls it back; the page then reads what it shows in a new one.
pub struct Reopen {
    state: AppState,
    headers: HeaderMap,
    request_id: Option<RequestId>,
}

impl Reopen {
    /// A new transaction as the same caller (the session is checked again).
    pub async fn open(&self) -> Result<PageTx, WebError> {
        let (mut parts, ()) = Request::builder()
            .method(Method::GET)
            .uri("/")
            .body(())
            .map_err(|e| ApiError::Internal(e.into()))?
            .into_parts();
        parts.headers = self.headers.clone();
        if let Some(id) = &self.request_id {
            parts.extensions.insert(id.clone());
        }
        let tx = CallerTx::from_request_parts(&mut parts, &self.state).await?;
        Ok(PageTx(
            tx,
            Self {
                state: self.state.clone(),
                headers: self.headers.clone(),
                request_id: self.request_id.clone(),
            },
        ))
    }
}

/// The body of an API handler's JSON answer.
pub async fn api_body<T: DeserializeOwned>(response: Response) -> Result<T, WebError> {
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("reading an answer")))?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("reading an answer")))?)
}

/// The id at the end of an API handler's `Location` header (`/api/v1/patients/{id}`).
pub fn created_id(response: &Response) -> Option<uuid::Uuid> {
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    uuid::Uuid::parse_str(location.rsplit('/').next()?).ok()
}

impl Deref for PageTx {
    type Target = CallerTx;
    fn deref(&self) -> &CallerTx {
        &self.0
    }
}

impl DerefMut for PageTx {
    fn deref_mut(&mut self) -> &mut CallerTx {
        &mut self.0
    }
}

impl PageTx {
    pub async fn commit(self) -> Result<(), WebError> {
        Ok(self.0.commit().await?)
    }

    /// The transaction, for an API handler, and what opening another one needs.
    pub fn into_api(self) -> (CallerTx, Reopen) {
        (self.0, self.1)
    }

    pub fn is_provider(&self) -> bool {
        self.caller.role == UserRole::Provider
    }

    /// Refuses a form whose CSRF token is not the session's.
    pub fn require_csrf(&self, form_token: &str) -> Result<(), WebError> {
        Ok(self.caller.require_csrf(form_token)?)
    }

    pub fn is_admin(&self) -> bool {
        self.caller.role == UserRole::Admin
    }
}

/// The parts of the application, as the navigation names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Today,
    Patients,
    Schedule,
    Billing,
    Assistant,
    AdminUsers,
    AdminProviders,
    AdminAudit,
}

impl Section {
    fn is_admin(self) -> bool {
        matches!(
            self,
            Self::AdminUsers | Self::AdminProviders | Self::AdminAudit
        )
    }
}

/// A link of a navigation bar.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// Around every signed-in page: who is signed in, where they are, and the sign-out form.
#[derive(Debug, Clone)]
pub struct Layout {
    pub full_name: String,
    pub role: &'static str,
    /// Echoed by every form of the page; empty for a caller with a bearer token (no session).
    pub csrf_token: String,
    pub nav: Vec<NavItem>,
    /// The administration pages' own navigation, on those pages.
    pub admin_nav: Vec<NavItem>,
}

impl Layout {
    pub async fn load(db: &mut PageTx, section: Section) -> Result<Self, WebError> {
        let user_id = db.caller.user_id;
        let full_name: String = sqlx::query_scalar("select full_name from users where id = $1")
            .bind(user_id)
            .fetch_one(db.conn())
            .await?;
        let is_admin = db.is_admin();
        let item = |href, label, this: Section| NavItem {
            href,
            label,
            current: this == section,
        };
        let mut nav = vec![
            item("/", "Today", Section::Today),
            item("/patients", "Patients", Section::Patients),
            item("/schedule", "Schedule", Section::Schedule),
        ];
        // Claims are worked by billers and admins; the others would only meet a refusal there.
        if matches!(db.caller.role, UserRole::Billing | UserRole::Admin) {
            nav.push(item("/billing", "Billing", Section::Billing));
        }
        // Clinicians dictate to the assistant and admins choose its model; billers and the front
        // desk can start no run and would find nothing to do there.
        if matches!(db.caller.role, UserRole::Provider | UserRole::Admin) {
            nav.push(item("/assistant", "Assistant", Section::Assistant));
        }
        let mut admin_nav = Vec::new();
        if is_admin {
            nav.push(NavItem {
                href: "/admin/users",
                label: "Admin",
                current: section.is_admin(),
            });
            if section.is_admin() {
                admin_nav = vec![
                    item("/admin/users", "Users", Section::AdminUsers),
                    item("/admin/providers", "Providers", Section::AdminProviders),
                    item("/admin/audit", "Audit log", Section::AdminAudit),
                ];
            }
        }
        Ok(Self {
            full_name,
            role: db.caller.role.as_str(),
            csrf_token: db
                .caller
                .web_session
                .as_ref()
                .map(|s| s.csrf_token.clone())
                .unwrap_or_default(),
            nav,
            admin_nav,
        })
    }

    /// The 403 page for a caller whose role may not open this page, inside the layout.
    pub fn forbidden(self, detail: &str) -> WebError {
        WebError::new(ApiError::Forbidden(detail.to_owned())).with_layout(self)
    }
}

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>, current: &str) -> Self {
        let value = value.into();
        Self {
            selected: value == current,
            value,
            label: label.into(),
        }
    }
}

/// A form's value that was not accepted: which field, and a sentence that names it.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// The field error an [`ApiError`] describes, when it is about a value the user entered
    /// (a refused value, or one that conflicts with another record); `None` otherwise.
    pub fn from_api(error: &ApiError) -> Option<(StatusCode, Self)> {
        let (status, field, detail) = match error {
            ApiError::Invalid { field, detail } => {
                (StatusCode::UNPROCESSABLE_ENTITY, field, detail)
            }
            ApiError::Conflict { field, detail } => (StatusCode::CONFLICT, field, detail),
            _ => return None,
        };
        let field = field.clone().unwrap_or_default();
        // A check the API has no words for reads like PostgreSQL; say it plainly.
        let detail = if detail.starts_with("new row for relation") || detail.contains("violates") {
            "not an accepted value"
        } else {
            detail.as_str()
        };
        let message = match field_label(&field) {
            Some(label) => format!("{label}: {detail}"),
            None => capitalized(detail),
        };
        Some((status, Self { field, message }))
    }
}

/// How a form names a field.
fn field_label(field: &str) -> Option<&'static str> {
    Some(match field {
        "full_name" => "Full name",
        "email" => "Email",
        "role" => "Role",
        "password" => "Password",
        "first_name" => "First name",
        "last_name" => "Last name",
        "credentials" => "Credentials",
        "npi" => "NPI",
        "license_number" => "License number",
        "license_state" => "License state",
        "taxonomy_code" => "Taxonomy code",
        "preferred_note_format" => "Note format",
        "requires_supervision" => "Requires supervision",
        "q" => "Search",
        "mrn" => "MRN",
        "date_of_birth" => "Date of birth",
        "sex_at_birth" => "Sex at birth",
        "phone" => "Phone",
        "icd10_code" => "ICD-10 code",
        "is_primary" => "Primary",
        "patient_id" => "Patient",
        "provider_id" => "Provider",
        "date" => "Date",
        "time" => "Time",
        "minutes" => "Length",
        "starts_at" => "Time",
        "ends_at" => "Length",
        "appointment_type" => "Type",
        "modality" => "Modality",
        "weeks" => "Repeat weekly",
        f if f.starts_with("recurrence_rule") => "Repeat weekly",
        f if f.ends_with("supervisor_id") => "Supervisor",
        f if f.ends_with("user_id") => "User",
        _ => return None,
    })
}

/// `the form is out of date` -> `The form is out of date`.
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Renders a page with a status.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Result<Response, WebError> {
    let html = template
        .render()
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("rendering a page")))?;
    Ok((status, Html(html)).into_response())
}

/// `%`-encodes a query parameter's value.
pub fn url_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `9:05 AM`: a wall-clock time as the practice reads it.
pub fn clock(at: time::OffsetDateTime) -> String {
    let (hour, minute) = (at.hour(), at.minute());
    let half = if hour < 12 { "AM" } else { "PM" };
    let hour = match hour % 12 {
        0 => 12,
        h => h,
    };
    format!("{hour}:{minute:02} {half}")
}

/// `Tue, Mar 9, 2027`.
pub fn day_label(date: time::Date) -> String {
    let weekday = date.weekday().to_string();
    let month = date.month().to_string();
    format!(
        "{}, {} {}, {}",
        &weekday[..3],
        &month[..3],
        date.day(),
        date.year()
    )
}

/// A non-empty, trimmed form value.
pub fn filled(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encoded("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_encoded("P-12_3.x~"), "P-12_3.x~");
    }

    #[test]
    fn times_read_like_a_clock() {
        use time::macros::datetime;
        assert_eq!(clock(datetime!(2027-03-09 00:05 -6)), "12:05 AM");
        assert_eq!(clock(datetime!(2027-03-09 15:00 -6)), "3:00 PM");
        assert_eq!(
            day_label(datetime!(2027-03-09 15:00 -6).date()),
            "Tue, Mar 9, 2027"
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        let npi = ApiError::invalid(
            "npi",
            "not a valid NPI: 10 digits with a correct check digit",
        );
        let (status, error) = FieldError::from_api(&npi).unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error.message.starts_with("NPI: not a valid NPI"));
        let raw = ApiError::invalid(
            "license_state",
            "new row for relation \"providers\" violates check constraint",
        );
        assert_eq!(
            FieldError::from_api(&raw).unwrap().1.message,
            "License state: not an accepted value"
        );
        assert!(FieldError::from_api(&ApiError::NotFound).is_none());
    }
}
