//! `/billing/payers`: the insurance companies the practice bills, active and deactivated; a
//! payer added, changed, deactivated (new coverage can no longer name it) and taken back. Billers
//! and admins keep them; everyone else of the practice reads them. Through the payers API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{FormRefusal, path_id, require_biller, works_claims};
use crate::api::etag::etag_of;
use crate::api::pagination::MAX_LIMIT;
use crate::billing::payers::{
    NewPayer, Payer, PayerChange, PayerQuery, create_payer, get_payer, list_payers, update_payer,
};
use crate::billing::{BillingError, FieldProblem};
use crate::error::ApiError;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Reopen, Section, filled, render};

/// The payer form's fields as typed, named as the API names them (so that a refused field is
/// found by its name).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayerForm {
    #[serde(default)]
    csrf_token: String,
    /// The ETag of the payer as the form showed it (without quotes).
    #[serde(default)]
    tag: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    payer_id: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    requires_prior_authorization: Option<String>,
    #[serde(default)]
    address_line1: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    phone: String,
}

impl PayerForm {
    fn of(payer: &Payer) -> Self {
        Self {
            tag: tag_of(payer),
            name: payer.name.clone(),
            payer_id: payer.payer_id.clone(),
            requires_prior_authorization: payer.requires_prior_authorization.then(String::new),
            address_line1: payer.address_line1.clone().unwrap_or_default(),
            city: payer.city.clone().unwrap_or_default(),
            state: payer.state.clone().unwrap_or_default(),
            postal_code: payer.postal_code.clone().unwrap_or_default(),
            phone: payer.phone.clone().unwrap_or_default(),
            ..Self::default()
        }
    }

    fn asks_prior_authorization(&self) -> bool {
        self.requires_prior_authorization.is_some()
    }

    fn text(value: &str) -> Option<String> {
        filled(value).map(str::to_owned)
    }

    fn new_payer(&self) -> NewPayer {
        NewPayer {
            name: self.name.clone(),
            payer_id: self.payer_id.clone(),
            requires_prior_authorization: self.asks_prior_authorization(),
            address_line1: Self::text(&self.address_line1),
            city: Self::text(&self.city),
            state: Self::text(&self.state),
            postal_code: Self::text(&self.postal_code),
            phone: Self::text(&self.phone),
        }
    }

    /// Every field as typed: an emptied field is cleared.
    fn change(&self) -> PayerChange {
        PayerChange {
            name: Some(self.name.clone()),
            payer_id: Some(self.payer_id.clone()),
            requires_prior_authorization: Some(self.asks_prior_authorization()),
            address_line1: Some(Self::text(&self.address_line1)),
            city: Some(Self::text(&self.city)),
            state: Some(Self::text(&self.state)),
            postal_code: Some(Self::text(&self.postal_code)),
            phone: Some(Self::text(&self.phone)),
            is_active: None,
        }
    }

    fn value(&self, field: &str) -> &str {
        match field {
            "name" => &self.name,
            "payer_id" => &self.payer_id,
            "address_line1" => &self.address_line1,
            "city" => &self.city,
            "state" => &self.state,
            "postal_code" => &self.postal_code,
            "phone" => &self.phone,
            _ => "",
        }
    }
}

/// The version of a payer a form sends back, as the `ETag` without its quotes.
fn tag_of(payer: &Payer) -> String {
    etag_of(payer).trim_matches('"').to_owned()
}

/// The `If-Match` a form's tag stands for.
fn if_match(tag: &str) -> String {
    format!("\"{}\"", tag.trim())
}

/// The text fields of the payer form: name, label, input type, autocomplete, hint.
const FIELDS: [(&str, &str, &str, &str, &str); 7] = [
    ("name", "Name", "text", "organization", ""),
    (
        "payer_id",
        "Payer id",
        "text",
        "off",
        "The electronic id the clearinghouse lists for the payer: 2-80 letters or digits.",
    ),
    (
        "address_line1",
        "Claims address",
        "text",
        "address-line1",
        "",
    ),
    ("city", "City", "text", "address-level2", ""),
    (
        "state",
        "State",
        "text",
        "address-level1",
        "Two capital letters, e.g. CT.",
    ),
    ("postal_code", "ZIP code", "text", "postal-code", ""),
    ("phone", "Phone", "tel", "tel", ""),
];

/// The form fields' markup, shared by the add form and the payer's own page.
trait PayerFields {
    fn refusal(&self) -> Option<&FormRefusal>;

