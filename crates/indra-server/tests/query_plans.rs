//! The plans of the requests a practice makes most (search, chart, a provider's week, claims by
//! status), read from PostgreSQL itself while the real server answers them, on a data set of
//! moderate scale: none may read a large table from end to end.
//!
//! How the plans are caught: the test database preloads `auto_explain` into every session with
//! `log_min_duration = 0`, nested statements included, JSON format, and `client_min_messages =
//! log`, so every statement's plan comes back to the connection that ran it as a LOG notice.
//! sqlx turns each notice into a TRACE event of target `sqlx::postgres::notice`, which the test
//! collects. What is checked is therefore what the server ran, as the role and with the claims
//! it ran them with (RLS changes plans), not a copy of its SQL.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use common::TestApp;
use indra_db::testing::TestDb;
use indra_server::config::Config;
use indra_server::state::AppState;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use uuid::Uuid;

/// Tables that grow with the practice's history: at a million patients each holds millions of
/// rows, so a sequential scan of any of them in a request is a bug.
const LARGE_TABLES: &[&str] = &[
    "patients",
    "patient_diagnoses",
    "appointments",
    "encounters",
    "clinical_notes",
    "note_signatures",
    "medications",
    "patient_insurance",
    "billing_claims",
    "claim_line_items",
    "claim_diagnoses",
    "audit_log",
];

/// Organizations and patients of the moderate data set: large enough that the planner prefers an
/// index wherever one serves (an organization is a small share of every table), small enough
/// to load in seconds.
const SCALE_ORGS: u32 = 12;
const PATIENTS_PER_ORG: u32 = 400;

