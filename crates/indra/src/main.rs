//! `indra`: the one binary, with a subcommand per job.

mod ai;
mod audit;
mod bench;
mod bench_claims;
mod bench_http;
mod claims;
mod demo;
mod migrate;
mod notes;
mod reference;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The database `indra` uses when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/indra";

/// Indra, a multi-tenant behavioral-health EHR.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// PostgreSQL connection URL (the database owner for migrate, demo and audit verify).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        global = true,
        hide_env_values = true
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web application until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Create the database when missing and apply the embedded migrations (idempotent).
    Migrate,
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load demo organizations, users and patients (skips demo organizations already loaded).
    Demo(demo::DemoArgs),
    /// Clinical note commands.
    Notes {
        #[command(subcommand)]
        command: NotesCommand,
    },
    /// Reference data commands.
    Reference {
        #[command(subcommand)]
        command: ReferenceCommand,
    },
    /// Claims for the clearinghouse: 837P out, 835 in.
    Claims {
        #[command(subcommand)]
        command: ClaimsCommand,
    },
    /// The assistant: evaluate dictation cases, work the run queue.
    Ai {
        #[command(subcommand)]
        command: AiCommand,
    },
    /// Benchmarks: in a scratch database each creates (and drops) on a local server, or (http)
    /// against a running server and its database.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AiCommand {
    /// Run every case of a dictation file (ai-eval/FORMAT.md), each in its own scratch
    /// organization, and compare; exit status 1 when any case fails.
    Eval(ai::EvalArgs),
    /// Work the assistant's run queue until Ctrl-C.
    Worker(ai::WorkerArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Re-compute every organization's audit hash chain; exit status 1 when any is broken.
    Verify(audit::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum NotesCommand {
    /// Check every note version's content hash and every signature against the published keys;
    /// exit status 1 when any fails.
    Verify(notes::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum ReferenceCommand {
    /// Load licensed CPT descriptors (UTF-8 CSV/TSV, header `code,descriptor`) into the codes
    /// Indra knows, all or nothing; exit status 1 when the file has a bad row.
    ImportCpt(reference::ImportCptArgs),
}

#[derive(Debug, Subcommand)]
enum ClaimsCommand {
    /// Write the organization's ready claims (or those named) as one X12 837P and mark them
    /// submitted; nothing changes when the file cannot be written.
    #[command(name = "export-837")]
    Export837(claims::ExportArgs),
    /// Post an X12 835 remittance (or --preview it); a payment posted before changes nothing;
    /// exit status 1 when it does not balance.
    #[command(name = "import-835")]
    Import835(claims::ImportArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Throughput of concurrent patient inserts with and without the audit trigger and hash chain.
    AuditWrites(bench::AuditWritesArgs),
    /// Latency of patient search and of opening a chart on an organization of 100,000 patients.
    PatientSearch(bench::PatientSearchArgs),
    /// Time to export N ready claims (default 1,000) to one 837P, end to end and by part.
    ClaimsExport(bench_claims::ClaimsExportArgs),
    /// The scenarios over HTTP against a running server, beside pgbench, RLS and audit costs.
    Http(bench_http::HttpArgs),
}

fn main() -> ExitCode {
    // PostgreSQL's NOTICEs (e.g. "role already exists" in idempotent migrations) are noise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if std::env::var("INDRA_LOG_FORMAT").as_deref() == Ok("json") {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes on one line, leaving out a cause whose text its parent already repeats
/// (sqlx's errors quote their source).
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.database_url, args).await,
        Command::Migrate => migrate::run(&cli.database_url).await,
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => audit::verify(&cli.database_url, args).await,
        Command::Demo(args) => demo::run(&cli.database_url, args).await,
        Command::Notes {
            command: NotesCommand::Verify(args),
        } => notes::verify(&cli.database_url, args).await,
        Command::Reference {
            command: ReferenceCommand::ImportCpt(args),
        } => reference::import_cpt(&cli.database_url, args).await,
        Command::Claims {
            command: ClaimsCommand::Export837(args),
        } => claims::export_837(&cli.database_url, args).await,
        Command::Claims {
            command: ClaimsCommand::Import835(args),
        } => claims::import_835(&cli.database_url, args).await,
        Command::Ai {
            command: AiCommand::Eval(args),
        } => ai::eval(&cli.database_url, args).await,
        Command::Ai {
            command: AiCommand::Worker(args),
        } => ai::worker(&cli.database_url, args).await,
        Command::Bench {
            command: BenchCommand::AuditWrites(args),
        } => bench::audit_writes(&cli.database_url, args).await,
        Command::Bench {
            command: BenchCommand::PatientSearch(args),
        } => bench::patient_search(&cli.database_url, args).await,
        Command::Bench {
            command: BenchCommand::ClaimsExport(args),
        } => bench_claims::claims_export(&cli.database_url, args).await,
        Command::Bench {
            command: BenchCommand::Http(args),
        } => bench_http::http(&cli.database_url, args).await,
    }
}
