//! `indra bench audit-writes`: what the audit trigger and its hash chain cost a write-heavy load.
//!
//! Every write to an audited table runs `app.audit_row` (migration 0008) in the writer's
//! transaction: it serializes the row to JSON, locks its organization's chain head until commit,
//! hashes the previous hash and the new row, inserts an audit row (with four indexes) and moves
//! the head. The benchmark inserts patients, the most common audited write, through the same
//! statements an API request makes, and compares two scenarios that differ in nothing but that
//! trigger:
//!
//! * audited: the schema as migrated;
//! * unaudited: the same inserts with `patients_audit` disabled.
//!
//! Each scenario runs in four shapes: one row per transaction (an API request; the commit's
//! WAL flush dominates) and a batch of rows per transaction (an import; the trigger's own work
//! dominates), with the clients either spread over the organizations (client i writes
//! organization i % K: no two clients share a chain unless K < C) or all writing one
//! organization. The chain head is locked from the trigger to commit, so writers of one
//! organization are serialized through their commits: that is the worst case.
//!
//! All of it happens in one run, in one scratch database created for it on a local server and
//! dropped afterwards, so the figures are comparable with each other (same machine, same server
//! settings, same moment); they are not comparable across machines.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde::Serialize;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct AuditWritesArgs {
    /// Concurrent writers, each with a connection of its own.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    clients: u32,

    /// Organizations to create; client i writes organization i % orgs.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    orgs: u32,

    /// Duration of each measured phase (there are eight).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,

    /// Instead of a duration: insert exactly this many rows in each phase.
    #[arg(long, conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rows: Option<u64>,

    /// Rows per transaction in the batch variant.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    batch_rows: u32,

    /// Name of the scratch database to create (it must not exist) [default: indra_bench_<random>].
    #[arg(long, value_name = "NAME")]
    database: Option<String>,

    /// Keep the scratch database instead of dropping it at the end.
    #[arg(long)]
    keep: bool,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// What bounds a phase: a duration, or a number of rows shared by all clients.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    Seconds(u64),
    Rows(u64),
}