    fn fields(
        &self,
    ) -> [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ); 7] {
        FIELDS
    }

    /// The fields a payer cannot be without.
    fn required(&self, field: &str) -> bool {
        matches!(field, "name" | "payer_id")
    }

    fn errors(&self, field: &str) -> Vec<String> {
        self.refusal().map(|r| r.errors(field)).unwrap_or_default()
    }

    fn message(&self) -> Option<&str> {
        self.refusal().map(|r| r.message.as_str())
    }
}

#[derive(Template)]
#[template(path = "billing/payers.html")]
struct PayersPage {
    layout: Layout,
    active: Vec<Payer>,
    inactive: Vec<Payer>,
    may_edit: bool,
    notice: Option<&'static str>,
    /// The add form as typed, when it was refused.
    values: PayerForm,
    refusal: Option<FormRefusal>,
}

impl PayerFields for PayersPage {
    fn refusal(&self) -> Option<&FormRefusal> {
        self.refusal.as_ref()
    }
}

#[derive(Template)]
#[template(path = "billing/payer.html")]
struct PayerPage {
    layout: Layout,
    payer: Payer,
    may_edit: bool,
    notice: Option<&'static str>,
    /// The payer as stored, or the change as typed when it was refused.
    values: PayerForm,
    refusal: Option<FormRefusal>,
    /// The tag of the stored payer, for the deactivate/reactivate form.
    tag: String,
}

impl PayerFields for PayerPage {
    fn refusal(&self) -> Option<&FormRefusal> {
        self.refusal.as_ref()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    added: Option<String>,
    saved: Option<String>,
    deactivated: Option<String>,
    reactivated: Option<String>,
}

impl Notice {
    fn sentence(&self) -> Option<&'static str> {
        if self.added.is_some() {
            Some("Payer added: coverage can name it now.")
        } else if self.saved.is_some() {
            Some("Payer saved.")
        } else if self.deactivated.is_some() {
            Some("Payer deactivated: new coverage cannot name it; its claims and coverage keep it.")
        } else if self.reactivated.is_some() {
            Some("Payer reactivated: coverage can name it again.")
        } else {
            None
        }
    }
}

/// Every payer of the practice, a page of the API at a time.
async fn every_payer(db: &mut PageTx) -> Result<Vec<Payer>, ApiError> {
    let mut payers = Vec::new();
    let mut cursor = None;
    loop {
        let page = list_payers(
            db,
            &PayerQuery {
                include_inactive: true,
                limit: Some(MAX_LIMIT),
                cursor,
            },
        )
        .await?;
        payers.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(payers),
        }
    }
}

/// `GET /billing/payers`: the payers, active then deactivated, and the form that adds one.
pub async fn list(mut db: PageTx, Query(notice): Query<Notice>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    show_list(db, layout, StatusCode::OK, notice.sentence(), None).await
}

async fn show_list(
    mut db: PageTx,
    layout: Layout,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Option<(PayerForm, FormRefusal)>,
) -> Result<Response, WebError> {
    let mut payers = match every_payer(&mut db).await {
        Ok(payers) => payers,
        Err(error) => return Err(WebError::new(error).with_layout(layout)),
    };
    payers.sort_by_key(|p| p.name.to_lowercase());
    let (active, inactive) = payers.into_iter().partition(|p| p.is_active);
    let may_edit = works_claims(db.caller.role);
    db.commit().await?;
    let (values, refusal) = match refused {
        Some((values, refusal)) => (values, Some(refusal)),
        None => (PayerForm::default(), None),
    };
    render(
        status,
        &PayersPage {
            layout,
            active,
            inactive,
            may_edit,
            notice,
            values,
            refusal,
        },
    )
}

/// What a refused payer form says, with the payer's own words for a payer id already taken.
fn refusal_of(error: BillingError) -> Result<FormRefusal, ApiError> {
    if let BillingError::Api(ApiError::Conflict {
        field: Some(field), ..
    }) = &error
        && field == "payer_id"
    {
        return Ok(FormRefusal::fields(
            StatusCode::CONFLICT,
            vec![FieldProblem {
                field: field.clone(),
                detail: "another payer of the practice has this payer id".into(),
            }],
        ));
    }
    FormRefusal::of(error, "this payer")
}

/// `POST /billing/payers`: adds a payer (billers and admins).
pub async fn add(mut db: PageTx, Form(form): Form<PayerForm>) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    require_biller(&mut db).await?;
    let (mut tx, reopen) = db.into_api();
    let result = match create_payer(&mut tx, &form.new_payer()).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    let error = match result {
        Ok(()) => return Ok(Redirect::to("/billing/payers?added=1").into_response()),
        Err(error) => error,
    };
    let mut db = reopen.open().await?;
    let layout = Layout::load(&mut db, Section::Billing).await?;
    match refusal_of(error) {
        Ok(refusal) => show_list(db, layout, refusal.status, None, Some((form, refusal))).await,
        Err(error) => Err(WebError::new(error).with_layout(layout)),
    }
}

