//! `indra claims export-837` and `indra claims import-835`: the clearinghouse files from the
//! command line, for a practice that sends them by SFTP or a scheduled job rather than from the
//! workbench. Both act for one organization as the service role (the rules in the database
//! still hold: only ready claims go out, authorizations are counted on submission, a remittance
//! that does not balance is refused), in one transaction: all or nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indra_db::billing::{
    EnvelopeConfig, ExportSettings, export_837p, post_remittance, preview_remittance,
};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The organization whose claims to export; may be left out when the database holds one.
    #[arg(long, value_name = "UUID")]
    org: Option<Uuid>,
    /// Export only these ready claims (repeat the flag); by default every ready claim.
    #[arg(long = "claim", value_name = "UUID")]
    claims: Vec<Uuid>,
    /// Write the 837P here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    envelope: EnvelopeArgs,
}

/// The envelope of the file: the same settings (and environment variables) as the server's.
#[derive(Debug, clap::Args)]
struct EnvelopeArgs {
    /// ISA06/GS02: the practice's submitter id at its clearinghouse.
    #[arg(long, env = "INDRA_X12_SUBMITTER_ID", default_value = "INDRA")]
    submitter_id: String,
    /// 1000A NM103; the practice's name when unset.
    #[arg(long, env = "INDRA_X12_SUBMITTER_NAME")]
    submitter_name: Option<String>,
    /// 1000A PER02.
    #[arg(long, env = "INDRA_X12_CONTACT_NAME", default_value = "Billing Office")]
    contact_name: String,
    /// 1000A PER04; the practice's phone when unset.
    #[arg(long, env = "INDRA_X12_CONTACT_PHONE")]
    contact_phone: Option<String>,
    /// ISA08/GS03: the clearinghouse's id.
    #[arg(long, env = "INDRA_X12_RECEIVER_ID", default_value = "CLEARINGHOUSE")]
    receiver_id: String,
    /// 1000B NM103.
    #[arg(long, env = "INDRA_X12_RECEIVER_NAME", default_value = "Clearinghouse")]
    receiver_name: String,
    /// ISA15: T (test data) or P (production).
    #[arg(long, env = "INDRA_X12_USAGE", default_value = "T", value_parser = ["T", "P"])]
    usage: String,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The X12 835 remittance file.
    file: PathBuf,
    /// The organization the remittance pays; may be left out when the database holds one.
    #[arg(long, value_name = "UUID")]
    org: Option<Uuid>,
    /// Show what posting would do, and change nothing.
    #[arg(long)]
    preview: bool,
}

pub async fn export_837(database_url: &str, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let mut tx = pool.begin().await.context("connecting to the database")?;
    let org = act_for_organization(&mut tx, args.org, "claims-export-837").await?;
    let settings = envelope(&mut tx, org, &args.envelope).await?;
    let claims = (!args.claims.is_empty()).then_some(args.claims.as_slice());
    let export = export_837p(&mut tx, org, claims, &settings).await?;
    // Write the file before committing: if it cannot be written, the claims stay ready.
    match &args.out {
        Some(path) => std::fs::write(path, &export.content)
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{}", export.content),
    }
    tx.commit().await.context("committing the export")?;
    pool.close().await;
    eprintln!(
        "exported {} claims, total {}, interchange {:09} ({}){}",
        export.claim_ids.len(),
        export.total_charge,
        export.interchange_control_number,
        export.file_name,
        args.out
            .as_ref()
            .map(|p| format!(", written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn import_835(database_url: &str, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let mut tx = pool.begin().await.context("connecting to the database")?;
    let org = act_for_organization(&mut tx, args.org, "claims-import-835").await?;
    let payments = if args.preview {
        preview_remittance(&mut tx, org, &text).await?.payments
    } else {
        post_remittance(&mut tx, org, &text).await?.payments
    };
    let mut unbalanced = false;
    for payment in &payments {
        let state = if payment.already_posted {
            "already posted: nothing changed"
        } else if args.preview {
            "not posted (preview)"
        } else {
            "posted"
        };
        println!(
            "payment {} from {} ({}): {} {state}",
            payment.trace_number,
            payment.payer_name,
            payment.payer_identifier,
            payment.payment_amount
        );
        for problem in &payment.balance_problems {
            unbalanced = true;
            println!("  does not balance: {problem}");
        }
        for claim in &payment.claims {
            let moved = match (&claim.status_before, &claim.status_after) {
                (Some(before), Some(after)) if before != after => format!("{before} -> {after}"),
                (Some(before), _) => before.clone(),
                _ => "no such claim".to_owned(),
            };
            println!(
                "  claim {}: charged {}, paid {}, patient owes {}: {moved}{}",
                claim.claim_number,
                claim.charge,
                claim.paid,
                claim.patient_responsibility,
                claim
                    .note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
    }
    if args.preview {
        tx.rollback().await.context("ending the preview")?;
    } else {
        tx.commit().await.context("committing the remittance")?;
    }
    pool.close().await;
    Ok(if unbalanced {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Resolves the organization (the only one when none is named) and switches the transaction
/// to the service role acting for it, with a request id the audit log records.
async fn act_for_organization(
    tx: &mut Transaction<'_, Postgres>,
    org: Option<Uuid>,
    request_id: &str,
) -> anyhow::Result<Uuid> {
    let orgs: Vec<(Uuid, String)> =
        sqlx::query_as("select id, name from organizations order by name")
            .fetch_all(&mut **tx)
            .await
            .context("reading the organizations")?;
    let org = match (org, orgs.as_slice()) {
        (Some(id), _) if orgs.iter().any(|(o, _)| *o == id) => id,
        (Some(id), _) => bail!("no organization {id}"),
        (None, [(id, _)]) => *id,
        (None, []) => bail!("the database has no organization"),
        (None, many) => {
            let names: Vec<String> = many
                .iter()
                .map(|(id, name)| format!("{id} {name}"))
                .collect();
            bail!(
                "the database has {} organizations; name one with --org:\n{}",
                many.len(),
                names.join("\n")
            )
        }
    };
    sqlx::query("select set_config('request.id', $1, true)")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("set local role service_role")
        .execute(&mut **tx)
        .await?;
    Ok(org)
}

async fn envelope(
    conn: &mut PgConnection,
    org: Uuid,
    args: &EnvelopeArgs,
) -> anyhow::Result<ExportSettings> {
    let config = EnvelopeConfig {
        submitter_id: args.submitter_id.clone(),
        submitter_name: args.submitter_name.clone(),
        contact_name: args.contact_name.clone(),
        contact_phone: args.contact_phone.clone(),
        receiver_id: args.receiver_id.clone(),
        receiver_name: args.receiver_name.clone(),
        production: args.usage == "P",
    };
    ExportSettings::for_organization(conn, org, &config)
        .await
        .context("reading the organization")
}
