//! A patient's coverage: the payer and the policy (member and group numbers, the subscriber when
//! it is not the patient, the dates it is in effect), ranked primary, secondary, tertiary with one
//! active coverage of each rank; and the payer's authorization of sessions on it (its number,
//! dates, the CPT codes it covers and how many sessions it allows).
//!
//! `sessions_used` is the database's to count: a session counts once, when its claim is
//! submitted, and is given back if that claim is voided. The API shows it with its usage
//! (warning from 80%) and never takes it from a request.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{
    BillingError, FieldCheck, check_version, created, if_match, optional_text, required_text,
};
use crate::api::etag::{Tagged, etag_of};
use crate::api::extract::present;
use crate::api::extract::{Json, Path};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::clinical::patients::iso_date;
use crate::clinical::plans::{practice_today, require_patient};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// From this share of the authorized sessions on, the usage warns.
const WARNING_PERCENT: i64 = 80;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "insurance_priority", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum InsurancePriority {
    Primary,
    Secondary,
    Tertiary,
}

/// How the patient relates to the subscriber (the policy holder).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "subscriber_relationship", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SubscriberRelationship {
    /// The patient holds the policy.
    #[default]
    #[serde(rename = "self")]
    #[sqlx(rename = "self")]
    Myself,
    Spouse,
    Child,
    Other,
}

/// The payer of a coverage, as the coverage shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CoveragePayer {
    pub id: Uuid,
    pub name: String,
    /// The payer's electronic id.
    pub payer_id: String,
    pub requires_prior_authorization: bool,
}

/// How much of an authorization is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuthorizationUsage {
    pub used: i32,
    pub authorized: i32,
    /// Sessions left (never below 0).
    pub remaining: i32,
    /// Used as a whole percentage of authorized (100 when nothing was authorized).
    pub percent: i32,
    /// 80% or more of the authorized sessions are used: time to ask the payer for more.
    pub warning: bool,
}

impl AuthorizationUsage {
    pub fn of(used: i32, authorized: i32) -> Self {
        let (used64, authorized64) = (i64::from(used), i64::from(authorized));
        let percent = if authorized64 <= 0 {
            100
        } else {
            (used64 * 100 + authorized64 / 2) / authorized64
        };
        Self {
            used,
            authorized,
            remaining: (authorized - used).max(0),
            percent: i32::try_from(percent).unwrap_or(i32::MAX),
            // Exact, not the rounded percent: 79.6% has not reached 80%.
            warning: authorized64 <= 0 || used64 * 100 >= WARNING_PERCENT * authorized64,
        }
    }
}

/// The payer's authorization of sessions on a coverage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Authorization {
    pub number: Option<String>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub start_on: Option<Date>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_on: Option<Date>,
    /// The CPT codes it covers; empty means every code.
    pub cpt_codes: Vec<String>,
    pub authorized_sessions: Option<i32>,
    /// Sessions counted against it (read-only: counted when claims are submitted).
    pub sessions_used: i32,
    /// Present when a number of sessions is authorized.
    pub usage: Option<AuthorizationUsage>,
}

/// One coverage of a patient.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub payer: CoveragePayer,
    pub priority: InsurancePriority,
    pub member_id: String,
    pub group_number: Option<String>,
    pub subscriber_relationship: SubscriberRelationship,
    /// The subscriber, when not the patient.
    pub subscriber_first_name: Option<String>,
    pub subscriber_last_name: Option<String>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub subscriber_date_of_birth: Option<Date>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub effective_from: Date,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_to: Option<Date>,
    /// Active coverage is billed; ended coverage stays on the claims that billed it.
    pub is_active: bool,
    /// The payer's authorization of sessions, when there is one.
    pub authorization: Option<Authorization>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, sqlx::FromRow)]
