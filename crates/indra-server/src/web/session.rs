//! Signing in and out of the web application.
//!
//! `POST /login` checks the password with the same throttle as the API (per account and per
//! address) and starts a session: an HttpOnly, SameSite cookie. `POST /logout` ends it.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::ApiError;
use crate::platform::sessions;
use crate::platform::sign_in::{ClientAddress, check_password};
use crate::state::AppState;
use crate::web::error::WebError;
use crate::web::page::{PageTx, render};

#[derive(Template)]
#[template(path = "login.html")]
struct SignInPage {
    email: String,
    error: Option<String>,
}

pub async fn sign_in_page() -> Result<Response, WebError> {
    render(
        StatusCode::OK,
        &SignInPage {
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let email = form.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let address_key = format!(
        "address:{}",
        address.map(|a| a.to_string()).unwrap_or_default()
    );
    let refused = |status, message: String| {
        render(
            status,
            &SignInPage {
                email: form.email.trim().to_owned(),
                error: Some(message),
            },
        )
    };
    match check_password(&state, &email, &form.password, &account_key, &address_key).await {
        Ok((auth_id, _, _)) => {
            // A session the browser still held is ended, not left to run alongside the new one.
            if let Some(previous) = sessions::session_cookie(&headers) {
                sessions::end(&state, &previous).await?;
            }
            let session_id = sessions::start(&state, auth_id).await?;
            Ok((
                [(
                    header::SET_COOKIE,
                    sessions::cookie(Some(&session_id), state.config.secure_cookies),
                )],
                Redirect::to("/"),
            )
                .into_response())
        }
        Err(ApiError::Unauthorized) => refused(
            StatusCode::UNAUTHORIZED,
            "Email or password is wrong.".to_owned(),
        ),
        Err(ApiError::TooManyRequests {
            retry_after_seconds,
        }) => {
            let minutes = retry_after_seconds.div_ceil(60).max(1);
            let mut response = refused(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-ins. Wait {minutes} minute{} and try again.",
                    if minutes == 1 { "" } else { "s" }
                ),
            )?;
            if let Ok(value) = retry_after_seconds.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf_token: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    db: PageTx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    // Nothing was written in the caller's transaction; it rolls back.
    drop(db);
    if let Some(session_id) = sessions::session_cookie(&headers) {
        sessions::end(&state, &session_id).await?;
    }
    Ok((
        [(
            header::SET_COOKIE,
            sessions::cookie(None, state.config.secure_cookies),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}