/// One of the four write shapes; each runs audited and unaudited.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// All clients write the first organization.
    pub(crate) one_org: bool,
    pub(crate) rows_per_txn: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scenario {
    Audited,
    Unaudited,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Audited => "audited",
            Scenario::Unaudited => "unaudited",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phase {
    scenario: Scenario,
    /// Whether all clients wrote one organization.
    one_org: bool,
    clients: u32,
    /// Distinct organizations written.
    orgs: u32,
    rows_per_txn: u32,
    pub(crate) rows: u64,
    transactions: u64,
    pub(crate) seconds: f64,
    pub(crate) rows_per_sec: f64,
    /// The longest transaction, begin to commit, in milliseconds: where waiting for a chain
    /// head shows.
    pub(crate) max_txn_ms: f64,
    /// Audit rows the phase appended: equal to `rows` when audited, 0 when not.
    pub(crate) audit_rows: i64,
}

impl Phase {
    fn writes(&self) -> String {
        let orgs = if self.orgs == 1 {
            "1 org".to_owned()
        } else {
            format!("{} orgs", self.orgs)
        };
        let rows = if self.rows_per_txn == 1 {
            "1 row/txn".to_owned()
        } else {
            format!("{} rows/txn", self.rows_per_txn)
        };
        format!("{orgs}, {rows}")
    }
}

#[derive(Debug, Clone, Serialize)]
struct Comparison {
    writes: String,
    audited_rows_per_sec: f64,
    unaudited_rows_per_sec: f64,
    /// audited / unaudited throughput.
    ratio: f64,
    /// Throughput lost to the audit trigger, in percent: (1 - ratio) * 100.
    cost_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    benchmark: &'static str,
    database: String,
    server_version: String,
    /// Cores visible to this process (client and server share them on a local server).
    cores: usize,
    clients: u32,
    orgs: u32,
    seconds_per_phase: Option<u64>,
    rows_per_phase: Option<u64>,
    phases: Vec<Phase>,
    comparisons: Vec<Comparison>,
    /// Audit rows re-verified by `indra audit verify`'s code after all phases.
    audit_rows_verified: usize,
}

pub async fn audit_writes(database_url: &str, args: AuditWritesArgs) -> anyhow::Result<ExitCode> {
    let shared = &args;
    let result = in_scratch_database(
        database_url,
        args.database.as_deref(),
        args.keep,
        |url, name| async move { run_in(&url, &name, shared).await },
    )
    .await;

    let report = result?;
    print!("{}", format_table(&report));
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything that happens inside the scratch database; the caller drops it whatever happens.
async fn run_in(url: &str, name: &str, args: &AuditWritesArgs) -> anyhow::Result<Report> {
    let owner = indra_db::connect(url)
        .await
        .context("connecting to the scratch database")?;
    let result = measure(&owner, url, name, args).await;
    owner.close().await;
    result
}

async fn measure(
    owner: &PgPool,
    url: &str,
    name: &str,
    args: &AuditWritesArgs,
) -> anyhow::Result<Report> {
    indra_db::migrate(owner)
        .await
        .context("migrating the scratch database")?;
    let server_version: String = sqlx::query_scalar("select version()")
        .fetch_one(owner)
        .await?;
    let orgs = indra_db::bench::create_organizations(owner, args.orgs).await?;
    ensure!(
        indra_db::bench::patients_audit_enabled(owner).await?,
        "the patients_audit trigger is disabled in a freshly migrated database"
    );

    // The writers' pool: one connection per client, all opened before a phase starts its clock.
    // A statement timeout bounds every statement, lock waits included, should something hang.
    // Statement logging is off: waiting for a busy chain head pushes statements past sqlx's
    // one-second slow-statement warning, which is the behaviour measured, not a fault.
    let options = PgConnectOptions::from_str(url)?
        .options([("statement_timeout", "60s")])
        .disable_statement_logging();
    let writers = PgPoolOptions::new()
        .max_connections(args.clients)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .context("connecting the writers")?;

    let bound = match args.rows {
        Some(rows) => Bound::Rows(rows),
        None => Bound::Seconds(args.seconds),
    };
    let shapes = [
        Shape {
            one_org: false,
            rows_per_txn: 1,
        },
        Shape {
            one_org: false,
            rows_per_txn: args.batch_rows,
        },
        Shape {
            one_org: true,
            rows_per_txn: 1,
        },
        Shape {
            one_org: true,
            rows_per_txn: args.batch_rows,
        },
    ];
    let mut phases = Vec::new();
    let mut outcome = Ok(());
    'shapes: for shape in &shapes {
        // Audited and unaudited back to back, so slow drift on the machine affects both alike.
        for scenario in [Scenario::Audited, Scenario::Unaudited] {
            match run_phase(owner, &writers, &orgs, shape, scenario, bound, args.clients).await {
                Ok(phase) => {
                    eprintln!(
                        "{:<9} {:<22} {:>9} rows {:>7.2} s {:>10.1} rows/s",
                        scenario.name(),
                        phase.writes(),
                        phase.rows,
                        phase.seconds,
                        phase.rows_per_sec
                    );
                    phases.push(phase);
                }
                Err(e) => {
                    outcome = Err(e);
                    break 'shapes;
                }
            }
        }
    }
    writers.close().await;
    outcome?;

    // The concurrent writers must have left every chain intact: verify them as
    // `indra audit verify` does.
    let reports = indra_db::audit::verify_audit_chains(owner, None)
        .await
        .context("verifying the audit chains")?;
    let broken: Vec<_> = reports.iter().filter(|r| !r.is_ok()).collect();
    ensure!(
        broken.is_empty(),
        "{} audit chains broken after the benchmark: {broken:?}",
        broken.len()
    );
    let audit_rows_verified = reports.iter().map(|r| r.rows).sum();
    eprintln!(
        "audit chains verified: {} organizations, {audit_rows_verified} rows",
        reports.len()
    );

    let comparisons = phases
        .chunks(2)
        .filter_map(|pair| match pair {
            [a, u] if a.scenario == Scenario::Audited && u.scenario == Scenario::Unaudited => {
                let ratio = a.rows_per_sec / u.rows_per_sec;
                Some(Comparison {
                    writes: a.writes(),
                    audited_rows_per_sec: a.rows_per_sec,
                    unaudited_rows_per_sec: u.rows_per_sec,
                    ratio,
                    cost_percent: (1.0 - ratio) * 100.0,
                })
            }
            _ => None,
        })
        .collect();

    Ok(Report {
        benchmark: "audit-writes",
        database: name.to_owned(),
        server_version,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        clients: args.clients,
        orgs: args.orgs,
        seconds_per_phase: args.rows.is_none().then_some(args.seconds),
        rows_per_phase: args.rows,
        phases,
        comparisons,
        audit_rows_verified,
    })
}

/// One measured phase: `clients` tasks, each holding one connection, insert patients until the
/// bound is reached. The clock starts once every connection is open and stops when the last
/// client's last transaction has committed, so rows/s is committed rows over wall time.
pub(crate) async fn run_phase(
    owner: &PgPool,
    writers: &PgPool,
    orgs: &[Uuid],
    shape: &Shape,
    scenario: Scenario,
    bound: Bound,
    clients: u32,
) -> anyhow::Result<Phase> {
    indra_db::bench::reset_patients(owner).await?;
    if scenario == Scenario::Unaudited {
        indra_db::bench::set_patients_audit(owner, false).await?;
    }
    let audit_before = indra_db::bench::audit_rows(owner).await?;

    let written = write(writers, orgs, shape, bound, clients).await;

    // Re-enable the trigger whatever happened, so a kept database is left as migrated.
    let enabled = if scenario == Scenario::Unaudited {
        indra_db::bench::set_patients_audit(owner, true).await
    } else {
        Ok(())
    };
    let Written {
        rows,
        transactions,
        elapsed,
        max_txn,
    } = written?;
    enabled?;

    // Check that the phase measured what it claims: every row committed, and audited exactly
    // when the scenario says so.
    let audit_rows = indra_db::bench::audit_rows(owner).await? - audit_before;
    let patients = indra_db::bench::patient_rows(owner).await?;
    ensure!(
        u64::try_from(patients) == Ok(rows),
        "{patients} patients in the table, {rows} inserted"
    );
    let expected_audit = match scenario {
        Scenario::Audited => rows,
        Scenario::Unaudited => 0,
    };
    ensure!(
        u64::try_from(audit_rows) == Ok(expected_audit),
        "{} phase wrote {audit_rows} audit rows for {rows} patients",
        scenario.name()
    );

    let seconds = elapsed.as_secs_f64();
    Ok(Phase {
        scenario,
        one_org: shape.one_org,
        clients,
        orgs: if shape.one_org {
            1
        } else {
            clients.min(orgs.len() as u32)
        },
        rows_per_txn: shape.rows_per_txn,
        rows,
        transactions,
        seconds,
        rows_per_sec: rows as f64 / seconds,
        max_txn_ms: max_txn.as_secs_f64() * 1000.0,
        audit_rows,
    })
}

/// What the clients of one phase did.
struct Written {
    rows: u64,
    transactions: u64,
    /// From the start to the last client's last commit.
    elapsed: Duration,
    /// The longest transaction of any client.
    max_txn: Duration,
}

/// Runs the clients.
async fn write(
    writers: &PgPool,
    orgs: &[Uuid],
    shape: &Shape,
    bound: Bound,
    clients: u32,
) -> anyhow::Result<Written> {
    let mut connections = Vec::with_capacity(clients as usize);
    for _ in 0..clients {
        connections.push(writers.acquire().await.context("opening a writer")?);
    }
    // Rows not yet claimed, for a row-bounded phase.
    let remaining = Arc::new(AtomicU64::new(match bound {
        Bound::Rows(rows) => rows,
        Bound::Seconds(_) => 0,
    }));
    let per_txn = u64::from(shape.rows_per_txn);

    let start = Instant::now();
    let deadline = match bound {
        Bound::Seconds(s) => Some(start + Duration::from_secs(s)),
        Bound::Rows(_) => None,
    };
    let mut tasks = Vec::with_capacity(connections.len());
    for (i, mut conn) in connections.into_iter().enumerate() {
        let org = if shape.one_org {
            orgs[0]
        } else {
            orgs[i % orgs.len()]
        };
        let remaining = Arc::clone(&remaining);
        // MRNs are unique per organization: number each client's rows under its own prefix.
        let prefix = format!("B{i}-");
        tasks.push(tokio::spawn(async move {
            let (mut rows, mut transactions, mut max_txn) = (0u64, 0u64, Duration::ZERO);
            loop {
                let n = match deadline {
                    // A transaction started before the deadline is allowed to finish.
                    Some(deadline) if Instant::now() >= deadline => break,
                    Some(_) => per_txn,
                    None => match claim(&remaining, per_txn) {
                        0 => break,
                        n => n,
                    },
                };
                let began = Instant::now();
                indra_db::bench::insert_patients(&mut conn, org, &prefix, rows as i64, n as i64)
                    .await
                    .with_context(|| format!("client {i} inserting patients"))?;
                max_txn = max_txn.max(began.elapsed());
                rows += n;
                transactions += 1;
            }
            anyhow::Ok((rows, transactions, max_txn, Instant::now()))
        }));
    }

    let (mut rows, mut transactions, mut max_txn, mut end) = (0, 0, Duration::ZERO, start);
    let mut failure = None;
    // Wait for every client, even after one fails, so no writer outlives the phase.
    for task in tasks {
        match task.await.context("a writer task panicked").and_then(|r| r) {
            Ok((r, t, longest, finished)) => {
                rows += r;
                transactions += t;
                max_txn = max_txn.max(longest);
                end = end.max(finished);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Written {
        rows,
        transactions,
        elapsed: end - start,
        max_txn,
    })
}

/// Takes up to `want` rows from `remaining`; 0 when none are left.
fn claim(remaining: &AtomicU64, want: u64) -> u64 {
    remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            (left > 0).then(|| left - left.min(want))
        })
        .map_or(0, |left| left.min(want))
}

fn format_table(report: &Report) -> String {
    let bound = match (report.rows_per_phase, report.seconds_per_phase) {
        (Some(rows), _) => format!("{rows} rows per phase"),
        (None, Some(s)) => format!("{s} s per phase"),
        (None, None) => String::new(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Audit trigger and hash chain cost on writes ({} clients, {} organizations, {bound})",
        report.clients, report.orgs
    );
    let _ = writeln!(out, "{}", report.server_version);
    let _ = writeln!(
        out,
        "{:<10} {:<22} {:>7} {:>4} {:>8} {:>8} {:>8} {:>10} {:>10} {:>6} {:>6}",
        "scenario",
        "writes",
        "clients",
        "orgs",
        "rows/txn",
        "rows",
        "seconds",
        "rows/s",
        "max txn ms",
        "ratio",
        "cost"
    );
    for phase in &report.phases {
        let comparison = report
            .comparisons
            .iter()
            .find(|c| phase.scenario == Scenario::Audited && c.writes == phase.writes());
        let (ratio, cost) = comparison.map_or((String::new(), String::new()), |c| {
            (format!("{:.3}", c.ratio), format!("{:.1}%", c.cost_percent))
        });
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:>7} {:>4} {:>8} {:>8} {:>8.2} {:>10.1} {:>10.1} {:>6} {:>6}",
            phase.scenario.name(),
            phase.writes(),
            phase.clients,
            phase.orgs,
            phase.rows_per_txn,
            phase.rows,
            phase.seconds,
            phase.rows_per_sec,
            phase.max_txn_ms,
            ratio,
            cost
        );
    }
    let _ = writeln!(
        out,
        "ratio = audited rows/s / unaudited rows/s; cost = 1 - ratio (throughput lost to the audit trigger)"
    );
    out
}