struct CoverageRow {
    id: Uuid,
    patient_id: Uuid,
    insurance_payer_id: Uuid,
    payer_name: String,
    payer_identifier: String,
    requires_prior_authorization: bool,
    priority: InsurancePriority,
    member_id: String,
    group_number: Option<String>,
    subscriber_relationship: SubscriberRelationship,
    subscriber_first_name: Option<String>,
    subscriber_last_name: Option<String>,
    subscriber_date_of_birth: Option<Date>,
    effective_from: Date,
    effective_to: Option<Date>,
    is_active: bool,
    authorization_number: Option<String>,
    authorization_start: Option<Date>,
    authorization_end: Option<Date>,
    authorized_cpt_codes: Vec<String>,
    authorized_sessions: Option<i32>,
    sessions_used: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<CoverageRow> for Coverage {
    fn from(row: CoverageRow) -> Self {
        let has_authorization = row.authorization_number.is_some()
            || row.authorization_start.is_some()
            || row.authorization_end.is_some()
            || row.authorized_sessions.is_some()
            || !row.authorized_cpt_codes.is_empty()
            || row.sessions_used > 0;
        let authorization = has_authorization.then(|| Authorization {
            number: row.authorization_number,
            start_on: row.authorization_start,
            end_on: row.authorization_end,
            cpt_codes: row.authorized_cpt_codes,
            authorized_sessions: row.authorized_sessions,
            sessions_used: row.sessions_used,
            usage: row
                .authorized_sessions
                .map(|authorized| AuthorizationUsage::of(row.sessions_used, authorized)),
        });
        Self {
            id: row.id,
            patient_id: row.patient_id,
            payer: CoveragePayer {
                id: row.insurance_payer_id,
                name: row.payer_name,
                payer_id: row.payer_identifier,
                requires_prior_authorization: row.requires_prior_authorization,
            },
            priority: row.priority,
            member_id: row.member_id,
            group_number: row.group_number,
            subscriber_relationship: row.subscriber_relationship,
            subscriber_first_name: row.subscriber_first_name,
            subscriber_last_name: row.subscriber_last_name,
            subscriber_date_of_birth: row.subscriber_date_of_birth,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
            is_active: row.is_active,
            authorization,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COVERAGE_SELECT: &str = "select i.id, i.patient_id, i.insurance_payer_id, p.name as payer_name,
            p.payer_id as payer_identifier, p.requires_prior_authorization, i.priority, i.member_id,
            i.group_number, i.subscriber_relationship, i.subscriber_first_name, i.subscriber_last_name,
            i.subscriber_date_of_birth, i.effective_from, i.effective_to, i.is_active,
            i.authorization_number, i.authorization_start, i.authorization_end, i.authorized_cpt_codes,
            i.authorized_sessions, i.sessions_used, i.created_at, i.updated_at
       from patient_insurance i
       join insurance_payers p on p.org_id = i.org_id and p.id = i.insurance_payer_id";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageList {
    /// Active coverage by priority, then ended coverage, most recent first.
    pub items: Vec<Coverage>,
}

/// The payer's authorization as a request states it (replacing the one there was).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuthorizationInput {
    pub number: Option<String>,
    /// `YYYY-MM-DD`
    #[schema(format = Date)]
    pub start_on: Option<String>,
    /// `YYYY-MM-DD`, on or after `start_on`.
    #[schema(format = Date)]
    pub end_on: Option<String>,
    /// CPT codes it covers; empty or absent means every code.
    #[serde(default)]
    pub cpt_codes: Vec<String>,
    /// Sessions the payer allows; at least the sessions already used.
    pub authorized_sessions: Option<i32>,
}

/// New coverage of a patient (billers, admins and the front desk).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewCoverage {
    /// The payer (`/api/v1/payers`); an active one.
    pub insurance_payer_id: Uuid,
    pub priority: InsurancePriority,
    pub member_id: String,
    pub group_number: Option<String>,
    /// Default `self`. Otherwise the subscriber's names and date of birth are required.
    #[serde(default)]
    pub subscriber_relationship: SubscriberRelationship,
    pub subscriber_first_name: Option<String>,
    pub subscriber_last_name: Option<String>,
    /// `YYYY-MM-DD`
    #[schema(format = Date)]
    pub subscriber_date_of_birth: Option<String>,
    /// `YYYY-MM-DD`
    #[schema(format = Date)]
    pub effective_from: String,
    /// `YYYY-MM-DD`, on or after `effective_from`.
    #[schema(format = Date)]
    pub effective_to: Option<String>,
    pub authorization: Option<AuthorizationInput>,
}

/// A change to a coverage: only the fields sent change; a nullable field sent as `null` is
/// cleared (`"authorization": null` removes the authorization). `authorization`, when sent,
/// replaces the whole authorization.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CoverageChange {
    pub priority: Option<InsurancePriority>,
    pub member_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub group_number: Option<Option<String>>,
    pub subscriber_relationship: Option<SubscriberRelationship>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub subscriber_first_name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub subscriber_last_name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub subscriber_date_of_birth: Option<Option<String>>,
    #[schema(format = Date)]
    pub effective_from: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_to: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<AuthorizationInput>)]
    pub authorization: Option<Option<AuthorizationInput>>,
}

