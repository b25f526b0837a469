//! Intake at saturation: a fixed number of clients, each with its own connection (a tonic
//! channel, a reqwest client), submit one complaint after another for a fixed time after a
//! warm-up; the figure is accepted complaints per second. Routing, notification and
//! analytics are stopped first, so on this 2-core machine they do not spend the CPU on the
//! backlog the flood creates: the figure is intake's, with its outbox relay. Afterwards
//! the relay must have published everything, and the outbox lag of the complaints accepted
//! in each run is read from intake's database.

use crate::report::Percentiles;
use crate::{Plan, cpu, db, observe};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use lapor_e2e::load::bridge_complaint;
use lapor_e2e::process_stack::ProcessStack;
use lapor_proto::intake::v1::SubmitComplaintRequest;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use sea_orm::DatabaseConnection;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct IntakeFigures {
    pub grpc: ChannelRun,
    pub json: ChannelRun,
    /// Server-side request durations from intake's /metrics after both runs.
    pub server_metrics: Vec<observe::MetricSummary>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelRun {
    pub channel: &'static str,
    pub clients: usize,
    pub seconds: f64,
    /// Accepted inside the measured window.
    pub accepted: u64,
    pub per_second: f64,
    /// Requests answered with a load-shedding status (gRPC RESOURCE_EXHAUSTED/UNAVAILABLE,
    /// HTTP 429/503) during the whole run.
    pub shed: u64,
    /// Any other failure; each one is a misbehaviour.
    pub errors: Vec<String>,
    /// Client-side request durations in the measured window.
    pub request: Percentiles,
    /// CPU by program in the measured window.
    pub cpu: Vec<cpu::Share>,
    pub outbox_lag: OutboxLag,
}

/// From the outbox row's `created_at` (start of intake's transaction) to `published_at`
/// (start of the relay transaction that claimed and published it; the publish and its
/// confirm follow within that transaction).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxLag {
    pub rows: i64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Grpc,
    Json,
}

/// What the clients share: the next complaint number, counters, and the stop flag.
struct Load {
    run: String,
    next: AtomicUsize,
    accepted: AtomicU64,
    shed: AtomicU64,
    errors: Mutex<Vec<String>>,
    measuring: AtomicBool,
    stop: AtomicBool,
}

enum Outcome {
    Accepted,
    Shed,
    Failed(String),
}

pub async fn measure(stack: &mut ProcessStack, plan: &Plan) -> anyhow::Result<IntakeFigures> {
    for name in ["routing-1", "notification-1", "analytics-1"] {
        stack.terminate(name, Duration::from_secs(30)).await?;
    }
    let intake = stack.db("intake").await?;
    let grpc = run(stack, plan, Api::Grpc, &intake).await?;
    eprintln!("bench:   gRPC {:.0}/s", grpc.per_second);
    let json = run(stack, plan, Api::Json, &intake).await?;
    eprintln!("bench:   JSON {:.0}/s", json.per_second);
    let server_metrics = observe::scrape(
        stack,
        "intake",
        &[
            "lapor_grpc_request_duration_seconds",
            "lapor_http_request_duration_seconds",
        ],
    )
    .await
    .into_iter()
    .filter(|m| m.labels.contains("SubmitComplaint") || m.labels.contains("\"/api/v1/complaints\""))
    .collect();
    let _ = intake.close().await;
    Ok(IntakeFigures {
        grpc,
        json,
        server_metrics,
    })
}