/// Refuses anything but a server on this machine: the benchmark creates and drops databases
/// and loads the server for a minute or more.
/// Runs `body` in a scratch database it creates on a local server (named `database`, or a
/// fresh random name) and drops afterwards unless `keep`, whatever `body` returns: the figures
/// of one run are comparable because they share a server, its settings and the moment.
pub(crate) async fn in_scratch_database<T, F, Fut>(
    database_url: &str,
    database: Option<&str>,
    keep: bool,
    body: F,
) -> anyhow::Result<T>
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    ensure_local(database_url)?;
    let name = scratch_name(database)?;
    let url = with_database(database_url, &name)?;
    // The scratch database is dropped at the end: never adopt one that already exists.
    if !indra_db::create_database_if_missing(&url)
        .await
        .with_context(|| format!("creating scratch database {name}"))?
    {
        bail!("database {name} already exists; the benchmark only uses a database it creates");
    }
    eprintln!("created scratch database {name}");

    let result = body(url.clone(), name.clone()).await;

    if keep {
        eprintln!("kept scratch database {name}");
    } else {
        // The body's pools are closed by now; `force` ends any connection an error left over.
        match <sqlx::Postgres as sqlx::migrate::MigrateDatabase>::force_drop_database(&url).await {
            Ok(()) => eprintln!("dropped scratch database {name}"),
            Err(e) => eprintln!("warning: could not drop scratch database {name}: {e}"),
        }
    }
    result
}

