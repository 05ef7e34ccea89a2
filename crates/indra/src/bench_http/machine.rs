//! The machine the figures come from, and the server's resident memory while it is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// What the report says about the machine (client and server share it).
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores this process may use (`nproc`).
    pub cores: usize,
    pub cpu_model: Option<String>,
    pub memory_mib: Option<u64>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned()),
            memory_mib: kib_field(&meminfo, "MemTotal:").map(|kib| kib / 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|k| k.trim().to_owned()),
        }
    }
}

/// The value in KiB of a `Name:   1234 kB` line of a /proc file.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The resident memory of process `pid` now, in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, "VmRSS:")
}

/// Samples a process's resident memory in the background: the highest seen overall and since
/// the last [`RssSampler::take_window`].
#[derive(Clone)]
pub struct RssSampler {
    pub pid: u32,
    /// The resident size when sampling started, in MiB.
    pub start_mib: f64,
    max_kib: Arc<AtomicU64>,
    window_max_kib: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// How often the server's memory is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

impl RssSampler {
    /// Starts sampling `pid`; fails when it cannot be read now.
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        let first = resident_kib(pid).ok_or_else(|| {
            anyhow::anyhow!("cannot read VmRSS of process {pid} (/proc/{pid}/status)")
        })?;
        let sampler = Self {
            pid,
            start_mib: first as f64 / 1024.0,
            max_kib: Arc::new(AtomicU64::new(first)),
            window_max_kib: Arc::new(AtomicU64::new(first)),
            samples: Arc::new(AtomicU64::new(1)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let running = sampler.clone();
        tokio::spawn(async move {
            while !running.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(SAMPLE_EVERY).await;
                if let Some(kib) = resident_kib(running.pid) {
                    running.max_kib.fetch_max(kib, Ordering::Relaxed);
                    running.window_max_kib.fetch_max(kib, Ordering::Relaxed);
                    running.samples.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(sampler)
    }

    /// The highest resident memory since the previous call (or the start), in MiB; starts a
    /// new window.
    pub fn take_window(&self) -> f64 {
        let now = resident_kib(self.pid).unwrap_or(0);
        let max = self.window_max_kib.swap(now, Ordering::Relaxed).max(now);
        self.max_kib.fetch_max(max, Ordering::Relaxed);
        max as f64 / 1024.0
    }

    /// Stops sampling; the highest resident memory seen and the number of samples.
    pub fn finish(&self) -> (f64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(kib) = resident_kib(self.pid) {
            self.max_kib.fetch_max(kib, Ordering::Relaxed);
        }
        (
            self.max_kib.load(Ordering::Relaxed) as f64 / 1024.0,
            self.samples.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\tindra\nVmPeak:\t  912340 kB\nVmRSS:\t   48212 kB\nThreads:\t5\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(48_212));
        assert_eq!(kib_field(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        let kib = resident_kib(std::process::id()).unwrap();
        assert!(kib > 100, "{kib}");
    }
}
