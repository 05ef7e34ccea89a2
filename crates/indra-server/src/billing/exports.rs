//! Claims going out: the 837P file (downloaded as made, and again later exactly as sent) and
//! the CMS-1500 PDF for payers that take paper.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indra_db::billing::{ExportSettings, export_837p};
use indra_rules::billing::cms1500::{Cms1500Options, render_cms1500};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::claims::{claim_document, db_error};
use crate::api::extract::{Json, Path, Query};
use crate::api::pagination::{Cursor, Page, PageQuery, Positioned, fetch_page};
use crate::config::X12Settings;
use crate::error::{ApiError, Problem};
use crate::platform::caller::{CallerTx, UserRole};
use crate::state::AppState;

/// The media type of an X12 file.
pub const X12_MEDIA_TYPE: &str = "application/edi-x12";

/// Which claims to export.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportRequest {
    /// The claims to send, each of them ready; every ready claim of the practice when absent.
    pub claim_ids: Option<Vec<Uuid>>,
}

/// An 837P file sent.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ExportSummary {
    pub id: Uuid,
    pub file_name: String,
    /// ISA13.
    pub interchange_control_number: i32,
    /// GS06.
    pub group_control_number: i32,
    pub claim_count: i32,
    pub total_charge: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub claim_numbers: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Positioned for ExportSummary {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

const EXPORT_SELECT: &str = "select * from (select e.id, e.file_name, e.interchange_control_number, e.group_control_number,
            e.claim_count, e.total_charge::text as total_charge, encode(e.sha256, 'hex') as sha256,
            array(select c.claim_number from claim_export_claims x
                    join billing_claims c on c.org_id = x.org_id and c.id = x.claim_id
                   where x.org_id = e.org_id and x.export_id = e.id order by c.claim_number) as claim_numbers,
            e.created_at
       from claim_exports e) exports";

/// The envelope settings of the configuration, completed from the practice's own record.
async fn settings(db: &mut CallerTx, x12: &X12Settings) -> Result<ExportSettings, ApiError> {
    let org = db.caller.org_id;
    Ok(ExportSettings::for_organization(db.conn(), org, &x12.envelope()).await?)
}

/// A file, downloaded.
pub struct Download {
    pub file_name: String,
    pub media_type: &'static str,
    pub content: Vec<u8>,
    /// The stored export it is, for a `Location` to download it again.
    pub export_id: Option<Uuid>,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::OK, self.content).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.media_type),
        );
        if let Ok(value) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.file_name))
        {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        if let Some(id) = self.export_id
            && let Ok(value) = HeaderValue::from_str(&format!("/api/v1/claims/exports/{id}"))
        {
            headers.insert(header::LOCATION, value);
        }
        response
    }
}

/// Exports ready claims (all of them, or those named) as one 837P: the file is stored with
/// fresh control numbers and the claims become submitted (counting their sessions against the
/// authorizations). Billers and admins.
pub async fn export_claims(
    db: &mut CallerTx,
    x12: &X12Settings,
    request: &ExportRequest,
) -> Result<Download, ApiError> {
    // Only billers and admins may store an export (its policy); a clinician would otherwise be
    // told the claims were not found (locking them for submission is not theirs either).
    if !matches!(db.caller.role, UserRole::Admin | UserRole::Billing) {
        return Err(ApiError::Forbidden(
            "only billers and admins send claims".into(),
        ));
    }
    let settings = settings(db, x12).await?;
    let org_id = db.caller.org_id;
    let export = export_837p(db.conn(), org_id, request.claim_ids.as_deref(), &settings)
        .await
        .map_err(db_error)?;
    Ok(Download {
        file_name: export.file_name,
        media_type: X12_MEDIA_TYPE,
        content: export.content.into_bytes(),
        export_id: Some(export.id),
    })
}

/// The 837P files sent, oldest first, a page at a time.
pub async fn list_exports(
    db: &mut CallerTx,
    query: &PageQuery,
) -> Result<Page<ExportSummary>, ApiError> {
    fetch_page(db.conn(), EXPORT_SELECT, query).await
}

