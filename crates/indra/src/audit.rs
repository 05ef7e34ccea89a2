//! `indra audit verify`

use std::process::ExitCode;

use anyhow::Context;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify only this organization's chain.
    #[arg(long, value_name = "UUID")]
    org: Option<Uuid>,
}

pub async fn verify(database_url: &str, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let reports = indra_db::audit::verify_audit_chains(&pool, args.org)
        .await
        .context("verifying audit chains")?;
    pool.close().await;

    let mut broken = 0;
    for report in &reports {
        match &report.broken {
            None => println!("{} OK {} rows", report.org_id, report.rows),
            Some(b) => {
                broken += 1;
                println!(
                    "{} BROKEN at {b} ({} rows intact before it)",
                    report.org_id, report.rows
                );
            }
        }
    }
    if reports.is_empty() {
        println!("no organizations");
    }
    Ok(if broken > 0 {
        eprintln!("{broken} of {} audit chains broken", reports.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
