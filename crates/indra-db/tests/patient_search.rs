//! `app.search_patients` (migration 0012): a SECURITY DEFINER function that reads past row-level
//! security so the trigram index can be used, and therefore must keep the organization wall
//! itself. Checked on an organization of 20,000 generated patients beside the two demo ones:
//! it never answers another organization's patient, answers nothing without claims, is not
//! callable by anon or the service role, and reads patients through indexes only (EXPLAIN of
//! the function's own body, planned generically as the function plans it, and the scan counters
//! of a real call). The `*_is_caught` tests break the function and the index on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::{DEMO_TEST_PASSWORD, TestDb};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use time::Date;
use uuid::Uuid;

const GENERATED_PATIENTS: i64 = 20_000;
/// MRN prefix of the generated patients.
const GENERATED_MRN: &str = "GEN";

/// Two demo organizations, and 20,000 generated patients in the first (by name).
async fn seeded() -> TestDb {
    let fingerprint = format!(
        "v1 {GENERATED_PATIENTS} {}",
        indra_db::bench::SEARCH_LAST_NAMES.join(",")
    );
    TestDb::with_seed("search_20k", fingerprint.as_bytes(), |pool| async move {
        indra_db::demo::load_demo(&pool, 2, DEMO_TEST_PASSWORD).await?;
        let (a, _) = orgs(&pool).await;
        indra_db::bench::load_search_patients(&pool, a, GENERATED_PATIENTS, GENERATED_MRN).await?;
        Ok(())
    })
    .await
    .unwrap()
}

/// The demo organizations by name: A holds the generated patients.
async fn orgs(pool: &PgPool) -> (Uuid, Uuid) {
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from organizations order by name")
        .fetch_all(pool)
        .await
        .unwrap();
    (ids[0], ids[1])
}

