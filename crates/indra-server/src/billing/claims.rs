//! Claims on the CMS-1500 model: created in a batch from completed sessions, edited while they
//! are drafts (box 21 diagnoses A-L, box 24 lines with their pointers), checked by the scrubber
//! (its findings shown with every claim), made ready, submitted by the 837P export, voided with
//! a reason; the authorization limit overridden by an admin with a reason.
//!
//! What may become ready, what a session counts against the authorization and what is frozen
//! after draft are the database's rules (migration 0018); the scrubber's are checked here first
//! so that every finding is answered at once, beside its field.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indra_db::billing::{ClaimCreation, create_claims_from_encounters, load_claim_documents};
use indra_rules::billing::claim_document::{Cents, ClaimDocument, diagnosis_letter};
use indra_rules::billing::scrubber::{Finding, ScrubReport, scrub};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{BillingError, FieldCheck, check_version, if_match, optional_text, required_text};
use crate::api::etag::{Tagged, etag_of};
use crate::api::extract::{Json, Path, Query};
use crate::api::idempotency::{Claim as KeyClaim, IdempotencyKey};
use crate::api::pagination::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page, page_of};
use crate::clinical::patients::iso_date;
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// Where a claim is in its life (the database moves it only along its arrows).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "claim_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ClaimStatus {
    Draft,
    Ready,
    Submitted,
    Accepted,
    Rejected,
    Denied,
    Paid,
    Appealed,
    Voided,
}

/// A claim in a list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ClaimSummary {
    pub id: Uuid,
    pub claim_number: String,
    pub status: ClaimStatus,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub payer_name: String,
    pub rendering_provider_id: Uuid,
    /// Box 28, e.g. `"135.00"`.
    pub total_charge: String,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub first_service_date: Option<Date>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One box 21 diagnosis.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ClaimDiagnosis {
    /// 1-12.
    pub sequence: i16,
    /// A-L, as the form and the pointers name it.
    #[sqlx(skip)]
    pub letter: String,
    pub icd10_code: String,
    pub description: String,
    pub patient_diagnosis_id: Option<Uuid>,
}

/// One box 24 service line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ClaimLine {
    pub id: Uuid,
    pub line_number: i16,
    pub encounter_id: Uuid,
    pub cpt_code: String,
    pub modifiers: Vec<String>,
    pub units: i16,
    /// e.g. `"135.00"`.
    pub charge: String,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub service_date: Date,
    pub place_of_service: Option<String>,
    /// Box 24E: the sequences of the claim's diagnoses, most important first.
    pub diagnosis_pointers: Vec<i32>,
    /// The same pointers as letters, e.g. `"AB"`.
    #[sqlx(skip)]
    pub pointer_letters: String,
    /// What the payer paid on the line (after a remittance).
    pub paid_amount: Option<String>,
    pub patient_responsibility: Option<String>,
    pub adjustment_amount: Option<String>,
}

/// One finding of the scrubber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScrubFinding {
    /// `error` holds the claim; `warning` does not.
    pub severity: String,
    /// A stable rule name, e.g. `rendering_npi_check_digit`.
    pub rule: String,
    /// Where it belongs, e.g. `lines[2].diagnosis_pointers`, `diagnoses[B].icd10_code`.
    pub field: String,
    pub line_number: Option<u16>,
    pub message: String,
}

impl From<&Finding> for ScrubFinding {
    fn from(finding: &Finding) -> Self {
        Self {
            severity: finding.severity.as_str().to_owned(),
            rule: finding.rule.to_owned(),
            field: finding.field.clone(),
            line_number: finding.line_number,
            message: finding.message.clone(),
        }
    }
}

/// What the scrubber says about a claim.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScrubResult {
    /// No errors: the claim may become ready (warnings do not hold it).
    pub clean: bool,
    pub findings: Vec<ScrubFinding>,
}

impl From<&ScrubReport> for ScrubResult {
    fn from(report: &ScrubReport) -> Self {
        Self {
            clean: report.is_clean(),
            findings: report.findings.iter().map(ScrubFinding::from).collect(),
        }
    }
}

