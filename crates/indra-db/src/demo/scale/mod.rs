//! `indra demo --scale N`: N organizations of a real practice's size, loaded in bulk, for
//! measuring Indra at scale.
//!
//! Organization n is "Scale Practice {n:03}": 25 clinicians, 5,000 patients (by default), five
//! sessions each over the last two years with their notes and signatures, a booked calendar
//! for this week and the next three, claims for the last twelve weeks, and the audit rows all
//! of that writes. Its logins are `admin@org{n:03}.scale.indra.test`,
//! `clinician{k}@org{n:03}.scale.indra.test` (k = 1..25), `billing@...` and `frontdesk@...`,
//! all with the demo password.
//!
//! Speed: each organization is one transaction of one COPY per table, with per-row triggers off
//! (`session_replication_role = replica`, which needs a superuser: the database owner that
//! `indra demo` runs as). The audit rows those triggers would have written are written by
//! [`audit`] with the same hash chain, and every other rule they enforce holds by construction
//! ([`load`]). Two organizations are loaded at once by default, so that generating, hashing and
//! signing in Rust overlap with PostgreSQL's ingest on the other core.
//!
//! Like `indra demo`, loading again skips organizations already present: `--scale 200` after
//! `--scale 10` adds 190.

mod audit;
mod copy_text;
mod jsonb;
mod load;
mod notes;
mod plan;
mod rows;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

pub use load::TableLoad;
use load::{OrgLoad, load_organization};
use plan::{IdKind, OrgScalePlan, scale_id};
pub use plan::{MAX_PATIENTS_PER_ORG, PROVIDERS_PER_ORG};

use super::DemoLogin;

/// Patients per scale organization unless told otherwise.
pub const DEFAULT_PATIENTS_PER_ORG: u32 = 5_000;

/// What to load.
#[derive(Debug, Clone, Copy)]
pub struct ScaleOptions {
    /// Organizations 1..=`orgs` (at most 999).
    pub orgs: u32,
    pub patients_per_org: u32,
    /// Organizations loaded at once, each on its own connection.
    pub jobs: u32,
}

/// One scale organization, loaded now or found already present.
#[derive(Debug, Clone)]
pub struct ScaleOrganization {
    pub position: u32,
    pub id: Uuid,
    pub name: String,
    /// How long loading it took (zero when it was already present).
    pub elapsed: Duration,
    /// Rows written, its audit rows included (zero when it was already present).
    pub rows: u64,
}

/// What [`load_scale`] did.
#[derive(Debug, Clone)]
pub struct ScaleSummary {
    pub loaded: Vec<ScaleOrganization>,
    pub already_present: Vec<ScaleOrganization>,
    /// Rows and busy time per table, summed over the organizations loaded. With several jobs
    /// the times overlap: they add up to more than the wall-clock time.
    pub tables: Vec<TableLoad>,
    pub audit_rows: i64,
    /// Time spent on ANALYZE of the loaded tables.
    pub analyze: Duration,
    pub elapsed: Duration,
}

/// The id of scale organization `position`.
pub fn scale_org_id(position: u32) -> Uuid {
    scale_id(position, IdKind::Organization, 0)
}

/// The logins of scale organization `position`, all with the demo password.
pub fn scale_logins(position: u32) -> anyhow::Result<Vec<DemoLogin>> {
    let plan = OrgScalePlan::new(position, 1, OffsetDateTime::now_utc())?;
    Ok(plan
        .users
        .iter()
        .map(|u| DemoLogin {
            email: u.email.clone(),
            role: u.role,
            full_name: u.full_name.clone(),
        })
        .collect())
}