/// The end of a coverage: it stops being billed (and frees its priority for new coverage).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CoverageEnd {
    /// `YYYY-MM-DD`, the last day it covers; today in the practice's time zone when absent.
    #[schema(format = Date)]
    pub ended_on: Option<String>,
}

/// A coverage's values as a request states them (text as sent), before they are checked.
struct CoverageDraft<'a> {
    priority: InsurancePriority,
    member_id: &'a str,
    group_number: Option<&'a str>,
    relationship: SubscriberRelationship,
    subscriber_first_name: Option<&'a str>,
    subscriber_last_name: Option<&'a str>,
    subscriber_date_of_birth: Option<&'a str>,
    effective_from: &'a str,
    effective_to: Option<&'a str>,
    authorization: Option<&'a AuthorizationInput>,
    /// Sessions already counted against the authorization (0 for new coverage).
    sessions_used: i32,
}

/// A coverage's values, checked, as they are stored.
struct CoverageValues {
    priority: InsurancePriority,
    member_id: String,
    group_number: Option<String>,
    relationship: SubscriberRelationship,
    subscriber_first_name: Option<String>,
    subscriber_last_name: Option<String>,
    subscriber_date_of_birth: Option<Date>,
    effective_from: Date,
    effective_to: Option<Date>,
    authorization_number: Option<String>,
    authorization_start: Option<Date>,
    authorization_end: Option<Date>,
    authorized_cpt_codes: Vec<String>,
    authorized_sessions: Option<i32>,
}

fn date(text: Option<&str>) -> Result<Option<Date>, String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(iso_date::parse)
        .transpose()
}