/// A whole claim: what it bills, for whom, and what the scrubber says.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ClaimDetail {
    pub id: Uuid,
    pub claim_number: String,
    pub status: ClaimStatus,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub patient_insurance_id: Uuid,
    pub payer_name: String,
    pub rendering_provider_id: Uuid,
    pub place_of_service: String,
    pub prior_authorization_number: Option<String>,
    pub total_charge: String,
    pub paid_amount: Option<String>,
    pub patient_responsibility: Option<String>,
    /// An admin's reason to bill past the authorized sessions.
    pub authorization_override_reason: Option<String>,
    pub void_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub voided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[sqlx(skip)]
    pub diagnoses: Vec<ClaimDiagnosis>,
    #[sqlx(skip)]
    pub lines: Vec<ClaimLine>,
    /// The scrubber's findings, inline.
    #[sqlx(skip)]
    #[schema(value_type = ScrubResult)]
    pub scrub: Option<ScrubResult>,
}

const SUMMARY_SELECT: &str = "select c.id, c.claim_number, c.status, c.patient_id,
            p.first_name || ' ' || p.last_name as patient_name, py.name as payer_name,
            c.rendering_provider_id, c.total_charge::text as total_charge,
            (select min(l.service_date) from claim_line_items l
              where l.org_id = c.org_id and l.claim_id = c.id) as first_service_date,
            c.created_at, c.updated_at
       from billing_claims c
       join patients p on p.org_id = c.org_id and p.id = c.patient_id
       join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
       join insurance_payers py on py.org_id = pi.org_id and py.id = pi.insurance_payer_id";

