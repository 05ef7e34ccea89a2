//! `/billing`: the claims workbench. Claims by status (with how many there are of each), the
//! scrubber's findings beside every draft, the completed sessions no claim bills yet (made into
//! draft claims in a batch), ready claims exported as one 837P, the CMS-1500 of any claim, and
//! the 837P files sent before, to download again.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use indra_db::billing::load_claim_documents;
use indra_rules::billing::scrubber::scrub;
use serde::Deserialize;
use time::Date;
use uuid::Uuid;

use super::{STATUSES, dollars, parse_status, path_id, require_biller, status_word};
use crate::billing::claims::{
    ClaimBatch, ClaimQuery, ClaimStatus, ClaimsFromEncounters, ScrubFinding, create_claims,
    list_claims,
};
use crate::billing::exports::{
    ExportRequest, ExportSummary, Paper, cms1500_pdf, export_claims, export_file, latest_exports,
};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::chart::words;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, capitalized, render, url_encoded};

/// Claims a page of the workbench shows.
const PAGE_SIZE: u32 = 100;
/// Completed sessions the "not yet billed" list shows at most.
const UNBILLED_LIMIT: i64 = 200;
/// Past exports listed.
const EXPORTS_SHOWN: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct WorkbenchQuery {
    status: Option<String>,
    cursor: Option<String>,
}

/// A tab of the workbench: a status and how many claims have it.
struct Tab {
    status: &'static str,
    label: String,
    count: i64,
    current: bool,
}

/// A claim as the workbench lists it.
struct ClaimRow {
    id: Uuid,
    claim_number: String,
    patient_id: Uuid,
    patient_name: String,
    service_date: Option<Date>,
    payer_name: String,
    total: String,
    status: &'static str,
    /// The scrubber's findings, for drafts: errors first.
    findings: Vec<ScrubFinding>,
}

impl ClaimRow {
    fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == "error")
            .count()
    }
}

/// A completed session no claim bills yet.
#[derive(Debug, sqlx::FromRow)]
struct UnbilledSession {
    id: Uuid,
    patient_id: Uuid,
    patient_name: String,
    service_date: Option<Date>,
    encounter_type: String,
    minutes: Option<i32>,
    provider_name: String,
    /// The session's current note is signed.
    documented: bool,
}

/// What the last form did, shown above the lists.
enum Outcome {
    None,
    Created(ClaimBatch),
    Problem(String),
}

#[derive(Template)]
#[template(path = "billing/workbench.html")]
struct WorkbenchPage {
    layout: Layout,
    tabs: Vec<Tab>,
    status: &'static str,
    claims: Vec<ClaimRow>,
    next_page: Option<String>,
    unbilled: Vec<UnbilledSession>,
    self_pay_sessions: i64,
    exports: Vec<ExportSummary>,
    outcome: Outcome,
    /// Encounters the biller ticked, kept when the batch was refused.
    ticked: Vec<Uuid>,
}

impl WorkbenchPage {
    fn session_label(&self, encounter_id: &Uuid) -> String {
        self.unbilled
            .iter()
            .find(|s| s.id == *encounter_id)
            .map_or_else(
                || "a session".to_owned(),
                |s| {
                    format!(
                        "{}, {}",
                        s.patient_name,
                        s.service_date.map(|d| d.to_string()).unwrap_or_default()
                    )
                },
            )
    }

    /// `individual_therapy` -> `Individual therapy`.
    fn kind(&self, code: &str) -> String {
        words(code)
    }

    fn is_ticked(&self, id: &Uuid) -> bool {
        self.ticked.contains(id)
    }
}

/// `GET /billing`: the workbench, on the tab of `?status=` (drafts by default).
pub async fn page(
    mut db: PageTx,
    Query(query): Query<WorkbenchQuery>,
) -> Result<Response, WebError> {
    require_biller(&mut db).await?;
    let status = query
        .status
        .as_deref()
        .and_then(parse_status)
        .unwrap_or(ClaimStatus::Draft);
    show(
        db,
        status,
        query.cursor,
        StatusCode::OK,
        Outcome::None,
        Vec::new(),
    )
    .await
}