impl CoverageDraft<'_> {
    /// Checks every field, noting each problem; the values when all are acceptable.
    fn check(&self, check: &mut FieldCheck) -> Option<CoverageValues> {
        let member_id = check.take("member_id", required_text(self.member_id, 80));
        let group_number = check.take("group_number", optional_text(self.group_number, 80));
        let mut subscriber = |field: &str, text: Option<&str>| -> Option<Option<String>> {
            let value = check.take(field, optional_text(text, 100))?;
            match (self.relationship, value) {
                (SubscriberRelationship::Myself, Some(_)) => {
                    check.add(
                        field,
                        "the patient is the subscriber (relationship self): leave it out",
                    );
                    None
                }
                (SubscriberRelationship::Myself, None) => Some(None),
                (_, None) => {
                    check.add(field, "required when the subscriber is not the patient");
                    None
                }
                (_, some) => Some(some),
            }
        };
        let first = subscriber("subscriber_first_name", self.subscriber_first_name);
        let last = subscriber("subscriber_last_name", self.subscriber_last_name);
        let dob_text = self
            .subscriber_date_of_birth
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let dob = subscriber("subscriber_date_of_birth", dob_text)
            .and_then(|_| check.take("subscriber_date_of_birth", date(dob_text)));
        let effective_from = check
            .take("effective_from", date(Some(self.effective_from)))
            .and_then(|d| {
                if d.is_none() {
                    check.add("effective_from", "required: the first day it covers");
                }
                d
            });
        let effective_to = check.take("effective_to", date(self.effective_to));
        if let (Some(from), Some(Some(to))) = (effective_from, effective_to)
            && to < from
        {
            check.add(
                "effective_to",
                "coverage ends on or after the day it takes effect",
            );
        }
        let authorization = self
            .authorization
            .map(|a| self.check_authorization(a, check));
        let (number, start, end, codes, sessions) = match authorization {
            None => (
                Some(None),
                Some(None),
                Some(None),
                Some(Vec::new()),
                Some(None),
            ),
            Some(a) => a,
        };
        Some(CoverageValues {
            priority: self.priority,
            member_id: member_id?,
            group_number: group_number?,
            relationship: self.relationship,
            subscriber_first_name: first?,
            subscriber_last_name: last?,
            subscriber_date_of_birth: dob?,
            effective_from: effective_from?,
            effective_to: effective_to?,
            authorization_number: number?,
            authorization_start: start?,
            authorization_end: end?,
            authorized_cpt_codes: codes?,
            authorized_sessions: sessions?,
        })
    }

    #[expect(
        clippy::type_complexity,
        reason = "each part is None when its field is at fault"
    )]
    fn check_authorization(
        &self,
        a: &AuthorizationInput,
        check: &mut FieldCheck,
    ) -> (
        Option<Option<String>>,
        Option<Option<Date>>,
        Option<Option<Date>>,
        Option<Vec<String>>,
        Option<Option<i32>>,
    ) {
        let number = check.take(
            "authorization.number",
            optional_text(a.number.as_deref(), 50),
        );
        let start = check.take("authorization.start_on", date(a.start_on.as_deref()));
        let end = check.take("authorization.end_on", date(a.end_on.as_deref()));
        if let (Some(Some(start)), Some(Some(end))) = (start, end)
            && end < start
        {
            check.add(
                "authorization.end_on",
                "an authorization ends on or after the day it starts",
            );
        }
        let mut codes = Vec::new();
        let mut codes_ok = true;
        for (index, code) in a.cpt_codes.iter().enumerate() {
            let code = code.trim().to_uppercase();
            let field = format!("authorization.cpt_codes[{index}]");
            if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                check.add(field, "a CPT code is 5 characters, e.g. 90834");
                codes_ok = false;
            } else if codes.contains(&code) {
                check.add(field, format!("{code} is listed twice"));
                codes_ok = false;
            } else {
                codes.push(code);
            }
        }
        let sessions = match a.authorized_sessions {
            Some(n) if !(0..=999).contains(&n) => {
                check.add(
                    "authorization.authorized_sessions",
                    "between 0 and 999 sessions",
                );
                None
            }
            Some(n) if n < self.sessions_used => {
                check.add(
                    "authorization.authorized_sessions",
                    format!(
                        "{} sessions were already used; authorize at least {}",
                        self.sessions_used, self.sessions_used
                    ),
                );
                None
            }
            other => Some(other),
        };
        (number, start, end, codes_ok.then_some(codes), sessions)
    }
}

/// Notes the authorized CPT codes the reference table does not know.
async fn check_cpt_codes(
    db: &mut CallerTx,
    codes: &[String],
    check: &mut FieldCheck,
) -> Result<(), ApiError> {
    if codes.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = sqlx::query_scalar("select code from cpt_codes where code = any($1)")
        .bind(codes)
        .fetch_all(db.conn())
        .await?;
    for (index, code) in codes.iter().enumerate() {
        if !known.contains(code) {
            check.add(
                format!("authorization.cpt_codes[{index}]"),
                format!("{code} is not a CPT code Indra knows"),
            );
        }
    }
    Ok(())
}