const DETAIL_SELECT: &str = "select c.id, c.claim_number, c.status, c.patient_id,
            p.first_name || ' ' || p.last_name as patient_name, c.patient_insurance_id, py.name as payer_name,
            c.rendering_provider_id, c.place_of_service, c.prior_authorization_number,
            c.total_charge::text as total_charge, c.paid_amount::text as paid_amount,
            c.patient_responsibility::text as patient_responsibility, c.authorization_override_reason,
            c.void_reason, c.submitted_at, c.voided_at, c.created_at, c.updated_at
       from billing_claims c
       join patients p on p.org_id = c.org_id and p.id = c.patient_id
       join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
       join insurance_payers py on py.org_id = pi.org_id and py.id = pi.insurance_payer_id";

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimQuery {
    /// Only claims of this status (the workbench's tabs); all when absent.
    pub status: Option<ClaimStatus>,
    /// Only this patient's claims.
    pub patient_id: Option<Uuid>,
    /// Rows per page, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Claims, oldest first, a page at a time; by status and patient when asked.
pub async fn list_claims(
    db: &mut CallerTx,
    query: &ClaimQuery,
) -> Result<Page<ClaimSummary>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    // Only the conditions asked for, so that each shape of the list gets its own plan: with
    // `$1 is null or status = $1` a cached generic plan cannot use the status index and sorts
    // every claim of the practice for each page (measured at 11,000 submitted claims: 130 ms).
    let mut sql = sqlx::QueryBuilder::<sqlx::Postgres>::new(SUMMARY_SELECT);
    sql.push(" where true");
    if let Some(status) = query.status {
        sql.push(" and c.status = ").push_bind(status);
    }
    if let Some(patient_id) = query.patient_id {
        sql.push(" and c.patient_id = ").push_bind(patient_id);
    }
    if let Some(after) = &after {
        sql.push(" and (c.created_at, c.id) > (")
            .push_bind(after.created_at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    sql.push(" order by c.created_at, c.id limit ")
        .push_bind(i64::from(limit) + 1);
    let rows: Vec<ClaimSummary> = sql.build_query_as().fetch_all(db.conn()).await?;
    Ok(page_of(rows, i64::from(limit), |row| Cursor {
        created_at: row.created_at,
        id: row.id,
    }))
}

fn letters(pointers: &[i32]) -> String {
    pointers
        .iter()
        .map(|p| diagnosis_letter(u8::try_from(*p).unwrap_or(0)))
        .collect()
}

/// The claim document of one claim (for the scrubber, the 837P and the form).
pub async fn claim_document(db: &mut CallerTx, id: Uuid) -> Result<ClaimDocument, ApiError> {
    load_claim_documents(db.conn(), &[id])
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// One claim with its diagnoses, lines and the scrubber's findings (404 for another practice's).
pub async fn get_claim(db: &mut CallerTx, id: Uuid) -> Result<ClaimDetail, ApiError> {
    let mut claim: ClaimDetail = sqlx::query_as(&format!("{DETAIL_SELECT} where c.id = $1"))
        .bind(id)
        .fetch_optional(db.conn())
        .await?
        .ok_or(ApiError::NotFound)?;
    claim.diagnoses = sqlx::query_as(
        "select d.sequence, d.icd10_code, coalesce(i.description, '') as description, d.patient_diagnosis_id
           from claim_diagnoses d left join icd10_codes i on i.code = d.icd10_code
          where d.claim_id = $1 order by d.sequence",
    )
    .bind(id)
    .fetch_all(db.conn())
    .await?;
    for diagnosis in &mut claim.diagnoses {
        diagnosis.letter = diagnosis_letter(u8::try_from(diagnosis.sequence).unwrap_or(0)).into();
    }
    claim.lines = sqlx::query_as(
        "select id, line_number, encounter_id, cpt_code, modifiers, units, charge::text as charge, service_date,
                place_of_service, diagnosis_pointers, paid_amount::text as paid_amount,
                patient_responsibility::text as patient_responsibility,
                adjustment_amount::text as adjustment_amount
           from claim_line_items where claim_id = $1 order by line_number",
    )
    .bind(id)
    .fetch_all(db.conn())
    .await?;
    for line in &mut claim.lines {
        line.pointer_letters = letters(&line.diagnosis_pointers);
    }
    let document = claim_document(db, id).await?;
    claim.scrub = Some(ScrubResult::from(&scrub(&document)));
    Ok(claim)
}

/// Encounters to bill, in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimsFromEncounters {
    /// Completed sessions; 1-200 of them.
    pub encounter_ids: Vec<Uuid>,
}

/// A draft claim made for an encounter, and why each line is what it is.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedClaim {
    pub encounter_id: Uuid,
    pub claim_id: Uuid,
    pub claim_number: String,
    pub explanations: Vec<String>,
}

/// An encounter no claim was made for, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkippedEncounter {
    pub encounter_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimBatch {
    pub created: Vec<CreatedClaim>,
    pub skipped: Vec<SkippedEncounter>,
}

/// Most encounters one batch takes.
const MAX_BATCH: usize = 200;

/// Draft claims from completed encounters (billers and admins): one per encounter, the lines
/// from the code suggestion and the fee schedule; encounters that cannot be billed are skipped
/// with the reason.
pub async fn create_claims(
    db: &mut CallerTx,
    request: &ClaimsFromEncounters,
) -> Result<ClaimBatch, ApiError> {
    if request.encounter_ids.is_empty() || request.encounter_ids.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "encounter_ids",
            format!("between 1 and {MAX_BATCH} encounters"),
        ));
    }
    // The front desk sees neither diagnoses nor claims: every session would be "skipped" for
    // reasons that are not the session's. The database refuses its inserts too.
    if db.caller.role == crate::platform::caller::UserRole::Staff {
        return Err(ApiError::Forbidden(
            "claims are created by billers, admins and clinicians".into(),
        ));
    }
    let results = create_claims_from_encounters(db.conn(), &request.encounter_ids)
        .await
        .map_err(db_error)?;
    let mut batch = ClaimBatch {
        created: Vec::new(),
        skipped: Vec::new(),
    };
    for result in results {
        match result.outcome {
            ClaimCreation::Created {
                claim_id,
                claim_number,
                explanations,
            } => batch.created.push(CreatedClaim {
                encounter_id: result.encounter_id,
                claim_id,
                claim_number,
                explanations,
            }),
            ClaimCreation::Skipped { reason } => batch.skipped.push(SkippedEncounter {
                encounter_id: result.encounter_id,
                reason,
            }),
        }
    }
    Ok(batch)
}

/// The database layer's refusals, as the API answers them.
pub(crate) fn db_error(error: indra_db::billing::BillingError) -> ApiError {
    use indra_db::billing::BillingError as Db;
    match error {
        Db::Database(error) => explain(error),
        Db::NothingReady => ApiError::conflict(None, "no claim is ready to export"),
        Db::ClaimNotFound(id) => {
            ApiError::invalid("claim_ids", format!("claim {id} was not found"))
        }
        error @ Db::NotReady { .. } => ApiError::conflict(Some("claim_ids"), error.to_string()),
        Db::X12(error) => ApiError::invalid("body", error.to_string()),
        error @ Db::Unbalanced(_) => ApiError::invalid("body", error.to_string()),
        error @ Db::ControlNumbersExhausted => ApiError::conflict(None, error.to_string()),
    }
}

