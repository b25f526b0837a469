//! `make bench`: one run that measures, on this machine, what PostgreSQL and RabbitMQ can do
//! on their own (the floor) and what LAPOR does on top of them: intake throughput over gRPC
//! and the JSON API, the full pipeline's sustained rate, latency at a fixed 100/s, and each
//! service's resident memory. Prints one table with every figure next to its target and
//! writes the same as JSON under `target/bench/`. See docs/performance.md.
//!
//! Exit status: 0 when everything was measured (whether or not the targets were met), 1
//! when the system misbehaved (a complaint lost or doubled, an outbox that never drained,
//! a stack that did not start), 130 on Ctrl-C. Scratch databases, vhosts and processes are
//! removed in every case.

mod cleanup;
mod cpu;
mod db;
mod floor;
mod intake;
mod latency;
mod memory;
mod observe;
mod pipeline;
mod report;

use lapor_e2e::process_stack::ProcessStack;
use std::time::Duration;

/// How long each measurement runs. `--quick` shortens everything, to check the bench
/// itself; its figures are not worth reporting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub floor_warmup: Duration,
    pub floor_measure: Duration,
    pub postgres_connections: usize,
    pub rabbit_publishers: usize,
    pub rabbit_window: usize,
    pub rabbit_message_bytes: usize,
    pub intake_clients: usize,
    pub intake_warmup: Duration,
    pub intake_measure: Duration,
    pub pipeline_clients: usize,
    /// Complaints accepted but not yet through all three stages before clients pause.
    pub pipeline_window: u64,
    pub pipeline_offer: Duration,
    pub latency_rate: u64,
    pub latency_duration: Duration,
    /// A light load first, which the pipeline sustains: latency without queueing.
    pub light_rate: u64,
    pub light_duration: Duration,
    /// Time to settle after start-up before idle memory is read.
    pub idle_settle: Duration,
    pub quick: bool,
}

impl Plan {
    fn full() -> Self {
        Plan {
            floor_warmup: Duration::from_secs(2),
            floor_measure: Duration::from_secs(10),
            postgres_connections: 16,
            rabbit_publishers: 4,
            rabbit_window: 128,
            rabbit_message_bytes: 1024,
            intake_clients: 32,
            intake_warmup: Duration::from_secs(3),
            intake_measure: Duration::from_secs(20),
            pipeline_clients: 16,
            pipeline_window: 1000,
            pipeline_offer: Duration::from_secs(60),
            latency_rate: 100,
            latency_duration: Duration::from_secs(30),
            light_rate: 10,
            light_duration: Duration::from_secs(20),
            idle_settle: Duration::from_secs(5),
            quick: false,
        }
    }

    fn quick() -> Self {
        Plan {
            floor_warmup: Duration::from_secs(1),
            floor_measure: Duration::from_secs(3),
            intake_warmup: Duration::from_secs(1),
            intake_measure: Duration::from_secs(4),
            pipeline_offer: Duration::from_secs(10),
            latency_duration: Duration::from_secs(5),
            light_duration: Duration::from_secs(3),
            idle_settle: Duration::from_secs(2),
            quick: true,
            ..Plan::full()
        }
    }
}