/// The patient's coverage: active by priority, then ended, most recent first.
pub async fn list_coverage(db: &mut CallerTx, patient_id: Uuid) -> Result<Vec<Coverage>, ApiError> {
    require_patient(db, patient_id).await?;
    let rows: Vec<CoverageRow> = sqlx::query_as(&format!(
        "{COVERAGE_SELECT} where i.patient_id = $1
          order by i.is_active desc, i.priority, i.effective_from desc, i.created_at desc, i.id"
    ))
    .bind(patient_id)
    .fetch_all(db.conn())
    .await?;
    Ok(rows.into_iter().map(Coverage::from).collect())
}

/// One coverage (404 for another practice's).
pub async fn get_coverage(db: &mut CallerTx, id: Uuid) -> Result<Coverage, ApiError> {
    let row: CoverageRow = sqlx::query_as(&format!("{COVERAGE_SELECT} where i.id = $1"))
        .bind(id)
        .fetch_optional(db.conn())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(row.into())
}

/// Adds a coverage to a patient (billers, admins, front desk; the database refuses others).
pub async fn create_coverage(
    db: &mut CallerTx,
    patient_id: Uuid,
    new: &NewCoverage,
) -> Result<Coverage, BillingError> {
    require_patient(db, patient_id).await?;
    let mut check = FieldCheck::default();
    let payer_active: Option<bool> =
        sqlx::query_scalar("select is_active from insurance_payers where id = $1")
            .bind(new.insurance_payer_id)
            .fetch_optional(db.conn())
            .await?;
    match payer_active {
        None => check.add("insurance_payer_id", "no such payer in this practice"),
        Some(false) => check.add(
            "insurance_payer_id",
            "this payer is deactivated; take it back or choose another",
        ),
        Some(true) => {}
    }
    let draft = CoverageDraft {
        priority: new.priority,
        member_id: &new.member_id,
        group_number: new.group_number.as_deref(),
        relationship: new.subscriber_relationship,
        subscriber_first_name: new.subscriber_first_name.as_deref(),
        subscriber_last_name: new.subscriber_last_name.as_deref(),
        subscriber_date_of_birth: new.subscriber_date_of_birth.as_deref(),
        effective_from: &new.effective_from,
        effective_to: new.effective_to.as_deref(),
        authorization: new.authorization.as_ref(),
        sessions_used: 0,
    };
    let values = draft.check(&mut check);
    if let Some(values) = &values {
        check_cpt_codes(db, &values.authorized_cpt_codes, &mut check).await?;
    }
    check.finish()?;
    let Some(v) = values else {
        return Err(ApiError::invalid("member_id", "not acceptable").into());
    };
    let id: Uuid = sqlx::query_scalar(
        "insert into patient_insurance (org_id, patient_id, insurance_payer_id, priority, member_id, group_number,
                                        subscriber_relationship, subscriber_first_name, subscriber_last_name,
                                        subscriber_date_of_birth, effective_from, effective_to, authorization_number,
                                        authorization_start, authorization_end, authorized_cpt_codes, authorized_sessions)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         returning id",
    )
    .bind(db.caller.org_id)
    .bind(patient_id)
    .bind(new.insurance_payer_id)
    .bind(v.priority)
    .bind(v.member_id)
    .bind(v.group_number)
    .bind(v.relationship)
    .bind(v.subscriber_first_name)
    .bind(v.subscriber_last_name)
    .bind(v.subscriber_date_of_birth)
    .bind(v.effective_from)
    .bind(v.effective_to)
    .bind(v.authorization_number)
    .bind(v.authorization_start)
    .bind(v.authorization_end)
    .bind(v.authorized_cpt_codes)
    .bind(v.authorized_sessions)
    .fetch_one(db.conn())
    .await?;
    Ok(get_coverage(db, id).await?)
}

/// The authorization of a stored coverage, as a request would state it.
fn authorization_as_input(authorization: &Authorization) -> AuthorizationInput {
    AuthorizationInput {
        number: authorization.number.clone(),
        start_on: authorization.start_on.map(|d| d.to_string()),
        end_on: authorization.end_on.map(|d| d.to_string()),
        cpt_codes: authorization.cpt_codes.clone(),
        authorized_sessions: authorization.authorized_sessions,
    }
}