/// The claim rules' refusals (migration 0018) read as what they are: a claim in the wrong
/// state is a conflict, an undocumented session a value to fix (422, with the database's
/// sentence naming the line).
pub(crate) fn explain(error: sqlx::Error) -> ApiError {
    if let Some(db) = error.as_database_error()
        && let Some(constraint) = db.constraint()
    {
        let detail = db.message().to_owned();
        match constraint {
            "billing_claims_status_transition"
            | "billing_claims_billed_content_immutable"
            | "billing_claims_record_immutable"
            | "claim_line_items_immutable"
            | "claim_diagnoses_immutable" => return ApiError::conflict(Some("status"), detail),
            "billing_claims_authorization_exhausted" => {
                return ApiError::conflict(Some("authorization_override_reason"), detail);
            }
            "billing_claims_authorization_override_admin_only" => {
                return ApiError::Forbidden(detail);
            }
            _ => {}
        }
    }
    error.into()
}

/// One box 21 diagnosis as an edit sends it (its place in the list is its letter).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiagnosisInput {
    pub icd10_code: String,
    /// The chart's diagnosis it comes from, when known.
    pub patient_diagnosis_id: Option<Uuid>,
}

/// One box 24 line as an edit sends it (its place in the list is its line number).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineInput {
    pub encounter_id: Uuid,
    pub cpt_code: String,
    #[serde(default)]
    pub modifiers: Vec<String>,
    /// 1-99 (default 1).
    pub units: Option<i16>,
    /// e.g. `"135.00"`.
    pub charge: String,
    /// `YYYY-MM-DD`
    #[schema(format = Date)]
    pub service_date: String,
    /// The claim's place of service when absent.
    pub place_of_service: Option<String>,
    /// Sequences of the claim's diagnoses (1 = A), 1-4 of them, the primary first.
    pub diagnosis_pointers: Vec<i32>,
}

/// A draft's new diagnoses and lines (replacing the old ones), and its claim-level fields.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimEdit {
    /// 1-12, in box 21 order A-L.
    pub diagnoses: Vec<DiagnosisInput>,
    /// 1-50, in box 24 order.
    pub lines: Vec<LineInput>,
    /// Two digits; kept when absent.
    pub place_of_service: Option<String>,
    /// Kept when absent; `""` clears it.
    pub prior_authorization_number: Option<String>,
}

fn checked_place(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err("a place of service is two digits, e.g. 11 (office) or 10 (telehealth at home)".into())
    }
}

fn checked_charge(text: &str) -> Result<Cents, String> {
    match Cents::parse(text) {
        Some(cents) if cents.0 >= 0 && cents.0 < 100_000_000 => Ok(cents),
        _ => Err("an amount such as 135.00, not negative".into()),
    }
}

