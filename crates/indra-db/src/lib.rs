//! Everything in Indra that talks to PostgreSQL.
//!
//! Queries are runtime-checked (`sqlx::query`, `query_as`), never the compile-time macros, so a
//! build needs no database and no offline query data.

pub mod audit;
pub mod bench;
pub mod billing;
pub mod clinical;
pub mod demo;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateDatabase, MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// The schema: every file in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Opens a connection pool to `url`.
///
/// Connects once up front, so a wrong URL, a refused login or a missing database is reported as
/// such at once rather than as a pool timeout later.
pub async fn connect(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?;
    let first = options.connect().await?;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options);
    first.close().await?;
    Ok(pool)
}

/// Creates the database named in `url` when it does not exist yet. Returns whether it created it.
pub async fn create_database_if_missing(url: &str) -> Result<bool> {
    if sqlx::Postgres::database_exists(url).await? {
        return Ok(false);
    }
    match sqlx::Postgres::create_database(url).await {
        Ok(()) => Ok(true),
        // Another process created it between our check and our create.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A migration that [`migrate`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// Applies the embedded migrations that the database does not have yet, returning those it
/// applied (none when the database is up to date). Safe to run concurrently: sqlx holds an
/// advisory lock while migrating.
pub async fn migrate(pool: &PgPool) -> Result<Vec<AppliedMigration>> {
    let before = applied_versions(pool).await?;
    MIGRATOR.run(pool).await?;
    let after = applied_versions(pool).await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect())
}

/// Versions recorded as applied in sqlx's bookkeeping table (empty when it does not exist yet).
async fn applied_versions(pool: &PgPool) -> Result<HashSet<i64>> {
    let exists: bool =
        sqlx::query_scalar("select to_regclass('public._sqlx_migrations') is not null")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(HashSet::new());
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("select version from public._sqlx_migrations where success")
            .fetch_all(pool)
            .await?;
    Ok(versions.into_iter().collect())
}

/// A short fingerprint of the embedded migrations: changes whenever any migration is added,
/// removed or edited. Used to name cached template databases.
pub fn migrations_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for m in MIGRATOR.iter() {
        hasher.update(m.version.to_le_bytes());
        hasher.update([u8::from(m.migration_type.is_down_migration())]);
        hasher.update((m.checksum.len() as u64).to_le_bytes());
        hasher.update(&m.checksum);
    }
    hex::encode(hasher.finalize())
}
