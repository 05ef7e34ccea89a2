//! The report: every figure of a run (`report.json`), the same as readable tables
//! (`report.md`, also printed), and issue 7's targets, each passed, missed or not measured.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::machine::Machine;
use super::pgbench::PgbenchRun;
use super::population::DataSet;
use super::scenarios::{Kind, ScenarioResult};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub benchmark: &'static str,
    /// UTC, when the run began.
    pub started_at: String,
    pub url: String,
    pub machine: Machine,
    pub postgres_version: String,
    pub postgres_settings: BTreeMap<String, String>,
    pub data: DataSet,
    pub settings: Settings,
    pub scenarios: Vec<ScenarioResult>,
    pub pgbench: Comparisons,
    pub audit: AuditCost,
    pub server_memory: ServerMemory,
    pub targets: Vec<Target>,
    /// Read scenarios with errors: any makes the run fail (exit status 1).
    pub read_errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub clients: u32,
    pub seconds: u64,
    pub warm_up_seconds: u64,
    /// Duration of each pgbench run and of each audit phase.
    pub compare_seconds: u64,
    /// Concurrency of the 837P export scenario (each export needs 100 ready claims of its own).
    pub export_clients: u32,
    pub scenarios: Vec<&'static str>,
    pub server_pid: Option<u32>,
}

/// pgbench beside the API, and RLS beside the service role.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Comparisons {
    /// pgbench's version, when it was found.
    pub pgbench: Option<String>,
    /// Why no comparison was made, when none was.
    pub reason: Option<String>,
    pub api_vs_pgbench: Vec<ApiVsPgbench>,
    pub rls: Vec<RlsCost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiVsPgbench {
    pub scenario: Kind,
    pub api_per_sec: f64,
    pub pgbench: Option<PgbenchRun>,
    /// API requests/s ÷ pgbench transactions/s.
    pub ratio: Option<f64>,
    /// Where the scripts are, relative to the report.
    pub scripts: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RlsCost {
    pub scenario: Kind,
    pub authenticated: Option<PgbenchRun>,
    pub service_role: Option<PgbenchRun>,
    /// authenticated tps ÷ service_role tps.
    pub ratio: Option<f64>,
    /// (1 - ratio) × 100.
    pub cost_percent: Option<f64>,
    pub scripts: String,
    pub error: Option<String>,
    /// Whether the endpoint itself runs this SQL under RLS; when not, the pair shows what RLS
    /// would cost the same statement, and the target does not apply.
    pub endpoint_under_rls: bool,
    pub note: Option<String>,
}

/// Inserts into an audited table with the audit trigger and hash chain against the same
/// inserts without them (`indra bench audit-writes`'s phases, one row per transaction, each
/// client its own organization), in a scratch database.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AuditCost {
    pub clients: u32,
    pub seconds: u64,
    pub audited_rows_per_sec: Option<f64>,
    pub unaudited_rows_per_sec: Option<f64>,
    pub audited_max_txn_ms: Option<f64>,
    pub unaudited_max_txn_ms: Option<f64>,
    /// audited ÷ unaudited.
    pub ratio: Option<f64>,
    pub cost_percent: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerMemory {
    pub pid: Option<u32>,
    pub samples: u64,
    /// VmRSS before the first scenario.
    pub start_rss_mib: Option<f64>,
    /// The highest VmRSS seen during the HTTP scenarios.
    pub max_rss_mib: Option<f64>,
    pub error: Option<String>,
}

/// One of issue 7's targets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    pub name: String,
    /// E.g. `< 15 ms`.
    pub limit: String,
    pub measured: Option<f64>,
    pub unit: &'static str,
    /// `None` when not measured.
    pub pass: Option<bool>,
    pub note: Option<String>,
}

/// A latency or memory limit that must be strictly under.
const LATENCY_TARGETS: [(Kind, f64); 3] = [
    (Kind::Search, 15.0),
    (Kind::Chart, 25.0),
    (Kind::Week, 25.0),
];
/// Each read scenario at this share of pgbench's throughput or more.
pub const PGBENCH_SHARE: f64 = 0.60;
/// Row-level security costing this much or less, in percent.
pub const RLS_COST: f64 = 15.0;
/// The audit trigger and chain costing this much or less on writes, in percent.
pub const AUDIT_COST: f64 = 35.0;
/// The server under this resident size.
pub const SERVER_RSS_MIB: f64 = 300.0;

