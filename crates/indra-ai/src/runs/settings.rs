//! How the assistant runs: limits, prices, the queue's lease, and the model per organization.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::{Model, RulesModel};

/// When a run stops trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Model turns per run.
    pub max_steps: u32,
    /// Input plus output tokens per run.
    pub max_tokens: u64,
    /// Wall-clock seconds per execution (time spent waiting for the clinician's answer does
    /// not count).
    pub max_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 12,
            max_tokens: 200_000,
            max_seconds: 120,
        }
    }
}

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

/// The worker's configuration.
#[derive(Debug, Clone)]
pub struct AiSettings {
    pub limits: Limits,
    /// By model name as `ai_runs.model` records it ("openai:gpt-4o-mini"); missing: free.
    pub prices: BTreeMap<String, Price>,
    /// Runs executed at once by one worker.
    pub concurrency: usize,
    /// How long a claimed run is held before another worker may take it over.
    pub lease: Duration,
    /// Claims of one run (crashes included) before it is marked failed.
    pub max_attempts: i32,
    /// How often an idle worker looks for work.
    pub poll_interval: Duration,
    /// Names this worker in `ai_runs.lease_owner`.
    pub worker_id: String,
    /// One model for every run, whatever the organizations chose (tests, `indra ai eval --model`).
    pub model_override: Option<Arc<Model>>,
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            limits: Limits::default(),
            prices: BTreeMap::new(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            max_attempts: 3,
            poll_interval: Duration::from_millis(500),
            worker_id: format!("worker-{}", Uuid::new_v4().simple()),
            model_override: None,
        }
    }
}

impl AiSettings {
    /// The cost of a run's tokens under `model`'s price.
    pub fn cost_usd(&self, model: &str, input_tokens: u64, output_tokens: u64) -> f64 {
        self.prices.get(model).map_or(0.0, |p| {
            (input_tokens as f64 * p.input_per_million
                + output_tokens as f64 * p.output_per_million)
                / 1_000_000.0
        })
    }

    /// The model for a run of the caller's organization: the override, else `ai_settings`
    /// (an external model only when an admin allowed it; the database insists too), else
    /// `rules`.
    pub(crate) async fn model_for(&self, conn: &mut PgConnection) -> Result<Arc<Model>, String> {
        if let Some(model) = &self.model_override {
            return Ok(model.clone());
        }
        type Row = (String, Option<String>, Option<String>, Option<String>, bool);
        let row: Option<Row> = sqlx::query_as(
            "select model_kind, model_name, base_url, api_key_env, external_allowed
                   from ai_settings where org_id = app.org_id()",
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
        match row {
            None => Ok(Arc::new(Model::Rules(RulesModel))),
            Some((kind, _, _, _, _)) if kind == "rules" => Ok(Arc::new(Model::Rules(RulesModel))),
            Some((kind, name, base_url, key_env, allowed)) => {
                if !allowed {
                    return Err(
                        "an external model is configured but not enabled by an admin".into(),
                    );
                }
                crate::model::external(
                    &kind,
                    name.as_deref(),
                    base_url.as_deref(),
                    key_env.as_deref(),
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            }
        }
    }
}