async fn show(
    mut db: PageTx,
    status: ClaimStatus,
    cursor: Option<String>,
    code: StatusCode,
    outcome: Outcome,
    ticked: Vec<Uuid>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    let counts: Vec<(String, i64)> =
        sqlx::query_as("select status::text, count(*) from billing_claims group by status")
            .fetch_all(db.conn())
            .await?;
    let tabs = STATUSES
        .into_iter()
        .map(|s| Tab {
            status: status_word(s),
            label: capitalized(status_word(s)),
            count: counts
                .iter()
                .find(|(name, _)| name == status_word(s))
                .map_or(0, |(_, n)| *n),
            current: s == status,
        })
        .collect();
    let page = match list_claims(
        &mut db,
        &ClaimQuery {
            status: Some(status),
            patient_id: None,
            limit: Some(PAGE_SIZE),
            cursor,
        },
    )
    .await
    {
        Ok(page) => page,
        // A cursor from an older page that no longer reads: start over.
        Err(ApiError::Invalid { .. }) => {
            list_claims(
                &mut db,
                &ClaimQuery {
                    status: Some(status),
                    patient_id: None,
                    limit: Some(PAGE_SIZE),
                    cursor: None,
                },
            )
            .await?
        }
        Err(other) => return Err(WebError::new(other).with_layout(layout)),
    };
    let drafts: Vec<Uuid> = page
        .items
        .iter()
        .filter(|c| c.status == ClaimStatus::Draft)
        .map(|c| c.id)
        .collect();
    let documents = load_claim_documents(db.conn(), &drafts).await?;
    let claims = page
        .items
        .iter()
        .map(|c| {
            let mut findings: Vec<ScrubFinding> = documents
                .iter()
                .find(|d| d.claim_number == c.claim_number)
                .map(|d| scrub(d).findings.iter().map(ScrubFinding::from).collect())
                .unwrap_or_default();
            findings.sort_by_key(|f| f.severity != "error");
            ClaimRow {
                id: c.id,
                claim_number: c.claim_number.clone(),
                patient_id: c.patient_id,
                patient_name: c.patient_name.clone(),
                service_date: c.first_service_date,
                payer_name: c.payer_name.clone(),
                total: dollars(&c.total_charge),
                status: status_word(c.status),
                findings,
            }
        })
        .collect();
    let next_page = page.next_cursor.map(|cursor| {
        format!(
            "/billing?status={}&cursor={}",
            status_word(status),
            url_encoded(&cursor)
        )
    });
    let unbilled: Vec<UnbilledSession> = sqlx::query_as(
        "select e.id, e.patient_id, p.last_name || ', ' || p.first_name as patient_name,
                (coalesce(e.started_at, e.scheduled_start) at time zone o.time_zone)::date as service_date,
                e.encounter_type::text as encounter_type, e.duration_minutes as minutes,
                pr.first_name || ' ' || pr.last_name as provider_name,
                exists (select 1 from clinical_note_statuses n
                         where n.encounter_id = e.id and n.is_current and n.status <> 'draft') as documented
           from encounters e
           join organizations o on o.id = e.org_id
           join patients p on p.org_id = e.org_id and p.id = e.patient_id
           join providers pr on pr.org_id = e.org_id and pr.id = e.provider_id
          where e.status = 'completed'
            and not exists (select 1 from claim_line_items l
                              join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
                             where l.org_id = e.org_id and l.encounter_id = e.id and c.status <> 'voided')
            and exists (select 1 from patient_insurance i
                         where i.org_id = e.org_id and i.patient_id = e.patient_id
                           and i.is_active and i.priority = 'primary')
          order by e.started_at desc nulls last, e.id
          limit $1",
    )
    .bind(UNBILLED_LIMIT)
    .fetch_all(db.conn())
    .await?;
    let self_pay_sessions: i64 = sqlx::query_scalar(
        "select count(*) from encounters e
          where e.status = 'completed'
            and not exists (select 1 from patient_insurance i
                             where i.org_id = e.org_id and i.patient_id = e.patient_id
                               and i.is_active and i.priority = 'primary')
            and not exists (select 1 from claim_line_items l
                              join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
                             where l.org_id = e.org_id and l.encounter_id = e.id and c.status <> 'voided')",
    )
    .fetch_one(db.conn())
    .await?;
    let exports = latest_exports(&mut db, EXPORTS_SHOWN).await?;
    db.commit().await?;
    render(
        code,
        &WorkbenchPage {
            layout,
            tabs,
            status: status_word(status),
            claims,
            next_page,
            unbilled,
            self_pay_sessions,
            exports,
            outcome,
            ticked,
        },
    )
}

