//! `/patients/{id}/insurance`: a patient's coverage, ranked primary, secondary, tertiary, with
//! the payer's authorization and its usage; coverage added, changed and ended by billers, admins
//! and the front desk through the coverage API. The chart shows the same coverage, read-only.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::path_id;
use crate::api::etag::etag_of;
use crate::billing::coverage::{
    AuthorizationInput, AuthorizationUsage, Coverage, CoverageChange, CoverageEnd,
    InsurancePriority, NewCoverage, SubscriberRelationship, create_coverage, end_coverage,
    list_coverage, update_coverage,
};
use crate::billing::payers::{Payer, PayerQuery, list_payers};
use crate::billing::{BillingError, FieldProblem};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Choice, Layout, PageTx, Section, capitalized, filled, render};

/// Billers, admins and the front desk keep a patient's insurance (policy
/// `patient_insurance_insert`); clinicians read it.
pub fn keeps_insurance(role: UserRole) -> bool {
    matches!(role, UserRole::Billing | UserRole::Admin | UserRole::Staff)
}

/// How full an authorization is, as the meter and its words show it.
pub fn usage_level(usage: &AuthorizationUsage) -> &'static str {
    if usage.used >= usage.authorized {
        "exhausted"
    } else if usage.warning {
        "warning"
    } else {
        "ok"
    }
}

/// The meter's `low` (80% of the authorized sessions: amber from there) and `high` (just below
/// all of them: red once every session is used), for the `<meter>`.
pub fn meter_bounds(usage: &AuthorizationUsage) -> (String, String) {
    let authorized = f64::from(usage.authorized);
    (
        format!("{:.1}", authorized * 0.8),
        format!("{:.1}", (authorized - 0.5).max(0.0)),
    )
}

pub fn priority_word(priority: InsurancePriority) -> &'static str {
    match priority {
        InsurancePriority::Primary => "primary",
        InsurancePriority::Secondary => "secondary",
        InsurancePriority::Tertiary => "tertiary",
    }
}

fn relationship_word(relationship: SubscriberRelationship) -> &'static str {
    match relationship {
        SubscriberRelationship::Myself => "self",
        SubscriberRelationship::Spouse => "spouse",
        SubscriberRelationship::Child => "child",
        SubscriberRelationship::Other => "other",
    }
}

/// The coverage form's fields, as typed (named as the API names them, so that a refused field
/// is found by its name).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CoverageForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    insurance_payer_id: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    member_id: String,
    #[serde(default)]
    group_number: String,
    #[serde(default)]
    subscriber_relationship: String,
    #[serde(default)]
    subscriber_first_name: String,
    #[serde(default)]
    subscriber_last_name: String,
    #[serde(default)]
    subscriber_date_of_birth: String,
    #[serde(default)]
    effective_from: String,
    #[serde(default)]
    effective_to: String,
    #[serde(default, rename = "authorization.number")]
    authorization_number: String,
    #[serde(default, rename = "authorization.start_on")]
    authorization_start_on: String,
    #[serde(default, rename = "authorization.end_on")]
    authorization_end_on: String,
    #[serde(default, rename = "authorization.cpt_codes")]
    authorization_cpt_codes: String,
    #[serde(default, rename = "authorization.authorized_sessions")]
    authorization_sessions: String,
    #[serde(default)]
    ended_on: String,
}

