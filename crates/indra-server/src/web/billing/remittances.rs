//! `/billing/remittances`: an 835 pasted in, reviewed (the claims each payment matches, what it
//! pays, adjusts and leaves to the patient, the claim numbers it does not match, whether it
//! balances), then posted; and the remittances posted before. Through the remittances API.

use askama::Template;
use axum::Form;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{dollars, require_biller};
use crate::billing::remittances::{RemittanceReview, RemittanceSummary, latest, post, preview};
use crate::error::ApiError;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, capitalized, render};

/// Remittances the list shows (latest first).
const SHOWN: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RemittanceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    file: String,
}

/// Where the page is: the upload form, the review of a file, or what posting it did.
#[derive(PartialEq, Eq)]
enum Stage {
    Upload,
    Review,
    Posted,
}

#[derive(Template)]
#[template(path = "billing/remittances.html")]
struct RemittancesPage {
    layout: Layout,
    stage: Stage,
    /// The file as pasted, kept through the review and after a refusal.
    file: String,
    review: Option<RemittanceReview>,
    problem: Option<String>,
    posted: Vec<RemittanceSummary>,
}

impl RemittancesPage {
    fn dollars(&self, amount: &str) -> String {
        dollars(amount)
    }

    fn code_word(&self, code: &str) -> &'static str {
        match code {
            "1" => "processed as primary",
            "2" => "processed as secondary",
            "3" => "processed as tertiary",
            "4" => "denied",
            "22" => "reversal of a previous payment",
            _ => "other",
        }
    }
}

/// `GET /billing/remittances`: the upload form and the remittances posted.
pub async fn page(mut db: PageTx) -> Result<Response, WebError> {
    require_biller(&mut db).await?;
    show(db, StatusCode::OK, Stage::Upload, String::new(), None, None).await
}

async fn show(
    mut db: PageTx,
    status: StatusCode,
    stage: Stage,
    file: String,
    review: Option<RemittanceReview>,
    problem: Option<String>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    let posted = latest(&mut db, SHOWN).await?;
    db.commit().await?;
    render(
        status,
        &RemittancesPage {
            layout,
            stage,
            file,
            review,
            problem,
            posted,
        },
    )
}

/// A refusal of the file, said on the upload form (which keeps the file); other errors are
/// their own page.
fn refusal(error: ApiError) -> Result<(StatusCode, String), WebError> {
    let (status, detail) = match error {
        ApiError::Invalid { detail, .. } => (StatusCode::UNPROCESSABLE_ENTITY, detail),
        ApiError::Conflict { detail, .. } => (StatusCode::CONFLICT, detail),
        ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail),
        other => return Err(other.into()),
    };
    let mut sentence = capitalized(&detail);
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    Ok((status, sentence))
}

/// `POST /billing/remittances/preview`: what posting the file would do; nothing is written.
pub async fn review(
    mut db: PageTx,
    Form(form): Form<RemittanceForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let (mut tx, reopen) = db.into_api();
    let previewed = preview(&mut tx, &form.file).await;
    // A preview writes nothing: its transaction is not kept.
    drop(tx);
    let db = reopen.open().await?;
    match previewed {
        Ok(review) => {
            show(
                db,
                StatusCode::OK,
                Stage::Review,
                form.file,
                Some(review),
                None,
            )
            .await
        }
        Err(error) => {
            let (status, problem) = refusal(error)?;
            show(db, status, Stage::Upload, form.file, None, Some(problem)).await
        }
    }
}

/// `POST /billing/remittances`: posts the reviewed file. A file that does not balance is
/// refused whole; a payment posted before changes nothing and says so.
pub async fn post_file(
    mut db: PageTx,
    Form(form): Form<RemittanceForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let (mut tx, reopen) = db.into_api();
    let posted = match post(&mut tx, &form.file).await {
        Ok(review) => tx.commit().await.map(|()| review),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    let db = reopen.open().await?;
    match posted {
        Ok(review) => {
            show(
                db,
                StatusCode::OK,
                Stage::Posted,
                String::new(),
                Some(review),
                None,
            )
            .await
        }
        Err(error) => {
            let (status, problem) = refusal(error)?;
            show(
                db,
                status,
                Stage::Upload,
                form.file,
                None,
                Some(format!("Not posted: {problem}")),
            )
            .await
        }
    }
}