/// Every notice PostgreSQL sent to any connection of this process.
fn notices() -> &'static Arc<Mutex<Vec<String>>> {
    static NOTICES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    NOTICES.get_or_init(|| {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(NoticeCollector(notices.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
        notices
    })
}

struct NoticeCollector(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoticeCollector {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.target() == "sqlx::postgres::notice" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == "sqlx::postgres::notice"
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Message(Option<String>);
        impl Visit for Message {
            fn record_str(&mut self, field: &Field, value: &str) {
                if field.name() == "message" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut message = Message(None);
        event.record(&mut message);
        if let Some(text) = message.0 {
            self.0.lock().unwrap().push(text);
        }
    }
}

/// One statement's plan as auto_explain reported it.
struct CaughtPlan {
    query: String,
    plan: Value,
}

/// The plans among the notices collected since `from`.
fn plans_since(from: usize) -> Vec<CaughtPlan> {
    let notices = notices().lock().unwrap();
    notices[from..]
        .iter()
        .filter_map(|text| {
            // "duration: 0.123 ms  plan:\n{ ... }"
            let json = &text[text.find('{')?..];
            let value: Value = serde_json::from_str(json).ok()?;
            Some(CaughtPlan {
                query: value["Query Text"].as_str().unwrap_or_default().to_owned(),
                plan: value["Plan"].clone(),
            })
        })
        .collect()
}

/// Every (node type, relation, index) in a plan tree.
fn plan_nodes(plan: &Value, out: &mut Vec<(String, Option<String>, Option<String>)>) {
    out.push((
        plan["Node Type"].as_str().unwrap_or_default().to_owned(),
        plan["Relation Name"].as_str().map(str::to_owned),
        plan["Index Name"].as_str().map(str::to_owned),
    ));
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            plan_nodes(child, out);
        }
    }
}

/// What the plans of one request read.
#[derive(Debug, Default)]
struct Reads {
    statements: usize,
    /// "table (statement)" for each sequential scan of a large table.
    large_sequential_scans: Vec<String>,
    indexes: BTreeSet<String>,
}

fn reads(plans: &[CaughtPlan], large: &BTreeSet<String>) -> Reads {
    let mut reads = Reads::default();
    for caught in plans {
        reads.statements += 1;
        let mut nodes = Vec::new();
        plan_nodes(&caught.plan, &mut nodes);
        for (node, relation, index) in nodes {
            if let Some(index) = index {
                reads.indexes.insert(index);
            }
            if node == "Seq Scan"
                && let Some(table) = relation
                && large.contains(&table)
            {
                let query: String = caught
                    .query
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                reads
                    .large_sequential_scans
                    .push(format!("{table} in: {}", truncate(&query, 160)));
            }
        }
    }
    reads
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A server over a test database holding the two demo practices and `SCALE_ORGS` generated
/// ones, every session of which reports its plans. `planner` is extra database settings
/// (the sabotage test turns index scans off with it).
async fn spawn_explaining(planner: &[(&str, &str)]) -> TestApp {
    notices();
    let db = TestDb::with_demo(2).await.unwrap();
    indra_db::demo::scale::load_scale(
        &db.pool,
        indra_db::demo::scale::ScaleOptions {
            orgs: SCALE_ORGS,
            patients_per_org: PATIENTS_PER_ORG,
            jobs: 1,
        },
        common::PASSWORD,
        |_, _| {},
    )
    .await
    .unwrap();
    sqlx::query("analyze").execute(&db.pool).await.unwrap();
    let mut settings = vec![
        ("session_preload_libraries", "auto_explain"),
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_format", "json"),
        ("client_min_messages", "log"),
    ];
    settings.extend_from_slice(planner);
    for (name, value) in settings {
        sqlx::query(&format!(
            "alter database \"{}\" set {name} = '{value}'",
            db.name
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let config = Config::for_tests(db.url().to_owned(), common::JWT_SECRET);
    let options: sqlx::postgres::PgConnectOptions = db.url().parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.username("indra_app"))
        .await
        .unwrap();
    let state = AppState::with_pool(config, pool).unwrap();
    let router = indra_server::app(state.clone());
    TestApp { db, router, state }
}

/// A scale practice's clinician with the most appointments, their patient with the most
/// encounters, and a surname of that practice.
struct Subjects {
    clinician_email: String,
    billing_email: String,
    provider_id: Uuid,
    patient_id: Uuid,
    last_name: String,
    busiest_week_start: String,
}

async fn subjects(app: &TestApp) -> Subjects {
    let org_id: Uuid =
        sqlx::query_scalar("select id from organizations where name = 'Scale Practice 001'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let (provider_id, clinician_email): (Uuid, String) = sqlx::query_as(
        "select p.id, u.email::text from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          where p.org_id = $1
          order by (select count(*) from appointments a where a.org_id = p.org_id and a.provider_id = p.id) desc
          limit 1",
    )
    .bind(org_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (patient_id, last_name): (Uuid, String) = sqlx::query_as(
        "select p.id, p.last_name from patients p
          where p.org_id = $1 and length(p.last_name) >= 7
          order by (select count(*) from encounters e where e.org_id = p.org_id and e.patient_id = p.id) desc, p.id
          limit 1",
    )
    .bind(org_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let busiest_week_start: String = sqlx::query_scalar(
        "select to_char(date_trunc('week', starts_at at time zone 'UTC'), 'YYYY-MM-DD')
           from appointments where org_id = $1 and provider_id = $2
          group by 1 order by count(*) desc, 1 limit 1",
    )
    .bind(org_id)
    .bind(provider_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let billing_email: String = sqlx::query_scalar(
        "select email::text from users where org_id = $1 and role = 'billing' order by email limit 1",
    )
    .bind(org_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    Subjects {
        clinician_email,
        billing_email,
        provider_id,
        patient_id,
        last_name,
        busiest_week_start,
    }
}

/// "Merriweather" typed "Merirweather": two letters after the first swapped.
fn misspelled(name: &str) -> String {
    let mut letters: Vec<char> = name.chars().collect();
    letters.swap(3, 4);
    letters.into_iter().collect()
}

/// The tables of [`LARGE_TABLES`] that hold at least a thousand rows in the loaded data: the
/// planner rightly reads a table of a few rows (or none: the scale set writes no medications)
/// from end to end, so only those that are large here are held to the rule.
async fn large_tables(app: &TestApp) -> BTreeSet<String> {
    let mut large = BTreeSet::new();
    for table in LARGE_TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        if rows >= 1_000 {
            large.insert((*table).to_owned());
        }
    }
    for table in [
        "patients",
        "appointments",
        "encounters",
        "clinical_notes",
        "billing_claims",
        "audit_log",
    ] {
        assert!(
            large.contains(table),
            "the data set must make {table} large, or the check proves nothing"
        );
    }
    large
}

/// Sends each key request once and returns what each one's statements read.
async fn key_requests(app: &TestApp) -> Vec<(&'static str, Reads)> {
    let large = large_tables(app).await;
    let who = subjects(app).await;
    let clinician = app.sign_in(&who.clinician_email).await;
    let biller = app.sign_in(&who.billing_email).await;
    let requests: Vec<(&'static str, String, &str)> = vec![
        (
            "patient search by a misspelled surname",
            format!("/api/v1/patients?q={}", misspelled(&who.last_name)),
            &clinician,
        ),
        (
            "open a chart",
            format!("/api/v1/patients/{}/chart", who.patient_id),
            &clinician,
        ),
        (
            "a provider's week",
            format!(
                "/api/v1/providers/{}/calendar?from={}&days=7",
                who.provider_id, who.busiest_week_start
            ),
            &clinician,
        ),
        (
            "claims by status",
            "/api/v1/claims?status=submitted".to_owned(),
            &biller,
        ),
    ];
    let mut out = Vec::new();
    for (name, path, token) in requests {
        let from = notices().lock().unwrap().len();
        let answer = app.get(&path, token).await;
        assert_eq!(answer.status, 200, "{name}: {path}: {:?}", answer.body);
        let caught = plans_since(from);
        out.push((name, reads(&caught, &large)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_requests_read_large_tables_only_through_indexes() {
    let app = spawn_explaining(&[]).await;
    let results = key_requests(&app).await;
    let mut failures = Vec::new();
    for (name, reads) in &results {
        assert!(
            reads.statements > 0,
            "{name}: no plan was caught; is auto_explain reporting?"
        );
        eprintln!(
            "{name}: {} statements, indexes {:?}",
            reads.statements, reads.indexes
        );
        for scan in &reads.large_sequential_scans {
            failures.push(format!("{name}: sequential scan of {scan}"));
        }
    }
    // Which index the name search takes is the planner's choice: the trigram index, or (as it
    // estimates at 5,000 patients a practice) any index leading with org_id, whose rows are then
    // filtered by similarity. Either way, no large table is read from end to end (above).
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.close().await;
}

/// The check above can fail: with index scans switched off for the database, the same requests
/// read the large tables sequentially and are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_its_indexes_is_reported() {
    let app = spawn_explaining(&[
        ("enable_indexscan", "off"),
        ("enable_bitmapscan", "off"),
        ("enable_indexonlyscan", "off"),
    ])
    .await;
    let results = key_requests(&app).await;
    for (name, reads) in &results {
        assert!(
            !reads.large_sequential_scans.is_empty(),
            "{name}: without indexes a large table must be read sequentially, and reported"
        );
    }
    app.close().await;
}