impl CoverageForm {
    fn of(c: &Coverage) -> Self {
        let auth = c.authorization.as_ref();
        Self {
            tag: etag_of(c).trim_matches('"').to_owned(),
            insurance_payer_id: c.payer.id.to_string(),
            priority: priority_word(c.priority).to_owned(),
            member_id: c.member_id.clone(),
            group_number: c.group_number.clone().unwrap_or_default(),
            subscriber_relationship: relationship_word(c.subscriber_relationship).to_owned(),
            subscriber_first_name: c.subscriber_first_name.clone().unwrap_or_default(),
            subscriber_last_name: c.subscriber_last_name.clone().unwrap_or_default(),
            subscriber_date_of_birth: c
                .subscriber_date_of_birth
                .map(|d| d.to_string())
                .unwrap_or_default(),
            effective_from: c.effective_from.to_string(),
            effective_to: c.effective_to.map(|d| d.to_string()).unwrap_or_default(),
            authorization_number: auth.and_then(|a| a.number.clone()).unwrap_or_default(),
            authorization_start_on: auth
                .and_then(|a| a.start_on)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            authorization_end_on: auth
                .and_then(|a| a.end_on)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            authorization_cpt_codes: auth.map(|a| a.cpt_codes.join(", ")).unwrap_or_default(),
            authorization_sessions: auth
                .and_then(|a| a.authorized_sessions)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    fn text(value: &str) -> Option<String> {
        filled(value).map(str::to_owned)
    }

    /// The authorization as typed; `None` when every field of it is empty.
    fn authorization(&self, problems: &mut Vec<FieldProblem>) -> Option<AuthorizationInput> {
        let sessions = match filled(&self.authorization_sessions) {
            None => None,
            Some(text) => match text.parse::<i32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(FieldProblem {
                        field: "authorization.authorized_sessions".into(),
                        detail: "a whole number of sessions, e.g. 12".into(),
                    });
                    None
                }
            },
        };
        let codes: Vec<String> = self
            .authorization_cpt_codes
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let input = AuthorizationInput {
            number: Self::text(&self.authorization_number),
            start_on: Self::text(&self.authorization_start_on),
            end_on: Self::text(&self.authorization_end_on),
            cpt_codes: codes,
            authorized_sessions: sessions,
        };
        let empty = input.number.is_none()
            && input.start_on.is_none()
            && input.end_on.is_none()
            && input.cpt_codes.is_empty()
            && input.authorized_sessions.is_none()
            && filled(&self.authorization_sessions).is_none();
        (!empty).then_some(input)
    }

    fn priority(&self, problems: &mut Vec<FieldProblem>) -> Option<InsurancePriority> {
        match self.priority.as_str() {
            "primary" => Some(InsurancePriority::Primary),
            "secondary" => Some(InsurancePriority::Secondary),
            "tertiary" => Some(InsurancePriority::Tertiary),
            _ => {
                problems.push(FieldProblem {
                    field: "priority".into(),
                    detail: "choose primary, secondary or tertiary".into(),
                });
                None
            }
        }
    }

    fn relationship(&self) -> SubscriberRelationship {
        match self.subscriber_relationship.as_str() {
            "spouse" => SubscriberRelationship::Spouse,
            "child" => SubscriberRelationship::Child,
            "other" => SubscriberRelationship::Other,
            _ => SubscriberRelationship::Myself,
        }
    }
}

/// A refused form: which (`new`, `edit-{id}`, `end-{id}`), what was typed, every field at fault.
struct Refusal {
    form: String,
    values: CoverageForm,
    problems: Vec<FieldProblem>,
    message: String,
}

#[derive(Debug, sqlx::FromRow)]
struct PatientLine {
    id: Uuid,
    first_name: String,
    last_name: String,
}

#[derive(Template)]
#[template(path = "billing/insurance.html")]
struct InsurancePage {
    layout: Layout,
    patient: PatientLine,
    coverage: Vec<Coverage>,
    payers: Vec<Payer>,
    may_edit: bool,
    notice: Option<&'static str>,
    refusal: Option<Refusal>,
    blank: CoverageForm,
}

impl InsurancePage {
    fn refused(&self, form: &str) -> bool {
        self.refusal.as_ref().is_some_and(|r| r.form == form)
    }

    /// The values of form `form`: as typed when it was refused, else `fresh`.
    fn values<'a>(&'a self, form: &str, fresh: &'a CoverageForm) -> &'a CoverageForm {
        match &self.refusal {
            Some(r) if r.form == form => &r.values,
            _ => fresh,
        }
    }

    fn edit_action(&self, coverage: &Coverage) -> String {
        format!("/patients/{}/insurance/{}", self.patient.id, coverage.id)
    }