/// Replaces a draft's diagnoses and lines when `if_match` names its current version.
pub async fn edit_claim(
    db: &mut CallerTx,
    id: Uuid,
    if_match: Option<&str>,
    edit: &ClaimEdit,
) -> Result<ClaimDetail, BillingError> {
    let current = get_claim(db, id).await?;
    check_version(if_match, &etag_of(&current))?;
    if current.status != ClaimStatus::Draft {
        return Err(ApiError::conflict(
            Some("status"),
            format!(
                "claim {} is {:?}: only a draft is edited; void it and create a new claim",
                current.claim_number, current.status
            )
            .to_lowercase(),
        )
        .into());
    }
    let mut check = FieldCheck::default();
    if edit.diagnoses.is_empty() || edit.diagnoses.len() > 12 {
        check.add("diagnoses", "1 to 12 diagnoses (box 21 A-L)");
    }
    let mut codes: Vec<String> = Vec::new();
    for (index, diagnosis) in edit.diagnoses.iter().enumerate() {
        let code = diagnosis.icd10_code.trim().to_uppercase();
        if codes.contains(&code) {
            check.add(
                format!("diagnoses[{index}].icd10_code"),
                format!("{code} is listed twice"),
            );
        }
        codes.push(code);
    }
    let known: Vec<String> =
        sqlx::query_scalar("select code from icd10_codes where code = any($1)")
            .bind(&codes)
            .fetch_all(db.conn())
            .await?;
    for (index, code) in codes.iter().enumerate() {
        if !known.contains(code) {
            check.add(
                format!("diagnoses[{index}].icd10_code"),
                format!("{code} is not an ICD-10-CM code Indra knows"),
            );
        }
    }
    let place = match &edit.place_of_service {
        Some(text) => check.take("place_of_service", checked_place(text)),
        None => Some(current.place_of_service.clone()),
    };
    let prior_authorization = match &edit.prior_authorization_number {
        Some(text) => check.take("prior_authorization_number", optional_text(Some(text), 50)),
        None => Some(current.prior_authorization_number.clone()),
    };
    if edit.lines.is_empty() || edit.lines.len() > 50 {
        check.add("lines", "1 to 50 service lines");
    }
    let cpt_codes: Vec<String> = edit
        .lines
        .iter()
        .map(|l| l.cpt_code.trim().to_uppercase())
        .collect();
    let known_cpt: Vec<String> =
        sqlx::query_scalar("select code from cpt_codes where code = any($1)")
            .bind(&cpt_codes)
            .fetch_all(db.conn())
            .await?;
    let encounter_ids: Vec<Uuid> = edit.lines.iter().map(|l| l.encounter_id).collect();
    let patients_encounters: Vec<Uuid> =
        sqlx::query_scalar("select id from encounters where id = any($1) and patient_id = $2")
            .bind(&encounter_ids)
            .bind(current.patient_id)
            .fetch_all(db.conn())
            .await?;
    let mut lines = Vec::new();
    for (index, line) in edit.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        if !patients_encounters.contains(&line.encounter_id) {
            check.add(
                field("encounter_id"),
                "not a session of this claim's patient",
            );
        }
        if !known_cpt.contains(&cpt_codes[index]) {
            check.add(
                field("cpt_code"),
                format!("{} is not a CPT code Indra knows", cpt_codes[index]),
            );
        }
        let mut modifiers = Vec::new();
        for (m, modifier) in line.modifiers.iter().enumerate() {
            let modifier = modifier.trim().to_uppercase();
            if modifier.len() != 2 || !modifier.bytes().all(|b| b.is_ascii_alphanumeric()) {
                check.add(
                    format!("lines[{index}].modifiers[{m}]"),
                    "a modifier is two letters or digits, e.g. 95",
                );
            }
            modifiers.push(modifier);
        }
        if modifiers.len() > 4 {
            check.add(field("modifiers"), "at most 4 modifiers");
        }
        let units = line.units.unwrap_or(1);
        if !(1..=99).contains(&units) {
            check.add(field("units"), "between 1 and 99");
        }
        let charge = check.take(&field("charge"), checked_charge(&line.charge));
        let date = check.take(&field("service_date"), iso_date::parse(&line.service_date));
        let line_place = match &line.place_of_service {
            Some(text) => check.take(&field("place_of_service"), checked_place(text).map(Some)),
            None => Some(None),
        };
        let pointers = &line.diagnosis_pointers;
        let distinct = pointers
            .iter()
            .enumerate()
            .all(|(i, p)| !pointers[..i].contains(p));
        if pointers.is_empty() || pointers.len() > 4 || !distinct {
            check.add(
                field("diagnosis_pointers"),
                "1 to 4 different diagnoses, the primary first",
            );
        } else if let Some(bad) = pointers
            .iter()
            .find(|p| **p < 1 || usize::try_from(**p).unwrap_or(usize::MAX) > edit.diagnoses.len())
        {
            check.add(
                field("diagnosis_pointers"),
                format!(
                    "points at diagnosis {bad}, which the claim does not have (it has {})",
                    edit.diagnoses.len()
                ),
            );
        }
        lines.push((line, modifiers, units, charge, date, line_place));
    }
    check.finish()?;
    let (Some(place), Some(prior_authorization)) = (place, prior_authorization) else {
        return Err(ApiError::invalid("place_of_service", "not acceptable").into());
    };
    // The claim first, guarded by its version: a concurrent edit makes this touch no row.
    let touched: Option<Uuid> = sqlx::query_scalar(
        "update billing_claims set place_of_service = $2, prior_authorization_number = $3
          where id = $1 and updated_at = $4 returning id",
    )
    .bind(id)
    .bind(&place)
    .bind(&prior_authorization)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await
    .map_err(explain)?;
    if touched.is_none() {
        return Err(if etag_of(&get_claim(db, id).await?) != etag_of(&current) {
            ApiError::PreconditionFailed
        } else {
            ApiError::Forbidden("your role may not edit this claim".into())
        }
        .into());
    }
    for table in ["claim_line_items", "claim_diagnoses"] {
        sqlx::query(&format!("delete from {table} where claim_id = $1"))
            .bind(id)
            .execute(db.conn())
            .await
            .map_err(explain)?;
    }
    for (index, (diagnosis, code)) in edit.diagnoses.iter().zip(&codes).enumerate() {
        sqlx::query(
            "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code, patient_diagnosis_id)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(db.caller.org_id)
        .bind(id)
        .bind(i16::try_from(index + 1).unwrap_or(i16::MAX))
        .bind(code)
        .bind(diagnosis.patient_diagnosis_id)
        .execute(db.conn())
        .await
        .map_err(|e| field_error(e, &format!("diagnoses[{index}]")))?;
    }
    for (index, (line, modifiers, units, charge, date, line_place)) in lines.into_iter().enumerate()
    {
        let (Some(charge), Some(date), Some(line_place)) = (charge, date, line_place) else {
            continue;
        };
        sqlx::query(
            "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, modifiers, units,
                                           charge, service_date, place_of_service, diagnosis_pointers)
             values ($1, $2, $3, $4, $5, $6, $7, ($8::bigint::numeric / 100), $9, $10, $11)",
        )
        .bind(db.caller.org_id)
        .bind(id)
        .bind(line.encounter_id)
        .bind(i16::try_from(index + 1).unwrap_or(i16::MAX))
        .bind(&cpt_codes[index])
        .bind(&modifiers)
        .bind(units)
        .bind(charge.0)
        .bind(date)
        .bind(line_place.unwrap_or_else(|| place.clone()))
        .bind(&line.diagnosis_pointers)
        .execute(db.conn())
        .await
        .map_err(|e| field_error(e, &format!("lines[{index}]")))?;
    }
    Ok(get_claim(db, id).await?)
}

