//! `indra notes verify`

use std::process::ExitCode;

use anyhow::Context;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify only this note: every version of its lineage (any version's id).
    #[arg(long, value_name = "UUID")]
    note: Option<Uuid>,
}

/// Recomputes every note version's content hash and checks every signature against the
/// published keys; one line per problem, then a summary. Run it as the database owner: it must
/// see every organization's notes, which row-level security hides from the application's roles.
pub async fn verify(database_url: &str, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let mut conn = pool.acquire().await.context("connecting to the database")?;
    let summary = indra_db::clinical::verify_notes(&mut conn, args.note, |report| {
        for problem in report.problems() {
            println!(
                "{} note {} version {}: {problem}",
                report.org_id, report.note_id, report.version
            );
        }
    })
    .await
    .context("verifying notes")?;
    drop(conn);
    pool.close().await;

    if let Some(note) = args.note
        && summary.versions == 0
    {
        eprintln!("no note {note}");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{} note versions and {} signatures checked: {}",
        summary.versions,
        summary.signatures,
        if summary.is_ok() {
            "all intact".to_owned()
        } else {
            format!(
                "{} problems in {} versions",
                summary.problems, summary.failed_versions
            )
        }
    );
    Ok(if summary.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