/// The production defaults where the test stack trades them for speed of tests: the pool
/// size and the delivery poller are what a deployment runs with.
fn production_env() -> Vec<(String, String)> {
    [
        ("LAPOR__DATABASE__MAX_CONNECTIONS", "10"),
        ("LAPOR__DELIVERY__POLL_INTERVAL_MS", "500"),
        ("LAPOR__DELIVERY__LEASE_SECONDS", "60"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Starts a stack, runs `body` on it and stops it whatever `body` returned, so a failed
/// measurement leaves no processes, databases or vhost behind.
async fn with_stack<T, F>(label: &str, body: F) -> anyhow::Result<T>
where
    F: AsyncFnOnce(&mut ProcessStack) -> anyhow::Result<T>,
{
    let mut stack = ProcessStack::start(label, 1, production_env())
        .await
        .map_err(|e| e.context(format!("starting the {label} stack")))?;
    let outcome = body(&mut stack).await;
    // Stopping removes the services' logs; after a failure they are what explains it.
    let kept_logs = outcome.is_err().then(|| keep_logs(&stack.log_dir, label));
    let stopped = stack.stop().await;
    let value = outcome.map_err(|e| match kept_logs {
        Some(Ok(dir)) => e.context(format!("service logs kept in {}", dir.display())),
        _ => e,
    })?;
    stopped?;
    Ok(value)
}

fn keep_logs(from: &std::path::Path, label: &str) -> std::io::Result<std::path::PathBuf> {
    let to = std::env::temp_dir().join(format!("lapor-bench-logs-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(to)
}

/// Every measurement in order; a failure is recorded and the measurements that do not
/// depend on it still run.
async fn run(plan: Plan) -> report::Report {
    let mut report = report::Report::new(&plan);
    eprintln!("bench: PostgreSQL floor ({} connections)", plan.postgres_connections);
    match floor::postgres(&plan).await {
        Ok(figure) => report.postgres_floor = Some(figure),
        Err(error) => report.fail("PostgreSQL floor", &error),
    }
    eprintln!("bench: RabbitMQ floor ({} publishers)", plan.rabbit_publishers);
    match floor::rabbitmq(&plan).await {
        Ok(figure) => report.rabbitmq_floor = Some(figure),
        Err(error) => report.fail("RabbitMQ floor", &error),
    }
    eprintln!("bench: intake at saturation ({} clients)", plan.intake_clients);
    match with_stack("benchintake", async |stack| intake::measure(stack, &plan).await).await {
        Ok(figures) => report.intake = Some(figures),
        Err(error) => report.fail("intake", &error),
    }
    eprintln!("bench: full pipeline, then latency at {}/s", plan.latency_rate);
    let pipeline_and_latency = with_stack("benchpipeline", async |stack| {
        let idle = memory::idle(stack, plan.idle_settle).await?;
        let pipeline = pipeline::measure(stack, &plan).await?;
        eprintln!("bench:   latency at {}/s", plan.light_rate);
        let light = latency::measure(stack, plan.light_rate, plan.light_duration).await?;
        eprintln!("bench:   latency at {}/s", plan.latency_rate);
        let latency = latency::measure(stack, plan.latency_rate, plan.latency_duration).await?;
        Ok((idle, pipeline, light, latency))
    })
    .await;
    match pipeline_and_latency {
        Ok((idle, pipeline, light, latency)) => {
            report.memory_idle = Some(idle);
            report.pipeline = Some(pipeline);
            report.latency_light = Some(light);
            report.latency = Some(latency);
        }
        Err(error) => report.fail("pipeline and latency", &error),
    }
    report
}

fn main() -> std::process::ExitCode {
    let plan = if std::env::args().any(|a| a == "--quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    // Two worker threads like the machine's two cores; the services are separate processes.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: no runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        cleanup::stale_floors().await;
        // In a task, so a panic in the harness still reaches the clean-up below; Ctrl-C
        // aborts the task, which kills the service processes as their handles drop.
        let bench = tokio::spawn(run(plan));
        let abort = bench.abort_handle();
        let outcome = tokio::select! {
            joined = bench => Some(joined),
            _ = tokio::signal::ctrl_c() => {
                abort.abort();
                None
            }
        };
        cleanup::own_leftovers().await;
        match outcome {
            Some(Ok(report)) => {
                report.print();
                match report.write() {
                    Ok(path) => eprintln!("bench: wrote {}", path.display()),
                    Err(error) => eprintln!("bench: could not write the JSON report: {error:#}"),
                }
                if report.failures.is_empty() {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Some(Err(panic)) => {
                eprintln!("bench: aborted: {panic}");
                std::process::ExitCode::FAILURE
            }
            None => {
                eprintln!("bench: interrupted");
                std::process::ExitCode::from(130)
            }
        }
    })
}
