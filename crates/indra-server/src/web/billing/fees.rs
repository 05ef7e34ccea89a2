//! `/billing/fees`: the fee schedule. Every CPT code Indra knows, with its label and what the
//! practice charges for it (new claim lines take their charge from here); billers and admins set
//! or change a charge, everyone else of the practice reads them. Through the fee schedule API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{FormRefusal, dollars, require_biller, works_claims};
use crate::api::etag::etag_of;
use crate::billing::BillingError;
use crate::billing::fee_schedule::{FeeChange, fee_schedule, set_fee};
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, render};

/// A code of the schedule, charged or not yet.
struct FeeRow {
    code: String,
    label: String,
    /// `135.00`; `None` when the practice has no charge for the code.
    charge: Option<String>,
    /// The version of the charge the form sends back (the `ETag` without quotes); empty when
    /// there is no charge yet.
    tag: String,
}

/// A charge the API refused: which code, what was typed (kept in the form), and why.
struct Refused {
    code: String,
    charge: Option<String>,
    refusal: FormRefusal,
}

#[derive(Template)]
#[template(path = "billing/fees.html")]
struct FeesPage {
    layout: Layout,
    rows: Vec<FeeRow>,
    may_edit: bool,
    /// The code whose charge was just saved, and the charge.
    saved: Option<(String, String)>,
    refused: Option<Refused>,
}

impl FeesPage {
    fn dollars(&self, amount: &str) -> String {
        dollars(amount)
    }

    /// The charge in the form of `row`: as typed when it was refused, else as stored.
    fn value(&self, row: &FeeRow) -> String {
        match &self.refused {
            Some(Refused {
                code,
                charge: Some(typed),
                ..
            }) if *code == row.code => typed.clone(),
            _ => row.charge.clone().unwrap_or_default(),
        }
    }

    fn refusal(&self, row: &FeeRow) -> Option<&FormRefusal> {
        self.refused
            .as_ref()
            .filter(|r| r.code == row.code)
            .map(|r| &r.refusal)
    }

    fn errors(&self, row: &FeeRow) -> Vec<String> {
        self.refusal(row)
            .map(|r| r.errors("charge"))
            .unwrap_or_default()
    }

    fn charged(&self) -> usize {
        self.rows.iter().filter(|r| r.charge.is_some()).count()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    saved: Option<String>,
}

/// `GET /billing/fees`: every code, its label and the practice's charge.
pub async fn page(db: PageTx, Query(notice): Query<Notice>) -> Result<Response, WebError> {
    show(db, StatusCode::OK, notice.saved, None).await
}

async fn show(
    mut db: PageTx,
    status: StatusCode,
    saved: Option<String>,
    refused: Option<Refused>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    let codes: Vec<(String, String)> =
        sqlx::query_as("select code, short_label from cpt_codes order by code")
            .fetch_all(db.conn())
            .await?;
    let charges = match fee_schedule(&mut db).await {
        Ok(charges) => charges,
        Err(error) => return Err(WebError::new(error).with_layout(layout)),
    };
    let rows: Vec<FeeRow> = codes
        .into_iter()
        .map(|(code, label)| {
            let entry = charges.iter().find(|e| e.cpt_code == code);
            FeeRow {
                charge: entry.map(|e| e.charge.clone()),
                tag: entry
                    .map(|e| etag_of(e).trim_matches('"').to_owned())
                    .unwrap_or_default(),
                code,
                label,
            }
        })
        .collect();
    let saved = saved.and_then(|code| {
        rows.iter()
            .find(|r| r.code == code)
            .and_then(|r| r.charge.clone().map(|charge| (code, charge)))
    });
    let may_edit = works_claims(db.caller.role);
    db.commit().await?;
    render(
        status,
        &FeesPage {
            layout,
            rows,
            may_edit,
            saved,
            refused,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct FeeForm {
    #[serde(default)]
    csrf_token: String,
    /// The version of the charge the form showed; empty when the code had none.
    #[serde(default)]
    tag: String,
    #[serde(default)]
    charge: String,
}

/// `POST /billing/fees/{code}`: sets or changes the practice's charge for a code (billers and
/// admins); a charge changed by someone else since the page was read is not overwritten.
pub async fn set(
    mut db: PageTx,
    Path(code): Path<String>,
    Form(form): Form<FeeForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let code = code.trim().to_uppercase();
    let tag = form.tag.trim();
    let if_match = (!tag.is_empty()).then(|| format!("\"{tag}\""));
    // `$135` reads as the amount it says.
    let typed = form.charge.trim();
    let change = FeeChange {
        charge: typed.strip_prefix('$').unwrap_or(typed).to_owned(),
    };
    let (mut tx, reopen) = db.into_api();
    let result = match set_fee(&mut tx, &code, if_match.as_deref(), &change).await {
        Ok(_) => tx.commit().await,
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    let error = match result {
        Ok(()) => {
            return Ok(
                Redirect::to(&format!("/billing/fees?saved={code}#fee-{code}")).into_response(),
            );
        }
        Err(error) => error,
    };
    let mut db = reopen.open().await?;
    match FormRefusal::of(BillingError::from(error), "this charge") {
        Ok(mut refusal) => {
            if refusal.status == StatusCode::PRECONDITION_FAILED {
                refusal.message = format!(
                    "Not saved: the charge for {code} changed since you opened the page; it is shown \
                     as it is now. Set it again if yours should replace it."
                );
            }
            let status = refusal.status;
            let refused = Refused {
                code,
                // After a 412 the charge stored now is what the biller must see.
                charge: (status != StatusCode::PRECONDITION_FAILED).then_some(form.charge),
                refusal,
            };
            show(db, status, None, Some(refused)).await
        }
        Err(error) => {
            let layout = Layout::load(&mut db, Section::Billing).await?;
            Err(WebError::new(error).with_layout(layout))
        }
    }
}
