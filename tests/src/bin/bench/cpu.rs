//! Where the CPU went during a measurement: user + system time of every process on the
//! machine from `/proc/<pid>/stat`, grouped by program name (postgres, beam.smp for
//! RabbitMQ, each lapor service, the SMTP sink, the bench's own clients). On a 2-core
//! machine everything competes for the same cores, so this shows who the bottleneck is.

use std::collections::BTreeMap;
use std::time::Instant;

/// CPU ticks per process, and when they were read.
pub struct Snapshot {
    at: Instant,
    ticks: BTreeMap<u32, (String, u64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Share {
    pub program: String,
    pub cpu_seconds: f64,
    /// Of one core: 200% is both cores of this machine.
    pub percent_of_a_core: f64,
}

/// `comm` and utime + stime of one process. `comm` is parenthesised and may hold spaces, so
/// the numeric fields are counted from the last `)`.
fn read_stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After the comm: state is field 3 of proc(5), utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

pub fn snapshot() -> Snapshot {
    let mut ticks = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some(stat) = read_stat(pid)
            {
                ticks.insert(pid, stat);
            }
        }
    }
    Snapshot {
        at: Instant::now(),
        ticks,
    }
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 on Linux unless configured otherwise.
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Programs that used CPU between the snapshots, busiest first. Processes that started in
/// between count whole; those that exited in between are missed (short-lived ones only).
pub fn between(before: &Snapshot, after: &Snapshot) -> Vec<Share> {
    let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let per_second = ticks_per_second();
    let mut by_program: BTreeMap<String, u64> = BTreeMap::new();
    for (pid, (comm, ticks)) in &after.ticks {
        let earlier = before.ticks.get(pid).filter(|(c, _)| c == comm).map_or(0, |(_, t)| *t);
        *by_program.entry(comm.clone()).or_default() += ticks.saturating_sub(earlier);
    }
    let mut shares: Vec<Share> = by_program
        .into_iter()
        .filter(|(_, ticks)| *ticks > 0)
        .map(|(program, ticks)| {
            let cpu_seconds = ticks as f64 / per_second;
            Share {
                program,
                cpu_seconds,
                percent_of_a_core: 100.0 * cpu_seconds / seconds,
            }
        })
        .collect();
    shares.sort_by(|a, b| b.cpu_seconds.total_cmp(&a.cpu_seconds));
    shares
}
