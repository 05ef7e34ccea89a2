//! Errors of the pages, answered as HTML: "sign in" becomes a redirect to the sign-in page, every
//! other [`ApiError`] a page with the same status that says what happened in plain words.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::web::page::{Layout, capitalized};

/// An error of a page handler, with the layout to show it in when the caller is known.
#[derive(Debug)]
pub struct WebError {
    error: ApiError,
    layout: Option<Box<Layout>>,
}

impl WebError {
    pub fn new(error: ApiError) -> Self {
        Self {
            error,
            layout: None,
        }
    }

    /// Shows the error inside the signed-in layout.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = Some(Box::new(layout));
        self
    }

    pub fn not_found() -> Self {
        Self::new(ApiError::NotFound)
    }
}

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        Self::new(error)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(error: sqlx::Error) -> Self {
        Self::new(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Option<&'a Layout>,
    title: &'a str,
    detail: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let error = self.error;
        if matches!(error, ApiError::Unauthorized) {
            return Redirect::to("/login").into_response();
        }
        if let ApiError::Internal(inner) = &error {
            // Logged once, here. The message is ours or the database's, never request data.
            tracing::error!(error = %format!("{inner:#}"), "page failed");
        }
        let status = StatusCode::from_u16(error.problem().status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (title, detail) = match &error {
            ApiError::Forbidden(detail) => ("Not allowed", capitalize(detail)),
            ApiError::NotFound => (
                "Not found",
                "There is no such page or record in your practice.".to_owned(),
            ),
            ApiError::Conflict { detail, .. } | ApiError::Invalid { detail, .. } => {
                ("That did not work", capitalize(detail))
            }
            ApiError::PreconditionFailed | ApiError::PreconditionRequired => (
                "Changed meanwhile",
                "The record changed since you opened it. Reload the page and try again.".to_owned(),
            ),
            ApiError::TooManyRequests { .. } => (
                "Too many attempts",
                "Too many attempts. Wait a few minutes and try again.".to_owned(),
            ),
            ApiError::Timeout => (
                "Timed out",
                "The database did not answer in time. Try again in a moment.".to_owned(),
            ),
            ApiError::Unauthorized | ApiError::Internal(_) => (
                "Something went wrong",
                "Something went wrong on our side. Try again; if it keeps happening, tell your \
                 administrator the time it happened."
                    .to_owned(),
            ),
        };
        let page = ErrorPage {
            layout: self.layout.as_deref(),
            title,
            detail,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "rendering the error page failed");
                (status, title.to_owned()).into_response()
            }
        };
        if let ApiError::TooManyRequests {
            retry_after_seconds,
        } = error
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// `the form is out of date` -> `The form is out of date.`
fn capitalize(text: &str) -> String {
    let mut out = capitalized(text);
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