/// A refusal of one diagnosis or line, its field named under the item's path.
fn field_error(error: sqlx::Error, item: &str) -> ApiError {
    match explain(error) {
        ApiError::Invalid { detail, field } => ApiError::Invalid {
            detail,
            field: Some(match field {
                Some(field) => format!("{item}.{field}"),
                None => item.to_owned(),
            }),
        },
        other => other,
    }
}

/// A claim refused by the scrubber: every finding that holds it, with its field and message.
#[derive(Debug)]
pub struct ScrubRefusal {
    pub claim_number: String,
    pub findings: Vec<ScrubFinding>,
}

/// The 422 answer to a claim the scrubber holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScrubProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// Every finding of the scrubber, errors and warnings, each with its field and message.
    pub findings: Vec<ScrubFinding>,
}

/// Marking a claim ready: any API error, or the scrubber's findings.
#[derive(Debug)]
pub enum ReadyError {
    Api(ApiError),
    Scrubbed(ScrubRefusal),
}

impl From<ApiError> for ReadyError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for ReadyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(explain(error))
    }
}

impl IntoResponse for ReadyError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::Scrubbed(refusal) => {
                let errors = refusal
                    .findings
                    .iter()
                    .filter(|f| f.severity == "error")
                    .count();
                let first = refusal.findings.iter().find(|f| f.severity == "error");
                let problem = ApiError::Invalid {
                    detail: format!(
                        "claim {} is not ready: the scrubber found {errors} problem{} to fix first",
                        refusal.claim_number,
                        if errors == 1 { "" } else { "s" }
                    ),
                    field: first.map(|f| f.field.clone()),
                }
                .problem();
                let mut response = (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(ScrubProblem {
                        problem,
                        findings: refusal.findings,
                    }),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response
            }
        }
    }
}