async fn run(stack: &ProcessStack, plan: &Plan, api: Api, intake: &DatabaseConnection) -> anyhow::Result<ChannelRun> {
    let label = if api == Api::Grpc { "grpc" } else { "json" };
    let stored_before = db::int(intake, "SELECT count(*) FROM complaints").await?;
    let load = Arc::new(Load {
        run: format!("bench-{}-{label}", std::process::id()),
        next: AtomicUsize::new(0),
        accepted: AtomicU64::new(0),
        shed: AtomicU64::new(0),
        errors: Mutex::default(),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    // A JoinSet: should the run fail halfway, dropping it stops every client.
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..plan.intake_clients {
        let load = load.clone();
        match api {
            Api::Grpc => {
                let port = stack.grpc_port("intake");
                let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
                    .connect()
                    .await
                    .context("intake gRPC")?;
                clients.spawn(client(load, move |request| {
                    let mut client = IntakeServiceClient::new(channel.clone());
                    async move { submit_grpc(&mut client, request).await }
                }))
            }
            Api::Json => {
                let url = format!("http://127.0.0.1:{}/api/v1/complaints", stack.http_port("intake"));
                let http = reqwest::Client::new();
                clients.spawn(client(load, move |request| {
                    let (http, url) = (http.clone(), url.clone());
                    async move { submit_json(&http, &url, request).await }
                }))
            }
        };
    }
    tokio::time::sleep(plan.intake_warmup).await;
    let window_start = chrono::Utc::now();
    let (first, started, cpu_before) = (load.accepted.load(Ordering::Relaxed), Instant::now(), cpu::snapshot());
    load.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(plan.intake_measure).await;
    load.measuring.store(false, Ordering::Relaxed);
    let (last, seconds) = (load.accepted.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
    let cpu = cpu::between(&cpu_before, &cpu::snapshot());
    let window_end = chrono::Utc::now();
    load.stop.store(true, Ordering::Relaxed);
    let mut request = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    while let Some(durations) = clients.join_next().await {
        request.add(durations?)?;
    }

    // Nothing lost, nothing doubled: every accepted submission is one stored complaint.
    let accepted_total = load.accepted.load(Ordering::Relaxed) as i64;
    let errors = load.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let stored = db::int(intake, "SELECT count(*) FROM complaints").await? - stored_before;
    anyhow::ensure!(
        stored >= accepted_total && stored <= accepted_total + errors.len() as i64,
        "{label}: {accepted_total} accepted but {stored} complaints stored"
    );
    anyhow::ensure!(
        errors.is_empty(),
        "{label}: {} failed submissions, e.g. {}",
        errors.len(),
        errors[0]
    );
    wait_for_relay(intake, label).await?;
    let outbox_lag = outbox_lag(intake, window_start, window_end).await?;
    Ok(ChannelRun {
        channel: label,
        clients: plan.intake_clients,
        seconds,
        accepted: last - first,
        per_second: (last - first) as f64 / seconds,
        shed: load.shed.load(Ordering::Relaxed),
        errors,
        request: Percentiles::of(&request),
        cpu,
        outbox_lag,
    })
}

/// One client: submits until told to stop; returns the durations it measured (µs).
async fn client<F, Fut>(load: Arc<Load>, mut submit: F) -> Histogram<u64>
where
    F: FnMut(SubmitComplaintRequest) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut durations = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
    while !load.stop.load(Ordering::Relaxed) {
        let n = load.next.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = submit(bridge_complaint(&load.run, n)).await;
        let took = started.elapsed().as_micros() as u64;
        match outcome {
            Outcome::Accepted => {
                load.accepted.fetch_add(1, Ordering::Relaxed);
                if load.measuring.load(Ordering::Relaxed) {
                    durations.saturating_record(took.max(1));
                }
            }
            Outcome::Shed => {
                load.shed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed(error) => {
                if let Ok(mut errors) = load.errors.lock() {
                    errors.push(format!("#{n}: {error}"));
                }
            }
        }
    }
    durations
}

async fn submit_grpc(
    client: &mut IntakeServiceClient<tonic::transport::Channel>,
    request: SubmitComplaintRequest,
) -> Outcome {
    match client.submit_complaint(request).await {
        Ok(_) => Outcome::Accepted,
        Err(status) if matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable) => {
            Outcome::Shed
        }
        Err(status) => Outcome::Failed(format!("{:?} {}", status.code(), status.message())),
    }
}

/// The same complaint as the gRPC clients send, as the JSON API takes it.
async fn submit_json(http: &reqwest::Client, url: &str, request: SubmitComplaintRequest) -> Outcome {
    let reporter = request.reporter.unwrap_or_default();
    let body = serde_json::json!({
        "title": request.title,
        "body": request.body,
        "category_code": request.category_code,
        "kabupaten_code": request.kabupaten_code,
        "location": request.location,
        "reporter": {"name": reporter.name, "email": reporter.email},
    });
    let sent = http
        .post(url)
        .header("Idempotency-Key", &request.idempotency_key)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status() == reqwest::StatusCode::CREATED => Outcome::Accepted,
        Ok(response) if matches!(response.status().as_u16(), 429 | 503) => Outcome::Shed,
        Ok(response) => Outcome::Failed(format!(
            "HTTP {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        )),
        Err(error) => Outcome::Failed(error.to_string()),
    }
}

/// The relay must publish everything the flood left in the outbox, soon after it ends.
async fn wait_for_relay(intake: &DatabaseConnection, label: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = db::int(intake, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await?;
        if pending == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{label}: {pending} outbox rows still unpublished a minute after the run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn outbox_lag(
    intake: &DatabaseConnection,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<OutboxLag> {
    let lag = "extract(epoch FROM published_at - created_at) * 1000";
    let window = format!(
        "FROM outbox WHERE event_type = 'complaint.submitted' AND created_at >= {} AND created_at < {}",
        db::timestamp(from),
        db::timestamp(to)
    );
    let rows = db::int(intake, &format!("SELECT count(*) {window}")).await?;
    let quantile = async |q: f64| {
        db::float(
            intake,
            &format!("SELECT coalesce(percentile_cont({q}) WITHIN GROUP (ORDER BY {lag}), 0)::float8 {window}"),
        )
        .await
    };
    Ok(OutboxLag {
        rows,
        p50_ms: quantile(0.5).await?,
        p99_ms: quantile(0.99).await?,
        max_ms: db::float(intake, &format!("SELECT coalesce(max({lag}), 0)::float8 {window}")).await?,
    })
}
