//! `indra bench claims-export`: how long exporting N ready claims to one 837P takes, end to end
//! (`indra_db::billing::export_837p`: lock the claims, load their documents, write the X12,
//! store the file with fresh control numbers, move every claim ready -> submitted through the
//! status, authorization and audit triggers, commit), beside its parts measured alone in the same
//! run: loading the claim documents, and writing the X12 from documents already in memory.
//!
//! The claims are copies of the demo practice's documented claims (same patients, coverage,
//! signed sessions, diagnoses and lines; new claim numbers), made ready through the database's
//! own ready checks, in a scratch database created for the run and dropped afterwards.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use indra_db::billing::{ExportSettings, export_837p, load_claim_documents};
use indra_rules::x12::{Envelope837, write_837p};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::bench::in_scratch_database;

#[derive(Debug, clap::Args)]
pub struct ClaimsExportArgs {
    /// Claims in each export.
    #[arg(long, default_value_t = 1000)]
    claims: u32,
    /// Exports measured (each of fresh claims); the report gives the median.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Name of the scratch database to create (it must not exist) [default: indra_bench_<random>].
    #[arg(long)]
    database: Option<String>,
    /// Keep the scratch database instead of dropping it at the end.
    #[arg(long)]
    keep: bool,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Round {
    claims: usize,
    load_documents_ms: f64,
    write_x12_ms: f64,
    export_ms: f64,
    file_bytes: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    server_version: String,
    claims_per_export: u32,
    rounds: Vec<Round>,
    median_export_ms: f64,
    median_load_documents_ms: f64,
    median_write_x12_ms: f64,
    claims_per_second: f64,
}

pub async fn claims_export(database_url: &str, args: ClaimsExportArgs) -> anyhow::Result<ExitCode> {
    ensure!(
        args.claims >= 1 && args.rounds >= 1,
        "--claims and --rounds must be at least 1"
    );
    let shared = &args;
    let result = in_scratch_database(
        database_url,
        args.database.as_deref(),
        args.keep,
        |url, _name| async move {
            let pool = indra_db::connect(&url)
                .await
                .context("connecting to the scratch database")?;
            let report = measure(&pool, shared).await;
            pool.close().await;
            report
        },
    )
    .await;
    let report = result?;
    println!(
        "837P export of {} claims on {} ({} rounds, median):",
        report.claims_per_export,
        report.server_version,
        report.rounds.len()
    );
    println!("| part | ms | share of the export |");
    println!("| --- | ---: | ---: |");
    for (part, ms) in [
        (
            "whole export (lock, load, write, store, submit, commit)",
            report.median_export_ms,
        ),
        ("load the claim documents", report.median_load_documents_ms),
        (
            "write the X12 from documents in memory",
            report.median_write_x12_ms,
        ),
    ] {
        println!("| {part} | {ms:.1} | {:.2} |", ms / report.median_export_ms);
    }
    println!("{:.0} claims per second exported", report.claims_per_second);
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(pool: &PgPool, args: &ClaimsExportArgs) -> anyhow::Result<Report> {
    indra_db::migrate(pool)
        .await
        .context("migrating the scratch database")?;
    indra_db::demo::load_demo(pool, 1, "indra-bench-2026")
        .await
        .context("loading the demo practice")?;
    let server_version: String = sqlx::query_scalar("show server_version")
        .fetch_one(pool)
        .await?;
    let org: Uuid = sqlx::query_scalar("select id from organizations limit 1")
        .fetch_one(pool)
        .await?;
    // Copies of one practice's claims would soon use up its authorizations; the benchmark
    // measures the export, not the authorization limit, so the scratch coverages have none.
    sqlx::query(
        "update patient_insurance set authorized_sessions = null, authorization_number = null",
    )
    .execute(pool)
    .await
    .context("lifting the scratch authorizations")?;
    let settings = ExportSettings {
        sender_id: "INDRABENCH".to_owned(),
        receiver_id: "CLEARINGHOUSE".to_owned(),
        submitter_name: "Bench Practice".to_owned(),
        submitter_contact_name: "Billing Office".to_owned(),
        submitter_contact_phone: "5125550100".to_owned(),
        receiver_name: "Clearinghouse".to_owned(),
        production: false,
    };

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let claim_ids = copy_ready_claims(pool, args.claims, round).await?;

        let started = Instant::now();
        let mut conn = pool.acquire().await?;
        let documents = load_claim_documents(&mut conn, &claim_ids).await?;
        let load = started.elapsed();

        let envelope = Envelope837 {
            interchange_control_number: 999_000_000 + round,
            group_control_number: 999_000_000 + round,
            transaction_set_control_number: 1,
            sender_id: settings.sender_id.clone(),
            receiver_id: settings.receiver_id.clone(),
            submitter_name: settings.submitter_name.clone(),
            submitter_contact_name: settings.submitter_contact_name.clone(),
            submitter_contact_phone: settings.submitter_contact_phone.clone(),
            receiver_name: settings.receiver_name.clone(),
            created_at: time::PrimitiveDateTime::new(
                time::Date::from_calendar_date(2026, time::Month::March, 2)?,
                time::Time::MIDNIGHT,
            ),
            production: false,
            batch_reference: "BENCH".to_owned(),
        };
        let started = Instant::now();
        let written = write_837p(&envelope, &documents)?;
        let write = started.elapsed();
        drop(conn);

        let started = Instant::now();
        let mut tx = pool.begin().await?;
        sqlx::query("set local role service_role")
            .execute(&mut *tx)
            .await?;
        let export = export_837p(&mut tx, org, Some(&claim_ids), &settings).await?;
        tx.commit().await?;
        let export_time = started.elapsed();
        ensure!(
            export.claim_ids.len() == claim_ids.len(),
            "every claim exported"
        );
        ensure!(!written.is_empty(), "a file was written");
        rounds.push(Round {
            claims: claim_ids.len(),
            load_documents_ms: ms(load),
            write_x12_ms: ms(write),
            export_ms: ms(export_time),
            file_bytes: export.content.len(),
        });
        eprintln!(
            "round {}: export {:.0} ms, load {:.0} ms, write {:.0} ms",
            round + 1,
            ms(export_time),
            ms(load),
            ms(write)
        );
    }
    let median = |f: fn(&Round) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let median_export_ms = median(|r| r.export_ms);
    Ok(Report {
        server_version,
        claims_per_export: args.claims,
        median_export_ms,
        median_load_documents_ms: median(|r| r.load_documents_ms),
        median_write_x12_ms: median(|r| r.write_x12_ms),
        claims_per_second: f64::from(args.claims) / (median_export_ms / 1000.0),
        rounds,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `count` new claims copied from the practice's documented claims (round-robin), made ready
/// through the database's checks; returns their ids.
async fn copy_ready_claims(pool: &PgPool, count: u32, round: u32) -> anyhow::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "create temp table bench_templates on commit drop as
         select id, row_number() over (order by claim_number) - 1 as n
           from billing_claims where status not in ('draft', 'voided') and claim_number not like 'B%'",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "create temp table bench_copies on commit drop as
         select gen_random_uuid() as id, t.id as template_id, g
           from generate_series(1, $1) g
           join bench_templates t on t.n = g % (select count(*) from bench_templates)",
    )
    .bind(i64::from(count))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into billing_claims (id, org_id, patient_id, patient_insurance_id, rendering_provider_id,
                                     claim_number, place_of_service, prior_authorization_number)
         select b.id, c.org_id, c.patient_id, c.patient_insurance_id, c.rendering_provider_id,
                'B' || $1 || '-' || lpad(b.g::text, 7, '0'), c.place_of_service, c.prior_authorization_number
           from bench_copies b join billing_claims c on c.id = b.template_id",
    )
    .bind(round.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code, patient_diagnosis_id)
         select d.org_id, b.id, d.sequence, d.icd10_code, d.patient_diagnosis_id
           from bench_copies b join claim_diagnoses d on d.claim_id = b.template_id",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, modifiers,
                                       units, charge, service_date, place_of_service, diagnosis_pointers)
         select l.org_id, b.id, l.encounter_id, l.line_number, l.cpt_code, l.modifiers,
                l.units, l.charge, l.service_date, l.place_of_service, l.diagnosis_pointers
           from bench_copies b join claim_line_items l on l.claim_id = b.template_id",
    )
    .execute(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "update billing_claims set status = 'ready'
          where id in (select id from bench_copies) returning id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    ensure!(
        ids.len() == count as usize,
        "made {} of {count} claims ready",
        ids.len()
    );
    Ok(ids)
}