/// The ticked ids of a form's checkboxes called `name`, and its CSRF token.
fn ticked(fields: &[(String, String)], name: &str) -> (String, Vec<Uuid>) {
    let csrf = fields
        .iter()
        .find(|(n, _)| n == "csrf_token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let ids = fields
        .iter()
        .filter(|(n, _)| n == name)
        .filter_map(|(_, v)| Uuid::parse_str(v.trim()).ok())
        .collect();
    (csrf, ids)
}

/// `POST /billing/claims`: draft claims from the ticked sessions, through the API; the
/// workbench then says what was created and what was skipped, and why.
pub async fn create(
    mut db: PageTx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (csrf, encounter_ids) = ticked(&fields, "encounter_id");
    db.require_csrf(&csrf)?;
    require_biller(&mut db).await?;
    if encounter_ids.is_empty() {
        return show(
            db,
            ClaimStatus::Draft,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Outcome::Problem("Tick at least one session to bill.".to_owned()),
            Vec::new(),
        )
        .await;
    }
    let (mut tx, reopen) = db.into_api();
    let created = create_claims(
        &mut tx,
        &ClaimsFromEncounters {
            encounter_ids: encounter_ids.clone(),
        },
    )
    .await;
    match created {
        Ok(batch) => {
            tx.commit().await?;
            let db = reopen.open().await?;
            show(
                db,
                ClaimStatus::Draft,
                None,
                StatusCode::OK,
                Outcome::Created(batch),
                Vec::new(),
            )
            .await
        }
        Err(error) => {
            // Rolled back.
            drop(tx);
            refused(
                reopen.open().await?,
                ClaimStatus::Draft,
                error,
                encounter_ids,
            )
            .await
        }
    }
}

/// The workbench again with the refusal's words, or the error page for other errors.
async fn refused(
    db: PageTx,
    status: ClaimStatus,
    error: ApiError,
    ticked: Vec<Uuid>,
) -> Result<Response, WebError> {
    let (code, detail) = match &error {
        ApiError::Invalid { detail, .. } => (StatusCode::UNPROCESSABLE_ENTITY, detail.clone()),
        ApiError::Conflict { detail, .. } => (StatusCode::CONFLICT, detail.clone()),
        ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail.clone()),
        _ => return Err(error.into()),
    };
    let mut message = capitalized(&detail);
    if !message.ends_with('.') {
        message.push('.');
    }
    show(db, status, None, code, Outcome::Problem(message), ticked).await
}

/// `POST /billing/exports`: the ticked ready claims as one 837P, downloaded; they become
/// submitted. A refusal (nothing ticked, a claim no longer ready) is said on the ready tab.
pub async fn export(
    State(state): State<AppState>,
    mut db: PageTx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (csrf, claim_ids) = ticked(&fields, "claim_id");
    db.require_csrf(&csrf)?;
    require_biller(&mut db).await?;
    if claim_ids.is_empty() {
        return show(
            db,
            ClaimStatus::Ready,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Outcome::Problem("Tick at least one ready claim to export.".to_owned()),
            Vec::new(),
        )
        .await;
    }
    let (mut tx, reopen) = db.into_api();
    let exported = export_claims(
        &mut tx,
        &state.config.x12,
        &ExportRequest {
            claim_ids: Some(claim_ids.clone()),
        },
    )
    .await;
    match exported {
        Ok(download) => {
            tx.commit().await?;
            Ok(download.into_response())
        }
        Err(error) => {
            drop(tx);
            refused(reopen.open().await?, ClaimStatus::Ready, error, claim_ids).await
        }
    }
}

/// `GET /billing/exports/{id}`: an 837P file again, exactly as it was sent.
pub async fn export_download(mut db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    match export_file(&mut db, id).await {
        Ok(download) => {
            db.commit().await?;
            Ok(download.into_response())
        }
        Err(error) => {
            let layout = Layout::load(&mut db, Section::Billing).await?;
            Err(WebError::new(error).with_layout(layout))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PaperChoice {
    paper: Option<String>,
}

/// `GET /billing/claims/{id}/cms1500.pdf?paper=plain|red`: the claim's CMS-1500 to print.
pub async fn cms1500(
    mut db: PageTx,
    Path(id): Path<String>,
    Query(choice): Query<PaperChoice>,
) -> Result<Response, WebError> {
    require_biller(&mut db).await?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    let paper = match choice.paper.as_deref() {
        Some("red") => Paper::Red,
        _ => Paper::Plain,
    };
    match cms1500_pdf(&mut db, id, paper).await {
        Ok(download) => {
            db.commit().await?;
            Ok(download.into_response())
        }
        Err(error) => {
            let layout = Layout::load(&mut db, Section::Billing).await?;
            Err(WebError::new(error).with_layout(layout))
        }
    }
}
