//! The background queue: runs wait in `ai_runs` (PostgreSQL is the queue). A worker claims one
//! with `FOR UPDATE SKIP LOCKED` as the service role, leases it (`locked_until`, renewed at
//! every step), and executes its loop as the run's requester. A worker that dies leaves its
//! lease to run out; the next claim takes the run over and resumes it from its stored steps.
//! A run claimed `max_attempts` times without finishing is marked failed.

use std::future::Future;

use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::runs::engine::{self, Claimed};
use crate::runs::{AiError, AiSettings};

pub use crate::runs::engine::RunEnd;

/// Claims the oldest claimable run, if any: pending, re-queued by an answer, or running with
/// an expired lease.
pub async fn claim(pool: &PgPool, settings: &AiSettings) -> Result<Option<Uuid>, AiError> {
    Ok(claim_run(pool, settings).await?.map(|c| c.id))
}

async fn claim_run(pool: &PgPool, settings: &AiSettings) -> Result<Option<Claimed>, AiError> {
    let mut tx = pool.begin().await?;
    crate::runs::caller_as_service(&mut tx).await?;
    sqlx::query(
        "update ai_runs set status = 'failed', finished_at = now(), locked_until = null, lease_owner = null,
                error = 'the assistant stopped while working on this run ' || attempts || ' times'
          where status = 'running' and locked_until < now() and attempts >= $1",
    )
    .bind(settings.max_attempts)
    .execute(&mut *tx)
    .await?;
    let row: Option<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "update ai_runs r
            set status = 'running', attempts = r.attempts + 1, lease_owner = $1,
                locked_until = now() + make_interval(secs => $2), started_at = coalesce(r.started_at, now())
           from (select org_id, id from ai_runs
                  where status in ('pending', 'running') and (locked_until is null or locked_until < now())
                    and attempts < $3
                  order by created_at
                  for update skip locked
                  limit 1) next
          where r.org_id = next.org_id and r.id = next.id
         returning r.org_id, r.id, r.requested_by_user_id",
    )
    .bind(&settings.worker_id)
    .bind(settings.lease.as_secs_f64())
    .bind(settings.max_attempts)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(org_id, id, requested_by_user_id)| Claimed {
        org_id,
        id,
        requested_by_user_id,
    }))
}

/// Claims one run and executes it to its next stop. `None`: nothing to do.
pub async fn process_one(pool: &PgPool, settings: &AiSettings) -> Result<Option<Uuid>, AiError> {
    Ok(process_one_with_end(pool, settings)
        .await?
        .map(|(id, _)| id))
}

/// [`process_one`], with how the execution ended.
pub async fn process_one_with_end(
    pool: &PgPool,
    settings: &AiSettings,
) -> Result<Option<(Uuid, RunEnd)>, AiError> {
    let Some(run) = claim_run(pool, settings).await? else {
        return Ok(None);
    };
    let end = engine::execute(pool, settings, &run).await?;
    Ok(Some((run.id, end)))
}

/// Works the queue until `shutdown` resolves: up to `settings.concurrency` runs at once;
/// looks for work every `poll_interval` when idle. On shutdown it stops claiming and lets the
/// runs in hand finish their current execution.
pub async fn run_worker(pool: PgPool, settings: AiSettings, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut running: JoinSet<()> = JoinSet::new();
    let concurrency = settings.concurrency.max(1);
    loop {
        while running.try_join_next().is_some() {}
        let mut claimed_any = false;
        while running.len() < concurrency {
            match claim_run(&pool, &settings).await {
                Ok(Some(run)) => {
                    claimed_any = true;
                    let (pool, settings) = (pool.clone(), settings.clone());
                    running.spawn(async move {
                        match engine::execute(&pool, &settings, &run).await {
                            Ok(end) => tracing::info!(run = %run.id, ?end, "assistant run stopped"),
                            // The lease runs out and the run is retried.
                            Err(e) => tracing::warn!(run = %run.id, error = %e, "assistant run interrupted"),
                        }
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim assistant runs");
                    break;
                }
            }
        }
        let pause = if claimed_any {
            std::time::Duration::from_millis(10)
        } else {
            settings.poll_interval
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}