/// Makes a draft ready when `if_match` names its current version: the scrubber first (every
/// finding answered at once), then the database's own rules (documentation, diagnoses on the
/// record).
pub async fn mark_ready(
    db: &mut CallerTx,
    id: Uuid,
    if_match: Option<&str>,
) -> Result<ClaimDetail, ReadyError> {
    let current = get_claim(db, id).await?;
    check_version(if_match, &etag_of(&current))?;
    if current.status != ClaimStatus::Draft {
        return Err(ApiError::conflict(
            Some("status"),
            format!(
                "claim {} is {}: only a draft becomes ready",
                current.claim_number,
                status_name(current.status)
            ),
        )
        .into());
    }
    if let Some(scrub) = &current.scrub
        && !scrub.clean
    {
        return Err(ReadyError::Scrubbed(ScrubRefusal {
            claim_number: current.claim_number.clone(),
            findings: scrub.findings.clone(),
        }));
    }
    let touched: Option<Uuid> = sqlx::query_scalar(
        "update billing_claims set status = 'ready' where id = $1 and updated_at = $2 returning id",
    )
    .bind(id)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    if touched.is_none() {
        return Err(why_unchanged(db, &current).await?.into());
    }
    Ok(get_claim(db, id).await?)
}

fn status_name(status: ClaimStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn why_unchanged(db: &mut CallerTx, current: &ClaimDetail) -> Result<ApiError, ApiError> {
    Ok(
        if etag_of(&get_claim(db, current.id).await?) != etag_of(current) {
            ApiError::PreconditionFailed
        } else {
            ApiError::Forbidden("only billers and admins move claims along".into())
        },
    )
}

/// A reason (to void a claim, to bill past the authorization).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    pub reason: String,
}

