//! The schema migrates, and migrating again changes nothing.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, like the tests"
)]

use indra_db::MIGRATOR;
use indra_db::testing::TestDb;

#[tokio::test]
async fn migrations_apply_and_are_idempotent() {
    let db = TestDb::new().await.expect("test database");

    let organizations: Option<String> =
        sqlx::query_scalar("select to_regclass('public.organizations')::text")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(organizations.as_deref(), Some("organizations"));

    let applied_before: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    MIGRATOR.run(&db.pool).await.expect("second run");
    let newly = indra_db::migrate(&db.pool).await.expect("third run");
    assert!(newly.is_empty(), "nothing left to apply, got {newly:?}");
    let applied_after: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied_before, applied_after);
    assert_eq!(
        applied_after as usize,
        MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .count()
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn each_test_gets_its_own_database() {
    let a = TestDb::new().await.unwrap();
    let b = TestDb::new().await.unwrap();
    assert_ne!(a.name, b.name);
    sqlx::query("create table only_in_a (x int)")
        .execute(&a.pool)
        .await
        .unwrap();
    let in_b: Option<String> = sqlx::query_scalar("select to_regclass('only_in_a')::text")
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(in_b, None);

    let (name, admin) = (a.name.clone(), b.pool.clone());
    a.close().await.unwrap();
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!exists, "close() drops the database");
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_test_that_never_closes_still_removes_its_database() {
    // What happens when a test panics before `close()`: Drop removes the database.
    let db = TestDb::new().await.unwrap();
    let name = db.name.clone();
    drop(db);

    let other = TestDb::new().await.unwrap();
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&other.pool)
            .await
            .unwrap();
    assert!(!exists, "Drop drops the database");
    other.close().await.unwrap();
}

#[tokio::test]
async fn a_seeded_template_is_seeded_once_and_cloned() {
    async fn seeded(calls: &std::sync::atomic::AtomicUsize) -> TestDb {
        TestDb::with_seed(
            "harness_check",
            b"one organization, v1",
            |pool| async move {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                sqlx::query("insert into organizations (name) values ('Seeded Clinic')")
                    .execute(&pool)
                    .await?;
                Ok(())
            },
        )
        .await
        .unwrap()
    }
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let a = seeded(&calls).await;
    let b = seeded(&calls).await;
    // Another process may have built the template first; this one never seeds twice.
    assert!(calls.into_inner() <= 1);
    for db in [&a, &b] {
        let names: Vec<String> = sqlx::query_scalar("select name from organizations")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(names, ["Seeded Clinic"]);
    }
    sqlx::query("insert into organizations (name) values ('Only in A')")
        .execute(&a.pool)
        .await
        .unwrap();
    let in_b: i64 = sqlx::query_scalar("select count(*) from organizations")
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(in_b, 1);

    let bad = TestDb::with_seed("Bad-Label", b"", |_| async { Ok(()) }).await;
    assert!(bad.is_err());

    a.close().await.unwrap();
    b.close().await.unwrap();
}
