//! The parts of the application still to come, each saying what it will hold.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, render};

#[derive(Template)]
#[template(path = "placeholder.html")]
struct PlaceholderPage {
    layout: Layout,
    title: &'static str,
    lead: &'static str,
    coming: &'static [&'static str],
}

async fn placeholder(
    mut db: PageTx,
    section: Section,
    title: &'static str,
    lead: &'static str,
    coming: &'static [&'static str],
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, section).await?;
    db.commit().await?;
    render(
        StatusCode::OK,
        &PlaceholderPage {
            layout,
            title,
            lead,
            coming,
        },
    )
}

pub async fn assistant(db: PageTx) -> Result<Response, WebError> {
    placeholder(
        db,
        Section::Assistant,
        "Assistant",
        "Your dictations and the drafts made from them will live here.",
        &[
            "Dictate after a session; the assistant drafts the note in your format (SOAP, DAP or BIRP).",
            "It suggests the billing codes and the follow-up appointment.",
            "It asks when something is unclear instead of guessing.",
            "Nothing it writes enters the record until you review it and commit it.",
        ],
    )
    .await
}
