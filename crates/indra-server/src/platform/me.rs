//! `GET /api/v1/me`: who the caller is, in which practice, and their clinician record.

use axum::Json;
use serde::Serialize;

use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::platform::organization::{Organization, fetch_organization};
use crate::platform::providers::{PROVIDER_COLUMNS, Provider};
use crate::platform::users::User;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: User,
    pub organization: Organization,
    /// The caller's clinician record, when they are a provider.
    pub provider: Option<Provider>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "platform",
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn me(mut db: CallerTx) -> Result<Json<Me>, ApiError> {
    let user: User = sqlx::query_as(
        "select id, email::text, full_name, role::text as role, is_active, deactivated_at, created_at, updated_at
           from users where id = $1",
    )
    .bind(db.caller.user_id)
    .fetch_one(db.conn())
    .await?;
    let organization = fetch_organization(&mut db).await?;
    let provider: Option<Provider> = sqlx::query_as(&format!(
        "select {PROVIDER_COLUMNS} from providers where user_id = $1"
    ))
    .bind(db.caller.user_id)
    .fetch_optional(db.conn())
    .await?;
    db.commit().await?;
    Ok(Json(Me {
        user,
        organization,
        provider,
    }))
}
