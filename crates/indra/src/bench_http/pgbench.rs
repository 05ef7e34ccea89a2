//! Running pgbench (Debian's `postgresql-contrib` / `pgbench` on PATH; the benchmark installs
//! nothing) over a set of scripts, and reading what it printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;

/// pgbench as found on PATH.
#[derive(Debug, Clone)]
pub struct Pgbench {
    pub program: PathBuf,
    pub version: String,
}

/// pgbench on PATH and its version, or why not.
pub fn find() -> Result<Pgbench, String> {
    let output = Command::new("pgbench").arg("--version").output();
    match output {
        Ok(out) if out.status.success() => Ok(Pgbench {
            program: PathBuf::from("pgbench"),
            version: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        }),
        Ok(out) => Err(format!(
            "`pgbench --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "pgbench is not on PATH ({e}); it comes with PostgreSQL's client programs \
             (Debian: apt-get install postgresql-client-15, or postgresql-contrib)"
        )),
    }
}

/// One pgbench run's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PgbenchRun {
    /// Transactions per second, without the initial connection time.
    pub tps: f64,
    pub transactions: u64,
    pub failed_transactions: u64,
    pub latency_average_ms: Option<f64>,
    pub clients: u32,
    pub threads: u32,
    pub seconds: u64,
    pub scripts: usize,
    /// The command line, with the database URL left out.
    pub command: String,
}

/// Runs pgbench over `scripts` (each `-f file@1`, so each transaction picks one at random) for
/// `seconds` with `clients` connections, in prepared mode (the server's statements are
/// prepared too). Blocks: call from a blocking task.
pub fn run(
    pgbench: &Pgbench,
    database_url: &str,
    scripts: &[PathBuf],
    clients: u32,
    seconds: u64,
) -> anyhow::Result<PgbenchRun> {
    let threads = clients.min(2);
    let mut args: Vec<String> = vec![
        "-n".into(),
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        clients.to_string(),
        "-j".into(),
        threads.to_string(),
        "-T".into(),
        seconds.to_string(),
    ];
    for script in scripts {
        args.push("-f".into());
        args.push(format!("{}@1", script.display()));
    }
    let shown = format!(
        "pgbench {} $DATABASE_URL",
        args.iter()
            .map(|a| shorten(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = Command::new(&pgbench.program)
        .args(&args)
        .arg(database_url)
        .output()
        .context("starting pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}): {}",
            output.status,
            last_lines(&format!("{stdout}\n{stderr}"), 6)
        );
    }
    let mut run = parse_output(&stdout)
        .with_context(|| format!("reading pgbench's output: {}", last_lines(&stdout, 8)))?;
    run.clients = clients;
    run.threads = threads;
    run.seconds = seconds;
    run.scripts = scripts.len();
    run.command = shown;
    Ok(run)
}

/// A script path shown by its last two parts (the scripts sit in the report's directory).
fn shorten(arg: &str) -> String {
    let path = Path::new(arg);
    match (path.parent().and_then(Path::file_name), path.file_name()) {
        (Some(dir), Some(file)) if arg.contains('/') => {
            format!("{}/{}", dir.to_string_lossy(), file.to_string_lossy())
        }
        _ => arg.to_owned(),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The figures of pgbench's summary (PostgreSQL 15's wording).
pub fn parse_output(stdout: &str) -> anyhow::Result<PgbenchRun> {
    let mut tps = None;
    let mut transactions = None;
    let mut failed = 0;
    let mut latency = None;
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("tps = ") {
            tps = rest.split_whitespace().next().and_then(|t| t.parse().ok());
        } else if let Some(rest) = line.strip_prefix("number of transactions actually processed: ")
        {
            transactions = rest.split(['/', ' ']).next().and_then(|t| t.parse().ok());
        } else if let Some(rest) = line.strip_prefix("number of failed transactions: ") {
            failed = rest
                .split_whitespace()
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("latency average = ") {
            latency = rest.split_whitespace().next().and_then(|t| t.parse().ok());
        }
    }
    let tps: f64 = tps.context("no `tps = ` line")?;
    Ok(PgbenchRun {
        tps,
        transactions: transactions
            .context("no `number of transactions actually processed` line")?,
        failed_transactions: failed,
        latency_average_ms: latency,
        clients: 0,
        threads: 0,
        seconds: 0,
        scripts: 0,
        command: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT_15: &str = "pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: multiple scripts
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 61910
number of failed transactions: 0 (0.000%)
latency average = 5.166 ms
initial connection time = 48.061 ms
tps = 6194.418853 (without initial connection time)
SQL script 1: /tmp/a.sql
 - weight: 1 (targets 50.0% of total)
 - 30946 transactions (50.0% of total, tps = 3096.289443)
";

    #[test]
    fn reads_the_summary() {
        let run = parse_output(OUTPUT_15).unwrap();
        assert_eq!(run.tps, 6194.418853);
        assert_eq!(run.transactions, 61910);
        assert_eq!(run.failed_transactions, 0);
        assert_eq!(run.latency_average_ms, Some(5.166));
    }

    #[test]
    fn failures_are_read() {
        let text = OUTPUT_15.replace(
            "number of failed transactions: 0 (0.000%)",
            "number of failed transactions: 12 (0.019%)",
        );
        assert_eq!(parse_output(&text).unwrap().failed_transactions, 12);
    }

    #[test]
    fn output_without_a_rate_is_refused() {
        let text: String = OUTPUT_15
            .lines()
            .filter(|l| !l.starts_with("tps = "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_output(&text).is_err());
    }

    #[test]
    fn script_paths_are_shown_short() {
        assert_eq!(
            shorten("/x/target/bench-http/1/pgbench/search/endpoint-001.sql@1"),
            "search/endpoint-001.sql@1"
        );
        assert_eq!(shorten("-c"), "-c");
    }
}
