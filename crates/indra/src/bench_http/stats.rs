//! What one measured quantity came to: latencies summed up as counts, throughput and nearest-rank
//! percentiles (the same percentile as `indra bench patient-search`, `bench::percentile_ms`).

use std::time::Duration;

use serde::Serialize;

use crate::bench::percentile_ms;

/// The latencies of one measured thing (a whole operation, or one of its steps).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Measured samples (completed, successful operations or steps).
    pub count: u64,
    /// Samples per second over the measured window.
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Sums up `latencies` (any order) measured over `seconds`. `None` without samples: a
    /// percentile of nothing is not zero.
    pub fn of(mut latencies: Vec<Duration>, seconds: f64) -> Option<Self> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        let total: Duration = latencies.iter().sum();
        Some(Self {
            count,
            per_sec: if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile_ms(&latencies, 50.0),
            p95_ms: percentile_ms(&latencies, 95.0),
            p99_ms: percentile_ms(&latencies, 99.0),
            max_ms: percentile_ms(&latencies, 100.0),
            mean_ms: total.as_secs_f64() * 1000.0 / count as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_unsorted_samples() {
        // 1..=200 ms, shuffled deterministically: the summary must not depend on the order.
        let mut samples = ms(1..=200);
        samples.reverse();
        samples.swap(3, 150);
        let summary = LatencySummary::of(samples, 4.0).unwrap();
        assert_eq!(summary.count, 200);
        assert_eq!(summary.per_sec, 50.0);
        assert_eq!(summary.p50_ms, 100.0);
        assert_eq!(summary.p95_ms, 190.0);
        assert_eq!(summary.p99_ms, 198.0);
        assert_eq!(summary.max_ms, 200.0);
        assert!((summary.mean_ms - 100.5).abs() < 1e-9);
    }

    #[test]
    fn with_few_samples_the_rank_rounds_up() {
        // Ten samples: p95 and p99 fall between ranks 9 and 10 and take the 10th (the slowest),
        // never a faster one that fewer than 5% / 1% of requests exceeded.
        let summary = LatencySummary::of(ms(1..=10), 1.0).unwrap();
        assert_eq!(summary.p50_ms, 5.0);
        assert_eq!(summary.p95_ms, 10.0);
        assert_eq!(summary.p99_ms, 10.0);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let summary = LatencySummary::of(ms([7]), 1.0).unwrap();
        assert_eq!(
            (
                summary.p50_ms,
                summary.p95_ms,
                summary.p99_ms,
                summary.max_ms
            ),
            (7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn the_slowest_percent_is_what_p99_shows() {
        // 99 fast requests and one slow one: p99 is still fast, max is not; with two slow ones
        // in a hundred, p99 is slow.
        let mut samples = ms(std::iter::repeat_n(2, 99));
        samples.push(Duration::from_millis(500));
        let one = LatencySummary::of(samples.clone(), 1.0).unwrap();
        assert_eq!((one.p99_ms, one.max_ms), (2.0, 500.0));
        samples[0] = Duration::from_millis(400);
        let two = LatencySummary::of(samples, 1.0).unwrap();
        assert_eq!(two.p99_ms, 400.0);
    }

    #[test]
    fn nothing_measured_is_no_summary() {
        assert_eq!(LatencySummary::of(Vec::new(), 10.0), None);
    }
}
