//! The schema stays distributable by organization (Citus, docs/scaling.md): every table that holds
//! an organization's rows carries `org_id` in its primary key, in every unique constraint or
//! unique index, and in every foreign key to another such table, so that all of an
//! organization's rows can live on one node and every constraint is checked there. Tables
//! without `org_id` are either the tenant table itself or read-only reference sets replicated to
//! every node. Read from the catalog, so a table added tomorrow is checked without editing this.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;

/// Schemas whose tables hold the application's data.
const DATA_SCHEMAS: &[&str] = &["public", "indra_auth", "indra_keys"];

/// Tables without org_id, and why that is right.
const NOT_DISTRIBUTED: &[(&str, &str)] = &[
    // The tenant table: distributed by its own id, co-located with everything else.
    ("public.organizations", "distributed by id"),
    // Code sets every organization reads: Citus reference tables, copied to each node.
    ("public.icd10_codes", "reference table"),
    ("public.cpt_codes", "reference table"),
    // The sqlx migration ledger lives on the coordinator.
    ("public._sqlx_migrations", "coordinator only"),
    // Indra's own sign-in service (Supabase Auth's place): deployment-wide, looked up before an
    // organization is known, so it stays on the coordinator as local tables.
    ("indra_auth.password_credentials", "coordinator: sign-in"),
    ("indra_auth.refresh_tokens", "coordinator: sign-in"),
    ("indra_auth.sign_in_failures", "coordinator: sign-in"),
    ("indra_auth.web_sessions", "coordinator: sign-in"),
    // The server's note-signing keys: one set for the deployment.
    ("indra_keys.signing_keys", "coordinator: deployment keys"),
];

/// Unique keys that must hold across the deployment, not per organization, and so cannot be
/// checked on one node. On Citus each becomes a lookup table on the coordinator (the key and the
/// org_id it belongs to), written in the same transaction; the test keeps the list from growing
/// by accident.
const DEPLOYMENT_WIDE_KEYS: &[(&str, &str)] = &[
    // Signing in by e-mail must find exactly one user of one organization.
    ("public.users: users_email_key", "sign-in identity"),
    (
        "public.users: users_auth_id_key",
        "sign-in identity (Supabase Auth's user id)",
    ),
    // A calendar feed URL carries only its secret, so the secret finds the provider.
    (
        "public.providers: providers_calendar_feed_secret_hash_key",
        "calendar feed secret",
    ),
];

/// Catalog queries shared by the checks below: `relation` is schema.table.
const TABLES_WITHOUT_ORG_ID: &str = r#"
    select n.nspname || '.' || c.relname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname = any($1)
       and not exists (select 1 from pg_attribute a
                        where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped)
     order by 1"#;

/// Primary keys, unique constraints and unique indexes of tables that have org_id, whose
/// columns do not include it.
const UNIQUE_WITHOUT_ORG_ID: &str = r#"
    select n.nspname || '.' || c.relname || ': ' || i.relname
      from pg_index x
      join pg_class i on i.oid = x.indexrelid
      join pg_class c on c.oid = x.indrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute org on org.attrelid = c.oid and org.attname = 'org_id'
     where x.indisunique and n.nspname = any($1)
       and not (org.attnum = any(x.indkey::smallint[]))
     order by 1"#;

/// Foreign keys from a table with org_id to another table with org_id that do not pair the two
/// org_id columns (such a key could join rows of two organizations, and Citus cannot check it
/// on one node).
const FOREIGN_KEYS_WITHOUT_ORG_ID: &str = r#"
    select n.nspname || '.' || c.relname || ': ' || k.conname
      from pg_constraint k
      join pg_class c on c.oid = k.conrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute org on org.attrelid = k.conrelid and org.attname = 'org_id'
      join pg_attribute target_org on target_org.attrelid = k.confrelid and target_org.attname = 'org_id'
     where k.contype = 'f' and n.nspname = any($1)
       and not exists (
           select 1 from unnest(k.conkey, k.confkey) as pair(from_col, to_col)
            where pair.from_col = org.attnum and pair.to_col = target_org.attnum)
     order by 1"#;