/// Lets a claim be submitted past its coverage's authorized sessions (admins only), with the
/// reason on record.
pub async fn override_authorization(
    db: &mut CallerTx,
    id: Uuid,
    reason: &Reason,
) -> Result<ClaimDetail, ApiError> {
    let current = get_claim(db, id).await?;
    let reason =
        required_text(&reason.reason, 500).map_err(|detail| ApiError::invalid("reason", detail))?;
    if !matches!(current.status, ClaimStatus::Draft | ClaimStatus::Ready) {
        return Err(ApiError::conflict(
            Some("status"),
            format!(
                "claim {} is {}: the authorization is overridden before it is submitted",
                current.claim_number,
                status_name(current.status)
            ),
        ));
    }
    let touched: Option<Uuid> = sqlx::query_scalar(
        "update billing_claims set authorization_override_reason = $2 where id = $1 returning id",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(db.conn())
    .await
    .map_err(explain)?;
    if touched.is_none() {
        return Err(ApiError::Forbidden(
            "only an admin may override the authorization limit of a claim".into(),
        ));
    }
    get_claim(db, id).await
}

/// Withdraws a claim (billers and admins), with the reason; the sessions it counted against the
/// authorization are given back. A draft is not voided: it is edited, or left.
pub async fn void_claim(
    db: &mut CallerTx,
    id: Uuid,
    reason: &Reason,
) -> Result<ClaimDetail, ApiError> {
    let current = get_claim(db, id).await?;
    let reason =
        required_text(&reason.reason, 500).map_err(|detail| ApiError::invalid("reason", detail))?;
    match current.status {
        ClaimStatus::Draft => {
            return Err(ApiError::conflict(
                Some("status"),
                format!(
                    "claim {} is a draft: it has not gone anywhere to be withdrawn from; edit it instead",
                    current.claim_number
                ),
            ));
        }
        ClaimStatus::Voided | ClaimStatus::Paid | ClaimStatus::Appealed => {
            return Err(ApiError::conflict(
                Some("status"),
                format!(
                    "claim {} is {}: it can no longer be voided",
                    current.claim_number,
                    status_name(current.status)
                ),
            ));
        }
        _ => {}
    }
    let touched: Option<Uuid> = sqlx::query_scalar(
        "update billing_claims set status = 'voided', void_reason = $2 where id = $1 returning id",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(db.conn())
    .await
    .map_err(explain)?;
    if touched.is_none() {
        return Err(ApiError::Forbidden(
            "only billers and admins void claims".into(),
        ));
    }
    get_claim(db, id).await
}

/// Claims, oldest first, a page at a time: `status=ready` for the workbench's tab.
#[utoipa::path(get, path = "/api/v1/claims", tag = "billing", operation_id = "list_claims",
    params(ClaimQuery),
    responses((status = 200, body = Page<ClaimSummary>), (status = 401, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_claims_handler(
    mut db: CallerTx,
    Query(query): Query<ClaimQuery>,
) -> Result<axum::Json<Page<ClaimSummary>>, ApiError> {
    let page = list_claims(&mut db, &query).await?;
    db.commit().await?;
    Ok(axum::Json(page))
}

/// One claim: its diagnoses A-L, its lines with their pointers, and the scrubber's findings.
#[utoipa::path(get, path = "/api/v1/claims/{id}", tag = "billing", operation_id = "get_claim",
    params(("id" = Uuid, Path, description = "The claim's id")),
    responses((status = 200, body = ClaimDetail, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_claim_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<ClaimDetail>, ApiError> {
    let claim = get_claim(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(claim))
}

/// Draft claims from completed sessions (billers and admins), one per session: what was
/// created (with why each line is what it is) and what was skipped (with the reason). Honours
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/claims/from-encounters", tag = "billing",
    operation_id = "create_claims_from_encounters",
    request_body = ClaimsFromEncounters,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 200, body = ClaimBatch), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_claims_handler(
    mut db: CallerTx,
    headers: HeaderMap,
    Json(request): Json<ClaimsFromEncounters>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        "POST /api/v1/claims/from-encounters",
        &request,
    )
    .await?
    {
        KeyClaim::Replay(answer) => return Ok(answer),
        KeyClaim::Fresh(key) => key,
    };
    let batch = create_claims(&mut db, &request).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::OK, &batch).await?;
    }
    db.commit().await?;
    Ok(axum::Json(batch).into_response())
}

/// Replaces a draft's diagnoses and lines (billers, admins, and providers on a draft). Requires
/// `If-Match`; every field at fault is named in `errors`.
#[utoipa::path(put, path = "/api/v1/claims/{id}", tag = "billing", operation_id = "edit_claim",
    request_body = ClaimEdit,
    params(("id" = Uuid, Path, description = "The claim's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = ClaimDetail, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
              (status = 422, body = super::BillingProblem), (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn edit_claim_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(edit): Json<ClaimEdit>,
) -> Result<Tagged<ClaimDetail>, BillingError> {
    let claim = edit_claim(&mut db, id, if_match(&headers), &edit).await?;
    // The pointers are checked at commit (deferred): a refusal there names diagnosis_pointers.
    db.commit().await?;
    Ok(Tagged(claim))
}

/// Makes a draft ready (billers and admins). The scrubber runs first: a claim it holds is
/// refused 422 with every finding (field and message); the database refuses undocumented
/// sessions and diagnoses not on the patient's record. Requires `If-Match`.
#[utoipa::path(post, path = "/api/v1/claims/{id}/ready", tag = "billing", operation_id = "mark_claim_ready",
    params(("id" = Uuid, Path, description = "The claim's id"),
           ("If-Match" = String, Header, description = "The ETag of the version made ready")),
    responses((status = 200, body = ClaimDetail, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
              (status = 422, body = ScrubProblem), (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn mark_ready_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Tagged<ClaimDetail>, ReadyError> {
    let claim = mark_ready(&mut db, id, if_match(&headers)).await?;
    db.commit().await?;
    Ok(Tagged(claim))
}

/// Lets a claim go out past its authorization's sessions (admins only), with the reason.
#[utoipa::path(post, path = "/api/v1/claims/{id}/authorization-override", tag = "billing",
    operation_id = "override_claim_authorization",
    request_body = Reason,
    params(("id" = Uuid, Path, description = "The claim's id")),
    responses((status = 200, body = ClaimDetail, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn override_authorization_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(reason): Json<Reason>,
) -> Result<Tagged<ClaimDetail>, ApiError> {
    let claim = override_authorization(&mut db, id, &reason).await?;
    db.commit().await?;
    Ok(Tagged(claim))
}

/// Voids a claim (billers and admins), with the reason; its sessions go back to the
/// authorization.
#[utoipa::path(post, path = "/api/v1/claims/{id}/void", tag = "billing", operation_id = "void_claim",
    request_body = Reason,
    params(("id" = Uuid, Path, description = "The claim's id")),
    responses((status = 200, body = ClaimDetail, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn void_claim_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Json(reason): Json<Reason>,
) -> Result<Tagged<ClaimDetail>, ApiError> {
    let claim = void_claim(&mut db, id, &reason).await?;
    db.commit().await?;
    Ok(Tagged(claim))
}
