//! A real PostgreSQL database per test, cheap enough to use everywhere.
//!
//! Migrating from scratch for every test would dominate the suite's time, so the migrated schema
//! is built once into a template database named after a fingerprint of the migrations
//! (`indra_template_<12 hex>`), and each test gets `CREATE DATABASE indra_test_<uuid> TEMPLATE
//! ...`, a file-level copy that takes milliseconds. A template is built under a name of its own
//! and renamed when complete, under an advisory lock on the `postgres` database, so parallel test
//! processes neither race nor clone a half-built template. Editing a migration changes the
//! fingerprint and so the template; old templates stay until someone drops them.
//!
//! The server comes from `INDRA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); its user must be able to create databases.

use std::future::Future;
use std::str::FromStr;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::{MIGRATOR, migrations_fingerprint};

/// The demo users' password in databases made by [`TestDb::with_demo`].
pub const DEMO_TEST_PASSWORD: &str = "indra-demo-2026";

/// Where test databases are created when `INDRA_TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The seed type of an unseeded template.
type NoSeed = fn(PgPool) -> std::future::Ready<anyhow::Result<()>>;

/// Advisory-lock key serializing template builds across test processes (ASCII "indra_tm").
const TEMPLATE_LOCK_KEY: i64 = 0x696e_6472_615f_746d;

/// A fresh, migrated database for one test. Call [`close`](Self::close) at the end of the test;
/// when the test panics first, `Drop` removes the database on a best-effort basis.
pub struct TestDb {
    /// A pool connected to the test database as the server's admin user.
    pub pool: PgPool,
    /// The database's name, `indra_test_<uuid>`.
    pub name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDb {
    /// A fresh database holding the current schema and nothing else.
    pub async fn new() -> anyhow::Result<Self> {
        let admin_url = admin_url();
        let template = ensure_template(&admin_url, None::<(&str, &[u8], NoSeed)>).await?;
        Self::clone_from(admin_url, &template).await
    }

    /// A fresh database holding the current schema plus what `seed` writes, cloned from a
    /// template that is seeded once and cached as `indra_template_<hash>_<label>`.
    ///
    /// The cache key is the migrations, `label` and `fingerprint`: pass something that changes
    /// whenever what `seed` writes changes (a version constant, or `include_str!` of the seeding
    /// source), or stale templates will be reused. `label` is 1–24 characters of `[a-z0-9_]`.
    ///
    /// [`TestDb::with_demo`] is the demo fixture built on this.
    pub async fn with_seed<F, Fut>(label: &str, fingerprint: &[u8], seed: F) -> anyhow::Result<Self>
    where
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        if label.is_empty()
            || label.len() > 24
            || !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            bail!("template label {label:?} must be 1-24 characters of [a-z0-9_]");
        }
        let admin_url = admin_url();
        let template = ensure_template(&admin_url, Some((label, fingerprint, seed))).await?;
        Self::clone_from(admin_url, &template).await
    }

    async fn clone_from(admin_url: String, template: &str) -> anyhow::Result<Self> {
        let name = format!("indra_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connect(&admin_url).await?;
        execute_when_free(
            &mut admin,
            &format!(r#"create database "{name}" template "{template}""#),
        )
        .await
        .with_context(|| format!("creating test database {name} from {template}"))?;
        admin.close().await?;
        let url = database_url(&admin_url, &name)?;
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&url)
            .await
            .with_context(|| format!("connecting to test database {name}"))?;
        Ok(TestDb {
            pool,
            name,
            url,
            admin_url,
            dropped: false,
        })
    }

    /// The test database's connection URL (as the admin user), e.g. for a spawned `indra`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pool and drops the database.
    /// A fresh database holding the demo organizations 1..=`orgs` (password
    /// [`DEMO_TEST_PASSWORD`]), cloned from a template loaded once per day (the demo places its
    /// sessions around the current week) and per version of the loader.
    pub async fn with_demo(orgs: u32) -> anyhow::Result<Self> {
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let mut fingerprint = include_str!("demo/mod.rs").as_bytes().to_vec();
        fingerprint.extend_from_slice(include_str!("demo/names.rs").as_bytes());
        fingerprint.extend_from_slice(include_str!("demo/billing.rs").as_bytes());
        fingerprint.extend_from_slice(today.as_bytes());
        Self::with_seed(&format!("demo{orgs}"), &fingerprint, |pool| async move {
            crate::demo::load_demo(&pool, orgs, DEMO_TEST_PASSWORD)
                .await
                .map(drop)
        })
        .await
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.pool.close().await;
        drop_database(&self.admin_url, &self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // We may be inside the test's runtime, which cannot be blocked on; drop the database
        // from a thread with a runtime of its own. `with (force)` ends our pool's connections.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(drop_database(&admin_url, &name)),
                Err(e) => Err(e.into()),
            }
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e:#}", self.name),
            Err(_) => eprintln!("warning: could not drop test database {}", self.name),
        }
    }
}

