//! What every handler shares, and the one door to the database.
//!
//! The pool is private to [`Database`]. A handler reaches the database only through a
//! [`CallerTx`](crate::platform::caller::CallerTx), which opens a transaction as the request's
//! caller. The few places that must work without a signed-in caller are named methods here,
//! each saying why: sign-in and sessions (nobody is signed in yet), and the readiness probe.

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::platform::tokens::TokenKeys;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Database,
    pub tokens: TokenKeys,
    pub metrics: Metrics,
    /// An argon2id hash of a random password: verified against when an e-mail address is
    /// unknown, so a wrong address costs the same time as a wrong password.
    pub decoy_password_hash: String,
    /// The assistant's background worker, once started (`crate::ai::worker`).
    pub assistant: crate::ai::worker::AssistantWorker,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let options: PgConnectOptions = config.database_url.expose().parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Self::with_pool(config, pool)
    }

    pub fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let tokens = TokenKeys::new(config.jwt_secret.expose(), config.access_token_ttl);
        let mut decoy = [0u8; 24];
        getrandom::fill(&mut decoy).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let decoy_password_hash = crate::platform::passwords::hash_password(&hex::encode(decoy))?;
        Ok(Self(Arc::new(Inner {
            config,
            db: Database { pool },
            tokens,
            metrics: Metrics::default(),
            decoy_password_hash,
            assistant: crate::ai::worker::AssistantWorker::default(),
        })))
    }
}

/// The database, reachable only through the methods below.
pub struct Database {
    pool: PgPool,
}

/// The caller's identity as the database knows it now (not as the token claimed it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Identity {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub user_role: String,
}

impl Database {
    /// Opens a transaction as the person `auth_id` names: `app.begin_request` reads their
    /// organization and role from `users`, sets the claims, the request id and the statement
    /// timeout, and switches to `authenticated`, in one round trip. `None` when the identity is
    /// unknown or deactivated.
    pub(crate) async fn begin_as(
        &self,
        auth_id: Uuid,
        request_id: &str,
        statement_timeout: std::time::Duration,
    ) -> Result<Option<(Identity, Transaction<'static, Postgres>)>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let identity: Option<Identity> =
            sqlx::query_as("select user_id, org_id, user_role from app.begin_request($1, $2, $3)")
                .bind(auth_id)
                .bind(request_id)
                .bind(format!("{}ms", statement_timeout.as_millis()))
                .fetch_optional(&mut *tx)
                .await?;
        Ok(identity.map(|identity| (identity, tx)))
    }

    /// Service door: sign-in, token refresh, sign-out and web sessions. Nobody is signed in
    /// yet, and the secrets they need (password hashes, refresh tokens) live in `indra_auth`,
    /// which only the application's login role may read. Runs as that login role; no API role.
    pub(crate) async fn sign_in_door(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Service door: the deployment's published note-signing keys. The server registers its
    /// own at startup, and anyone may read them (they are public by design, so an export can be
    /// verified without an account, and belong to no organization). Reaches only `indra_keys`
    /// and `app.register_signing_key`; runs as the login role.
    pub(crate) async fn signing_keys_door(
        &self,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Service door: a provider's iCalendar feed, fetched by a phone's calendar with the feed's
    /// secret and no sign-in. Calls only `app.calendar_feed(secret hash)` (migration 0014), which
    /// returns what the feed shows (no patient names); runs as the login role.
    pub(crate) async fn calendar_feed_door(
        &self,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Service door: the assistant's background worker (`indra_ai::worker`). No request
    /// carries it: it claims queued runs as `service_role` (the queue's own columns only) and
    /// executes each run inside a transaction that acts as the run's requester
    /// (`indra_ai::runs::act_as`: role `authenticated` with their claims), so row-level security
    /// holds for the assistant as for the clinician. Nothing else uses this pool handle.
    pub(crate) fn assistant_queue_door(&self) -> PgPool {
        self.pool.clone()
    }

    /// Service door: the readiness probe asks whether the database answers and the schema is
    /// current. It reads no organization's data. In a transaction like every other statement,
    /// so that it works through PgBouncer in transaction mode (docs/scaling.md).
    pub(crate) async fn schema_version(&self) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let version = sqlx::query_scalar("select app.schema_version()")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Connections open and idle, for the metrics.
    pub(crate) fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