fn target(
    name: String,
    limit: String,
    measured: Option<f64>,
    unit: &'static str,
    ok: impl Fn(f64) -> bool,
    missing: impl FnOnce() -> String,
) -> Target {
    Target {
        name,
        limit,
        measured,
        unit,
        pass: measured.map(ok),
        note: measured.is_none().then(missing),
    }
}

/// Failed requests of the read scenarios: any fails the run. A write scenario's errors are
/// reported but do not (a write can fail for the data's reasons, such as a taken slot).
pub fn read_errors(scenarios: &[ScenarioResult]) -> u64 {
    scenarios.iter().filter(|r| r.read).map(|r| r.errors).sum()
}

/// Every target, from the figures (pure).
pub fn evaluate_targets(
    scenarios: &[ScenarioResult],
    comparisons: &Comparisons,
    audit: &AuditCost,
    memory: &ServerMemory,
) -> Vec<Target> {
    let scenario = |kind: Kind| scenarios.iter().find(|s| s.scenario == kind);
    let why_not = |kind: Kind| match scenario(kind) {
        None => "scenario not selected".to_owned(),
        Some(s) if !s.ran() => format!("not run: {}", s.reason.clone().unwrap_or_default()),
        Some(_) => "no successful request measured".to_owned(),
    };
    let mut targets = Vec::new();
    for (kind, limit) in LATENCY_TARGETS {
        targets.push(target(
            format!("{} p99", kind.title()),
            format!("< {limit} ms"),
            scenario(kind)
                .and_then(ScenarioResult::latency)
                .map(|l| l.p99_ms),
            "ms",
            |v| v < limit,
            || why_not(kind),
        ));
    }
    for kind in Kind::ALL.into_iter().filter(|k| k.is_read()) {
        let row = comparisons
            .api_vs_pgbench
            .iter()
            .find(|c| c.scenario == kind);
        targets.push(target(
            format!(
                "{}: API ÷ pgbench (same SQL, same concurrency)",
                kind.title()
            ),
            format!(">= {PGBENCH_SHARE:.2}"),
            row.and_then(|r| r.ratio),
            "ratio",
            |v| v >= PGBENCH_SHARE,
            || {
                row.and_then(|r| r.error.clone())
                    .or_else(|| comparisons.reason.clone())
                    .unwrap_or_else(|| why_not(kind))
            },
        ));
    }
    for kind in Kind::ALL.into_iter().filter(|k| k.is_read()) {
        let row = comparisons.rls.iter().find(|c| c.scenario == kind);
        if let Some(row) = row.filter(|r| !r.endpoint_under_rls) {
            targets.push(Target {
                name: format!("{}: RLS cost (authenticated vs service_role)", kind.title()),
                limit: format!("<= {RLS_COST}%"),
                measured: None,
                unit: "%",
                pass: None,
                note: row.note.clone(),
            });
            continue;
        }
        targets.push(target(
            format!("{}: RLS cost (authenticated vs service_role)", kind.title()),
            format!("<= {RLS_COST}%"),
            row.and_then(|r| r.cost_percent),
            "%",
            |v| v <= RLS_COST,
            || {
                row.and_then(|r| r.error.clone())
                    .or_else(|| comparisons.reason.clone())
                    .unwrap_or_else(|| why_not(kind))
            },
        ));
    }
    targets.push(target(
        "audit trigger and hash chain cost on writes".into(),
        format!("<= {AUDIT_COST}%"),
        audit.cost_percent,
        "%",
        |v| v <= AUDIT_COST,
        || audit.error.clone().unwrap_or_else(|| "not measured".into()),
    ));
    targets.push(target(
        "server resident memory (max VmRSS)".into(),
        format!("< {SERVER_RSS_MIB} MiB"),
        memory.max_rss_mib,
        "MiB",
        |v| v < SERVER_RSS_MIB,
        || {
            memory
                .error
                .clone()
                .unwrap_or_else(|| "not sampled: pass --server-pid".into())
        },
    ));
    targets
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.digits$}"))
}

