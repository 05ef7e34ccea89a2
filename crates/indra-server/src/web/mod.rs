//! The web application: server-rendered pages for a browser, signed in with a session cookie.
//!
//! Pages go through the same door as the API: [`PageTx`](page::PageTx) is the
//! [`CallerTx`](crate::platform::caller::CallerTx) of the request, whose rejections become a
//! redirect to the sign-in page or an HTML error page instead of problem+json. Every form that
//! changes something carries the session's CSRF token and its handler checks it first.
//! Templates (askama, checked at compile time) live in `templates/`, the style sheet in
//! `assets/`; the pages need no JavaScript.

mod admin;
mod appointment;
mod assistant;
mod billing;
mod chart;
pub(crate) mod error;
mod notes;
mod page;
mod patient_edit;
mod patients;
mod plans;
mod schedule;
mod session;
mod today;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub use error::WebError;

/// The style sheet, compiled into the binary.
const STYLE_SHEET: &str = include_str!("../../assets/indra.css");

/// The pages, the forms they post to, and the style sheet.
pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/login", get(session::sign_in_page).post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/", get(today::today))
        .route("/patients", get(patients::list).post(patients::register))
        .route("/patients/{id}", get(chart::page))
        .route("/patients/{id}/diagnoses", post(chart::add))
        .route(
            "/patients/{id}/insurance",
            get(billing::insurance::page).post(billing::insurance::add),
        )
        .route(
            "/patients/{id}/insurance/{coverage}",
            post(billing::insurance::change),
        )
        .route(
            "/patients/{id}/insurance/{coverage}/end",
            post(billing::insurance::end),
        )
        .route("/patients/{id}/medications", post(chart::start))
        .route(
            "/patients/{id}/medications/{medication}/change",
            post(chart::change),
        )
        .route(
            "/patients/{id}/medications/{medication}/discontinue",
            post(chart::discontinue),
        )
        .route(
            "/patients/{id}/edit",
            get(patient_edit::page).post(patient_edit::save),
        )
        .route("/patients/{id}/plan", get(plans::page).post(plans::save))
        .route("/patients/{id}/plan/edit", get(plans::edit))
        .route("/patients/{id}/plan/sign", post(plans::sign))
        .route("/notes/{id}", get(notes::page).post(notes::save))
        .route("/notes/{id}/sign", post(notes::sign_note))
        .route("/notes/{id}/cosign", post(notes::cosign_note))
        .route("/notes/{id}/amend", post(notes::amend_note))
        .route("/notes/{id}/addendum", post(notes::add_addendum_to_note))
        .route("/notes/{id}/history", get(notes::history_page))
        .route(
            "/encounters/{id}/notes/new",
            get(notes::new_page).post(notes::create),
        )
        .route("/schedule", get(schedule::page).post(schedule::book))
        .route("/appointments/{id}", get(appointment::page))
        .route(
            "/appointments/{id}/reschedule",
            post(appointment::reschedule),
        )
        .route("/appointments/{id}/cancel", post(appointment::cancel))
        .route("/appointments/{id}/no-show", post(appointment::no_show))
        .route("/appointments/{id}/start", post(appointment::start_session))
        .route("/appointments/{id}/end", post(appointment::end_session))
        .route("/billing", get(billing::workbench::page))
        .route("/billing/claims", post(billing::workbench::create))
        .route("/billing/exports", post(billing::workbench::export))
        .route(
            "/billing/exports/{id}",
            get(billing::workbench::export_download),
        )
        .route(
            "/billing/claims/{id}",
            get(billing::claim::page).post(billing::claim::save),
        )
        .route("/billing/claims/{id}/ready", post(billing::claim::ready))
        .route("/billing/claims/{id}/void", post(billing::claim::void))
        .route(
            "/billing/claims/{id}/authorization-override",
            post(billing::claim::override_limit),
        )
        .route(
            "/billing/claims/{id}/cms1500.pdf",
            get(billing::workbench::cms1500),
        )
        .route(
            "/billing/remittances",
            get(billing::remittances::page).post(billing::remittances::post_file),
        )
        .route(
            "/billing/remittances/preview",
            post(billing::remittances::review),
        )
        .route(
            "/billing/payers",
            get(billing::payers::list).post(billing::payers::add),
        )
        .route(
            "/billing/payers/{id}",
            get(billing::payers::page).post(billing::payers::save),
        )
        .route(
            "/billing/payers/{id}/active",
            post(billing::payers::set_active),
        )
        .route("/billing/fees", get(billing::fees::page))
        .route("/billing/fees/{code}", post(billing::fees::set))
        .route("/assistant", get(assistant::home))
        .route("/assistant/runs", post(assistant::start))
        .route("/assistant/runs/{id}", get(assistant::run_page))
        .route("/assistant/runs/{id}/status", get(assistant::run_status))
        .route(
            "/assistant/runs/{id}/clarification",
            post(assistant::answer),
        )
        .route("/assistant/runs/{id}/commit", post(assistant::commit))
        .route("/assistant/actions/{id}/review", post(assistant::review))
        .route(
            "/assistant/note-drafts/{id}/accept",
            post(assistant::open_as_note),
        )
        .route(
            "/admin/assistant",
            get(assistant::admin).post(assistant::save_admin),
        )
        .route("/admin", get(admin::home))
        .route(
            "/admin/users",
            get(admin::users::page).post(admin::users::create),
        )
        .route("/admin/users/{id}/role", post(admin::users::change_role))
        .route("/admin/users/{id}/active", post(admin::users::set_active))
        .route(
            "/admin/providers",
            get(admin::providers::page).post(admin::providers::create),
        )
        .route("/admin/audit", get(admin::audit::page))
        .layer(map_response(page_headers));
    Router::new()
        .route("/assets/indra.css", get(style_sheet))
        .route("/assets/note-autosave.js", get(notes::autosave_script))
        .route("/assets/assistant.js", get(assistant::script))
        .merge(pages)
}

async fn style_sheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // The file changes only with a new release; a day keeps it fresh enough.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLE_SHEET,
    )
        .into_response()
}

/// Headers of every page: pages hold patients' names, so no cache keeps them; no other site may
/// frame them, and nothing but this origin's style sheet loads into them.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
