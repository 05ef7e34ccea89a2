//! `indra migrate`

use std::process::ExitCode;

use anyhow::Context;

pub async fn run(database_url: &str) -> anyhow::Result<ExitCode> {
    if indra_db::create_database_if_missing(database_url)
        .await
        .context("creating the database")?
    {
        println!("created database {}", database_name(database_url));
    }
    let pool = indra_db::connect(database_url)
        .await
        .context("connecting to the database")?;
    let applied = indra_db::migrate(&pool)
        .await
        .context("applying migrations")?;
    if applied.is_empty() {
        println!(
            "database is up to date ({} migrations)",
            indra_db::MIGRATOR.iter().count()
        );
    }
    for m in &applied {
        println!("applied {:04} {}", m.version, m.description);
    }
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The database part of a URL, for messages (never the password).
fn database_name(url: &str) -> &str {
    let path = url.rsplit_once('/').map_or(url, |(_, db)| db);
    path.split_once('?').map_or(path, |(db, _)| db)
}
