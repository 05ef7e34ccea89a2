//! Sign-in: `POST /api/v1/auth/token`, `/refresh` and `/logout`.
//!
//! Failed attempts are counted per account and per client address (behind a load balancer, the
//! address it forwards: [`ClientAddress`]); past the limit both answer 429 until the window
//! passes. An unknown e-mail address gets the same answer, after the same argon2 work, as a
//! wrong password, so the answers do not tell which accounts exist.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::extract;
use crate::error::ApiError;
use crate::platform::passwords::verify_password_off_thread;
use crate::platform::tokens::{new_opaque_token, opaque_token_hash, unix_now};
use crate::state::AppState;

/// Failures allowed per account, and per address, within [`WINDOW_MINUTES`].
pub const MAX_FAILURES_PER_ACCOUNT: i32 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i32 = 20;
const WINDOW_MINUTES: i32 = 15;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Spent on first use: `/auth/refresh` answers with a new one.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The header a load balancer names the client in (HAProxy's `option forwardfor`).
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the TCP peer, or, when the peer is one of the trusted proxies
/// (`INDRA_TRUSTED_PROXIES`), the client it forwarded in `X-Forwarded-For` (the rules:
/// [`client_address`](crate::platform::client_address::TrustedProxies::client_address)).
/// None when the connection's address is unknown (a request driven in-process).
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(None));
        };
        let forwarded_for: Vec<&[u8]> = parts
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        Ok(Self(Some(
            state
                .config
                .trusted_proxies
                .client_address(peer.ip(), &forwarded_for),
        )))
    }
}

/// The account a sign-in names, when it exists and is active.
struct Account {
    auth_id: Uuid,
    org_id: Uuid,
    role: String,
    password_hash: String,
}

/// Signs in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = SignInRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem),
              (status = 429, body = crate::error::Problem)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    extract::Json(request): extract::Json<SignInRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let email = request.email.trim().to_lowercase();
    let address_key = format!(
        "address:{}",
        address.map(|a| a.to_string()).unwrap_or_default()
    );
    let account_key = format!("account:{email}");
    let (auth_id, org_id, role) = check_password(
        &state,
        &email,
        &request.password,
        &account_key,
        &address_key,
    )
    .await?;
    let response = issue_tokens(&state, auth_id, org_id, &role, Uuid::new_v4()).await?;
    Ok(Json(response))
}

