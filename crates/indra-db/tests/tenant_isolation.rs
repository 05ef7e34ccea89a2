//! The organization wall, tested from the catalog.
//!
//! For every table and view in `public`, as every kind of user of organization A, for SELECT,
//! INSERT, UPDATE and DELETE: nothing of organization B is read, changed, removed, or created in
//! B's name, and nothing of A is moved into B. `anon` reads nothing; the service role sees both.
//! The list of tables comes from the catalog, so a table added later without RLS or policies
//! fails here by itself; the `*_is_caught` tests break the rules on purpose and watch the matrix
//! report it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Tables without org_id by design: the shared code sets.
const REFERENCE_TABLES: &[&str] = &["cpt_codes", "icd10_codes"];

/// SQLSTATE insufficient_privilege: no grant, or a row-level security policy refused the row.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

#[derive(Clone)]
struct Caller {
    label: String,
    db_role: &'static str,
    claims: Option<Value>,
}

struct Relation {
    name: String,
    is_view: bool,
    /// The column that names the organization: `id` for organizations, else `org_id`.
    org_column: Option<&'static str>,
    /// Columns a row can be inserted with (not generated).
    insertable_columns: Vec<String>,
}

async fn relations(pool: &PgPool) -> Vec<Relation> {
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "select c.relname::text, c.relkind = 'v' from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'v', 'p') and c.relname not like '\\_sqlx%'
          order by c.relname",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut relations = Vec::new();
    for (name, is_view) in rows {
        let columns: Vec<String> = sqlx::query_scalar(
            "select a.attname::text from pg_attribute a
              where a.attrelid = ('public.' || quote_ident($1))::regclass and a.attnum > 0
                and not a.attisdropped and a.attgenerated = ''
              order by a.attnum",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        let org_column = if name == "organizations" {
            Some("id")
        } else if columns.iter().any(|c| c == "org_id") {
            Some("org_id")
        } else {
            None
        };
        relations.push(Relation {
            name,
            is_view,
            org_column,
            insertable_columns: columns,
        });
    }
    relations
}

