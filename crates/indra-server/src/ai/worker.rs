//! The assistant's queue, worked inside the server: `indra serve` starts the worker at startup
//! and stops it on shutdown (after the requests in flight); a server that did not start it
//! (tests, the browser harness) starts it the first time a run is queued. `INDRA_AI_WORKER=off`
//! leaves the queue to another process.

use std::sync::Mutex;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The worker's task and the signal that stops it.
#[derive(Default)]
pub struct AssistantWorker {
    running: Mutex<Option<Running>>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the worker unless it runs already (or the configuration leaves the queue to another
/// process). Needs a Tokio runtime.
pub fn ensure_started(state: &AppState) {
    if !state.config.ai.worker {
        return;
    }
    let Ok(mut running) = state.assistant.running.lock() else {
        return;
    };
    if running.as_ref().is_some_and(|r| !r.task.is_finished()) {
        return;
    }
    let (stop, mut stopped) = watch::channel(false);
    let pool = state.db.assistant_queue_door();
    let settings = state.config.ai.worker_settings();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            // A dropped sender stops the worker too.
            while !*stopped.borrow() {
                if stopped.changed().await.is_err() {
                    break;
                }
            }
        };
        indra_ai::worker::run_worker(pool, settings, shutdown).await;
    });
    tracing::info!("assistant worker started");
    *running = Some(Running { stop, task });
}

/// Stops the worker: it claims nothing more and finishes the runs in hand.
pub async fn stop(state: &AppState) {
    let running = state
        .assistant
        .running
        .lock()
        .ok()
        .and_then(|mut running| running.take());
    if let Some(Running { stop, task }) = running {
        let _ = stop.send(true);
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "the assistant worker ended abnormally");
        }
        tracing::info!("assistant worker stopped");
    }
}