/// After an update touched no row: changed by someone else since it was read (412), or the
/// caller may read it but not change it (403).
async fn why_unchanged(db: &mut CallerTx, current: &Coverage) -> Result<ApiError, ApiError> {
    Ok(
        if etag_of(&get_coverage(db, current.id).await?) != etag_of(current) {
            ApiError::PreconditionFailed
        } else {
            ApiError::Forbidden(
                "only billers, admins and the front desk change a patient's insurance".into(),
            )
        },
    )
}

/// Changes a coverage when `if_match` names its current version.
pub async fn update_coverage(
    db: &mut CallerTx,
    id: Uuid,
    if_match: Option<&str>,
    change: &CoverageChange,
) -> Result<Coverage, BillingError> {
    let current = get_coverage(db, id).await?;
    check_version(if_match, &etag_of(&current))?;
    let date_text = |d: Option<Date>| d.map(|d| d.to_string());
    let text_or = |sent: &Option<Option<String>>, old: &Option<String>| match sent {
        Some(value) => value.clone(),
        None => old.clone(),
    };
    let relationship = change
        .subscriber_relationship
        .unwrap_or(current.subscriber_relationship);
    // Becoming the subscriber clears the subscriber's details unless the change sends them.
    let becomes_self = relationship == SubscriberRelationship::Myself
        && current.subscriber_relationship != SubscriberRelationship::Myself;
    let subscriber_text = |sent: &Option<Option<String>>, old: &Option<String>| {
        if sent.is_none() && becomes_self {
            None
        } else {
            text_or(sent, old)
        }
    };
    let group_number = text_or(&change.group_number, &current.group_number);
    let first = subscriber_text(
        &change.subscriber_first_name,
        &current.subscriber_first_name,
    );
    let last = subscriber_text(&change.subscriber_last_name, &current.subscriber_last_name);
    let dob = subscriber_text(
        &change.subscriber_date_of_birth,
        &date_text(current.subscriber_date_of_birth),
    );
    let effective_from = change
        .effective_from
        .clone()
        .unwrap_or_else(|| current.effective_from.to_string());
    let effective_to = text_or(&change.effective_to, &date_text(current.effective_to));
    let authorization = match &change.authorization {
        Some(sent) => sent.clone(),
        None => current.authorization.as_ref().map(authorization_as_input),
    };
    let sessions_used = current
        .authorization
        .as_ref()
        .map_or(0, |a| a.sessions_used);
    let draft = CoverageDraft {
        priority: change.priority.unwrap_or(current.priority),
        member_id: change.member_id.as_deref().unwrap_or(&current.member_id),
        group_number: group_number.as_deref(),
        relationship,
        subscriber_first_name: first.as_deref(),
        subscriber_last_name: last.as_deref(),
        subscriber_date_of_birth: dob.as_deref(),
        effective_from: &effective_from,
        effective_to: effective_to.as_deref(),
        authorization: authorization.as_ref(),
        sessions_used,
    };
    let mut check = FieldCheck::default();
    let values = draft.check(&mut check);
    if sessions_used > 0 && authorization.is_none() {
        check.add(
            "authorization",
            format!(
                "{sessions_used} sessions were counted against the authorization; change it rather than remove it"
            ),
        );
    }
    if let Some(values) = &values {
        check_cpt_codes(db, &values.authorized_cpt_codes, &mut check).await?;
    }
    check.finish()?;
    let Some(v) = values else {
        return Err(ApiError::invalid("member_id", "not acceptable").into());
    };
    let updated: Option<Uuid> = sqlx::query_scalar(
        "update patient_insurance
            set priority = $2, member_id = $3, group_number = $4, subscriber_relationship = $5,
                subscriber_first_name = $6, subscriber_last_name = $7, subscriber_date_of_birth = $8,
                effective_from = $9, effective_to = $10, authorization_number = $11, authorization_start = $12,
                authorization_end = $13, authorized_cpt_codes = $14, authorized_sessions = $15
          where id = $1 and updated_at = $16
          returning id",
    )
    .bind(id)
    .bind(v.priority)
    .bind(v.member_id)
    .bind(v.group_number)
    .bind(v.relationship)
    .bind(v.subscriber_first_name)
    .bind(v.subscriber_last_name)
    .bind(v.subscriber_date_of_birth)
    .bind(v.effective_from)
    .bind(v.effective_to)
    .bind(v.authorization_number)
    .bind(v.authorization_start)
    .bind(v.authorization_end)
    .bind(v.authorized_cpt_codes)
    .bind(v.authorized_sessions)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    if updated.is_none() {
        return Err(why_unchanged(db, &current).await?.into());
    }
    Ok(get_coverage(db, id).await?)
}