fn ensure_local(url: &str) -> anyhow::Result<()> {
    let options =
        PgConnectOptions::from_str(url).context("DATABASE_URL is not a PostgreSQL URL")?;
    let host = options.get_host();
    let local = options.get_socket().is_some()
        || host.starts_with('/')
        || matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]");
    ensure!(
        local,
        "the benchmark runs against a local server only; DATABASE_URL's host is {host:?}"
    );
    Ok(())
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("DATABASE_URL is not a URL")?;
    let (before_query, query) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(authority, _)| authority);
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// A database name that needs no quoting and no escaping anywhere.
fn is_plain_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

// ---------------------------------------------------------------------------------------------
// `indra bench patient-search`: patient search and chart latency on a large organization.
//
// One scratch database holds a practice of `--patients` patients (a few thousand of them with a
// full chart) and a second, smaller practice whose patients carry the same kind of names, so that
// a search leaking across the organization wall would find them. `--clients` connections log in
// as `indra_app`, the server's login role, and each request is what the server does for
// `GET /api/v1/patients?q=...` or `GET /api/v1/patients/{id}/chart`: `begin`, `app.begin_request`
// as a clinician of the large practice, the endpoint's own function (`search_patients` after
// `PatientQuery::parse`, or `load_chart`), `commit`. Latency is measured from begin to commit on
// the client, so it includes the round trips but not HTTP or JSON.

/// Patients with a full chart in the large practice (capped at `--patients`).
const CHART_PATIENTS: i64 = 3_000;
/// Patients of the second practice.
const OTHER_ORG_PATIENTS: i64 = 3_000;
/// Distinct queries prepared per search scenario; clients draw from them at random.
const QUERIES_PER_SCENARIO: usize = 2_000;
/// Unmeasured run of each scenario before its clock starts.
const WARM_UP: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct PatientSearchArgs {
    /// Patients of the organization searched.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(i64).range(1_000..=5_000_000))]
    patients: i64,

    /// Concurrent clients, each with a connection of its own (as indra_app).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=64))]
    clients: u32,

    /// Duration of each measured scenario (there are four).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,

    /// Name of the scratch database to create (it must not exist) [default: indra_bench_<random>].
    #[arg(long, value_name = "NAME")]
    database: Option<String>,

    /// Keep the scratch database instead of dropping it at the end.
    #[arg(long)]
    keep: bool,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Lookup {
    /// A real last name with one letter dropped or two neighbours swapped.
    MisspelledLastName,
    /// The first three to five letters of a real first name.
    PartialFirstName,
    /// A real date of birth, typed `MM/DD/YYYY`.
    DateOfBirth,
    /// The chart of a patient who has one.
    Chart,
}

impl Lookup {
    const ALL: [Lookup; 4] = [
        Lookup::MisspelledLastName,
        Lookup::PartialFirstName,
        Lookup::DateOfBirth,
        Lookup::Chart,
    ];

    fn name(self) -> &'static str {
        match self {
            Lookup::MisspelledLastName => "search: misspelled last name",
            Lookup::PartialFirstName => "search: partial first name",
            Lookup::DateOfBirth => "search: date of birth",
            Lookup::Chart => "open a chart",
        }
    }
}

/// The inputs of one scenario's requests.
#[derive(Debug, Clone)]
enum Inputs {
    Queries(Arc<Vec<String>>),
    Charts(Arc<Vec<Uuid>>),
}

