//! The audit log: one row per change with the right details, append-only for every role, and
//! a hash chain per organization that stays whole under concurrent writers and names the row a
//! superuser tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::audit::verify_audit_chains;
use indra_db::testing::TestDb;
use indra_rules::audit::chain::BreakKind;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

struct Provider {
    org_id: Uuid,
    user_id: Uuid,
    provider_id: Uuid,
    claims: Value,
}

async fn first_provider(pool: &PgPool) -> Provider {
    let (org_id, user_id, provider_id, auth_id): (Uuid, Uuid, Uuid, Uuid) = sqlx::query_as(
        "select p.org_id, u.id, p.id, u.auth_id from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          order by u.email limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    Provider {
        org_id,
        user_id,
        provider_id,
        claims: json!({"sub": auth_id, "role": "authenticated", "org_id": org_id, "user_role": "provider"}),
    }
}

type AuditRow = (
    String,
    Option<Vec<String>>,
    Option<Uuid>,
    Uuid,
    Option<Uuid>,
    Option<String>,
    Option<String>,
);

async fn audit_rows_for(pool: &PgPool, record: Uuid) -> Vec<AuditRow> {
    sqlx::query_as(
        "select action, changed_fields, patient_id, org_id, actor_user_id, actor_role, request_id
           from audit_log where record_id = $1 order by seq",
    )
    .bind(record)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_change_is_recorded_with_who_what_and_which_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    let provider = first_provider(&db.pool).await;
    let patient = Uuid::new_v4();
    let encounter = Uuid::new_v4();
    let note = Uuid::new_v4();

    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("select set_config('request.jwt.claims', $1, true), set_config('request.id', 'req-42', true)")
        .bind(provider.claims.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("insert into patients (id, org_id, first_name, last_name, date_of_birth) values ($1, $2, 'Test', 'Person', '1990-01-01')")
        .bind(patient)
        .bind(provider.org_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update patients set preferred_name = 'T', phone = '555-0199' where id = $1")
        .bind(patient)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "insert into encounters (id, org_id, patient_id, provider_id, encounter_type, status, started_at, ended_at)
         values ($1, $2, $3, $4, 'intake', 'completed', now() - interval '60 minutes', now())",
    )
    .bind(encounter)
    .bind(provider.org_id)
    .bind(patient)
    .bind(provider.provider_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id, format, content)
         values ($1, $2, $3, $4, $5, $1, 'DAP', '{\"data\": \"d\", \"assessment\": \"a\", \"plan\": \"p\"}')",
    )
    .bind(note)
    .bind(provider.org_id)
    .bind(patient)
    .bind(encounter)
    .bind(provider.provider_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("delete from clinical_notes where id = $1")
        .bind(note)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let actor = Some(provider.user_id);
    let role = Some("authenticated".to_owned());
    let request = Some("req-42".to_owned());
    let patient_rows = audit_rows_for(&db.pool, patient).await;
    assert_eq!(patient_rows.len(), 2);
    assert_eq!(
        patient_rows[0],
        (
            "INSERT".into(),
            None,
            Some(patient),
            provider.org_id,
            actor,
            role.clone(),
            request.clone()
        )
    );
    // Only the columns whose values changed (updated_at is the same within one transaction).
    assert_eq!(
        patient_rows[1],
        (
            "UPDATE".into(),
            Some(vec!["phone".into(), "preferred_name".into()]),
            Some(patient),
            provider.org_id,
            actor,
            role.clone(),
            request.clone()
        )
    );
    let note_rows = audit_rows_for(&db.pool, note).await;
    assert_eq!(
        note_rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["INSERT", "DELETE"]
    );
    assert!(
        note_rows
            .iter()
            .all(|r| r.2 == Some(patient) && r.4 == actor)
    );
    let (old_data, new_data): (Option<Value>, Option<Value>) = sqlx::query_as(
        "select old_data, new_data from audit_log where record_id = $1 and action = 'DELETE'",
    )
    .bind(note)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(old_data.unwrap()["content"]["plan"], "p");
    assert_eq!(new_data, None);
    db.close().await.unwrap();
}

#[tokio::test]
async fn rows_without_a_patient_column_still_name_the_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    // Claim lines reach the patient through their claim, signatures through their note,
    // AI steps through their run.
    let unlinked: Vec<String> = sqlx::query_scalar(
        "select distinct a.table_name from audit_log a
          where a.table_name in ('claim_line_items', 'claim_diagnoses', 'note_signatures', 'ai_proposed_actions')
            and a.patient_id is null",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, Vec::<String>::new());
    let (line_patient, claim_patient): (Uuid, Uuid) = sqlx::query_as(
        "select a.patient_id, c.patient_id from audit_log a
           join claim_line_items l on l.id = a.record_id
           join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
          where a.table_name = 'claim_line_items' limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(line_patient, claim_patient);
    db.close().await.unwrap();
}

#[tokio::test]
async fn every_audited_table_has_the_audit_trigger() {
    let db = TestDb::new().await.unwrap();
    let missing: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
          where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
            and c.relname not in ('audit_log', 'audit_chain_heads', 'cpt_codes', 'icd10_codes', '_sqlx_migrations')
            and not exists (select 1 from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                             where t.tgrelid = c.oid and p.proname = 'audit_row' and t.tgenabled <> 'D')
          order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(missing, Vec::<String>::new());
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_audit_log_is_append_only_even_for_its_owner() {
    let db = TestDb::with_demo(1).await.unwrap();
    let owner_is_superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        owner_is_superuser,
        "these checks run as the most privileged role there is"
    );
    for statement in [
        "update audit_log set new_data = '{}' where seq = 1",
        "delete from audit_log where seq = 1",
        "truncate audit_log",
        "delete from audit_chain_heads",
        "truncate audit_chain_heads",
        "update audit_chain_heads set last_seq = 1",
    ] {
        let error = sqlx::raw_sql(statement)
            .execute(&db.pool)
            .await
            .unwrap_err();
        let constraint = error
            .as_database_error()
            .and_then(|e| e.constraint())
            .unwrap_or_default();
        assert!(
            constraint.ends_with("_append_only") || constraint.ends_with("_forward_only"),
            "{statement}: {error}"
        );
    }
    // The API roles hold no privilege to try with.
    for role in ["service_role", "authenticated", "anon"] {
        for statement in [
            "update audit_log set new_data = '{}'",
            "delete from audit_log",
            "insert into audit_log (org_id, seq, table_name, action, occurred_at, prev_hash, row_hash) select org_id, 999999, 'x', 'INSERT', now(), prev_hash, row_hash from audit_log limit 1",
        ] {
            let mut tx = db.pool.begin().await.unwrap();
            sqlx::query(&format!("set local role {role}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            let error = sqlx::query(statement).execute(&mut *tx).await.unwrap_err();
            assert_eq!(
                error.as_database_error().and_then(|e| e.code()).as_deref(),
                Some("42501"),
                "{role}: {statement}"
            );
            tx.rollback().await.unwrap();
        }
    }
    let rows: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        rows > 1000,
        "the demo's audit trail is intact ({rows} rows)"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn verify_passes_on_the_demo_and_names_the_row_a_superuser_tampered_with() {
    let db = TestDb::with_demo(2).await.unwrap();
    let reports = verify_audit_chains(&db.pool, None).await.unwrap();
    assert_eq!(reports.len(), 2);
    assert!(
        reports.iter().all(|r| r.is_ok() && r.rows > 1000),
        "{reports:?}"
    );
    let org = reports[0].org_id;

    // A superuser can switch the triggers off; the chain still tells.
    let tamper = |statement: &'static str| {
        let pool = db.pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("set local session_replication_role = replica")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(statement)
                .bind(org)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    let first_break = |pool: PgPool| async move {
        let reports = verify_audit_chains(&pool, Some(org)).await.unwrap();
        let broken = reports[0]
            .broken
            .clone()
            .expect("the tampering is detected");
        (broken.seq, broken.kind)
    };

    tamper("update audit_log set new_data = jsonb_set(new_data, '{last_name}', '\"Changed\"') where org_id = $1 and seq = 900 and new_data ? 'last_name'").await;
    tamper("update audit_log set changed_fields = '{}' where org_id = $1 and seq = 700").await;
    let (seq, kind) = first_break(db.pool.clone()).await;
    assert_eq!((seq, kind), (700, BreakKind::Altered));

    tamper("delete from audit_log where org_id = $1 and seq = 500").await;
    assert_eq!(
        first_break(db.pool.clone()).await,
        (501, BreakKind::Missing)
    );

    // Two rows swapped in order (their sequence numbers exchanged).
    tamper("update audit_log set seq = 999999999 where org_id = $1 and seq = 300").await;
    tamper("update audit_log set seq = 300 where org_id = $1 and seq = 301").await;
    tamper("update audit_log set seq = 301 where org_id = $1 and seq = 999999999").await;
    let (seq, _) = first_break(db.pool.clone()).await;
    assert_eq!(seq, 300);

    // The other organization is untouched.
    let others = verify_audit_chains(&db.pool, Some(reports[1].org_id))
        .await
        .unwrap();
    assert!(others[0].is_ok());
    db.close().await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_of_one_organization_keep_one_unbroken_chain() {
    let db = TestDb::with_demo(1).await.unwrap();
    let provider = first_provider(&db.pool).await;
    let before: i64 =
        sqlx::query_scalar("select last_seq from audit_chain_heads where org_id = $1")
            .bind(provider.org_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let pool = db.pool.clone();
        let org = provider.org_id;
        writers.push(tokio::spawn(async move {
            for n in 0..15 {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("set local role service_role").execute(&mut *tx).await.unwrap();
                sqlx::query("insert into patients (org_id, first_name, last_name, date_of_birth) values ($1, $2, $3, '1980-05-05')")
                    .bind(org)
                    .bind(format!("Writer{writer}"))
                    .bind(format!("Row{n}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let reports = verify_audit_chains(&db.pool, Some(provider.org_id))
        .await
        .unwrap();
    assert!(reports[0].is_ok(), "{reports:?}");
    assert_eq!(reports[0].rows as i64, before + 8 * 15);
    db.close().await.unwrap();
}
