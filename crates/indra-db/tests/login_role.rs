//! The application's login role, `indra_app`: it owns nothing and reads nothing by itself; it
//! may only open a request as a user (app.begin_request) and reach the sign-in secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use uuid::Uuid;

async fn connect_as_app(db: &TestDb) -> PgConnection {
    let options: PgConnectOptions = db.url().parse().unwrap();
    options.username("indra_app").connect().await.unwrap()
}

#[tokio::test]
async fn the_login_role_reads_nothing_until_it_becomes_a_user() {
    let db = TestDb::with_demo(2).await.unwrap();
    let mut app = connect_as_app(&db).await;

    let error = sqlx::query_scalar::<_, i64>("select count(*) from patients")
        .fetch_one(&mut app)
        .await
        .unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );

    let (auth_id, org_id): (Uuid, Uuid) = sqlx::query_as(
        "select auth_id, org_id from users where role = 'staff' order by email limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut tx = app.begin().await.unwrap();
    let opened: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "select user_id, org_id, user_role from app.begin_request($1, 'req-1', '5s')",
    )
    .bind(auth_id)
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    let (_, opened_org, role) = opened.expect("an active user opens a request");
    assert_eq!((opened_org, role.as_str()), (org_id, "staff"));
    let (role_now, seen_orgs): (String, i64) =
        sqlx::query_as("select current_user::text, (select count(distinct org_id) from patients)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((role_now.as_str(), seen_orgs), ("authenticated", 1));
    tx.rollback().await.unwrap();

    // An unknown or deactivated identity opens nothing and stays without privileges.
    let mut tx = app.begin().await.unwrap();
    let opened: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "select user_id, org_id, user_role from app.begin_request($1, 'req-2', '5s')",
    )
    .bind(Uuid::new_v4())
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    assert!(opened.is_none());
    let still: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(still, "indra_app");
    tx.rollback().await.unwrap();
    app.close().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn api_roles_cannot_open_requests_as_someone_else() {
    let db = TestDb::with_demo(1).await.unwrap();
    let auth_id: Uuid =
        sqlx::query_scalar("select auth_id from users where role = 'admin' limit 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    for role in ["authenticated", "service_role", "anon"] {
        for function in ["app.begin_request($1, 'x', '5s')", "app.identify($1)"] {
            let mut tx = db.pool.begin().await.unwrap();
            sqlx::query(&format!("set local role {role}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            let error = sqlx::query(&format!("select * from {function}"))
                .bind(auth_id)
                .execute(&mut *tx)
                .await
                .unwrap_err();
            assert_eq!(
                error.as_database_error().and_then(|e| e.code()).as_deref(),
                Some("42501"),
                "{role}: {function}"
            );
            tx.rollback().await.unwrap();
        }
    }
    db.close().await.unwrap();
}