    fn new_action(&self) -> String {
        format!("/patients/{}/insurance", self.patient.id)
    }

    fn stored(&self, coverage: &Coverage) -> CoverageForm {
        CoverageForm::of(coverage)
    }

    /// The messages for `field` of form `form`.
    fn errors(&self, form: &str, field: &str) -> Vec<String> {
        self.refusal
            .as_ref()
            .filter(|r| r.form == form)
            .map(|r| {
                r.problems
                    .iter()
                    .filter(|p| p.field.split('[').next() == Some(field))
                    .map(|p| p.detail.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn form_message(&self, form: &str) -> Option<&str> {
        self.refusal
            .as_ref()
            .filter(|r| r.form == form)
            .map(|r| r.message.as_str())
    }

    fn payer_choices(&self, current: &str) -> Vec<Choice> {
        self.payers
            .iter()
            .map(|p| {
                Choice::new(
                    p.id.to_string(),
                    format!("{} ({})", p.name, p.payer_id),
                    current,
                )
            })
            .collect()
    }

    fn priority_choices(&self, current: &str) -> Vec<Choice> {
        ["primary", "secondary", "tertiary"]
            .into_iter()
            .map(|p| Choice::new(p, capitalized(p), current))
            .collect()
    }

    fn relationship_choices(&self, current: &str) -> Vec<Choice> {
        let current = if current.is_empty() { "self" } else { current };
        [
            ("self", "The patient"),
            ("spouse", "Spouse"),
            ("child", "Child (the patient is the subscriber's child)"),
            ("other", "Other"),
        ]
        .into_iter()
        .map(|(v, l)| Choice::new(v, l, current))
        .collect()
    }

    fn priority(&self, c: &Coverage) -> &'static str {
        priority_word(c.priority)
    }

    fn relationship(&self, c: &Coverage) -> &'static str {
        relationship_word(c.subscriber_relationship)
    }

    fn level(&self, usage: &AuthorizationUsage) -> &'static str {
        usage_level(usage)
    }

    fn bounds(&self, usage: &AuthorizationUsage) -> (String, String) {
        meter_bounds(usage)
    }

    /// The form's text fields: name, label, input type.
    fn fields(&self) -> [(&'static str, &'static str, &'static str); 11] {
        [
            ("member_id", "Member id", "text"),
            ("group_number", "Group number", "text"),
            ("subscriber_first_name", "Subscriber's first name", "text"),
            ("subscriber_last_name", "Subscriber's last name", "text"),
            (
                "subscriber_date_of_birth",
                "Subscriber's date of birth",
                "date",
            ),
            ("effective_from", "Covered from", "date"),
            ("effective_to", "Covered until", "date"),
            ("authorization.number", "Authorization number", "text"),
            ("authorization.start_on", "Authorized from", "date"),
            ("authorization.end_on", "Authorized until", "date"),
            (
                "authorization.authorized_sessions",
                "Authorized sessions",
                "text",
            ),
        ]
    }

    fn value<'a>(&self, form: &'a CoverageForm, field: &str) -> &'a str {
        match field {
            "member_id" => &form.member_id,
            "group_number" => &form.group_number,
            "subscriber_first_name" => &form.subscriber_first_name,
            "subscriber_last_name" => &form.subscriber_last_name,
            "subscriber_date_of_birth" => &form.subscriber_date_of_birth,
            "effective_from" => &form.effective_from,
            "effective_to" => &form.effective_to,
            "authorization.number" => &form.authorization_number,
            "authorization.start_on" => &form.authorization_start_on,
            "authorization.end_on" => &form.authorization_end_on,
            "authorization.cpt_codes" => &form.authorization_cpt_codes,
            "authorization.authorized_sessions" => &form.authorization_sessions,
            "ended_on" => &form.ended_on,
            _ => "",
        }
    }

