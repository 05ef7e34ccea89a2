//! `indra demo`

use std::process::ExitCode;

use anyhow::Context;
use indra_db::demo::DemoSummary;
use indra_db::demo::scale::{
    DEFAULT_PATIENTS_PER_ORG, PROVIDERS_PER_ORG, ScaleOptions, ScaleSummary, load_scale,
    scale_logins,
};

/// The demo users' password when `INDRA_DEMO_PASSWORD` is not set.
const DEFAULT_DEMO_PASSWORD: &str = "indra-demo-2026";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many demo organizations to load.
    #[arg(long, default_value_t = 1)]
    orgs: u32,

    /// Password for every demo user.
    #[arg(long, env = "INDRA_DEMO_PASSWORD", default_value = DEFAULT_DEMO_PASSWORD, hide_env_values = true)]
    password: String,

    /// Instead of the demo practices, load N "Scale Practice" organizations of realistic size in
    /// bulk (needs a superuser connection; skips those already loaded).
    #[arg(long, value_name = "N", conflicts_with = "orgs")]
    scale: Option<u32>,

    /// Patients per scale organization (with --scale).
    #[arg(long, default_value_t = DEFAULT_PATIENTS_PER_ORG, requires = "scale")]
    patients_per_org: u32,

    /// Scale organizations loaded at once, each on its own connection (with --scale).
    #[arg(long, default_value_t = 2, requires = "scale")]
    jobs: u32,
}

pub async fn run(database_url: &str, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database (run `indra migrate` first)")?;
    if let Some(orgs) = args.scale {
        let options = ScaleOptions {
            orgs,
            patients_per_org: args.patients_per_org,
            jobs: args.jobs,
        };
        let result = load_scale(&pool, options, &args.password, |org, loaded| {
            if loaded {
                eprintln!(
                    "loaded {} ({} rows in {:.1} s)",
                    org.name,
                    org.rows,
                    org.elapsed.as_secs_f64()
                );
            } else {
                eprintln!("already present: {}", org.name);
            }
        })
        .await;
        pool.close().await;
        let summary = result.context("loading the scale data set")?;
        print_scale_summary(&summary, orgs, &args.password)?;
        println!("database: {}", redact_password(database_url));
        return Ok(ExitCode::SUCCESS);
    }
    let result = indra_db::demo::load_demo(&pool, args.orgs, &args.password).await;
    pool.close().await;
    let summary = result.context("loading demo data")?;
    print_summary(&summary, &args.password);
    println!("database: {}", redact_password(database_url));
    Ok(ExitCode::SUCCESS)
}

fn print_summary(summary: &DemoSummary, password: &str) {
    for (verb, organizations) in [
        ("loaded", &summary.loaded),
        ("already present", &summary.already_present),
    ] {
        for org in organizations {
            let rows: i64 = org.row_counts.iter().map(|(_, n)| n).sum();
            println!("{verb}: {} ({}), {rows} rows", org.name, org.id);
            let counts: Vec<String> = org
                .row_counts
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(table, n)| format!("{table} {n}"))
                .collect();
            println!("  {}", counts.join(", "));
            for login in &org.logins {
                println!(
                    "  login {:<9} {:<45} {}",
                    login.role, login.email, login.full_name
                );
            }
        }
    }
    println!("demo password (every demo login): {password}");
}

fn print_scale_summary(summary: &ScaleSummary, orgs: u32, password: &str) -> anyhow::Result<()> {
    println!(
        "scale: {} organizations loaded, {} already present, in {:.1} s",
        summary.loaded.len(),
        summary.already_present.len(),
        summary.elapsed.as_secs_f64()
    );
    if !summary.loaded.is_empty() {
        println!(
            "  {:<22} {:>11} {:>9} {:>9}",
            "table", "rows", "copy s", "audit s"
        );
        for t in &summary.tables {
            println!(
                "  {:<22} {:>11} {:>9.1} {:>9.1}",
                t.table,
                t.rows,
                t.copy.as_secs_f64(),
                t.audit.as_secs_f64()
            );
        }
        let rows: u64 = summary.tables.iter().map(|t| t.rows).sum();
        let seconds = summary.elapsed.as_secs_f64().max(0.001);
        println!(
            "  {:<22} {:>11}\n  rows in all, audit rows included: {} ({:.0} rows/s); analyze {:.1} s",
            "audit_log",
            summary.audit_rows,
            rows + summary.audit_rows as u64,
            (rows + summary.audit_rows as u64) as f64 / seconds,
            summary.analyze.as_secs_f64()
        );
        println!("  (copy and audit times are busy time summed over the loading jobs)");
    }
    // Every organization's logins follow one pattern; the first one's are listed in full.
    for login in scale_logins(1)? {
        println!(
            "  login {:<9} {:<45} {}",
            login.role, login.email, login.full_name
        );
    }
    println!(
        "  ... and the same for org002 to org{orgs:03}: admin@, clinician1@ to clinician{PROVIDERS_PER_ORG}@, billing@, frontdesk@ org{{n:03}}.scale.indra.test"
    );
    println!("demo password (every scale login): {password}");
    Ok(())
}

/// `url` with any password replaced by `***`, for printing.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
    }
}