/// `GET /billing/payers/{id}`: one payer, with its form for billers and admins.
pub async fn page(
    mut db: PageTx,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    let id = path_id(&mut db, &id, Section::Billing).await?;
    show_payer(db, id, StatusCode::OK, notice.sentence(), None).await
}

async fn show_payer(
    mut db: PageTx,
    id: Uuid,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Option<(PayerForm, FormRefusal)>,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Billing).await?;
    let payer = match get_payer(&mut db, id).await {
        Ok(payer) => payer,
        Err(error) => return Err(WebError::new(error).with_layout(layout)),
    };
    let may_edit = works_claims(db.caller.role);
    db.commit().await?;
    let (values, refusal) = match refused {
        // Changed by someone else meanwhile: the values typed stay, and saving them again
        // (having seen what is stored now) replaces the new version.
        Some((mut values, refusal)) if refusal.status == StatusCode::PRECONDITION_FAILED => {
            values.tag = tag_of(&payer);
            (values, Some(refusal))
        }
        Some((values, refusal)) => (values, Some(refusal)),
        None => (PayerForm::of(&payer), None),
    };
    render(
        status,
        &PayerPage {
            layout,
            tag: tag_of(&payer),
            payer,
            may_edit,
            notice,
            values,
            refusal,
        },
    )
}

/// The payer's page again with the refusal, or the error page for failures not the form's.
async fn refused(
    reopen: Reopen,
    id: Uuid,
    form: PayerForm,
    error: BillingError,
) -> Result<Response, WebError> {
    match refusal_of(error) {
        Ok(refusal) => {
            let status = refusal.status;
            show_payer(
                reopen.open().await?,
                id,
                status,
                None,
                Some((form, refusal)),
            )
            .await
        }
        Err(error) => {
            let mut db = reopen.open().await?;
            let layout = Layout::load(&mut db, Section::Billing).await?;
            Err(WebError::new(error).with_layout(layout))
        }
    }
}

/// `POST /billing/payers/{id}`: saves the payer's fields (the version the form showed).
pub async fn save(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<PayerForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    require_biller(&mut db).await?;
    let (mut tx, reopen) = db.into_api();
    let result = match update_payer(&mut tx, id, Some(&if_match(&form.tag)), &form.change()).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/billing/payers/{id}?saved=1")).into_response()),
        Err(error) => refused(reopen, id, form, error).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    tag: String,
    /// `false` deactivates the payer, `true` takes it back.
    #[serde(default)]
    active: String,
}

/// `POST /billing/payers/{id}/active`: deactivates a payer or takes it back.
pub async fn set_active(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let id = path_id(&mut db, &id, Section::Billing).await?;
    require_biller(&mut db).await?;
    let active = form.active.trim() == "true";
    let (mut tx, reopen) = db.into_api();
    let change = PayerChange {
        is_active: Some(active),
        ..PayerChange::default()
    };
    let result = match update_payer(&mut tx, id, Some(&if_match(&form.tag)), &change).await {
        Ok(_) => tx.commit().await.map_err(BillingError::from),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    match result {
        Ok(()) => {
            let word = if active { "reactivated" } else { "deactivated" };
            Ok(Redirect::to(&format!("/billing/payers/{id}?{word}=1")).into_response())
        }
        Err(error) => {
            // The form keeps what the payer is; only the sentence says why nothing changed.
            let mut db = reopen.open().await?;
            let stored = match get_payer(&mut db, id).await {
                Ok(payer) => PayerForm::of(&payer),
                Err(error) => {
                    let layout = Layout::load(&mut db, Section::Billing).await?;
                    return Err(WebError::new(error).with_layout(layout));
                }
            };
            db.commit().await?;
            match refusal_of(error) {
                Ok(mut refusal) => {
                    let status = refusal.status;
                    if status == StatusCode::PRECONDITION_FAILED {
                        refusal.message =
                            "Not changed: this payer changed since you opened it; here it is as it is now."
                                .into();
                    }
                    show_payer(
                        reopen.open().await?,
                        id,
                        status,
                        None,
                        Some((stored, refusal)),
                    )
                    .await
                }
                Err(error) => {
                    let mut db = reopen.open().await?;
                    let layout = Layout::load(&mut db, Section::Billing).await?;
                    Err(WebError::new(error).with_layout(layout))
                }
            }
        }
    }
}
