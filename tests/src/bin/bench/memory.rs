//! Resident memory of each service process: `VmRSS` from `/proc/<pid>/status`, what the
//! kernel holds in RAM for it (a container's memory limit counts the same pages).

use lapor_e2e::process_stack::{ProcessStack, SERVICES};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// MiB per service.
pub type Resident = BTreeMap<String, f64>;

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn pids(stack: &ProcessStack) -> Vec<(String, u32)> {
    SERVICES
        .iter()
        .map(|service| (service.to_string(), stack.replica(&format!("{service}-1")).pid()))
        .collect()
}

/// After start-up and `settle`, with nothing submitted: the largest of a few readings.
pub async fn idle(stack: &ProcessStack, settle: Duration) -> anyhow::Result<Resident> {
    tokio::time::sleep(settle).await;
    let mut resident = Resident::new();
    for _ in 0..4 {
        for (service, pid) in pids(stack) {
            let mib = rss_mib(pid).ok_or_else(|| anyhow::anyhow!("{service} (pid {pid}) is not running"))?;
            let entry = resident.entry(service).or_insert(0.0);
            *entry = entry.max(mib);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(resident)
}

/// Reads every service's resident memory every 250 ms until stopped; keeps the maximum.
pub struct Sampler {
    maxima: Arc<Mutex<Resident>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(stack: &ProcessStack) -> Self {
        let (maxima, stop) = (Arc::new(Mutex::new(Resident::new())), CancellationToken::new());
        let pids = pids(stack);
        let task = tokio::spawn({
            let (maxima, stop) = (maxima.clone(), stop.clone());
            async move {
                while !stop.is_cancelled() {
                    for (service, pid) in &pids {
                        if let (Some(mib), Ok(mut maxima)) = (rss_mib(*pid), maxima.lock()) {
                            let entry = maxima.entry(service.clone()).or_insert(0.0);
                            *entry = entry.max(mib);
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            }
        });
        Sampler { maxima, stop, task }
    }

    pub async fn finish(self) -> Resident {
        self.stop.cancel();
        let _ = self.task.await;
        self.maxima.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
