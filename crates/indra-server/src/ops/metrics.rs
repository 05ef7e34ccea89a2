//! `GET /metrics` in Prometheus' text format: requests by route and status, a latency
//! histogram per route, and the connection pool's use. Routes are the router's templates
//! (`/api/v1/users/{id}`), never the concrete path: ids and query strings stay out.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut recorded) = self.inner.lock() else {
            return;
        };
        *recorded
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let histogram = recorded.latency.entry(route.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    pub fn render(&self, pool_size: u32, pool_idle: usize) -> String {
        let mut out = String::new();
        let Ok(recorded) = self.inner.lock() else {
            return out;
        };
        out.push_str(
            "# HELP indra_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE indra_http_requests_total counter\n");
        for ((route, method, status), count) in &recorded.requests {
            let _ = writeln!(
                out,
                "indra_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP indra_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE indra_http_request_duration_seconds histogram\n");
        for (route, histogram) in &recorded.latency {
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "indra_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "indra_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "indra_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "indra_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        out.push_str("# HELP indra_db_pool_connections Database connections open, and idle.\n");
        out.push_str("# TYPE indra_db_pool_connections gauge\n");
        let _ = writeln!(
            out,
            "indra_db_pool_connections{{state=\"open\"}} {pool_size}"
        );
        let _ = writeln!(
            out,
            "indra_db_pool_connections{{state=\"idle\"}} {pool_idle}"
        );
        out
    }
}

/// Middleware: times each request and records it under its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .record(&route, &method, status, elapsed.as_secs_f64());
    tracing::info!(route = %route, status, duration_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
    response
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let (size, idle) = state.db.pool_usage();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(size, idle),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("/api/v1/me", "GET", 200, 0.004);
        metrics.record("/api/v1/me", "GET", 200, 0.2);
        metrics.record("/api/v1/me", "GET", 401, 0.001);
        let text = metrics.render(3, 1);
        assert!(
            text.contains(
                "indra_http_requests_total{route=\"/api/v1/me\",method=\"GET\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "indra_http_request_duration_seconds_bucket{route=\"/api/v1/me\",le=\"0.005\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "indra_http_request_duration_seconds_bucket{route=\"/api/v1/me\",le=\"+Inf\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("indra_db_pool_connections{state=\"open\"} 3"));
    }
}