/// Checks an e-mail and password against the throttle and the stored hash; on success returns
/// the account. Shared by the API and the web sign-in form.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    account_key: &str,
    address_key: &str,
) -> Result<(Uuid, Uuid, String), ApiError> {
    let mut tx = state.db.sign_in_door().await?;
    for (key, limit) in [
        (account_key, MAX_FAILURES_PER_ACCOUNT),
        (address_key, MAX_FAILURES_PER_ADDRESS),
    ] {
        if let Some(seconds) = locked_for(&mut tx, key, limit).await? {
            return Err(ApiError::TooManyRequests {
                retry_after_seconds: seconds,
            });
        }
    }
    let account: Option<Account> = sqlx::query_as::<_, (Uuid, Uuid, String, String)>(
        "select auth_id, org_id, user_role, password_hash from app.account_for_sign_in($1)",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?
    .map(|(auth_id, org_id, role, password_hash)| Account {
        auth_id,
        org_id,
        role,
        password_hash,
    });

    // The same argon2 work whether or not the account exists.
    let hash = account
        .as_ref()
        .map_or(state.decoy_password_hash.clone(), |a| {
            a.password_hash.clone()
        });
    let password = password.to_owned();
    let matches = verify_password_off_thread(password, hash)
        .await
        .map_err(ApiError::Internal)?;

    match account {
        Some(account) if matches => {
            sqlx::query("delete from indra_auth.sign_in_failures where key = $1")
                .bind(account_key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((account.auth_id, account.org_id, account.role))
        }
        _ => {
            for key in [account_key, address_key] {
                record_failure(&mut tx, key).await?;
            }
            tx.commit().await?;
            tracing::info!("sign-in refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// Seconds the key stays locked, when it has reached `limit` failures within the window.
async fn locked_for(
    conn: &mut PgConnection,
    key: &str,
    limit: i32,
) -> Result<Option<u64>, ApiError> {
    let remaining: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from (window_started + make_interval(mins => $3) - now()))::float8
           from indra_auth.sign_in_failures
          where key = $1 and failures >= $2 and window_started + make_interval(mins => $3) > now()",
    )
    .bind(key)
    .bind(limit)
    .bind(WINDOW_MINUTES)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(remaining.map(|s| s.ceil().max(1.0) as u64))
}

async fn record_failure(conn: &mut PgConnection, key: &str) -> Result<(), ApiError> {
    sqlx::query(
        "insert into indra_auth.sign_in_failures as f (key, failures, window_started) values ($1, 1, now())
         on conflict (key) do update set
             failures = case when f.window_started + make_interval(mins => $2) > now() then f.failures + 1 else 1 end,
             window_started = case when f.window_started + make_interval(mins => $2) > now() then f.window_started else now() end",
    )
    .bind(key)
    .bind(WINDOW_MINUTES)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new access token and a new refresh token of `family`.
async fn issue_tokens(
    state: &AppState,
    auth_id: Uuid,
    org_id: Uuid,
    role: &str,
    family: Uuid,
) -> Result<TokenResponse, ApiError> {
    let refresh_token = new_opaque_token()?;
    let mut tx = state.db.sign_in_door().await?;
    sqlx::query(
        "insert into indra_auth.refresh_tokens (family_id, auth_id, token_hash, expires_at)
         values ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(family)
    .bind(auth_id)
    .bind(opaque_token_hash(&refresh_token))
    .bind(state.config.refresh_token_ttl.as_secs() as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TokenResponse {
        access_token: state.tokens.issue(auth_id, org_id, role, unix_now())?,
        token_type: "bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token,
    })
}

/// A refresh token as stored: family, identity, spent, revoked, expired, and the active user's
/// organization and role (absent once the user is deactivated).
type RefreshTokenState = (Uuid, Uuid, bool, bool, bool, Option<Uuid>, Option<String>);

/// Exchanges a refresh token for new tokens. A refresh token works once: presenting a spent one
/// again revokes its whole family (someone else has a copy).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    extract::Json(request): extract::Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let mut tx = state.db.sign_in_door().await?;
    let row: Option<RefreshTokenState> = sqlx::query_as(
        "select t.family_id, t.auth_id, t.spent_at is not null, t.revoked_at is not null, t.expires_at <= now(),
                u.org_id, u.user_role
           from indra_auth.refresh_tokens t
           left join lateral app.identify(t.auth_id) u on true
          where t.token_hash = $1
            for update of t",
    )
    .bind(opaque_token_hash(&request.refresh_token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family, auth_id, spent, revoked, expired, org_id, role)) = row else {
        return Err(ApiError::Unauthorized);
    };
    if spent && !revoked {
        sqlx::query("update indra_auth.refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null")
            .bind(family)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(%family, "a spent refresh token was presented again; its family is revoked");
        return Err(ApiError::Unauthorized);
    }
    let (Some(org_id), Some(role)) = (org_id, role) else {
        return Err(ApiError::Unauthorized);
    };
    if spent || revoked || expired {
        return Err(ApiError::Unauthorized);
    }
    sqlx::query("update indra_auth.refresh_tokens set spent_at = now() where token_hash = $1")
        .bind(opaque_token_hash(&request.refresh_token))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(
        issue_tokens(&state, auth_id, org_id, &role, family).await?,
    ))
}

/// Signs out: the refresh token's family is revoked. Access tokens expire on their own within
/// minutes; a deactivated user's stop at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    extract::Json(request): extract::Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.sign_in_door().await?;
    sqlx::query(
        "update indra_auth.refresh_tokens set revoked_at = now()
          where revoked_at is null and family_id = (select family_id from indra_auth.refresh_tokens where token_hash = $1)",
    )
    .bind(opaque_token_hash(&request.refresh_token))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
