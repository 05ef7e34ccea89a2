//! `indra demo`: reproducible, idempotent, and its logins work.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use indra_db::demo::load_demo;
use indra_db::testing::TestDb;
use sqlx::PgPool;

/// A fingerprint of the demo's clinical content that ignores load-time timestamps.
async fn content_fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "select md5(string_agg(x, '|' order by x)) from (
            select id::text || first_name || last_name || date_of_birth::text || mrn as x from patients
            union all select id::text || status::text || content::text from clinical_notes
            union all select id::text || claim_number || status::text from billing_claims
            union all select id::text || icd10_code || status::text from patient_diagnoses) t",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn loading_again_adds_organizations_and_never_duplicates() {
    let db = TestDb::new().await.unwrap();
    let first = load_demo(&db.pool, 1, "pw-one-two-three").await.unwrap();
    assert_eq!(first.loaded.len(), 1);
    let patients_before: i64 = sqlx::query_scalar("select count(*) from patients")
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let second = load_demo(&db.pool, 2, "pw-one-two-three").await.unwrap();
    assert_eq!(second.already_present.len(), 1);
    assert_eq!(second.already_present[0].id, first.loaded[0].id);
    assert_eq!(second.loaded.len(), 1);
    let organizations: i64 = sqlx::query_scalar("select count(*) from organizations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(organizations, 2);
    let patients_after: i64 = sqlx::query_scalar("select count(*) from patients")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(patients_after, 2 * patients_before);

    // Every seed table has rows for the new organization too.
    let empty: Vec<String> = second.loaded[0]
        .row_counts
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(empty, Vec::<String>::new());
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_demo_is_reproducible() {
    let a = TestDb::new().await.unwrap();
    let b = TestDb::new().await.unwrap();
    load_demo(&a.pool, 1, "x").await.unwrap();
    load_demo(&b.pool, 1, "y").await.unwrap();
    assert_eq!(
        content_fingerprint(&a.pool).await,
        content_fingerprint(&b.pool).await
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn demo_logins_use_the_given_password_with_argon2id() {
    let db = TestDb::new().await.unwrap();
    let summary = load_demo(&db.pool, 1, "correct horse").await.unwrap();
    let logins = &summary.loaded[0].logins;
    let roles: Vec<&str> = logins.iter().map(|l| l.role).collect();
    for role in ["admin", "provider", "billing", "staff"] {
        assert!(
            roles.contains(&role),
            "a demo login for every role: {roles:?}"
        );
    }
    for login in logins {
        let hash: String = sqlx::query_scalar(
            "select c.password_hash from indra_auth.password_credentials c join users u on u.auth_id = c.auth_id where u.email = $1",
        )
        .bind(&login.email)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let argon = argon2::Argon2::default();
        assert!(
            argon.verify_password(b"correct horse", &parsed).is_ok(),
            "{}",
            login.email
        );
        assert!(argon.verify_password(b"wrong", &parsed).is_err());
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_demo_covers_every_state_the_schema_knows() {
    let db = TestDb::with_demo(1).await.unwrap();
    for (question, sql) in [
        (
            "note formats",
            "select count(distinct format) = 3 from clinical_notes where status = 'signed'",
        ),
        (
            "amended and addended notes",
            "select count(distinct status) = 4 from clinical_notes",
        ),
        (
            "supervisor cosignatures",
            "select exists (select 1 from note_signatures where signature_type = 'supervisor')",
        ),
        (
            "plans with two versions",
            "select exists (select 1 from treatment_plans where version = 2)",
        ),
        (
            "recurring series",
            "select exists (select 1 from appointments where recurrence_rule is not null)",
        ),
        (
            "appointment statuses",
            "select count(distinct status) = 4 from appointments",
        ),
        (
            "claim statuses",
            "select count(distinct status) >= 6 from billing_claims",
        ),
        (
            "claims with two pointers",
            "select exists (select 1 from claim_line_items where cardinality(diagnosis_pointers) = 2)",
        ),
        (
            "AI run statuses",
            "select count(distinct status) = 4 from ai_runs",
        ),
        (
            "open clarifications",
            "select exists (select 1 from ai_clarifications where answer is null)",
        ),
        (
            "accepted and pending drafts",
            "select count(distinct status) = 2 from note_drafts",
        ),
        (
            "changed medications",
            "select exists (select 1 from medications where status = 'changed')",
        ),
        (
            "authorizations in use",
            "select exists (select 1 from patient_insurance where sessions_used > 0)",
        ),
    ] {
        let holds: bool = sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap();
        assert!(holds, "the demo lacks {question}");
    }
    db.close().await.unwrap();
}
