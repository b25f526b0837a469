//! The bench's answer: one table of figures, each beside its target and its ratio to the
//! reference (throughput to the PostgreSQL floor, latency to 50 ms, memory to its budget),
//! printed as Markdown so it can go into docs/performance.md as it is, and the same with
//! every detail as JSON in `target/bench/latest.json` plus a timestamped copy.

use crate::floor::{PostgresFloor, RabbitFloor};
use crate::intake::{ChannelRun, IntakeFigures};
use crate::latency::LatencyFigures;
use crate::memory::Resident;
use crate::pipeline::PipelineFigures;
use crate::{Plan, observe};
use comfy_table::Table;
use comfy_table::presets::ASCII_MARKDOWN;
use hdrhistogram::Histogram;
use std::path::PathBuf;

/// The targets of the issue that asked for this bench; reported, never enforced.
pub const INTAKE_SHARE_OF_FLOOR: f64 = 0.25;
pub const PIPELINE_SHARE_OF_FLOOR: f64 = 0.10;
pub const SKPD_QUEUE_P99_MS: f64 = 50.0;
pub const OUTBOX_LAG_MS: f64 = 1000.0;
pub const IDLE_MIB: f64 = 40.0;
pub const LOAD_MIB: f64 = 128.0;

/// Milliseconds at the usual percentiles, from a histogram of microseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(micros: &Histogram<u64>) -> Self {
        let ms = |q: f64| micros.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: micros.len(),
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: micros.max() as f64 / 1000.0,
        }
    }

    /// p50 / p95 / p99, in seconds once they reach ten.
    fn brief(&self) -> String {
        if self.p99_ms >= 10_000.0 {
            let s = |ms: f64| ms / 1000.0;
            format!(
                "{:.1} / {:.1} / {:.1} s",
                s(self.p50_ms),
                s(self.p95_ms),
                s(self.p99_ms)
            )
        } else {
            format!("{:.1} / {:.1} / {:.1} ms", self.p50_ms, self.p95_ms, self.p99_ms)
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: String,
    pub ratio: String,
    pub meets: Option<bool>,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub started_at: String,
    pub cores: usize,
    pub plan: Plan,
    pub postgres_floor: Option<PostgresFloor>,
    pub rabbitmq_floor: Option<RabbitFloor>,
    pub intake: Option<IntakeFigures>,
    pub memory_idle: Option<Resident>,
    pub pipeline: Option<PipelineFigures>,
    pub latency: Option<LatencyFigures>,
    /// At a light load, for comparison: the latency of the stages without queueing.
    pub latency_light: Option<LatencyFigures>,
    /// What went wrong; any entry makes the exit status non-zero.
    pub failures: Vec<String>,
}

/// Whole percent, with one decimal below 10% so a small share does not read as nothing.
fn percent(value: f64) -> String {
    let percent = 100.0 * value;
    if percent < 10.0 {
        format!("{percent:.1}%")
    } else {
        format!("{percent:.0}%")
    }
}

impl Report {
    pub fn new(plan: &Plan) -> Self {
        Report {
            started_at: chrono::Utc::now().to_rfc3339(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            plan: plan.clone(),
            postgres_floor: None,
            rabbitmq_floor: None,
            intake: None,
            memory_idle: None,
            pipeline: None,
            latency: None,
            latency_light: None,
            failures: Vec::new(),
        }
    }

    pub fn fail(&mut self, what: &str, error: &anyhow::Error) {
        eprintln!("bench: {what} failed: {error:#}");
        self.failures.push(format!("{what}: {error:#}"));
    }

    /// A throughput row, as a share of the PostgreSQL floor.
    fn throughput(&self, figure: String, per_second: f64, share: Option<f64>) -> Row {
        let floor = self.postgres_floor.as_ref().map(|f| f.per_second);
        let ratio = floor.map(|f| per_second / f);
        Row {
            figure,
            measured: format!("{per_second:.0}/s"),
            target: share.map_or("reference".into(), |s| format!(">= {} of PG floor", percent(s))),
            ratio: ratio.map_or("-".into(), |r| format!("{} of PG floor", percent(r))),
            meets: share.zip(ratio).map(|(s, r)| r >= s),
        }
    }

    fn intake_rows(&self, run: &ChannelRun, api: &str) -> Vec<Row> {
        let lag = &run.outbox_lag;
        vec![
            self.throughput(
                format!("Intake, {api}: accepted complaints ({} clients)", run.clients),
                run.per_second,
                Some(INTAKE_SHARE_OF_FLOOR),
            ),
            Row {
                figure: format!("Intake, {api}: outbox lag max (p99)"),
                measured: format!("{:.0} ms ({:.0} ms)", lag.max_ms, lag.p99_ms),
                target: "< 1 s".into(),
                ratio: percent(lag.max_ms / OUTBOX_LAG_MS),
                meets: Some(lag.max_ms < OUTBOX_LAG_MS),
            },
        ]
    }

    fn memory_rows(&self, resident: &Resident, when: &str, budget: f64) -> Vec<Row> {
        resident
            .iter()
            .map(|(service, mib)| Row {
                figure: format!("Memory {when}: {service} (VmRSS)"),
                measured: format!("{mib:.1} MiB"),
                target: format!("<= {budget:.0} MiB"),
                ratio: percent(mib / budget),
                meets: Some(*mib <= budget),
            })
            .collect()
    }

    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        if let Some(pg) = &self.postgres_floor {
            rows.push(self.throughput(
                format!(
                    "Floor: PostgreSQL durable insert transactions ({} connections)",
                    pg.connections
                ),
                pg.per_second,
                None,
            ));
        }
        if let Some(mq) = &self.rabbitmq_floor {
            let mut row = self.throughput(
                format!(
                    "Floor: RabbitMQ confirmed persistent messages, quorum queue ({} publishers)",
                    mq.publishers
                ),
                mq.per_second,
                None,
            );
            row.target = "reference".into();
            rows.push(row);
        }
        if let Some(intake) = &self.intake {
            rows.extend(self.intake_rows(&intake.grpc, "gRPC"));
            rows.extend(self.intake_rows(&intake.json, "JSON API"));
        }
        if let Some(pipeline) = &self.pipeline {
            rows.push(self.throughput(
                format!(
                    "Full pipeline: complaints through every stage ({:.0} s)",
                    pipeline.offered_seconds
                ),
                pipeline.per_second,
                Some(PIPELINE_SHARE_OF_FLOOR),
            ));
        }
        if let Some(latency) = &self.latency {
            rows.push(Row {
                figure: format!(
                    "Latency at {}/s: submission -> SKPD queue, p50 / p95 / p99",
                    latency.rate
                ),
                measured: latency.skpd_queue.brief(),
                target: format!("p99 <= {SKPD_QUEUE_P99_MS:.0} ms"),
                ratio: percent(latency.skpd_queue.p99_ms / SKPD_QUEUE_P99_MS),
                meets: Some(latency.skpd_queue.p99_ms <= SKPD_QUEUE_P99_MS),
            });
        }
        if let Some(light) = &self.latency_light {
            rows.push(Row {
                figure: format!("Latency at {}/s: submission -> SKPD queue, p50 / p95 / p99", light.rate),
                measured: light.skpd_queue.brief(),
                target: "none (comparison)".into(),
                ratio: percent(light.skpd_queue.p99_ms / SKPD_QUEUE_P99_MS),
                meets: None,
            });
        }
        for latency in [&self.latency, &self.latency_light].into_iter().flatten() {
            rows.push(Row {
                figure: format!(
                    "Latency at {}/s: submission -> officers' e-mail sent, p50 / p95 / p99",
                    latency.rate
                ),
                measured: latency.officers_notified.brief(),
                target: "none".into(),
                ratio: "-".into(),
                meets: None,
            });
        }
        if let Some(idle) = &self.memory_idle {
            rows.extend(self.memory_rows(idle, "idle", IDLE_MIB));
        }
        if let Some(pipeline) = &self.pipeline {
            rows.extend(self.memory_rows(&pipeline.memory_under_load, "under load", LOAD_MIB));
        }
        rows
    }

    pub fn print(&self) {
        let mut table = Table::new();
        table.load_preset(ASCII_MARKDOWN);
        table.set_header(["Figure", "Measured", "Target", "Ratio", "Meets"]);
        for row in self.rows() {
            let meets = match row.meets {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            table.add_row([row.figure, row.measured, row.target, row.ratio, meets.to_owned()]);
        }
        println!("\n{table}");
        self.print_observations();
        for failure in &self.failures {
            println!("FAILED: {failure}");
        }
    }

    /// Where the time goes: per-stage latency, CPU by program, work per complaint, where
    /// the backlog sat.
    fn print_observations(&self) {
        if let Some(pg) = &self.postgres_floor {
            println!(
                "\nPostgreSQL floor: {:.0} transactions per WAL flush with {} connections; \
                 one connection alone {:.0}/s ({:.2} ms a commit).",
                pg.transactions_per_wal_flush,
                pg.connections,
                pg.single_connection_per_second,
                1000.0 / pg.single_connection_per_second.max(1e-9)
            );
        }
        if let Some(intake) = &self.intake {
            for run in [&intake.grpc, &intake.json] {
                println!(
                    "Intake {} at saturation: request p50 / p95 / p99 {}; CPU {}",
                    run.channel,
                    run.request.brief(),
                    cpu_line(&run.cpu)
                );
            }
            print_metrics(
                "Intake server side at saturation (mean / p50 / p99 ms):",
                &intake.server_metrics,
            );
        }
        for latency in [&self.latency_light, &self.latency].into_iter().flatten() {
            println!(
                "\nAt {}/s, p50 / p95 / p99 from the due time (worst send delay of the bench {:.1} ms):",
                latency.rate, latency.max_send_delay_ms
            );
            for (stage, p) in [
                ("intake answered (stored)", &latency.answered),
                ("complaint.submitted delivered", &latency.on_broker),
                ("complaint.assigned in SKPD queue", &latency.skpd_queue),
                ("officers' e-mails sent", &latency.officers_notified),
            ] {
                println!("  {stage:<34} {}", p.brief());
            }
            if let Some(pipeline) = self.pipeline.as_ref().filter(|p| p.per_second < latency.rate as f64) {
                println!(
                    "  (offered above the sustained pipeline rate of {:.0}/s: queues grew during the run)",
                    pipeline.per_second
                );
            }
        }
        let Some(pipeline) = &self.pipeline else {
            return;
        };
        println!("\nFull pipeline: CPU {}", cpu_line(&pipeline.cpu));
        let pg = &pipeline.postgres_per_complaint;
        let transactions: Vec<String> = pg.transactions.iter().map(|(s, c)| format!("{s} {c:.1}")).collect();
        println!(
            "Per complaint: transactions {}; WAL flushes {:.2}, WAL {:.1} KiB",
            transactions.join(", "),
            pg.wal_syncs,
            pg.wal_kib
        );
        let mut deepest: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
        for sample in &pipeline.timeline {
            for (queue, depth) in &sample.queue_depths {
                let entry = deepest.entry(queue.as_str()).or_default();
                *entry = (*entry).max(*depth);
            }
        }
        let deepest: Vec<String> = deepest.iter().map(|(q, d)| format!("{q} {d}")).collect();
        println!("Deepest queues (5 s samples): {}", deepest.join(", "));
        print_metrics("Consumer handling (mean / p50 / p99 ms):", &pipeline.consumer_metrics);
    }

    /// `target/bench/latest.json` and `target/bench/<UTC time>.json`, beside the binary's
    /// profile directory (`target/release/lapor-bench` → `target/bench/`).
    pub fn write(&self) -> anyhow::Result<PathBuf> {
        let exe = std::env::current_exe()?;
        let target = exe
            .parent()
            .and_then(|profile| profile.parent())
            .map(PathBuf::from)
            .unwrap_or_else(|| lapor_e2e::stack::repo_root().join("target"));
        let dir = target.join("bench");
        std::fs::create_dir_all(&dir)?;
        let mut report = serde_json::to_value(self)?;
        report["table"] = serde_json::to_value(self.rows())?;
        let text = serde_json::to_string_pretty(&report)?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        std::fs::write(dir.join(format!("{stamp}.json")), &text)?;
        let latest = dir.join("latest.json");
        std::fs::write(&latest, &text)?;
        Ok(latest)
    }
}

/// Programs that used at least 2% of a core, busiest first, in % of one core.
fn cpu_line(shares: &[crate::cpu::Share]) -> String {
    let busy: Vec<String> = shares
        .iter()
        .filter(|s| s.percent_of_a_core >= 2.0)
        .map(|s| format!("{} {:.0}%", s.program, s.percent_of_a_core))
        .collect();
    busy.join(", ")
}

fn print_metrics(title: &str, metrics: &[observe::MetricSummary]) {
    if metrics.is_empty() {
        return;
    }
    println!("{title}");
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for m in metrics {
        println!(
            "  {:<13} {:<60} n={:<7} {:.1} / {} / {}",
            m.service,
            m.labels,
            m.count,
            m.mean_ms,
            ms(m.p50_ms),
            ms(m.p99_ms)
        );
    }
}