/// The server test databases are created on: `INDRA_TEST_DATABASE_URL`, or
/// [`DEFAULT_TEST_DATABASE_URL`].
pub fn admin_url() -> String {
    std::env::var("INDRA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `admin_url` pointing at `database` instead.
pub fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url)
        .with_context(|| format!("INDRA_TEST_DATABASE_URL is not a URL: {admin_url:?}"))?;
    url.set_path(&format!("/{database}"));
    Ok(url.into())
}

async fn admin_connect(admin_url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(admin_url).with_context(|| {
        format!("INDRA_TEST_DATABASE_URL is not a PostgreSQL URL: {admin_url:?}")
    })?;
    options.connect().await.with_context(|| {
        format!(
            "connecting to {admin_url} to create test databases; is PostgreSQL running \
             (scripts/ensure-postgres) and may this user create databases? \
             Set INDRA_TEST_DATABASE_URL to choose another server or user."
        )
    })
}

/// Drops `name` on the server at `admin_url` if it exists, ending its connections: for tests that
/// create databases by other means (such as `indra migrate`).
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = admin_connect(admin_url).await?;
    sqlx::raw_sql(&format!(r#"drop database if exists "{name}" with (force)"#))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping test database {name}"))?;
    admin.close().await?;
    Ok(())
}

async fn database_exists(admin: &mut PgConnection, name: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(admin)
            .await?,
    )
}

/// The name of the migrated template database, building it when missing; with `seeded`, the
/// name of a template cloned from that one and seeded, building both as needed.
async fn ensure_template<F, Fut>(
    admin_url: &str,
    seeded: Option<(&str, &[u8], F)>,
) -> anyhow::Result<String>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let migrations = migrations_fingerprint();
    let base = format!("indra_template_{}", &migrations[..12]);
    let wanted = match &seeded {
        None => base.clone(),
        Some((label, fingerprint, _)) => {
            let mut hasher = Sha256::new();
            hasher.update(migrations.as_bytes());
            hasher.update(label.as_bytes());
            hasher.update([0]);
            hasher.update(fingerprint);
            format!(
                "indra_template_{}_{label}",
                &hex::encode(hasher.finalize())[..12]
            )
        }
    };

    let mut admin = admin_connect(admin_url).await?;
    // Fast path: a complete template only ever appears under its final name.
    if database_exists(&mut admin, &wanted).await? {
        admin.close().await?;
        return Ok(wanted);
    }
    sqlx::query("select pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await?;
    let built = build_templates(&mut admin, admin_url, &base, &wanted, seeded).await;
    // Closing the connection would release the lock too; unlock explicitly to be plain about it.
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    built?;
    Ok(wanted)
}

/// Runs under the template lock.
async fn build_templates<F, Fut>(
    admin: &mut PgConnection,
    admin_url: &str,
    base: &str,
    wanted: &str,
    seeded: Option<(&str, &[u8], F)>,
) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if !database_exists(admin, base).await? {
        build_one(admin, admin_url, base, None, |pool: PgPool| async move {
            MIGRATOR
                .run(&pool)
                .await
                .context("migrating the template database")?;
            Ok(())
        })
        .await?;
    }
    if let Some((_, _, seed)) = seeded
        && !database_exists(admin, wanted).await?
    {
        build_one(admin, admin_url, wanted, Some(base), seed).await?;
    }
    Ok(())
}

/// Creates `name` (empty, or cloned from `from`) under a temporary name, runs `fill` on it, then
/// renames it into place so other processes never see it half built.
async fn build_one<F, Fut>(
    admin: &mut PgConnection,
    admin_url: &str,
    name: &str,
    from: Option<&str>,
    fill: F,
) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let building = format!("{name}_tmp");
    // Left over from a process that died while building.
    sqlx::raw_sql(&format!(
        r#"drop database if exists "{building}" with (force)"#
    ))
    .execute(&mut *admin)
    .await?;
    let template = from
        .map(|t| format!(r#" template "{t}""#))
        .unwrap_or_default();
    sqlx::raw_sql(&format!(r#"create database "{building}"{template}"#))
        .execute(&mut *admin)
        .await
        .with_context(|| format!("creating template database {building}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database_url(admin_url, &building)?)
        .await?;
    let filled = fill(pool.clone()).await;
    pool.close().await;
    if let Err(e) = filled {
        sqlx::raw_sql(&format!(
            r#"drop database if exists "{building}" with (force)"#
        ))
        .execute(&mut *admin)
        .await?;
        return Err(e.context(format!("filling template database {name}")));
    }
    execute_when_free(
        admin,
        &format!(r#"alter database "{building}" rename to "{name}""#),
    )
    .await
    .with_context(|| format!("renaming {building} to {name}"))?;
    Ok(())
}

/// Runs a CREATE DATABASE ... TEMPLATE or a rename, retrying while PostgreSQL says the database
/// is in use (SQLSTATE 55006): a backend that has just closed its connection to it may still be
/// exiting, and a clone needs its template to be idle.
async fn execute_when_free(admin: &mut PgConnection, statement: &str) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match sqlx::raw_sql(statement).execute(&mut *admin).await {
            Ok(_) => return Ok(()),
            Err(e)
                if attempt < 100
                    && e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55006") =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
