//! `verify_audit_chains` against the real audit trigger: intact chains pass, and each way of
//! tampering with the log (done as a superuser with triggers off) is named at the right row.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, like the tests"
)]

use indra_db::audit::{ChainReport, verify_audit_chains};
use indra_db::testing::TestDb;
use indra_rules::audit::chain::BreakKind;
use sqlx::PgPool;
use uuid::Uuid;

/// An organization with `updates` + 1 audit rows (its insert, then renames).
async fn org_with_rows(pool: &PgPool, name: &str, updates: usize) -> Uuid {
    let id: Uuid = sqlx::query_scalar("insert into organizations (name) values ($1) returning id")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap();
    for i in 0..updates {
        sqlx::query("update organizations set name = $2 where id = $1")
            .bind(id)
            .bind(format!("{name} ({i})"))
            .execute(pool)
            .await
            .unwrap();
    }
    id
}

/// Runs each statement (with `$1` = `org`) with the audit log's append-only triggers off, as
/// only a superuser can.
async fn tamper(pool: &PgPool, org: Uuid, statements: &[&str]) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    for sql in statements {
        let done = sqlx::query(sql).bind(org).execute(&mut *tx).await.unwrap();
        assert!(done.rows_affected() > 0, "tampering changed nothing: {sql}");
    }
    tx.commit().await.unwrap();
}

fn report_for(reports: &[ChainReport], org: Uuid) -> &ChainReport {
    reports
        .iter()
        .find(|r| r.org_id == org)
        .expect("a report for every organization")
}

#[tokio::test]
async fn intact_chains_verify() {
    let db = TestDb::new().await.unwrap();
    let a = org_with_rows(&db.pool, "Alpha Clinic", 2).await;
    let b = org_with_rows(&db.pool, "Beta Clinic", 0).await;

    let reports = verify_audit_chains(&db.pool, None).await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].org_id, a, "organizations in creation order");
    assert!(reports.iter().all(ChainReport::is_ok), "{reports:?}");
    assert_eq!(report_for(&reports, a).rows, 3);
    assert_eq!(report_for(&reports, b).rows, 1);

    let only_b = verify_audit_chains(&db.pool, Some(b)).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].org_id, b);
    assert!(only_b[0].is_ok());

    db.close().await.unwrap();
}

#[tokio::test]
async fn tampering_is_detected_at_the_first_bad_row() {
    let db = TestDb::new().await.unwrap();
    let pool = &db.pool;
    let intact = org_with_rows(pool, "Intact", 3).await;
    let altered = org_with_rows(pool, "Altered", 3).await;
    let missing = org_with_rows(pool, "Missing", 3).await;
    let swapped = org_with_rows(pool, "Swapped", 3).await;
    let truncated = org_with_rows(pool, "Truncated", 3).await;
    let stale_head = org_with_rows(pool, "Stale head", 3).await;

    tamper(
        pool,
        altered,
        &[
            "update audit_log set new_data = jsonb_set(new_data, '{name}', '\"Forged\"') \
           where org_id = $1 and seq = 2",
        ],
    )
    .await;
    tamper(
        pool,
        missing,
        &["delete from audit_log where org_id = $1 and seq = 2"],
    )
    .await;
    // Rows 2 and 3 trade places (through a free seq: (org_id, seq) is unique).
    tamper(
        pool,
        swapped,
        &[
            "update audit_log set seq = 1000 where org_id = $1 and seq = 2",
            "update audit_log set seq = 2 where org_id = $1 and seq = 3",
            "update audit_log set seq = 3 where org_id = $1 and seq = 1000",
        ],
    )
    .await;
    tamper(
        pool,
        truncated,
        &["delete from audit_log where org_id = $1 and seq = 4"],
    )
    .await;
    tamper(
        pool,
        stale_head,
        &[
            "update audit_chain_heads h set last_seq = 3, last_hash = l.row_hash \
           from audit_log l where h.org_id = $1 and l.org_id = $1 and l.seq = 3",
        ],
    )
    .await;

    let reports = verify_audit_chains(pool, None).await.unwrap();
    let broken = |org: Uuid| {
        let r = report_for(&reports, org);
        let b = r
            .broken
            .clone()
            .unwrap_or_else(|| panic!("{org} should be broken: {r:?}"));
        (b.seq, b.id.is_some(), b.kind, r.rows)
    };
    assert!(report_for(&reports, intact).is_ok());
    assert_eq!(report_for(&reports, intact).rows, 4);
    assert_eq!(broken(altered), (2, true, BreakKind::Altered, 1));
    assert_eq!(broken(missing), (3, true, BreakKind::Missing, 1));
    assert_eq!(broken(swapped), (2, true, BreakKind::OutOfOrder, 1));
    assert_eq!(broken(truncated), (4, false, BreakKind::TailTruncated, 3));
    assert_eq!(broken(stale_head), (4, false, BreakKind::HeadMismatch, 4));

    // The broken row's id is the stored row's.
    let altered_id: String =
        sqlx::query_scalar("select id::text from audit_log where org_id = $1 and seq = 2")
            .bind(altered)
            .fetch_one(pool)
            .await
            .unwrap();
    let b = report_for(&reports, altered).broken.clone().unwrap();
    assert_eq!(b.id.as_deref(), Some(altered_id.as_str()));

    db.close().await.unwrap();
}

#[tokio::test]
async fn logs_of_deleted_organizations_are_still_verified() {
    let db = TestDb::new().await.unwrap();
    let org = org_with_rows(&db.pool, "Gone", 1).await;
    // Organizations cannot normally be deleted with their log in place; a superuser can.
    tamper(&db.pool, org, &["delete from organizations where id = $1"]).await;

    let reports = verify_audit_chains(&db.pool, None).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].org_id, org);
    assert!(reports[0].is_ok(), "{reports:?}");
    assert_eq!(reports[0].rows, 2);

    db.close().await.unwrap();
}