async fn names(db: &TestDb, sql: &str) -> Vec<String> {
    let schemas: Vec<String> = DATA_SCHEMAS.iter().map(|s| s.to_string()).collect();
    sqlx::query_scalar(sql)
        .bind(&schemas)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_table_but_the_tenant_and_reference_sets_has_org_id() {
    let db = TestDb::new().await.unwrap();
    let without: Vec<String> = names(&db, TABLES_WITHOUT_ORG_ID).await;
    let unexplained: Vec<&String> = without
        .iter()
        .filter(|t| !NOT_DISTRIBUTED.iter().any(|(name, _)| name == t))
        .collect();
    assert!(
        unexplained.is_empty(),
        "tables without org_id that are neither the tenant table nor a reference set: {unexplained:?}"
    );
    // The list above stays true: each exception still exists.
    for (name, _) in NOT_DISTRIBUTED {
        assert!(
            without.contains(&name.to_string()),
            "{name} is listed as not distributed but has org_id or is gone"
        );
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn every_primary_key_and_unique_constraint_includes_org_id() {
    let db = TestDb::new().await.unwrap();
    let found = names(&db, UNIQUE_WITHOUT_ORG_ID).await;
    let offenders: Vec<&String> = found
        .iter()
        .filter(|n| !DEPLOYMENT_WIDE_KEYS.iter().any(|(key, _)| key == n))
        .collect();
    assert!(
        offenders.is_empty(),
        "unique indexes without org_id: {offenders:?}"
    );
    for (key, _) in DEPLOYMENT_WIDE_KEYS {
        assert!(found.contains(&key.to_string()), "{key} is listed but gone");
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn every_foreign_key_between_organization_tables_includes_org_id() {
    let db = TestDb::new().await.unwrap();
    let offenders = names(&db, FOREIGN_KEYS_WITHOUT_ORG_ID).await;
    assert!(
        offenders.is_empty(),
        "foreign keys that do not pair org_id with org_id: {offenders:?}"
    );
    db.close().await.unwrap();
}

/// The checks can fail: a table keyed without org_id, a unique constraint without it and a
/// foreign key that ignores it are each reported.
#[tokio::test]
async fn the_checks_catch_a_table_that_is_not_distributable() {
    let db = TestDb::new().await.unwrap();
    sqlx::raw_sql(
        r#"
        create table public.undistributable_notes (
            id uuid primary key,
            org_id uuid not null references organizations (id),
            -- Pairs some other column with patients.org_id: a key that can cross organizations.
            other_org uuid not null,
            patient_id uuid not null,
            label text unique,
            constraint undistributable_notes_patient_fkey
                foreign key (other_org, patient_id) references patients (org_id, id)
        );
        create table public.no_tenant (id uuid primary key);
        "#,
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let unique = names(&db, UNIQUE_WITHOUT_ORG_ID).await;
    assert!(
        unique
            .iter()
            .any(|n| n.contains("undistributable_notes_pkey")),
        "{unique:?}"
    );
    assert!(
        unique
            .iter()
            .any(|n| n.contains("undistributable_notes_label_key")),
        "{unique:?}"
    );
    let foreign = names(&db, FOREIGN_KEYS_WITHOUT_ORG_ID).await;
    assert!(
        foreign
            .iter()
            .any(|n| n.contains("undistributable_notes_patient_fkey")),
        "{foreign:?}"
    );
    let without = names(&db, TABLES_WITHOUT_ORG_ID).await;
    assert!(without.contains(&"public.no_tenant".to_string()));
    db.close().await.unwrap();
}

/// deploy/citus/distribution.sql emits one statement per table: the code sets as reference
/// tables first, then organizations by id, then every other table by org_id co-located with it,
/// each after the tables its foreign keys reference (Citus needs that order).
#[tokio::test]
async fn the_citus_script_distributes_every_table_in_foreign_key_order() {
    let db = TestDb::new().await.unwrap();
    let statements: Vec<String> =
        sqlx::query_scalar(include_str!("../../../deploy/citus/distribution.sql"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let table_of = |statement: &str| -> String {
        statement
            .split('\'')
            .nth(1)
            .expect("a quoted table name")
            .to_string()
    };
    let position = |table: &str| statements.iter().position(|s| table_of(s) == table);

    let tables: Vec<String> = sqlx::query_scalar(
        "select relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') and relname <> '_sqlx_migrations'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(statements.len(), tables.len(), "{statements:#?}");
    for table in &tables {
        assert!(position(table).is_some(), "{table} is not distributed");
    }
    for code_set in ["icd10_codes", "cpt_codes"] {
        let statement = &statements[position(code_set).unwrap()];
        assert!(
            statement.starts_with("select create_reference_table"),
            "{statement}"
        );
    }
    assert_eq!(
        statements[2],
        "select create_distributed_table('organizations', 'id');"
    );
    let patients = &statements[position("patients").unwrap()];
    assert_eq!(
        patients,
        "select create_distributed_table('patients', 'org_id', colocate_with => 'organizations');"
    );

    let references: Vec<(String, String)> = sqlx::query_as(
        "select c.relname::text, r.relname::text
           from pg_constraint k join pg_class c on c.oid = k.conrelid
           join pg_class r on r.oid = k.confrelid join pg_namespace n on n.oid = c.relnamespace
          where k.contype = 'f' and n.nspname = 'public' and k.conrelid <> k.confrelid",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (table, referenced) in references {
        assert!(
            position(&referenced) < position(&table),
            "{table} references {referenced} but is distributed before it"
        );
    }
    db.close().await.unwrap();
}