/// The `limit` 837P files sent last, newest first (the workbench's list; the API pages oldest
/// first so that its cursors stay stable while files are added).
pub async fn latest_exports(db: &mut CallerTx, limit: i64) -> Result<Vec<ExportSummary>, ApiError> {
    Ok(sqlx::query_as(&format!(
        "{EXPORT_SELECT} order by created_at desc, id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(db.conn())
    .await?)
}

/// An 837P file exactly as it was sent.
pub async fn export_file(db: &mut CallerTx, id: Uuid) -> Result<Download, ApiError> {
    let (file_name, content): (String, String) =
        sqlx::query_as("select file_name, content from claim_exports where id = $1")
            .bind(id)
            .fetch_optional(db.conn())
            .await?
            .ok_or(ApiError::NotFound)?;
    Ok(Download {
        file_name,
        media_type: X12_MEDIA_TYPE,
        content: content.into_bytes(),
        export_id: Some(id),
    })
}

/// Which form the CMS-1500 is printed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    /// Plain paper: the form's boxes and captions are drawn.
    #[default]
    Plain,
    /// The pre-printed red form: only the data is printed.
    Red,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaperQuery {
    /// `plain` (default) or `red`.
    pub paper: Option<Paper>,
}

/// A claim's CMS-1500 (02/12) as a PDF, six lines a page.
pub async fn cms1500_pdf(db: &mut CallerTx, id: Uuid, paper: Paper) -> Result<Download, ApiError> {
    let document = claim_document(db, id).await?;
    let content = render_cms1500(
        std::slice::from_ref(&document),
        &Cms1500Options {
            plain_paper: paper == Paper::Plain,
        },
    );
    Ok(Download {
        file_name: format!("CMS1500-{}.pdf", document.claim_number),
        media_type: "application/pdf",
        content,
        export_id: None,
    })
}

/// Exports ready claims as an 837P and answers the file (`application/edi-x12`, as an
/// attachment); `Location` names it for downloading again. The claims become submitted.
#[utoipa::path(post, path = "/api/v1/claims/exports", tag = "billing", operation_id = "export_claims",
    request_body = ExportRequest,
    responses((status = 200, description = "The 837P file", content_type = "application/edi-x12", body = String,
               headers(("Content-Disposition" = String), ("Location" = String))),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn export_claims_handler(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut db: CallerTx,
    Json(request): Json<ExportRequest>,
) -> Result<Download, ApiError> {
    let download = export_claims(&mut db, &state.config.x12, &request).await?;
    db.commit().await?;
    Ok(download)
}

/// The 837P files sent, oldest first.
#[utoipa::path(get, path = "/api/v1/claims/exports", tag = "billing", operation_id = "list_claim_exports",
    params(PageQuery),
    responses((status = 200, body = Page<ExportSummary>), (status = 401, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_exports_handler(
    mut db: CallerTx,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Page<ExportSummary>>, ApiError> {
    let page = list_exports(&mut db, &query).await?;
    db.commit().await?;
    Ok(axum::Json(page))
}

/// An 837P file again, exactly as it was sent.
#[utoipa::path(get, path = "/api/v1/claims/exports/{id}", tag = "billing", operation_id = "download_claim_export",
    params(("id" = Uuid, Path, description = "The export's id")),
    responses((status = 200, description = "The 837P file", content_type = "application/edi-x12", body = String),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn export_file_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Download, ApiError> {
    let download = export_file(&mut db, id).await?;
    db.commit().await?;
    Ok(download)
}

/// A claim's CMS-1500 (02/12) PDF, for plain paper (boxes drawn) or the red form (data only).
#[utoipa::path(get, path = "/api/v1/claims/{id}/cms1500.pdf", tag = "billing", operation_id = "claim_cms1500",
    params(("id" = Uuid, Path, description = "The claim's id"), PaperQuery),
    responses((status = 200, description = "The form", content_type = "application/pdf", body = Vec<u8>),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn cms1500_handler(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    Query(query): Query<PaperQuery>,
) -> Result<Download, ApiError> {
    let download = cms1500_pdf(&mut db, id, query.paper.unwrap_or_default()).await?;
    db.commit().await?;
    Ok(download)
}