async fn begin_as<'a>(pool: &'a PgPool, caller: &Caller) -> Transaction<'a, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("set local role {}", caller.db_role))
        .execute(&mut *tx)
        .await
        .unwrap();
    if let Some(claims) = &caller.claims {
        sqlx::query("select set_config('request.jwt.claims', $1, true)")
            .bind(claims.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

fn sqlstate(error: &sqlx::Error) -> String {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string())
        .unwrap_or_default()
}

/// The organizations' users, one of each role, as callers.
async fn callers_of(pool: &PgPool, org: Uuid) -> Vec<Caller> {
    let users: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select distinct on (role) auth_id, role::text, email::text from users
          where org_id = $1 and is_active order by role, created_at, email",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(users.len(), 4, "the demo has a user of every role");
    users
        .into_iter()
        .map(|(auth_id, role, email)| Caller {
            label: format!("{role} ({email})"),
            db_role: "authenticated",
            claims: Some(
                json!({"sub": auth_id, "role": "authenticated", "org_id": org, "user_role": role}),
            ),
        })
        .collect()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn count_as_owner(pool: &PgPool, relation: &Relation, org_column: &str, org: Uuid) -> i64 {
    sqlx::query_scalar(&format!(
        "select count(*) from public.{} where {} = $1",
        quote(&relation.name),
        quote(org_column)
    ))
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn count_as_admin(pool: &PgPool, relation: &Relation, org: Uuid) -> i64 {
    let callers = callers_of(pool, org).await;
    let admin = callers
        .iter()
        .find(|c| c.label.starts_with("admin"))
        .unwrap();
    let mut tx = begin_as(pool, admin).await;
    let count = sqlx::query_scalar(&format!(
        "select count(*) from public.{}",
        quote(&relation.name)
    ))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    count
}

/// A view is read-only: none of B's rows may be seen through it, by any caller of A.
async fn view_violations(
    pool: &PgPool,
    relation: &Relation,
    callers: &[Caller],
    b: Uuid,
) -> Vec<String> {
    let mut violations = Vec::new();
    for caller in callers {
        let mut tx = begin_as(pool, caller).await;
        match sqlx::query_scalar::<_, i64>(&format!(
            "select count(*) from public.{} where org_id = $1",
            quote(&relation.name)
        ))
        .bind(b)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(0) => {}
            Err(e) if sqlstate(&e) == INSUFFICIENT_PRIVILEGE => {}
            other => violations.push(format!(
                "{} as {}: SELECT sees B: {:?}",
                relation.name,
                caller.label,
                other.map_err(|e| e.to_string())
            )),
        }
        tx.rollback().await.unwrap();
    }
    violations
}

/// Runs the whole matrix and returns every violation found (empty: the wall holds).
async fn isolation_violations(pool: &PgPool, a: Uuid, b: Uuid) -> Vec<String> {
    let mut violations = Vec::new();
    let callers = callers_of(pool, a).await;
    let anon = Caller {
        label: "anon".into(),
        db_role: "anon",
        claims: None,
    };
    let service = Caller {
        label: "service_role".into(),
        db_role: "service_role",
        claims: None,
    };

    for relation in relations(pool).await {
        let table = quote(&relation.name);
        let Some(org_column) = relation.org_column else {
            if !REFERENCE_TABLES.contains(&relation.name.as_str()) {
                violations.push(format!(
                    "{}: no org_id and not a reference table",
                    relation.name
                ));
            }
            continue;
        };
        let org_col = quote(org_column);

        if !relation.is_view {
            let rls: bool = sqlx::query_scalar(
                "select relrowsecurity from pg_class where oid = ('public.' || quote_ident($1))::regclass",
            )
            .bind(&relation.name)
            .fetch_one(pool)
            .await
            .unwrap();
            if !rls {
                violations.push(format!(
                    "{}: row-level security is not enabled",
                    relation.name
                ));
            }
        }

        // The demo must give both organizations rows here, or the matrix proves nothing. A view
        // filters by the caller's claims itself, so its rows are counted as each org's admin.
        let (rows_of_a, rows_of_b) = if relation.is_view {
            (
                count_as_admin(pool, &relation, a).await,
                count_as_admin(pool, &relation, b).await,
            )
        } else {
            (
                count_as_owner(pool, &relation, org_column, a).await,
                count_as_owner(pool, &relation, org_column, b).await,
            )
        };
        if rows_of_a == 0 || rows_of_b == 0 {
            violations.push(format!(
                "{}: the demo leaves it empty for an organization",
                relation.name
            ));
            continue;
        }

        // anon reads nothing.
        let mut tx = begin_as(pool, &anon).await;
        match sqlx::query_scalar::<_, i64>(&format!("select count(*) from public.{table}"))
            .fetch_one(&mut *tx)
            .await
        {
            Ok(0) => {}
            Err(e) if sqlstate(&e) == INSUFFICIENT_PRIVILEGE => {}
            other => violations.push(format!(
                "{}: anon reads {:?}",
                relation.name,
                other.map_err(|e| e.to_string())
            )),
        }
        tx.rollback().await.unwrap();

        if relation.is_view {
            violations.extend(view_violations(pool, &relation, &callers, b).await);
            continue;
        }

        // The service role sees both organizations.
        let mut tx = begin_as(pool, &service).await;
        let both: i64 = sqlx::query_scalar(&format!(
            "select count(distinct {org_col}) from public.{table} where {org_col} in ($1, $2)"
        ))
        .bind(a)
        .bind(b)
        .fetch_one(&mut *tx)
        .await
        .unwrap_or(0);
        if both != 2 {
            violations.push(format!(
                "{}: service_role does not see both organizations",
                relation.name
            ));
        }
        tx.rollback().await.unwrap();

        // A row of B to copy (with a new id) in the INSERT check.
        let row_of_b: Value = sqlx::query_scalar(&format!(
            "select to_jsonb(t) from public.{table} t where {org_col} = $1 order by to_jsonb(t)::text limit 1"
        ))
        .bind(b)
        .fetch_one(pool)
        .await
        .unwrap();

        for caller in &callers {
            let who = format!("{} as {}", relation.name, caller.label);

            // SELECT: none of B's rows.
            let mut tx = begin_as(pool, caller).await;
            match sqlx::query_scalar::<_, i64>(&format!(
                "select count(*) from public.{table} where {org_col} = $1"
            ))
            .bind(b)
            .fetch_one(&mut *tx)
            .await
            {
                Ok(0) => {}
                Err(e) if sqlstate(&e) == INSUFFICIENT_PRIVILEGE => {}
                other => violations.push(format!(
                    "{who}: SELECT sees B: {:?}",
                    other.map_err(|e| e.to_string())
                )),
            }
            tx.rollback().await.unwrap();
            if relation.is_view {
                continue;
            }

            // UPDATE and DELETE: touch none of B's rows. An error other than a privilege error
            // would mean a trigger saw the row, so only "0 rows" or 42501 pass.
            for statement in [
                format!("update public.{table} set {org_col} = {org_col} where {org_col} = $1"),
                format!("delete from public.{table} where {org_col} = $1"),
            ] {
                let mut tx = begin_as(pool, caller).await;
                match sqlx::query(&statement).bind(b).execute(&mut *tx).await {
                    Ok(done) if done.rows_affected() == 0 => {}
                    Err(e) if sqlstate(&e) == INSUFFICIENT_PRIVILEGE => {}
                    other => violations.push(format!(
                        "{who}: `{}` reached B: {:?}",
                        statement.split_whitespace().next().unwrap_or_default(),
                        other.map(|d| d.rows_affected()).map_err(|e| e.to_string())
                    )),
                }
                tx.rollback().await.unwrap();
            }

            // UPDATE moving A's rows into B: refused (or nothing the caller may update).
            let mut tx = begin_as(pool, caller).await;
            match sqlx::query(&format!(
                "update public.{table} set {org_col} = $2 where {org_col} = $1"
            ))
            .bind(a)
            .bind(b)
            .execute(&mut *tx)
            .await
            {
                Ok(done) if done.rows_affected() == 0 => {}
                Err(e) if sqlstate(&e) == INSUFFICIENT_PRIVILEGE => {}
                // Immutability triggers refuse the change before RLS is asked: still refused.
                Err(e)
                    if e.as_database_error()
                        .and_then(|d| d.constraint())
                        .is_some_and(|c| c.ends_with("_immutable")) => {}
                other => violations.push(format!(
                    "{who}: moved rows into B: {:?}",
                    other.map(|d| d.rows_affected()).map_err(|e| e.to_string())
                )),
            }
            tx.rollback().await.unwrap();

            // INSERT in B's name: a copy of B's row with a new id is refused by RLS
            // (row-level WITH CHECK runs before constraints, so an incidental unique or
            // check failure cannot stand in for it). A BEFORE trigger that looks a parent up
            // under the caller's RLS may answer "does not exist" (23503) first: also refused.
            let mut copy = row_of_b.clone();
            if let Some(object) = copy.as_object_mut().filter(|o| o.contains_key("id")) {
                object.insert("id".into(), json!(Uuid::new_v4()));
            }
            let columns: Vec<String> = relation
                .insertable_columns
                .iter()
                .map(|c| quote(c))
                .collect();
            let mut tx = begin_as(pool, caller).await;
            let inserted = sqlx::query(&format!(
                "insert into public.{table} ({cols}) select {cols} from jsonb_populate_record(null::public.{table}, $1)",
                cols = columns.join(", ")
            ))
            .bind(&copy)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if [INSUFFICIENT_PRIVILEGE, "23503"].contains(&sqlstate(&e).as_str()) => {}
                other => violations.push(format!(
                    "{who}: INSERT in B's name: {:?}",
                    other.map(|d| d.rows_affected()).map_err(|e| e.to_string())
                )),
            }
            tx.rollback().await.unwrap();
        }

        // Nothing of B changed, whatever was tried.
        if count_as_owner(pool, &relation, org_column, b).await != rows_of_b {
            violations.push(format!("{}: B's row count changed", relation.name));
        }
    }
    violations
}

/// Every command granted to `authenticated` on a table has a policy for it: a grant without
/// a policy is a rule someone forgot to write (or dropped).
async fn grants_without_policies(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select format('%s: %s granted to authenticated without a policy', g.table_name, g.privilege_type)
           from information_schema.role_table_grants g
           join pg_class c on c.relname = g.table_name and c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
          where g.table_schema = 'public' and g.grantee = 'authenticated'
            and g.privilege_type in ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
            and not exists (
                select 1 from pg_policies p
                 where p.schemaname = 'public' and p.tablename = g.table_name
                   and p.cmd in (g.privilege_type, 'ALL')
                   and ('authenticated' = any (p.roles) or 'public' = any (p.roles)))
          order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn demo_orgs(pool: &PgPool) -> (Uuid, Uuid) {
    let orgs: Vec<Uuid> = sqlx::query_scalar("select id from organizations order by name")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(orgs.len(), 2);
    (orgs[0], orgs[1])
}

#[tokio::test]
async fn no_organization_reaches_another() {
    let db = TestDb::with_demo(2).await.unwrap();
    let (a, b) = demo_orgs(&db.pool).await;
    let mut violations = isolation_violations(&db.pool, a, b).await;
    violations.extend(isolation_violations(&db.pool, b, a).await);
    violations.extend(grants_without_policies(&db.pool).await);
    assert!(
        violations.is_empty(),
        "the organization wall has holes:\n{}",
        violations.join("\n")
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_leaking_policy_is_caught() {
    let db = TestDb::with_demo(2).await.unwrap();
    let (a, b) = demo_orgs(&db.pool).await;
    sqlx::raw_sql(
        "drop policy patients_select on patients;
         create policy patients_select_everything on patients for select to authenticated using (true);",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let violations = isolation_violations(&db.pool, a, b).await;
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("patients as") && v.contains("SELECT sees B")),
        "a policy letting everyone read every patient went unnoticed: {violations:?}"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_dropped_policy_is_caught() {
    let db = TestDb::with_demo(2).await.unwrap();
    assert!(grants_without_policies(&db.pool).await.is_empty());
    sqlx::raw_sql("drop policy medications_update on medications")
        .execute(&db.pool)
        .await
        .unwrap();
    let found = grants_without_policies(&db.pool).await;
    assert_eq!(
        found,
        vec!["medications: UPDATE granted to authenticated without a policy".to_owned()]
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_new_table_without_row_level_security_is_caught() {
    let db = TestDb::with_demo(2).await.unwrap();
    let (a, b) = demo_orgs(&db.pool).await;
    sqlx::query(
        "create table public.referrals (id uuid primary key default gen_random_uuid(), org_id uuid not null, reason text)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("insert into referrals (org_id, reason) values ($1, 'sleep clinic'), ($2, 'neuropsych testing')")
        .bind(a)
        .bind(b)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("grant select, insert, update, delete on referrals to authenticated, service_role")
        .execute(&db.pool)
        .await
        .unwrap();
    let violations = isolation_violations(&db.pool, a, b).await;
    assert!(
        violations.contains(&"referrals: row-level security is not enabled".to_owned()),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("referrals as") && v.contains("SELECT sees B")),
        "{violations:?}"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn without_claims_a_signed_in_role_sees_nothing() {
    let db = TestDb::with_demo(1).await.unwrap();
    let nobody = Caller {
        label: "authenticated without claims".into(),
        db_role: "authenticated",
        claims: None,
    };
    for table in [
        "patients",
        "users",
        "appointments",
        "encounters",
        "billing_claims",
    ] {
        let mut tx = begin_as(&db.pool, &nobody).await;
        let seen: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen, 0, "{table}");
        tx.rollback().await.unwrap();
    }
    db.close().await.unwrap();
}
