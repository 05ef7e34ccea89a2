//! Running a background transaction as a person: the same claims the server sets for a
//! request, so the same policies hold for the worker as for the clinician at the keyboard.

use sqlx::PgConnection;
use uuid::Uuid;

use super::AiError;

/// Makes the rest of the caller's transaction act as `user_id` of `org_id`: role
/// `authenticated` with that user's claims (read from `users`, as `app.begin_request` does).
/// The connection's login role must be able to `SET ROLE service_role` and `authenticated`
/// (the application's login, or a superuser in tests). Fails with `Conflict` when the user is
/// not an active member of the organization.
pub async fn act_as(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<(), AiError> {
    sqlx::query("select set_config('role', 'service_role', true)")
        .execute(&mut *conn)
        .await?;
    let claims: Option<String> = sqlx::query_scalar(
        "select json_build_object('sub', u.auth_id, 'role', 'authenticated', 'org_id', u.org_id,
                                  'user_role', u.role)::text
           from users u where u.org_id = $1 and u.id = $2 and u.is_active",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let claims = claims.ok_or_else(|| {
        AiError::Conflict("the run's requester is no longer an active user".to_owned())
    })?;
    sqlx::query(
        "select set_config('request.jwt.claims', $1, true), set_config('request.id', $2, true),
                set_config('role', 'authenticated', true)",
    )
    .bind(claims)
    .bind(format!("ai-worker/{user_id}"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The queue's own statements (claiming, expiring leases) run as the service role.
pub(crate) async fn as_service(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('role', 'service_role', true)")
        .execute(&mut *conn)
        .await
        .map(drop)
}
