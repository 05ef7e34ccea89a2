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
enum Bound {
    Seconds(u64),
    Rows(u64),
}

/// One of the four write shapes; each runs audited and unaudited.
#[derive(Debug, Clone)]
struct Shape {
    /// All clients write the first organization.
    one_org: bool,
    rows_per_txn: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
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
struct Phase {
    scenario: Scenario,
    /// Whether all clients wrote one organization.
    one_org: bool,
    clients: u32,
    /// Distinct organizations written.
    orgs: u32,
    rows_per_txn: u32,
    rows: u64,
    transactions: u64,
    seconds: f64,
    rows_per_sec: f64,
    /// The longest transaction, begin to commit, in milliseconds: where waiting for a chain
    /// head shows.
    max_txn_ms: f64,
    /// Audit rows the phase appended: equal to `rows` when audited, 0 when not.
    audit_rows: i64,
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
    ensure_local(database_url)?;
    let name = match &args.database {
        Some(name) => {
            ensure!(
                is_plain_identifier(name),
                "--database must be 1-63 characters of [a-z0-9_], starting with a letter or _"
            );
            name.clone()
        }
        None => format!("indra_bench_{}", &Uuid::new_v4().simple().to_string()[..12]),
    };
    let url = with_database(database_url, &name)?;

    // The scratch database is dropped at the end: never adopt one that already exists.
    if !indra_db::create_database_if_missing(&url)
        .await
        .with_context(|| format!("creating scratch database {name}"))?
    {
        bail!("database {name} already exists; the benchmark only uses a database it creates");
    }
    eprintln!("created scratch database {name}");

    let result = run_in(&url, &name, &args).await;

    if args.keep {
        eprintln!("kept scratch database {name}");
    } else {
        // The pools are closed by now; `force` ends any connection left over after an error.
        match <sqlx::Postgres as sqlx::migrate::MigrateDatabase>::force_drop_database(&url).await {
            Ok(()) => eprintln!("dropped scratch database {name}"),
            Err(e) => eprintln!("warning: could not drop scratch database {name}: {e}"),
        }
    }

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
async fn run_phase(
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
    fn claims_never_exceed_what_is_left() {
        let left = AtomicU64::new(250);
        assert_eq!(claim(&left, 100), 100);
        assert_eq!(claim(&left, 100), 100);
        assert_eq!(claim(&left, 100), 50);
        assert_eq!(claim(&left, 100), 0);
        assert_eq!(left.load(Ordering::Relaxed), 0);
    }
}