/// Ends an active coverage on `ended_on` (default today): it is no longer billed, and its
/// priority is free for new coverage.
pub async fn end_coverage(
    db: &mut CallerTx,
    id: Uuid,
    end: &CoverageEnd,
) -> Result<Coverage, BillingError> {
    let current = get_coverage(db, id).await?;
    if !current.is_active {
        return Err(ApiError::conflict(None, "this coverage has already ended").into());
    }
    let ended_on = match date(end.ended_on.as_deref()) {
        Ok(Some(date)) => date,
        Ok(None) => practice_today(db).await?,
        Err(detail) => return Err(ApiError::invalid("ended_on", detail).into()),
    };
    if ended_on < current.effective_from {
        return Err(ApiError::invalid(
            "ended_on",
            format!(
                "coverage ends on or after the day it took effect ({})",
                current.effective_from
            ),
        )
        .into());
    }
    let updated: Option<Uuid> = sqlx::query_scalar(
        "update patient_insurance set is_active = false, effective_to = $2
          where id = $1 and is_active returning id",
    )
    .bind(id)
    .bind(ended_on)
    .fetch_optional(db.conn())
    .await?;
    if updated.is_none() {
        return Err(why_unchanged(db, &current).await?.into());
    }
    Ok(get_coverage(db, id).await?)
}

/// The patient's coverage: active by priority, then ended, most recent first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/insurance", tag = "billing",
    operation_id = "list_patient_insurance",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, body = CoverageList), (status = 401, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_coverage_handler(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
) -> Result<axum::Json<CoverageList>, ApiError> {
    let items = list_coverage(&mut db, patient_id).await?;
    db.commit().await?;
    Ok(axum::Json(CoverageList { items }))
}

/// Adds a coverage to the patient (billers, admins, front desk), with the payer's
/// authorization when there is one. One active coverage per priority (409). Honours
/// `Idempotency-Key`; every field at fault is named in `errors`.
#[utoipa::path(post, path = "/api/v1/patients/{id}/insurance", tag = "billing",
    operation_id = "create_patient_insurance",
    request_body = NewCoverage,
    params(("id" = Uuid, Path, description = "The patient's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Coverage, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = super::BillingProblem)),
    security(("bearer" = [])))]
pub async fn create_coverage_handler(
    mut db: CallerTx,
    Path(patient_id): Path<Uuid>,
    headers: HeaderMap,
    Json(new): Json<NewCoverage>,
) -> Result<Response, BillingError> {
    require_patient(&mut db, patient_id).await?;
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/patients/{patient_id}/insurance"),
        &new,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let coverage = create_coverage(&mut db, patient_id, &new).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &coverage).await?;
    }
    db.commit().await?;
    Ok(created(
        format!("/api/v1/insurance/{}", coverage.id),
        coverage,
    ))
}