    /// `authorization.end_on` -> `authorization-end_on`, for element ids.
    fn id_of(&self, form: &str, field: &str) -> String {
        format!("{form}-{}", field.replace('.', "-"))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    added: Option<String>,
    changed: Option<String>,
    ended: Option<String>,
}

/// `GET /patients/{id}/insurance`.
pub async fn page(
    mut db: PageTx,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    let id = path_id(&mut db, &id, Section::Patients).await?;
    let notice = if notice.added.is_some() {
        Some("Coverage added.")
    } else if notice.changed.is_some() {
        Some("Coverage saved.")
    } else if notice.ended.is_some() {
        Some("Coverage ended: it is no longer billed.")
    } else {
        None
    };
    show(db, id, StatusCode::OK, notice, None).await
}

async fn show(
    mut db: PageTx,
    patient_id: Uuid,
    status: StatusCode,
    notice: Option<&'static str>,
    refusal: Option<Refusal>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let coverage = match list_coverage(&mut db, patient_id).await {
        Ok(list) => list,
        Err(error) => return Err(WebError::new(error).with_layout(layout)),
    };
    let patient: PatientLine =
        sqlx::query_as("select id, first_name, last_name from patients where id = $1")
            .bind(patient_id)
            .fetch_one(db.conn())
            .await?;
    let payers = list_payers(
        &mut db,
        &PayerQuery {
            include_inactive: false,
            limit: Some(200),
            cursor: None,
        },
    )
    .await?
    .items;
    let may_edit = keeps_insurance(db.caller.role);
    db.commit().await?;
    render(
        status,
        &InsurancePage {
            layout,
            patient,
            coverage,
            payers,
            may_edit,
            notice,
            refusal,
            blank: CoverageForm {
                priority: "primary".into(),
                subscriber_relationship: "self".into(),
                ..CoverageForm::default()
            },
        },
    )
}

/// The page again with the refused form's values and every field at fault.
async fn refused(
    reopen: crate::web::page::Reopen,
    patient_id: Uuid,
    form: String,
    values: CoverageForm,
    error: BillingError,
) -> Result<Response, WebError> {
    let problems = error.field_problems();
    let error = error.into_api_error();
    let (status, message) = match &error {
        ApiError::Invalid { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not saved: correct the fields marked below.".to_owned(),
        ),
        ApiError::Conflict { detail, .. } => {
            (StatusCode::CONFLICT, format!("Not saved: {detail}."))
        }
        ApiError::PreconditionFailed => (
            StatusCode::PRECONDITION_FAILED,
            "Not saved: this coverage changed since you opened it. Your values are kept below."
                .to_owned(),
        ),
        _ => {
            let mut db = reopen.open().await?;
            let layout = Layout::load(&mut db, Section::Patients).await?;
            return Err(WebError::new(error).with_layout(layout));
        }
    };
    let db = reopen.open().await?;
    show(
        db,
        patient_id,
        status,
        None,
        Some(Refusal {
            form,
            values,
            problems,
            message,
        }),
    )
    .await
}

async fn require_keeper(db: &mut PageTx) -> Result<(), WebError> {
    if keeps_insurance(db.caller.role) {
        return Ok(());
    }
    let layout = Layout::load(db, Section::Patients).await?;
    Err(layout.forbidden("billers, admins and the front desk keep a patient's insurance"))
}

/// `POST /patients/{id}/insurance`: adds a coverage.
pub async fn add(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<CoverageForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = path_id(&mut db, &id, Section::Patients).await?;
    require_keeper(&mut db).await?;
    let mut problems = Vec::new();
    let payer = Uuid::parse_str(form.insurance_payer_id.trim()).ok();
    if payer.is_none() {
        problems.push(FieldProblem {
            field: "insurance_payer_id".into(),
            detail: "choose the payer".into(),
        });
    }
    let priority = form.priority(&mut problems);
    let authorization = form.authorization(&mut problems);
    let (mut tx, reopen) = db.into_api();
    let (Some(payer), Some(priority), true) = (payer, priority, problems.is_empty()) else {
        drop(tx);
        return refused(
            reopen,
            patient_id,
            "new".into(),
            form,
            BillingError::Fields(problems),
        )
        .await;
    };
    let new = NewCoverage {
        insurance_payer_id: payer,
        priority,
        member_id: form.member_id.clone(),
        group_number: CoverageForm::text(&form.group_number),
        subscriber_relationship: form.relationship(),
        subscriber_first_name: CoverageForm::text(&form.subscriber_first_name),
        subscriber_last_name: CoverageForm::text(&form.subscriber_last_name),
        subscriber_date_of_birth: CoverageForm::text(&form.subscriber_date_of_birth),
        effective_from: form.effective_from.clone(),
        effective_to: CoverageForm::text(&form.effective_to),
        authorization,
    };
    let result = match create_coverage(&mut tx, patient_id, &new).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("/patients/{patient_id}/insurance?added=1")).into_response())
        }
        Err(error) => refused(reopen, patient_id, "new".into(), form, error).await,
    }
}