/// A transaction as a signed-in user of `org` (role `staff`, the least clinical), or as
/// `authenticated` without claims when `org` is None.
async fn begin_as(
    pool: &PgPool,
    role: &str,
    claims: Option<Value>,
) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    if let Some(claims) = claims {
        sqlx::query("select set_config('request.jwt.claims', $1, true)")
            .bind(claims.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    sqlx::query(&format!("set local role {role}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn staff_of(org: Uuid) -> Option<Value> {
    Some(
        json!({"sub": Uuid::new_v4(), "role": "authenticated", "org_id": org, "user_role": "staff"}),
    )
}

#[derive(Clone, Copy)]
enum Search<'a> {
    Name(&'a [&'a str]),
    BornOn(Date),
    Mrn(&'a str),
}

async fn search(
    tx: &mut Transaction<'static, Postgres>,
    what: Search<'_>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (words, born_on, mrn) = match what {
        Search::Name(words) => (Some(words.to_vec()), None, None),
        Search::BornOn(date) => (None, Some(date), None),
        Search::Mrn(prefix) => (None, None, Some(prefix)),
    };
    sqlx::query_scalar("select id from app.search_patients($1, $2, $3, 200)")
        .bind(words)
        .bind(born_on)
        .bind(mrn)
        .fetch_all(&mut **tx)
        .await
}

/// Searches that find patients of both organizations: common and demo names, a date of birth
/// of each, and record-number prefixes of each.
async fn probes(pool: &PgPool, a: Uuid, b: Uuid) -> Vec<(String, Search<'static>)> {
    let born: Vec<Date> = sqlx::query_scalar(
        "select distinct on (org_id) date_of_birth from patients where org_id in ($1, $2) order by org_id, created_at",
    )
    .bind(a)
    .bind(b)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut probes: Vec<(String, Search<'static>)> = [
        &["kettering"][..],
        &["kettring"],
        &["smith"],
        &["mari"],
        &["avery"],
        &["ashdown"],
        &["mari", "kettering"],
    ]
    .iter()
    .map(|words| (format!("name {words:?}"), Search::Name(words)))
    .collect();
    for date in born {
        probes.push((format!("born {date}"), Search::BornOn(date)));
    }
    for prefix in ["GEN", "GEN00001", "MRN-", "MRN-001", "MRN-002"] {
        probes.push((format!("mrn {prefix}"), Search::Mrn(prefix)));
    }
    probes
}

/// What a caller of `caller_org` finds of any other organization: one line per leak.
async fn leaks(pool: &PgPool, caller_org: Uuid, other_org: Uuid) -> Vec<String> {
    let mut leaks = Vec::new();
    for (label, probe) in probes(pool, caller_org, other_org).await {
        let mut tx = begin_as(pool, "authenticated", staff_of(caller_org)).await;
        let found = search(&mut tx, probe).await.unwrap();
        tx.rollback().await.unwrap();
        let foreign: i64 =
            sqlx::query_scalar("select count(*) from patients where id = any($1) and org_id <> $2")
                .bind(&found)
                .bind(caller_org)
                .fetch_one(pool)
                .await
                .unwrap();
        if foreign > 0 {
            leaks.push(format!(
                "{label}: {foreign} patients of another organization"
            ));
        }
    }
    leaks
}

#[tokio::test]
async fn no_organization_finds_another_organizations_patients() {
    let db = seeded().await;
    let (a, b) = orgs(&db.pool).await;
    assert_eq!(leaks(&db.pool, a, b).await, Vec::<String>::new());
    assert_eq!(leaks(&db.pool, b, a).await, Vec::<String>::new());

    // The probes do find patients on both sides: each organization finds its own.
    for org in [a, b] {
        let mut found_any = 0;
        for (_, probe) in probes(&db.pool, a, b).await {
            let mut tx = begin_as(&db.pool, "authenticated", staff_of(org)).await;
            found_any += usize::from(!search(&mut tx, probe).await.unwrap().is_empty());
            tx.rollback().await.unwrap();
        }
        assert!(
            found_any >= 5,
            "organization {org} found little: {found_any}"
        );
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_leaking_search_is_caught() {
    let db = seeded().await;
    let (a, b) = orgs(&db.pool).await;
    // The function without its wall: the organization condition made always true.
    let (arguments, result, body): (String, String, String) = sqlx::query_as(
        "select pg_get_function_arguments(oid), pg_get_function_result(oid), prosrc from pg_proc
          where oid = 'app.search_patients'::regproc",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(body.contains("p.org_id = (select app.org_id())"));
    let leaking = body.replace("p.org_id = (select app.org_id())", "true");
    sqlx::raw_sql(&format!(
        "create or replace function app.search_patients({arguments}) returns {result}
         language sql stable security definer set search_path = pg_catalog, public
         set pg_trgm.word_similarity_threshold = 0.5 as $body${leaking}$body$"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    assert!(
        !leaks(&db.pool, b, a).await.is_empty(),
        "a search without its wall went unnoticed"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn without_claims_nothing_is_found_and_only_signed_in_users_may_search() {
    let db = seeded().await;
    let (a, b) = orgs(&db.pool).await;
    for (_, probe) in probes(&db.pool, a, b).await {
        let mut tx = begin_as(&db.pool, "authenticated", None).await;
        assert_eq!(search(&mut tx, probe).await.unwrap(), Vec::<Uuid>::new());
        tx.rollback().await.unwrap();
    }
    // anon and the service role may not call it at all (the service role bypasses RLS anyway
    // and has no business searching as nobody).
    for role in ["anon", "service_role", "indra_app"] {
        let mut tx = begin_as(&db.pool, role, staff_of(a)).await;
        let error = search(&mut tx, Search::Name(&["smith"])).await.unwrap_err();
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{role}: {error}"
        );
        tx.rollback().await.unwrap();
    }
    db.close().await.unwrap();
}

/// Plans of the function's body for each kind of search, planned generically (with parameters,
/// not values: how a SQL function's statement is planned), as the owner it runs as: every scan
/// of `patients` that is not through an index, one line each.
async fn scans_without_index(pool: &PgPool, org: Uuid) -> Vec<String> {
    let mut conn = pool.acquire().await.unwrap();
    // The body as a plain SQL function in pg_temp, which the planner inlines into the query.
    sqlx::raw_sql(
        "do $$ begin
           execute (select format('create or replace function pg_temp.search_body(%s) returns table (%s) language sql stable as %L',
                    pg_get_function_arguments(p.oid),
                    regexp_replace(pg_get_function_result(p.oid), '^TABLE\\((.*)\\)$', '\\1'), p.prosrc)
                      from pg_proc p where p.oid = 'app.search_patients'::regproc);
         end $$",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("select set_config('request.jwt.claims', $1, false), set_config('plan_cache_mode', 'force_generic_plan', false)")
        .bind(staff_of(org).unwrap().to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut problems = Vec::new();
    for (label, args, index) in [
        (
            "name",
            "array['kettring']::text[], null::date, null::text, 20",
            "patients_name_trgm_idx",
        ),
        (
            "two words",
            "array['kettering', 'mari']::text[], null::date, null::text, 20",
            "patients_name_trgm_idx",
        ),
        (
            "date of birth",
            "null::text[], date '1988-04-12', null::text, 20",
            "patients_date_of_birth_idx",
        ),
        (
            "record number",
            "null::text[], null::date, 'GEN00001'::text, 20",
            "patients_mrn_prefix_idx",
        ),
    ] {
        let plan: Value = sqlx::query_scalar(&format!(
            "explain (format json) select * from pg_temp.search_body({args})"
        ))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let mut nodes = Vec::new();
        collect_nodes(&plan[0]["Plan"], &mut nodes);
        for (node, relation, _) in &nodes {
            if relation.as_deref() == Some("patients")
                && !node.contains("Index")
                && node != "Bitmap Heap Scan"
            {
                problems.push(format!("{label}: {node} on patients"));
            }
        }
        if !nodes.iter().any(|(_, _, i)| i.as_deref() == Some(index)) {
            problems.push(format!("{label}: {index} not used"));
        }
    }
    sqlx::raw_sql("reset plan_cache_mode")
        .execute(&mut *conn)
        .await
        .unwrap();
    problems
}

/// (node type, relation, index) of every node of a JSON plan.
fn collect_nodes(plan: &Value, out: &mut Vec<(String, Option<String>, Option<String>)>) {
    let text = |key: &str| plan[key].as_str().map(str::to_owned);
    out.push((
        text("Node Type").unwrap_or_default(),
        text("Relation Name"),
        text("Index Name"),
    ));
    for child in plan["Plans"].as_array().into_iter().flatten() {
        collect_nodes(child, out);
    }
}

#[tokio::test]
async fn the_search_reads_patients_through_indexes_only() {
    let db = seeded().await;
    let (a, _) = orgs(&db.pool).await;
    assert_eq!(scans_without_index(&db.pool, a).await, Vec::<String>::new());

    // And a real call, as a signed-in user: this transaction's scan counters of `patients`.
    let mut tx = begin_as(&db.pool, "authenticated", staff_of(a)).await;
    let found = search(&mut tx, Search::Name(&["kettring"])).await.unwrap();
    assert!(!found.is_empty());
    search(&mut tx, Search::Mrn("GEN0000")).await.unwrap();
    let (seq, idx): (i64, i64) = sqlx::query_as(
        "select coalesce(seq_scan, 0), coalesce(idx_scan, 0) from pg_stat_xact_user_tables where relid = 'public.patients'::regclass",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(seq, 0, "sequential scans of patients");
    assert!(idx > 0);
    tx.rollback().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_missing_index_is_caught() {
    let db = seeded().await;
    let (a, _) = orgs(&db.pool).await;
    sqlx::raw_sql("drop index patients_name_trgm_idx")
        .execute(&db.pool)
        .await
        .unwrap();
    let problems = scans_without_index(&db.pool, a).await;
    assert!(
        problems.iter().any(|p| p.starts_with("name:")),
        "a name search without its index went unnoticed: {problems:?}"
    );
    db.close().await.unwrap();
}
