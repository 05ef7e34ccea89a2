//! `indra reference import-cpt FILE`: load a practice's licensed CPT descriptors.
//!
//! CPT descriptors are the AMA's copyright: Indra ships its own short labels, and a practice that
//! holds a licensed descriptor file loads it here into `cpt_codes.descriptor`. Only codes Indra
//! knows are updated; the others are reported and skipped (a licensed file lists every CPT code).
//! A file with any bad row changes nothing, and the updates run in one transaction.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indra_rules::billing::cpt_import::parse_descriptor_file;

/// How many unknown codes are listed by line before the rest are only counted.
const UNKNOWN_CODES_LISTED: usize = 20;

#[derive(Debug, clap::Args)]
pub struct ImportCptArgs {
    /// UTF-8 CSV or TSV file with the header row `code,descriptor` (or tab-separated); a
    /// comma-separated descriptor containing commas is quoted with `"`.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub async fn import_cpt(database_url: &str, args: ImportCptArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8: {e}", args.file.display()))?;
    let file = parse_descriptor_file(&text)?;
    if !file.bad_rows.is_empty() {
        for bad in &file.bad_rows {
            eprintln!("line {}: {}", bad.line, bad.reason);
        }
        eprintln!("{} bad rows; nothing was imported", file.bad_rows.len());
        return Ok(ExitCode::FAILURE);
    }

    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let codes: Vec<&str> = file.rows.iter().map(|r| r.code.as_str()).collect();
    let descriptors: Vec<&str> = file.rows.iter().map(|r| r.descriptor.as_str()).collect();
    // One statement in one transaction: every known code is updated, or none is.
    let mut tx = pool.begin().await?;
    let known: Vec<String> = sqlx::query_scalar(
        "update cpt_codes c set descriptor = f.descriptor \
           from unnest($1::text[], $2::text[]) as f(code, descriptor) \
          where c.code = f.code \
         returning c.code",
    )
    .bind(&codes)
    .bind(&descriptors)
    .fetch_all(&mut *tx)
    .await
    .context("updating the descriptors")?;
    tx.commit().await.context("committing the descriptors")?;
    let updated = known.len();
    let known: HashSet<String> = known.into_iter().collect();
    let unknown: Vec<_> = file
        .rows
        .iter()
        .filter(|r| !known.contains(&r.code))
        .collect();
    pool.close().await;

    println!("updated {updated} CPT descriptors");
    if !unknown.is_empty() {
        println!("skipped {} codes Indra does not know:", unknown.len());
        for row in unknown.iter().take(UNKNOWN_CODES_LISTED) {
            println!("  line {}: {}", row.line, row.code);
        }
        if unknown.len() > UNKNOWN_CODES_LISTED {
            println!("  and {} more", unknown.len() - UNKNOWN_CODES_LISTED);
        }
    }
    Ok(ExitCode::SUCCESS)
}