/// One coverage, with its authorization and usage, and its ETag.
#[utoipa::path(get, path = "/api/v1/insurance/{id}", tag = "billing", operation_id = "get_insurance",
    params(("id" = Uuid, Path, description = "The coverage's id")),
    responses((status = 200, body = Coverage, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_coverage_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Coverage>, ApiError> {
    let coverage = get_coverage(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(coverage))
}

/// Changes a coverage or its authorization (billers, admins, front desk). Requires `If-Match`.
/// `sessions_used` is not taken from requests: the database counts it.
#[utoipa::path(patch, path = "/api/v1/insurance/{id}", tag = "billing", operation_id = "update_insurance",
    request_body = CoverageChange,
    params(("id" = Uuid, Path, description = "The coverage's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Coverage, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
              (status = 422, body = super::BillingProblem), (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_coverage_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<CoverageChange>,
) -> Result<Tagged<Coverage>, BillingError> {
    let coverage = update_coverage(&mut db, id, if_match(&headers), &change).await?;
    db.commit().await?;
    Ok(Tagged(coverage))
}

/// Ends a coverage (billers, admins, front desk): inactive from then on, its last day
/// `ended_on` (default today). An ended coverage is 409.
#[utoipa::path(post, path = "/api/v1/insurance/{id}/end", tag = "billing", operation_id = "end_insurance",
    request_body = CoverageEnd,
    params(("id" = Uuid, Path, description = "The coverage's id")),
    responses((status = 200, body = Coverage, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn end_coverage_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(end): Json<CoverageEnd>,
) -> Result<Tagged<Coverage>, BillingError> {
    let coverage = end_coverage(&mut db, id, &end).await?;
    db.commit().await?;
    Ok(Tagged(coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_warns_from_eighty_percent() {
        let usage = AuthorizationUsage::of(15, 20);
        assert_eq!(
            (usage.remaining, usage.percent, usage.warning),
            (5, 75, false)
        );
        let usage = AuthorizationUsage::of(16, 20);
        assert_eq!(
            (usage.remaining, usage.percent, usage.warning),
            (4, 80, true)
        );
        // 79.6% rounds to 80 but has not reached it.
        let usage = AuthorizationUsage::of(199, 250);
        assert_eq!((usage.percent, usage.warning), (80, false));
        let usage = AuthorizationUsage::of(0, 0);
        assert_eq!(
            (usage.remaining, usage.percent, usage.warning),
            (0, 100, true)
        );
        let usage = AuthorizationUsage::of(22, 20);
        assert_eq!((usage.remaining, usage.percent), (0, 110));
    }

    fn draft(relationship: SubscriberRelationship) -> CoverageDraft<'static> {
        CoverageDraft {
            priority: InsurancePriority::Primary,
            member_id: "M123",
            group_number: None,
            relationship,
            subscriber_first_name: None,
            subscriber_last_name: None,
            subscriber_date_of_birth: None,
            effective_from: "2026-01-01",
            effective_to: Some("2025-12-31"),
            authorization: None,
            sessions_used: 0,
        }
    }

    #[test]
    fn every_field_at_fault_is_named() {
        let mut check = FieldCheck::default();
        assert!(
            draft(SubscriberRelationship::Child)
                .check(&mut check)
                .is_none()
        );
        let fields: Vec<String> = check
            .finish()
            .unwrap_err()
            .field_problems()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "subscriber_first_name",
                "subscriber_last_name",
                "subscriber_date_of_birth",
                "effective_to"
            ]
        );
    }

    #[test]
    fn an_authorization_keeps_the_sessions_already_used() {
        let input = AuthorizationInput {
            number: Some("A-1".into()),
            start_on: Some("2026-03-01".into()),
            end_on: Some("2026-02-01".into()),
            cpt_codes: vec!["90834".into(), "90834".into()],
            authorized_sessions: Some(3),
        };
        let mut d = draft(SubscriberRelationship::Myself);
        d.effective_to = None;
        d.authorization = Some(&input);
        d.sessions_used = 5;
        let mut check = FieldCheck::default();
        assert!(d.check(&mut check).is_none());
        let problems = check.finish().unwrap_err().field_problems();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "authorization.end_on",
                "authorization.cpt_codes[1]",
                "authorization.authorized_sessions"
            ]
        );
        assert!(problems[2].detail.contains("5 sessions were already used"));
    }
}
