//! `indra`: the one binary, with a subcommand per job.

mod audit;
mod demo;
mod migrate;

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
    /// Create the database when missing and apply the embedded migrations (idempotent).
    Migrate,
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load demo organizations, users and patients (skips demo organizations already loaded).
    Demo(demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Re-compute every organization's audit hash chain; exit status 1 when any is broken.
    Verify(audit::VerifyArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            // PostgreSQL's NOTICEs (e.g. "role already exists" in idempotent migrations) are noise.
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn")),
        )
        .init();
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
        Command::Migrate => migrate::run(&cli.database_url).await,
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => audit::verify(&cli.database_url, args).await,
        Command::Demo(args) => demo::run(&cli.database_url, args).await,
    }
}
