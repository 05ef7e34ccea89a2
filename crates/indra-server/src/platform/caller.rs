//! The caller of a request, and the transaction every database access of the request goes
//! through. This extractor is the one door: it fails closed (401) unless a valid bearer token or
//! web session names an active user, and then opens a transaction that has already switched to
//! `authenticated` with that user's claims, so everything the handler reads or writes is under
//! row-level security.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ApiError;
use crate::ops::request_id::RequestId;
use crate::platform::sessions;
use crate::state::AppState;

/// A role of a user inside their organization.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    Admin,
    Provider,
    Billing,
    Staff,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Provider => "provider",
            Self::Billing => "billing",
            Self::Staff => "staff",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "provider" => Some(Self::Provider),
            "billing" => Some(Self::Billing),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }
}

/// Who is asking, as the database knows them at the start of this request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub auth_id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub role: UserRole,
    /// Present when the caller came with a browser session (cookie) rather than a token.
    pub web_session: Option<sessions::WebSession>,
}

impl Caller {
    /// For a browser form: the CSRF token it carried must be its session's. Token callers
    /// (no cookie, nothing a third-party page can make a browser send) pass.
    pub fn require_csrf(&self, form_token: &str) -> Result<(), ApiError> {
        match &self.web_session {
            Some(session) if !sessions::same_secret(&session.csrf_token, form_token) => {
                Err(ApiError::Forbidden(
                    "the form is out of date; reload the page and try again".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The request's transaction, opened as its caller.
pub struct CallerTx {
    pub caller: Caller,
    tx: Transaction<'static, Postgres>,
}

impl CallerTx {
    /// The connection to run the request's queries on.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Commits the request's changes. Dropping a `CallerTx` without committing rolls back.
    pub async fn commit(self) -> Result<(), ApiError> {
        Ok(self.tx.commit().await?)
    }
}

impl FromRequestParts<AppState> for CallerTx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let (auth_id, web_session) = if let Some(token) = bearer_token(parts) {
            let claims = state.tokens.verify(token).ok_or(ApiError::Unauthorized)?;
            (claims.sub, None)
        } else if let Some(session_id) = sessions::session_cookie(&parts.headers) {
            let session = sessions::find(state, &session_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            // A browser's state-changing API call must carry the session's CSRF token in a
            // header; the web application's forms carry it in their body and their handlers
            // check it (`Caller::require_csrf`).
            if !is_safe(&parts.method)
                && parts.uri.path().starts_with("/api/")
                && !sessions::csrf_header_matches(&parts.headers, &session)
            {
                return Err(ApiError::Forbidden(
                    "the form is out of date; reload the page and try again".into(),
                ));
            }
            (session.auth_id, Some(session))
        } else {
            return Err(ApiError::Unauthorized);
        };

        let (identity, tx) = state
            .db
            .begin_as(auth_id, &request_id, state.config.statement_timeout)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let role = UserRole::parse(&identity.user_role).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("unknown role {}", identity.user_role))
        })?;
        Ok(Self {
            caller: Caller {
                auth_id,
                user_id: identity.user_id,
                org_id: identity.org_id,
                role,
                web_session,
            },
            tx,
        })
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