/// Markdown table cells may not hold `|` or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown tables (pure).
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let s = &report.settings;
    let _ = writeln!(out, "# Indra over HTTP: `indra bench http`\n");
    let _ = writeln!(
        out,
        "Run of {} against {}; {} clients, {} s measured after {} s of warm-up per scenario.\n",
        report.started_at, report.url, s.clients, s.seconds, s.warm_up_seconds
    );
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} MiB memory, Linux {}; client, server and PostgreSQL share it.  ",
        m.cores,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.memory_mib.map_or("?".into(), |v| v.to_string()),
        m.kernel.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "PostgreSQL: {}.  ", report.postgres_version);
    let settings: Vec<String> = report
        .postgres_settings
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "Settings: {}.  ", settings.join(", "));
    let d = &report.data;
    let estimated: Vec<String> = d
        .estimated_rows
        .iter()
        .map(|(t, n)| format!("{t} ~{n}"))
        .collect();
    let _ = writeln!(
        out,
        "Data: {} organizations, {} patients, {} users{}.\n",
        d.organizations,
        d.patients,
        d.users,
        if estimated.is_empty() {
            String::new()
        } else {
            format!("; estimated rows: {}", estimated.join(", "))
        }
    );

    let _ = writeln!(out, "## Scenarios\n");
    let _ = writeln!(
        out,
        "| scenario | clients | users | orgs | operations | per s | errors | p50 ms | p95 ms | p99 ms | max ms | server RSS MiB |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &report.scenarios {
        if !r.ran() {
            let _ = writeln!(
                out,
                "| {} | not run: {} | | | | | | | | | | |",
                r.title,
                cell(r.reason.as_deref().unwrap_or(""))
            );
            continue;
        }
        for (i, measure) in r.measures.iter().enumerate() {
            let name = if i == 0 {
                if r.measures.len() > 1 {
                    format!("{}: {}", r.title, measure.name)
                } else {
                    r.title.to_owned()
                }
            } else {
                format!("· {}", measure.name)
            };
            let (p50, p95, p99, max, count, per_sec) = measure.latency.as_ref().map_or(
                ("—".into(), "—".into(), "—".into(), "—".into(), 0, 0.0),
                |l| {
                    (
                        ms(l.p50_ms),
                        ms(l.p95_ms),
                        ms(l.p99_ms),
                        ms(l.max_ms),
                        l.count,
                        l.per_sec,
                    )
                },
            );
            if i == 0 {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {:.1} | {} | {p50} | {p95} | {p99} | {max} | {} |",
                    cell(&name),
                    r.clients,
                    r.distinct_users,
                    r.organizations,
                    r.operations,
                    r.per_sec(),
                    r.errors,
                    opt(r.server_rss_max_mib, 0)
                );
            } else {
                let _ = writeln!(
                    out,
                    "| {} | | | | {count} | {per_sec:.1} | | {p50} | {p95} | {p99} | {max} | |",
                    cell(&name)
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "operations: completed in the measured window; per s: operations per second of it; errors: \
         failed operations (any answer but 2xx), warm-up included; users: distinct users signed in \
         (clients share users when a role has fewer than the clients).\n"
    );
    for r in report.scenarios.iter().filter(|r| !r.notes.is_empty()) {
        for note in &r.notes {
            let _ = writeln!(out, "- {}: {}", r.title, note);
        }
    }
    let failing: Vec<&ScenarioResult> = report.scenarios.iter().filter(|r| r.errors > 0).collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\nErrors:\n");
        for r in failing {
            for e in &r.error_samples {
                let _ = writeln!(out, "- {} ({}×): {}", r.title, e.count, e.message);
            }
        }
    }

    let c = &report.pgbench;
    let _ = writeln!(
        out,
        "\n## The API beside pgbench (same SQL, same concurrency)\n"
    );
    match (&c.pgbench, &c.reason) {
        (Some(version), _) => {
            let _ = writeln!(
                out,
                "{version}: `-M prepared -c {} -j {} -T {}`; each transaction picks one of the scenario's \
                 sampled inputs (caller and request; `\\set n random`, one `select ... \\gset` of constants) \
                 then runs `begin`, `app.begin_request(...)`, the endpoint's statements with the input as \
                 parameters, `commit`. The server reaches PostgreSQL through its own pool \
                 (`INDRA_DB_MAX_CONNECTIONS`, 16 unless set), shared by all HTTP clients; pgbench opens one \
                 connection per client.\n",
                s.clients,
                s.clients.min(2),
                s.compare_seconds
            );
        }
        (None, Some(reason)) => {
            let _ = writeln!(out, "Not measured: {reason}\n");
        }
        (None, None) => {}
    }
    if !c.api_vs_pgbench.is_empty() {
        let _ = writeln!(
            out,
            "| read scenario | API req/s | pgbench tps | API ÷ pgbench | scripts |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
        for row in &c.api_vs_pgbench {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {}{} |",
                row.scenario.title(),
                row.api_per_sec,
                opt(row.pgbench.as_ref().map(|p| p.tps), 1),
                opt(row.ratio, 2),
                row.scripts,
                row.error
                    .as_ref()
                    .map(|e| format!(" ({})", cell(e)))
                    .unwrap_or_default()
            );
        }
    }
    if !c.rls.is_empty() {
        let _ = writeln!(
            out,
            "\n## Row-level security: the same SQL as `authenticated` and as `service_role`\n"
        );
        let _ = writeln!(
            out,
            "Both scripts set the caller's claims and state the organization in every statement; \
             they differ only in `set local role`. cost = 1 − authenticated ÷ service_role.\n"
        );
        let _ = writeln!(
            out,
            "| read scenario | authenticated tps | service_role tps | ratio | RLS cost |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for row in &c.rls {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {}{} |",
                row.scenario.title(),
                opt(row.authenticated.as_ref().map(|p| p.tps), 1),
                opt(row.service_role.as_ref().map(|p| p.tps), 1),
                opt(row.ratio, 3),
                row.cost_percent
                    .map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%")),
                row.error
                    .as_ref()
                    .map(|e| format!(" ({})", cell(e)))
                    .unwrap_or_default()
            );
        }
        for row in c.rls.iter().filter(|r| r.note.is_some()) {
            let _ = writeln!(
                out,
                "\n{}: {}.",
                row.scenario.title(),
                row.note.as_deref().unwrap_or_default()
            );
        }
    }

    let a = &report.audit;
    let _ = writeln!(out, "\n## Audit trigger and hash chain on writes\n");
    match &a.error {
        Some(e) => {
            let _ = writeln!(out, "Not measured: {e}");
        }
        None => {
            let _ = writeln!(
                out,
                "Patient inserts, one per transaction, {} clients each writing its own organization, {} s \
                 per phase, in a scratch database (`indra bench audit-writes`'s phases).\n",
                a.clients, a.seconds
            );
            let _ = writeln!(
                out,
                "| audited rows/s | unaudited rows/s | ratio | audit cost | max txn ms (audited / unaudited) |"
            );
            let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: |");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} / {} |",
                opt(a.audited_rows_per_sec, 0),
                opt(a.unaudited_rows_per_sec, 0),
                opt(a.ratio, 3),
                a.cost_percent
                    .map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%")),
                opt(a.audited_max_txn_ms, 1),
                opt(a.unaudited_max_txn_ms, 1)
            );
        }
    }

    let mem = &report.server_memory;
    let _ = writeln!(out, "\n## Server memory\n");
    match (mem.max_rss_mib, &mem.error) {
        (Some(max), _) => {
            let _ = writeln!(
                out,
                "Highest resident size (VmRSS of process {}) over {} samples during the HTTP scenarios: \
                 {max:.1} MiB (before the first scenario: {} MiB). The table above gives each \
                 scenario's highest; every scenario's clients sign in first (argon2).",
                mem.pid.map_or("?".into(), |p| p.to_string()),
                mem.samples,
                opt(mem.start_rss_mib, 1)
            );
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "Not sampled: {e}");
        }
        (None, None) => {
            let _ = writeln!(out, "Not sampled: pass --server-pid.");
        }
    }

    let _ = writeln!(out, "\n## Targets (issue 7)\n");
    let _ = writeln!(out, "| target | limit | measured | result |");
    let _ = writeln!(out, "| --- | --- | ---: | --- |");
    for t in &report.targets {
        let measured = t.measured.map_or_else(
            || "—".to_owned(),
            |v| match t.unit {
                "ratio" => format!("{v:.2}"),
                "%" => format!("{v:.1}%"),
                unit => format!("{v:.1} {unit}"),
            },
        );
        let result = match t.pass {
            Some(true) => "met".to_owned(),
            Some(false) => "MISSED".to_owned(),
            None => format!("not measured: {}", cell(t.note.as_deref().unwrap_or(""))),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {measured} | {result} |",
            cell(&t.name),
            t.limit
        );
    }
    if report.read_errors > 0 {
        let _ = writeln!(
            out,
            "\n{} failed read requests: the run fails (exit status 1).",
            report.read_errors
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_http::scenarios::Measure;
    use crate::bench_http::stats::LatencySummary;

    fn ran(kind: Kind, p99: f64, errors: u64) -> ScenarioResult {
        let mut r = ScenarioResult::not_run(kind, String::new());
        r.status = "ran";
        r.reason = None;
        r.clients = 32;
        r.distinct_users = 32;
        r.organizations = 32;
        r.seconds = 10.0;
        r.operations = 1000;
        r.errors = errors;
        r.measures = vec![Measure {
            name: "request",
            latency: Some(LatencySummary {
                count: 1000,
                per_sec: 100.0,
                p50_ms: p99 / 4.0,
                p95_ms: p99 / 2.0,
                p99_ms: p99,
                max_ms: p99 * 2.0,
                mean_ms: p99 / 3.0,
            }),
        }];
        r
    }

    fn comparisons(ratio: f64, cost: f64) -> Comparisons {
        Comparisons {
            pgbench: Some("pgbench (PostgreSQL) 15.20".into()),
            reason: None,
            api_vs_pgbench: vec![ApiVsPgbench {
                scenario: Kind::Chart,
                api_per_sec: 100.0,
                pgbench: None,
                ratio: Some(ratio),
                scripts: "pgbench/chart".into(),
                error: None,
            }],
            rls: vec![RlsCost {
                scenario: Kind::Chart,
                authenticated: None,
                service_role: None,
                ratio: Some(1.0 - cost / 100.0),
                cost_percent: Some(cost),
                scripts: "pgbench/chart".into(),
                error: None,
                endpoint_under_rls: true,
                note: None,
            }],
        }
    }

    fn find<'a>(targets: &'a [Target], name: &str) -> &'a Target {
        targets
            .iter()
            .find(|t| t.name.starts_with(name))
            .unwrap_or_else(|| panic!("no target {name}"))
    }

    #[test]
    fn each_target_is_met_missed_or_not_measured() {
        let scenarios = vec![ran(Kind::Search, 14.9, 0), ran(Kind::Chart, 25.0, 0)];
        let audit = AuditCost {
            cost_percent: Some(52.7),
            ..AuditCost::default()
        };
        let memory = ServerMemory {
            max_rss_mib: Some(120.0),
            ..ServerMemory::default()
        };
        let targets = evaluate_targets(&scenarios, &comparisons(0.61, 15.0), &audit, &memory);
        assert_eq!(targets.len(), 3 + 4 + 4 + 2);
        assert_eq!(find(&targets, "patient search").pass, Some(true));
        // The limit is strict: 25.0 ms is not under 25 ms.
        assert_eq!(find(&targets, "open a chart p99").pass, Some(false));
        let week = find(&targets, "a provider's week p99");
        assert_eq!(week.pass, None);
        assert_eq!(week.note.as_deref(), Some("scenario not selected"));
        assert_eq!(
            find(&targets, "open a chart: API ÷ pgbench").pass,
            Some(true)
        );
        assert_eq!(find(&targets, "open a chart: RLS cost").pass, Some(true));
        assert_eq!(find(&targets, "audit trigger").pass, Some(false));
        assert_eq!(find(&targets, "server resident").pass, Some(true));

        let below = evaluate_targets(&scenarios, &comparisons(0.59, 15.1), &audit, &memory);
        assert_eq!(
            find(&below, "open a chart: API ÷ pgbench").pass,
            Some(false)
        );
        assert_eq!(find(&below, "open a chart: RLS cost").pass, Some(false));
    }

    #[test]
    fn only_read_errors_fail_the_run() {
        let scenarios = [
            ran(Kind::Chart, 10.0, 0),
            ran(Kind::Note, 10.0, 4),
            ran(Kind::Claims, 10.0, 0),
        ];
        assert_eq!(read_errors(&scenarios), 0);
        let scenarios = [ran(Kind::Chart, 10.0, 2), ran(Kind::Week, 10.0, 1)];
        assert_eq!(read_errors(&scenarios), 3);
    }

    #[test]
    fn the_search_rls_target_does_not_apply_to_a_definer_function() {
        let mut c = comparisons(0.7, 60.0);
        c.rls[0].scenario = Kind::Search;
        c.rls[0].endpoint_under_rls = false;
        c.rls[0].note = Some("the search endpoint does not run under RLS".into());
        let targets = evaluate_targets(
            &[ran(Kind::Search, 10.0, 0)],
            &c,
            &AuditCost::default(),
            &ServerMemory::default(),
        );
        let search = find(&targets, "patient search, misspelled last name: RLS cost");
        assert_eq!((search.pass, search.measured), (None, None));
        assert_eq!(
            search.note.as_deref(),
            Some("the search endpoint does not run under RLS")
        );
    }

    #[test]
    fn a_scenario_that_could_not_run_says_why_in_its_target() {
        let scenarios = vec![ScenarioResult::not_run(
            Kind::Week,
            "no provider has appointments".into(),
        )];
        let targets = evaluate_targets(
            &scenarios,
            &Comparisons::default(),
            &AuditCost::default(),
            &ServerMemory::default(),
        );
        assert_eq!(
            find(&targets, "a provider's week p99").note.as_deref(),
            Some("not run: no provider has appointments")
        );
        assert_eq!(
            find(&targets, "server resident").note.as_deref(),
            Some("not sampled: pass --server-pid")
        );
    }

    fn report() -> Report {
        let scenarios = vec![
            ran(Kind::Search, 12.0, 0),
            ran(Kind::Chart, 30.0, 3),
            ScenarioResult::not_run(Kind::Export, "no organization has 100 ready claims".into()),
        ];
        let comparisons = comparisons(0.5, 20.0);
        let audit = AuditCost {
            error: Some("the scratch database could not be made".into()),
            ..AuditCost::default()
        };
        let memory = ServerMemory::default();
        let targets = evaluate_targets(&scenarios, &comparisons, &audit, &memory);
        Report {
            benchmark: "http",
            started_at: "2026-12-01T10:00:00Z".into(),
            url: "http://127.0.0.1:8080".into(),
            machine: Machine {
                cores: 2,
                cpu_model: Some("Test CPU".into()),
                memory_mib: Some(23_000),
                kernel: Some("6.18".into()),
            },
            postgres_version: "PostgreSQL 15.20".into(),
            postgres_settings: BTreeMap::from([("shared_buffers".into(), "16384 8kB".into())]),
            data: DataSet {
                organizations: 200,
                patients: 1_000_000,
                users: 5_800,
                estimated_rows: BTreeMap::new(),
            },
            settings: Settings {
                clients: 32,
                seconds: 10,
                warm_up_seconds: 2,
                compare_seconds: 10,
                export_clients: 4,
                scenarios: vec!["search", "chart", "export"],
                server_pid: None,
            },
            scenarios,
            pgbench: comparisons,
            audit,
            server_memory: memory,
            targets,
            read_errors: 3,
        }
    }

    #[test]
    fn the_tables_carry_the_figures() {
        let text = render_markdown(&report());
        assert!(
            text.contains("| patient search, misspelled last name | 32 | 32 | 32 | 1000 | 100.0 | 0 | 3.00 | 6.00 | 12.0 | 24.0 | — |"),
            "{text}"
        );
        assert!(text.contains("| export 100 claims to 837P (billing) | not run: no organization has 100 ready claims |"));
        assert!(text.contains("| open a chart | 100.0 | — | 0.50 | pgbench/chart |"));
        assert!(text.contains("| open a chart | — | — | 0.800 | 20.0% |"));
        assert!(text.contains("Not measured: the scratch database could not be made"));
        assert!(text.contains("| open a chart p99 | < 25 ms | 30.0 ms | MISSED |"));
        assert!(text.contains("3 failed read requests: the run fails (exit status 1)."));
        // Every table row has as many cells as its header.
        for table in text.split("\n\n").filter(|t| t.starts_with('|')) {
            let widths: Vec<usize> = table.lines().map(|l| l.matches(" |").count()).collect();
            assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
        }
    }

    #[test]
    fn the_json_has_every_section() {
        let value = serde_json::to_value(report()).unwrap();
        for key in [
            "machine",
            "postgres_version",
            "data",
            "settings",
            "scenarios",
            "pgbench",
            "audit",
            "server_memory",
            "targets",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["scenarios"][0]["scenario"], "search");
        assert_eq!(
            value["scenarios"][0]["measures"][0]["latency"]["p99_ms"],
            12.0
        );
        assert_eq!(value["targets"][0]["pass"], true);
    }
}
