//! The `indra` binary end to end: its output and exit status are what operators script against.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, like the tests"
)]

use std::process::{Command, Output};

use indra_db::testing::{self, TestDb};
use uuid::Uuid;

fn indra(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_indra"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run indra")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent() {
    let admin = testing::admin_url();
    let name = format!("indra_test_{}", Uuid::new_v4().simple());
    let url = testing::database_url(&admin, &name).unwrap();

    let first = indra(&url, &["migrate"]);
    let second = indra(&url, &["migrate"]);
    testing::drop_database(&admin, &name).await.unwrap();

    let text = stdout(&first);
    assert!(first.status.success(), "{first:?}");
    assert!(
        text.starts_with(&format!("created database {name}\n")),
        "{text}"
    );
    assert!(text.contains("\napplied 0001 "), "{text}");
    let text = stdout(&second);
    assert!(second.status.success(), "{second:?}");
    assert!(text.starts_with("database is up to date ("), "{text}");
}

#[tokio::test]
async fn audit_verify_exits_nonzero_on_a_broken_chain() {
    let db = TestDb::new().await.unwrap();
    let org: Uuid = sqlx::query_scalar(
        "insert into organizations (name) values ('Verify Clinic') returning id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();

    let ok = indra(db.url(), &["audit", "verify"]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(stdout(&ok), format!("{org} OK 1 rows\n"));

    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update audit_log set request_id = 'forged' where org_id = $1")
        .bind(org)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let broken = indra(db.url(), &["audit", "verify", "--org", &org.to_string()]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let text = stdout(&broken);
    assert!(
        text.starts_with(&format!("{org} BROKEN at seq 1 (id ")),
        "{text}"
    );
    assert!(text.contains("row altered"), "{text}");

    db.close().await.unwrap();
}

#[test]
fn demo_takes_an_organization_count() {
    let out = indra("postgres://postgres@127.0.0.1:1/none", &["demo", "--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("--orgs"));
}