#[derive(Debug, Clone, Serialize)]
struct LookupResult {
    scenario: Lookup,
    description: &'static str,
    requests: u64,
    seconds: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Rows a request returned on average: patients found, or chart rows (the patient, diagnoses,
    /// medications, appointments, encounters, plan and coverage).
    mean_rows: f64,
    /// Requests that returned nothing.
    empty: u64,
}

#[derive(Debug, Clone, Serialize)]
struct SearchPlan {
    query: String,
    uses_trigram_index: bool,
    execution_ms: Option<f64>,
    plan: String,
}

#[derive(Debug, Clone, Serialize)]
struct SearchReport {
    benchmark: &'static str,
    database: String,
    server_version: String,
    cores: usize,
    patients: i64,
    chart_patients: i64,
    other_org_patients: i64,
    clinicians: usize,
    /// Chart rows loaded, per table.
    chart_rows: Vec<(String, u64)>,
    load_seconds: f64,
    /// The audit triggers were disabled during the bulk load (and enabled again after it).
    audit_disabled_during_load: bool,
    clients: u32,
    seconds_per_scenario: u64,
    search_limit: i64,
    explain: SearchPlan,
    scenarios: Vec<LookupResult>,
}

pub async fn patient_search(
    database_url: &str,
    args: PatientSearchArgs,
) -> anyhow::Result<ExitCode> {
    let shared = &args;
    let result = in_scratch_database(
        database_url,
        args.database.as_deref(),
        args.keep,
        |url, name| async move { search_in(&url, &name, shared).await },
    )
    .await;

    let report = result?;
    print!("{}", format_search_table(&report));
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--database`, checked, or a fresh random name.
fn scratch_name(database: Option<&str>) -> anyhow::Result<String> {
    match database {
        Some(name) => {
            ensure!(
                is_plain_identifier(name),
                "--database must be 1-63 characters of [a-z0-9_], starting with a letter or _"
            );
            Ok(name.to_owned())
        }
        None => Ok(format!(
            "indra_bench_{}",
            &Uuid::new_v4().simple().to_string()[..12]
        )),
    }
}

async fn search_in(
    url: &str,
    name: &str,
    args: &PatientSearchArgs,
) -> anyhow::Result<SearchReport> {
    let owner = indra_db::connect(url)
        .await
        .context("connecting to the scratch database")?;
    let result = search_measure(&owner, url, name, args).await;
    owner.close().await;
    result
}

async fn search_measure(
    owner: &PgPool,
    url: &str,
    name: &str,
    args: &PatientSearchArgs,
) -> anyhow::Result<SearchReport> {
    use indra_db::bench as db;

    indra_db::migrate(owner)
        .await
        .context("migrating the scratch database")?;
    let server_version: String = sqlx::query_scalar("select version()")
        .fetch_one(owner)
        .await?;

    let chart_patients = CHART_PATIENTS.min(args.patients);
    let clinicians = usize::try_from((chart_patients + 79) / 80)?.max(1);
    eprintln!(
        "loading {} patients ({chart_patients} with a chart, {clinicians} clinicians) and a second \
         organization of {OTHER_ORG_PATIENTS}; audit triggers disabled during the bulk load",
        args.patients
    );
    let started = Instant::now();
    let practice = db::create_practice(owner, "Benchmark Behavioral Health", clinicians).await?;
    let other = db::create_practice(owner, "Benchmark Other Practice", 2).await?;
    db::load_search_patients(owner, practice.org_id, args.patients, "B").await?;
    db::load_search_patients(owner, other.org_id, OTHER_ORG_PATIENTS, "O").await?;
    let chart_rows = db::load_chart_records(owner, &practice, chart_patients).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    let disabled = db::disabled_audit_triggers(owner).await?;
    ensure!(
        disabled.is_empty(),
        "audit triggers still disabled after the load: {disabled:?}"
    );
    eprintln!(
        "loaded in {load_seconds:.1} s ({}); audit triggers enabled again",
        chart_rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let inputs = prepare_inputs(owner, practice.org_id).await?;

    // The clients: the server's login role, as the server connects.
    let options = PgConnectOptions::from_str(url)?
        .username("indra_app")
        .disable_statement_logging();
    let clients_pool = PgPoolOptions::new()
        .max_connections(args.clients)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .context("connecting as indra_app")?;

    let result = async {
        check_wall(owner, &clients_pool, &practice, &other, &inputs).await?;
        let explain = explain_search(owner, practice.org_id, &inputs).await?;
        eprintln!(
            "EXPLAIN of the search {:?}: trigram index patients_name_trgm_idx {}{}",
            explain.query,
            if explain.uses_trigram_index {
                "used"
            } else {
                "NOT used"
            },
            explain
                .execution_ms
                .map(|ms| format!(" ({ms:.2} ms)"))
                .unwrap_or_default()
        );
        let mut scenarios = Vec::new();
        for lookup in Lookup::ALL {
            let input = inputs
                .iter()
                .find(|(l, _)| *l == lookup)
                .map(|(_, i)| i.clone())
                .context("no inputs")?;
            let result = run_lookup(
                &clients_pool,
                practice.clinician_auth_id,
                lookup,
                input,
                args.clients,
                Duration::from_secs(args.seconds),
            )
            .await?;
            eprintln!(
                "{}: {} requests, p50 {:.2} ms, p99 {:.2} ms",
                result.description, result.requests, result.p50_ms, result.p99_ms
            );
            scenarios.push(result);
        }
        anyhow::Ok((explain, scenarios))
    }
    .await;
    clients_pool.close().await;
    let (explain, scenarios) = result?;

    Ok(SearchReport {
        benchmark: "patient-search",
        database: name.to_owned(),
        server_version,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        patients: args.patients,
        chart_patients,
        other_org_patients: OTHER_ORG_PATIENTS,
        clinicians,
        chart_rows: chart_rows
            .into_iter()
            .map(|(t, n)| (t.to_owned(), n))
            .collect(),
        load_seconds,
        audit_disabled_during_load: true,
        clients: args.clients,
        seconds_per_scenario: args.seconds,
        search_limit: i64::from(DEFAULT_LIMIT),
        explain,
        scenarios,
    })
}

/// The page size of `GET /api/v1/patients?q=` without `limit`.
const DEFAULT_LIMIT: u32 = indra_server::api::pagination::DEFAULT_LIMIT;

/// The requests' inputs, drawn from the loaded patients of `org_id`.
async fn prepare_inputs(owner: &PgPool, org_id: Uuid) -> anyhow::Result<Vec<(Lookup, Inputs)>> {
    let mut rng = SplitMix64(0x5eed_1ab5);
    // Typos in names of five letters or more: in a shorter name one typo leaves too few shared
    // trigrams for the search's threshold (migration 0012 says why it is not lowered).
    let last_names: Vec<String> = sqlx::query_scalar(
        "select distinct last_name from patients where org_id = $1 and length(last_name) >= 5 order by 1",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    let first_names: Vec<String> = sqlx::query_scalar(
        "select distinct first_name from patients where org_id = $1 and length(first_name) >= 4 order by 1",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    let births: Vec<String> = sqlx::query_scalar(
        "select to_char(date_of_birth, 'MM/DD/YYYY') from patients where org_id = $1
          order by hashtext(id::text) limit $2",
    )
    .bind(org_id)
    .bind(QUERIES_PER_SCENARIO as i64)
    .fetch_all(owner)
    .await?;
    let charts: Vec<Uuid> = sqlx::query_scalar(
        "select distinct patient_id from encounters where org_id = $1 order by 1",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    ensure!(
        !last_names.is_empty()
            && !first_names.is_empty()
            && !births.is_empty()
            && !charts.is_empty(),
        "the loaded data has no names, dates of birth or charts to look up"
    );
    let misspelled = (0..QUERIES_PER_SCENARIO)
        .map(|_| {
            let name = &last_names[rng.below(last_names.len())];
            misspell(name, rng.next())
        })
        .collect();
    let partial = (0..QUERIES_PER_SCENARIO)
        .map(|_| {
            let name = &first_names[rng.below(first_names.len())];
            let len = (3 + rng.below(3)).min(name.chars().count());
            name.chars().take(len).collect::<String>().to_lowercase()
        })
        .collect();
    Ok(vec![
        (
            Lookup::MisspelledLastName,
            Inputs::Queries(Arc::new(misspelled)),
        ),
        (Lookup::PartialFirstName, Inputs::Queries(Arc::new(partial))),
        (Lookup::DateOfBirth, Inputs::Queries(Arc::new(births))),
        (Lookup::Chart, Inputs::Charts(Arc::new(charts))),
    ])
}

/// `name` with one typo, chosen by `seed`: a letter after the first dropped, or two neighbouring
/// letters after the first swapped.
pub(crate) fn misspell(name: &str, seed: u64) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        return name.to_owned();
    }
    // Positions 1 .. len-1: the first letter is what people get right.
    let at = 1 + (seed >> 1) as usize % (chars.len() - 2);
    if seed & 1 == 0 {
        chars.remove(at);
    } else {
        chars.swap(at, at + 1);
        if chars.iter().collect::<String>() == name {
            chars.remove(at); // a doubled letter: swapping changes nothing
        }
    }
    chars.into_iter().collect()
}

/// A small deterministic generator (SplitMix64), so two runs send the same queries.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One request as the server makes it. Returns the rows it read.
async fn request(
    conn: &mut sqlx::PgConnection,
    auth_id: Uuid,
    lookup: Lookup,
    inputs: &Inputs,
    pick: usize,
) -> anyhow::Result<usize> {
    use indra_server::clinical::patients::{chart, search};
    use sqlx::Connection as _;

    let mut tx = conn.begin().await?;
    let caller: Option<(Uuid, Uuid, String)> =
        sqlx::query_as("select user_id, org_id, user_role from app.begin_request($1, $2, $3)")
            .bind(auth_id)
            .bind("bench")
            .bind("5s")
            .fetch_optional(&mut *tx)
            .await?;
    ensure!(caller.is_some(), "the benchmark's clinician is not known");
    let rows = match (lookup, inputs) {
        (Lookup::Chart, Inputs::Charts(ids)) => {
            let chart = chart::load_chart(&mut tx, ids[pick % ids.len()])
                .await
                .map_err(|e| anyhow::anyhow!("loading a chart: {e}"))?;
            1 + chart.diagnoses.len()
                + chart.medications.len()
                + chart.upcoming_appointments.len()
                + chart.recent_encounters.len()
                + usize::from(chart.treatment_plan.is_some())
                + chart.insurance.len()
        }
        (_, Inputs::Queries(queries)) => {
            let query = search::PatientQuery::parse(&queries[pick % queries.len()])
                .map_err(|e| anyhow::anyhow!("reading a query: {e}"))?;
            search::search_patients(&mut tx, &query, i64::from(DEFAULT_LIMIT))
                .await
                .map_err(|e| anyhow::anyhow!("searching: {e}"))?
                .len()
        }
        _ => bail!("{lookup:?} got the wrong kind of inputs"),
    };
    tx.commit().await?;
    Ok(rows)
}

/// Runs `lookup` on every client: one second unmeasured, then `duration` measured. Latency is
/// each request's begin-to-commit time on the client.
async fn run_lookup(
    pool: &PgPool,
    auth_id: Uuid,
    lookup: Lookup,
    inputs: Inputs,
    clients: u32,
    duration: Duration,
) -> anyhow::Result<LookupResult> {
    let mut connections = Vec::with_capacity(clients as usize);
    for _ in 0..clients {
        connections.push(pool.acquire().await.context("opening a client")?);
    }
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let deadline = measure_from + duration;
    let mut tasks = Vec::with_capacity(connections.len());
    for (i, mut conn) in connections.into_iter().enumerate() {
        let inputs = inputs.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = SplitMix64(0xc11e_0000 + i as u64);
            let mut latencies = Vec::new();
            let (mut rows, mut empty) = (0u64, 0u64);
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let pick = rng.next() as usize;
                let n = request(&mut conn, auth_id, lookup, &inputs, pick)
                    .await
                    .with_context(|| format!("client {i}: {}", lookup.name()))?;
                if began >= measure_from {
                    latencies.push(began.elapsed());
                    rows += n as u64;
                    empty += u64::from(n == 0);
                }
            }
            anyhow::Ok((latencies, rows, empty, Instant::now()))
        }));
    }
    let (mut latencies, mut rows, mut empty, mut end) = (Vec::new(), 0u64, 0u64, measure_from);
    let mut failure = None;
    for task in tasks {
        match task.await.context("a client task panicked").and_then(|r| r) {
            Ok((l, r, e, finished)) => {
                latencies.extend(l);
                rows += r;
                empty += e;
                end = end.max(finished);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    ensure!(
        !latencies.is_empty(),
        "{}: no request completed",
        lookup.name()
    );
    latencies.sort_unstable();
    let seconds = (end - measure_from).as_secs_f64();
    let requests = latencies.len() as u64;
    Ok(LookupResult {
        scenario: lookup,
        description: lookup.name(),
        requests,
        seconds,
        requests_per_sec: requests as f64 / seconds,
        p50_ms: percentile_ms(&latencies, 50.0),
        p95_ms: percentile_ms(&latencies, 95.0),
        p99_ms: percentile_ms(&latencies, 99.0),
        max_ms: percentile_ms(&latencies, 100.0),
        mean_rows: rows as f64 / requests as f64,
        empty,
    })
}

/// The nearest-rank percentile of sorted `latencies`, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Before measuring: a search as the clinician finds patients of their own practice only,
/// although the other practice has patients of the same names, and another practice's chart is
/// not found.
async fn check_wall(
    owner: &PgPool,
    clients: &PgPool,
    practice: &indra_db::bench::BenchPractice,
    other: &indra_db::bench::BenchPractice,
    inputs: &[(Lookup, Inputs)],
) -> anyhow::Result<()> {
    use indra_server::clinical::patients::search;
    use sqlx::Connection as _;

    let Some((_, Inputs::Queries(queries))) =
        inputs.iter().find(|(l, _)| *l == Lookup::PartialFirstName)
    else {
        bail!("no first names to search");
    };
    let mut conn = clients.acquire().await?;
    let mut found = Vec::new();
    for q in queries.iter().take(20) {
        let mut tx = conn.begin().await?;
        sqlx::query("select * from app.begin_request($1, 'bench', '5s')")
            .bind(practice.clinician_auth_id)
            .execute(&mut *tx)
            .await?;
        let query = search::PatientQuery::parse(q).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rows = search::search_patients(&mut tx, &query, i64::from(DEFAULT_LIMIT))
            .await
            .map_err(|e| anyhow::anyhow!("searching: {e}"))?;
        found.extend(rows.into_iter().map(|p| p.id));
        tx.commit().await?;
    }
    let (mine, theirs): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where org_id = $2), count(*) filter (where org_id <> $2)
           from patients where id = any($1)",
    )
    .bind(&found)
    .bind(practice.org_id)
    .fetch_one(owner)
    .await?;
    ensure!(
        mine > 0,
        "the searches found nothing in the clinician's practice"
    );
    ensure!(
        theirs == 0,
        "the searches found {theirs} patients of another practice"
    );
    let their_patient: Uuid =
        sqlx::query_scalar("select id from patients where org_id = $1 limit 1")
            .bind(other.org_id)
            .fetch_one(owner)
            .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("select * from app.begin_request($1, 'bench', '5s')")
        .bind(practice.clinician_auth_id)
        .execute(&mut *tx)
        .await?;
    let outside = indra_server::clinical::patients::chart::load_chart(&mut tx, their_patient).await;
    tx.rollback().await?;
    ensure!(outside.is_err(), "another practice's chart was readable");
    eprintln!(
        "organization wall checked: 20 searches found {mine} patients, none of the other practice; \
         its chart is not found"
    );
    Ok(())
}

/// EXPLAIN ANALYZE of the body of `app.search_patients` for one misspelled name, as it runs
/// inside the function (as its owner, with the caller's claims set and the function's
/// threshold): the call itself would show only a function scan.
async fn explain_search(
    owner: &PgPool,
    org_id: Uuid,
    inputs: &[(Lookup, Inputs)],
) -> anyhow::Result<SearchPlan> {
    use indra_server::clinical::patients::search::PatientQuery;
    use sqlx::Connection as _;

    let Some((_, Inputs::Queries(queries))) = inputs
        .iter()
        .find(|(l, _)| *l == Lookup::MisspelledLastName)
    else {
        bail!("no misspelled names to explain");
    };
    // The longest of the first hundred: a longer name keeps more of its trigrams through a typo,
    // so the plan shows rows found, not an empty search.
    let q = queries
        .iter()
        .take(100)
        .max_by_key(|q| q.chars().count())
        .context("no queries")?
        .clone();
    let PatientQuery::Name(words) = PatientQuery::parse(&q).map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        bail!("{q:?} is not read as a name");
    };
    let body: String = sqlx::query_scalar(
        "select prosrc from pg_proc
          where oid = 'app.search_patients(text[], date, text, integer)'::regprocedure",
    )
    .fetch_one(owner)
    .await?;
    // The function's parameters by name become the statement's.
    let statement = body
        .replace("name_words", "($1::text[])")
        .replace("born_on", "($2::date)")
        .replace("mrn_prefix", "($3::text)")
        .replace("max_rows", "($4::int)");
    let mut conn = owner.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "select set_config('request.jwt.claims', json_build_object('org_id', $1::uuid, 'role', 'authenticated')::text, true),
                set_config('pg_trgm.word_similarity_threshold', '0.5', true)",
    )
    .bind(org_id)
    .execute(&mut *tx)
    .await?;
    let lines: Vec<String> = sqlx::query_scalar(&format!(
        "explain (analyze, buffers, costs off) {statement}"
    ))
    .bind(&words)
    .bind(None::<String>)
    .bind("")
    .bind(i64::from(DEFAULT_LIMIT))
    .fetch_all(&mut *tx)
    .await
    .context("explaining the search")?;
    tx.rollback().await?;
    let plan = lines.join("\n");
    let execution_ms = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("Execution Time: "))
        .and_then(|t| t.trim_end_matches(" ms").parse().ok());
    Ok(SearchPlan {
        query: q,
        uses_trigram_index: plan.contains("patients_name_trgm_idx"),
        execution_ms,
        plan,
    })
}

fn format_search_table(report: &SearchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Patient search and chart latency: {} patients ({} with a chart) + a second organization of {}, \
         {} clients as indra_app, {} s per scenario",
        report.patients,
        report.chart_patients,
        report.other_org_patients,
        report.clients,
        report.seconds_per_scenario
    );
    let _ = writeln!(out, "{}", report.server_version);
    let _ = writeln!(
        out,
        "(audit triggers were disabled during the bulk load of {:.1} s and enabled again before measuring)",
        report.load_seconds
    );
    let _ = writeln!(
        out,
        "{:<30} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}",
        "scenario",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "mean rows",
        "empty"
    );
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "{:<30} {:>9} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>6}",
            s.description,
            s.requests,
            s.requests_per_sec,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.max_ms,
            s.mean_rows,
            s.empty
        );
    }
    let _ = writeln!(
        out,
        "EXPLAIN ANALYZE of the search for {:?}: trigram index patients_name_trgm_idx {}{}",
        report.explain.query,
        if report.explain.uses_trigram_index {
            "used"
        } else {
            "NOT used"
        },
        report
            .explain
            .execution_ms
            .map(|ms| format!(", execution {ms:.2} ms"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "{}", report.explain.plan);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@localhost:5432/indra", "b").unwrap(),
            "postgres://postgres@localhost:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p%2Fw@127.0.0.1/indra?sslmode=disable", "b").unwrap(),
            "postgres://u:p%2Fw@127.0.0.1/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://localhost", "b").unwrap(),
            "postgresql://localhost/b"
        );
        assert_eq!(
            with_database("postgres://localhost?host=/run/postgresql", "b").unwrap(),
            "postgres://localhost/b?host=/run/postgresql"
        );
        assert!(with_database("indra", "b").is_err());
    }

    #[test]
    fn only_local_servers() {
        assert!(ensure_local("postgres://postgres@localhost:5432/indra").is_ok());
        assert!(ensure_local("postgres://postgres@127.0.0.1/indra").is_ok());
        assert!(ensure_local("postgres://postgres@db.example.com/indra").is_err());
    }

    #[test]
    fn plain_identifiers() {
        assert!(is_plain_identifier("indra_bench_1"));
        assert!(is_plain_identifier("_x"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("Indra"));
        assert!(!is_plain_identifier("a\"b"));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }

    #[test]
    fn a_misspelling_changes_one_thing_after_the_first_letter() {
        for seed in 0..50 {
            for name in ["Kettering", "Smith", "Lloyd", "Abbott"] {
                let typo = misspell(name, seed);
                assert_ne!(typo, name, "{seed}");
                assert!(typo.starts_with(&name[..1]), "{typo}");
                assert!(
                    (name.len() - 1..=name.len()).contains(&typo.len()),
                    "{typo}"
                );
            }
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&ms, 50.0), 50.0);
        assert_eq!(percentile_ms(&ms, 99.0), 99.0);
        assert_eq!(percentile_ms(&ms, 100.0), 100.0);
        assert_eq!(percentile_ms(&ms[..1], 99.0), 1.0);
    }

    #[test]
    fn claims_never_exceed_what_is_left() {
        let left = AtomicU64::new(250);
        assert_eq!(claim(&left, 100), 100);
        assert_eq!(claim(&left, 100), 100);
        assert_eq!(claim(&left, 100), 50);
        assert_eq!(claim(&left, 100), 0);
        assert_eq!(left.load(Ordering::Relaxed), 0);
    }
}
