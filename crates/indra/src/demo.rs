//! `indra demo`

use std::process::ExitCode;

use anyhow::Context;
use sqlx::PgPool;

/// The demo users' password when `INDRA_DEMO_PASSWORD` is not set.
const DEFAULT_DEMO_PASSWORD: &str = "indra-demo-2026";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many demo organizations to load.
    #[arg(long, default_value_t = 3)]
    orgs: u32,

    /// Password for every demo user.
    #[arg(long, env = "INDRA_DEMO_PASSWORD", default_value = DEFAULT_DEMO_PASSWORD, hide_env_values = true)]
    password: String,
}

pub async fn run(database_url: &str, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let result = load_demo(&pool, args.orgs, &args.password).await;
    pool.close().await;
    result.context("loading demo data")?;
    println!("database: {}", redact_password(database_url));
    println!("demo password: {}", args.password);
    Ok(ExitCode::SUCCESS)
}

// TODO(demo): replace this stub with `indra_db::demo::load_demo(pool, orgs, password)`, which
// returns `anyhow::Result<DemoSummary>`, and print the summary (organizations, demo logins).
async fn load_demo(_pool: &PgPool, _orgs: u32, _password: &str) -> anyhow::Result<()> {
    anyhow::bail!("demo loader not yet implemented")
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
