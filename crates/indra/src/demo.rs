//! `indra demo`

use std::process::ExitCode;

use anyhow::Context;
use indra_db::demo::DemoSummary;

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
}

pub async fn run(database_url: &str, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database (run `indra migrate` first)")?;
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