/// `POST /patients/{id}/insurance/{coverage}`: changes a coverage (the version read).
pub async fn change(
    mut db: PageTx,
    Path((id, coverage)): Path<(String, String)>,
    Form(form): Form<CoverageForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = path_id(&mut db, &id, Section::Patients).await?;
    let coverage_id = path_id(&mut db, &coverage, Section::Patients).await?;
    require_keeper(&mut db).await?;
    let key = format!("edit-{coverage_id}");
    let mut problems = Vec::new();
    let priority = form.priority(&mut problems);
    let authorization = form.authorization(&mut problems);
    let (mut tx, reopen) = db.into_api();
    if !problems.is_empty() {
        drop(tx);
        return refused(
            reopen,
            patient_id,
            key,
            form,
            BillingError::Fields(problems),
        )
        .await;
    }
    let change = CoverageChange {
        priority,
        member_id: Some(form.member_id.clone()),
        group_number: Some(CoverageForm::text(&form.group_number)),
        subscriber_relationship: Some(form.relationship()),
        subscriber_first_name: Some(CoverageForm::text(&form.subscriber_first_name)),
        subscriber_last_name: Some(CoverageForm::text(&form.subscriber_last_name)),
        subscriber_date_of_birth: Some(CoverageForm::text(&form.subscriber_date_of_birth)),
        effective_from: Some(form.effective_from.clone()),
        effective_to: Some(CoverageForm::text(&form.effective_to)),
        authorization: Some(authorization),
    };
    let tag = format!("\"{}\"", form.tag.trim());
    let result = match update_coverage(&mut tx, coverage_id, Some(&tag), &change).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => Ok(
            Redirect::to(&format!("/patients/{patient_id}/insurance?changed=1")).into_response(),
        ),
        Err(error) => refused(reopen, patient_id, key, form, error).await,
    }
}

/// `POST /patients/{id}/insurance/{coverage}/end`: ends a coverage on a day (today when empty).
pub async fn end(
    mut db: PageTx,
    Path((id, coverage)): Path<(String, String)>,
    Form(form): Form<CoverageForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = path_id(&mut db, &id, Section::Patients).await?;
    let coverage_id = path_id(&mut db, &coverage, Section::Patients).await?;
    require_keeper(&mut db).await?;
    let (mut tx, reopen) = db.into_api();
    let ending = CoverageEnd {
        ended_on: CoverageForm::text(&form.ended_on),
    };
    let result = match end_coverage(&mut tx, coverage_id, &ending).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("/patients/{patient_id}/insurance?ended=1")).into_response())
        }
        Err(error) => {
            refused(
                reopen,
                patient_id,
                format!("end-{coverage_id}"),
                form,
                error,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_warns_from_80_percent_and_is_red_when_exhausted() {
        assert_eq!(usage_level(&AuthorizationUsage::of(7, 12)), "ok");
        assert_eq!(usage_level(&AuthorizationUsage::of(10, 12)), "warning");
        assert_eq!(usage_level(&AuthorizationUsage::of(12, 12)), "exhausted");
        assert_eq!(usage_level(&AuthorizationUsage::of(0, 0)), "exhausted");
    }
}
