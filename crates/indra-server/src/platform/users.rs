//! `/api/v1/users`: the people of the practice. Admins create users, change their role and
//! deactivate them; everyone in the organization can list them. Users are never deleted.
//! Who may do what is decided by the database's policies; these handlers only ask.

use crate::api::extract::{Path, Query};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract;
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::api::pagination::{Cursor, Page, PageQuery, Positioned, fetch_page};
use crate::error::ApiError;
use crate::platform::caller::{CallerTx, UserRole};
use crate::platform::passwords::{MIN_PASSWORD_LENGTH, hash_password_off_thread};

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[sqlx(try_from = "String")]
    pub role: RoleText,
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deactivated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A user's role as text, checked against the four roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct RoleText(pub UserRole);

impl TryFrom<String> for RoleText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        UserRole::parse(&text).map(RoleText).ok_or(text)
    }
}

const USER_COLUMNS: &str = "id, email::text, full_name, role::text as role, is_active, deactivated_at, created_at, updated_at";

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub role: UserRole,
    /// A first password (at least 12 characters) the user signs in with and later changes.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserChange {
    pub full_name: Option<String>,
    pub role: Option<UserRole>,
    /// `false` deactivates the user: their sessions and tokens stop working at once.
    pub is_active: Option<bool>,
}

/// The organization's users, oldest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "platform", params(PageQuery),
    responses((status = 200, body = Page<User>), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_users(
    mut db: CallerTx,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<User>>, ApiError> {
    let page = fetch_page(
        db.conn(),
        &format!("select {USER_COLUMNS} from users"),
        &query,
    )
    .await?;
    db.commit().await?;
    Ok(Json(page))
}

impl Positioned for User {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "platform",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, body = User, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_user(mut db: CallerTx, Path(id): Path<Uuid>) -> Result<Tagged<User>, ApiError> {
    let user = fetch_user(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(user))
}

async fn fetch_user(db: &mut CallerTx, id: Uuid) -> Result<User, ApiError> {
    sqlx::query_as(&format!("select {USER_COLUMNS} from users where id = $1"))
        .bind(id)
        .fetch_optional(db.conn())
        .await?
        .ok_or(ApiError::NotFound)
}

/// Adds a user to the caller's organization (admins). Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/users", tag = "platform", request_body = NewUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = User), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_user(
    mut db: CallerTx,
    headers: HeaderMap,
    extract::Json(new): extract::Json<NewUser>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/users", &new).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let full_name = new.full_name.trim();
    if full_name.is_empty() {
        return Err(ApiError::invalid("full_name", "a name is required"));
    }
    let password_hash = match &new.password {
        Some(p) if p.chars().count() < MIN_PASSWORD_LENGTH => {
            return Err(ApiError::invalid(
                "password",
                format!("at least {MIN_PASSWORD_LENGTH} characters"),
            ));
        }
        Some(p) => {
            let p = p.clone();
            Some(
                hash_password_off_thread(p)
                    .await
                    .map_err(ApiError::Internal)?,
            )
        }
        None => None,
    };
    let user: User = sqlx::query_as(&format!(
        "insert into users (org_id, email, full_name, role) values ($1, $2, $3, $4::user_role) returning {USER_COLUMNS}"
    ))
    .bind(db.caller.org_id)
    .bind(new.email.trim())
    .bind(full_name)
    .bind(new.role.as_str())
    .fetch_one(db.conn())
    .await?;
    if let Some(hash) = password_hash {
        sqlx::query("select app.set_password((select auth_id from users where id = $1), $2)")
            .bind(user.id)
            .bind(hash)
            .execute(db.conn())
            .await?;
    }
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &user).await?;
    }
    db.commit().await?;
    let location = format!("/api/v1/users/{}", user.id);
    let mut response = (StatusCode::CREATED, Tagged(user)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Changes a user's name or role, or deactivates them (admins). Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "platform", request_body = UserChange,
    params(("id" = Uuid, Path, description = "The user's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = User), (status = 404, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_user(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    extract::Json(change): extract::Json<UserChange>,
) -> Result<Tagged<User>, ApiError> {
    let current = fetch_user(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    if change.is_active == Some(false) && id == db.caller.user_id {
        return Err(ApiError::conflict(
            Some("is_active"),
            "you cannot deactivate yourself",
        ));
    }
    let updated: Option<User> = sqlx::query_as(&format!(
        "update users set
             full_name = coalesce($2, full_name),
             role = coalesce($3::user_role, role),
             is_active = coalesce($4, is_active),
             deactivated_at = case when $4 = false then coalesce(deactivated_at, now())
                                   when $4 = true then null else deactivated_at end
          where id = $1 and updated_at = $5
          returning {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(change.full_name.as_deref().map(str::trim))
    .bind(change.role.map(UserRole::as_str))
    .bind(change.is_active)
    .bind(current.updated_at)
    .fetch_optional(db.conn())
    .await?;
    let Some(updated) = updated else {
        // Changed by someone else since it was read, or the caller may read but not change it.
        return Err(
            if etag_of(&fetch_user(&mut db, id).await?) != etag_of(&current) {
                ApiError::PreconditionFailed
            } else {
                ApiError::Forbidden("only admins change users".into())
            },
        );
    };
    db.commit().await?;
    Ok(Tagged(updated))
}