/// Loads scale organizations 1..=`options.orgs`, skipping those already present, calling
/// `progress` after each one.
///
/// Needs a superuser connection (the database owner that `indra demo` uses): the load turns
/// per-row triggers off for its own transactions and writes their audit rows itself.
pub async fn load_scale<F>(
    pool: &PgPool,
    options: ScaleOptions,
    password: &str,
    progress: F,
) -> anyhow::Result<ScaleSummary>
where
    F: Fn(&ScaleOrganization, bool) + Sync,
{
    let started = Instant::now();
    anyhow::ensure!(
        (1..=999).contains(&options.orgs),
        "--scale takes 1 to 999 organizations"
    );
    anyhow::ensure!(
        (1..=MAX_PATIENTS_PER_ORG).contains(&options.patients_per_org),
        "--patients-per-org takes 1 to {MAX_PATIENTS_PER_ORG}"
    );
    let superuser: String = sqlx::query_scalar("select current_setting('is_superuser')")
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        superuser == "on",
        "indra demo --scale needs a superuser connection (the database owner, as for migrate): \
         it loads with session_replication_role = replica, so that per-row triggers do not fire, \
         and writes the audit rows they would have written itself"
    );
    super::publish_demo_signing_key(pool).await?;
    // One argon2 hash for every scale user: hashing is deliberately slow, and thousands of
    // logins with one shared demo password gain nothing from thousands of salts.
    let password_hash = super::demo_password_hash(password, b"indra demo --scale")?;

    let next = AtomicU32::new(1);
    let workers =
        (0..options.jobs.max(1)).map(|_| worker(pool, &next, options, &password_hash, &progress));
    let results = futures_util::future::try_join_all(workers).await?;

    let mut summary = ScaleSummary {
        loaded: Vec::new(),
        already_present: Vec::new(),
        tables: Vec::new(),
        audit_rows: 0,
        analyze: Duration::ZERO,
        elapsed: Duration::ZERO,
    };
    let mut total = OrgLoad::default();
    for (loaded, present, load) in results {
        summary.loaded.extend(loaded);
        summary.already_present.extend(present);
        total.add(&load);
    }
    summary.loaded.sort_by_key(|o| o.position);
    summary.already_present.sort_by_key(|o| o.position);
    summary.tables = total.tables;
    summary.audit_rows = total.audit_rows;

    if !summary.loaded.is_empty() {
        let analyzing = Instant::now();
        for table in audit::AUDITED_TABLES
            .iter()
            .copied()
            .chain(["audit_log", "audit_chain_heads"])
        {
            sqlx::raw_sql(&format!("analyze public.{table}"))
                .execute(pool)
                .await
                .with_context(|| format!("analyzing {table}"))?;
        }
        summary.analyze = analyzing.elapsed();
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

type WorkerResult = (Vec<ScaleOrganization>, Vec<ScaleOrganization>, OrgLoad);

/// Loads organizations one after another, taking the next number from `next`, until none is
/// left.
async fn worker<F>(
    pool: &PgPool,
    next: &AtomicU32,
    options: ScaleOptions,
    password_hash: &str,
    progress: &F,
) -> anyhow::Result<WorkerResult>
where
    F: Fn(&ScaleOrganization, bool) + Sync,
{
    let mut loaded = Vec::new();
    let mut present = Vec::new();
    let mut total = OrgLoad::default();
    loop {
        let position = next.fetch_add(1, Ordering::Relaxed);
        if position > options.orgs {
            return Ok((loaded, present, total));
        }
        let started = Instant::now();
        // Each organization is placed around the moment it is loaded.
        let plan = OrgScalePlan::new(
            position,
            options.patients_per_org,
            OffsetDateTime::now_utc(),
        )?;
        let mut tx = pool.begin().await?;
        // Two runs loading the same organization at once: the second waits here, then finds it.
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text, 0))")
            .bind(plan.org_id)
            .execute(&mut *tx)
            .await?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from organizations where id = $1)")
                .bind(plan.org_id)
                .fetch_one(&mut *tx)
                .await?;
        let mut organization = ScaleOrganization {
            position,
            id: plan.org_id,
            name: plan.name.clone(),
            elapsed: Duration::ZERO,
            rows: 0,
        };
        if exists {
            tx.rollback().await?;
            progress(&organization, false);
            present.push(organization);
            continue;
        }
        let load = load_organization(&mut tx, &plan, password_hash)
            .await
            .with_context(|| format!("loading {}", plan.name))?;
        tx.commit().await?;
        organization.elapsed = started.elapsed();
        organization.rows =
            load.tables.iter().map(|t| t.rows).sum::<u64>() + load.audit_rows as u64;
        total.add(&load);
        progress(&organization, true);
        loaded.push(organization);
    }
}
