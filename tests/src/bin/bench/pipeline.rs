//! The full pipeline: complaints offered for `pipeline_offer` (60 s) by clients that pause
//! whenever `pipeline_window` complaints are accepted but not yet through every stage, so
//! each stage always has work and the backlog stays bounded (closed-loop back-pressure on
//! the whole system, not only on intake). A complaint is through when routing assigned
//! its case, notification sent every PUPR liaison officer's e-mail (delivery SENT, and the
//! SMTP sink received it), and analytics counted it. The sustained rate is every accepted
//! complaint divided by the wall time from the first submission until the last of them
//! was through all three stages (observed by polling every 500 ms).

use crate::memory::{Resident, Sampler};
use crate::observe::{self, MetricSummary, PgPerComplaint};
use crate::{Plan, cpu, db};
use anyhow::Context as _;
use lapor_domain::Directory;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::load::bridge_complaint;
use lapor_e2e::process_stack::ProcessStack;
use lapor_e2e::rabbit;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use sea_orm::DatabaseConnection;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The SKPD every bench complaint is disposed to (a damaged bridge: PUPR).
pub const SKPD: &str = "pupr";
const POLL: Duration = Duration::from_millis(500);
/// Once the offer stops, the stages finish their backlog; they fail only when nothing moves
/// for this long.
pub const STALL: Duration = Duration::from_secs(30);
/// The queues a complaint passes through, in order: where the backlog sits is the slowest
/// stage.
const QUEUES: [&str; 5] = [
    "routing.submissions",
    "skpd.pupr",
    "notification.reporters",
    "analytics.events",
    "intake.status",
];

#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineFigures {
    pub clients: usize,
    pub window: u64,
    pub offered_seconds: f64,
    pub accepted: u64,
    /// From the first submission to the last complaint through every stage.
    pub elapsed_seconds: f64,
    pub per_second: f64,
    pub officers_per_complaint: usize,
    /// Every 5 s: complaints through each stage, queue depths, unpublished outbox rows.
    pub timeline: Vec<Sample>,
    pub memory_under_load: Resident,
    pub cpu: Vec<cpu::Share>,
    pub postgres_per_complaint: PgPerComplaint,
    pub consumer_metrics: Vec<MetricSummary>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    #[serde(flatten)]
    pub progress: Progress,
    pub queue_depths: BTreeMap<String, u32>,
    pub outbox_pending: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Progress {
    pub seconds: f64,
    pub accepted: u64,
    pub assigned: i64,
    pub officer_mails_sent: i64,
    pub counted: i64,
}

impl Progress {
    /// Complaints through all three stages, as far as counts tell: the smallest stage.
    fn through(&self, officers: usize) -> i64 {
        self.assigned
            .min(self.officer_mails_sent / officers.max(1) as i64)
            .min(self.counted)
    }
}

/// The services' databases and the broker, to see how far each stage got.
struct Stages {
    intake: DatabaseConnection,
    routing: DatabaseConnection,
    notification: DatabaseConnection,
    analytics: DatabaseConnection,
    broker: lapin::Connection,
}

impl Stages {
    async fn open(stack: &ProcessStack) -> anyhow::Result<Self> {
        Ok(Stages {
            intake: stack.db("intake").await?,
            routing: stack.db("routing").await?,
            notification: stack.db("notification").await?,
            analytics: stack.db("analytics").await?,
            broker: lapin::Connection::connect(&stack.amqp_url(), lapin::ConnectionProperties::default()).await?,
        })
    }

    /// Where the work waits: messages in each queue, rows in each outbox.
    async fn sample(&self, progress: Progress) -> anyhow::Result<Sample> {
        let mut queue_depths = BTreeMap::new();
        for queue in QUEUES {
            if let Some((messages, _)) = rabbit::probe_queue(&self.broker, queue).await {
                queue_depths.insert(queue.to_owned(), messages);
            }
        }
        let mut outbox_pending = BTreeMap::new();
        for (service, db) in [
            ("intake", &self.intake),
            ("routing", &self.routing),
            ("notification", &self.notification),
            ("analytics", &self.analytics),
        ] {
            let pending = db::int(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await?;
            outbox_pending.insert(service.to_owned(), pending);
        }
        Ok(Sample {
            progress,
            queue_depths,
            outbox_pending,
        })
    }

    async fn progress(&self, seconds: f64, accepted: u64) -> anyhow::Result<Progress> {
        Ok(Progress {
            seconds,
            accepted,
            assigned: db::int(&self.routing, "SELECT count(*) FROM cases WHERE state = 'assigned'").await?,
            officer_mails_sent: db::int(&self.notification, &officer_mails_sent(None)).await?,
            counted: db::int(
                &self.analytics,
                "SELECT count(*) FROM complaint_facts WHERE state = 'assigned'",
            )
            .await?,
        })
    }

    async fn close(self) {
        for db in [self.intake, self.routing, self.notification, self.analytics] {
            let _ = db.close().await;
        }
        let _ = self.broker.close(200, "pipeline measured".into()).await;
    }
}

/// Officer e-mails the SKPD's liaison officers were sent, optionally only for deliveries
/// created from `since` (a SQL timestamp).
pub fn officer_mails_sent(since: Option<&str>) -> String {
    let since = since.map_or(String::new(), |s| format!(" AND d.created_at >= {s}"));
    format!(
        "SELECT count(*) FROM deliveries d JOIN recipients r ON r.id = d.recipient_id \
         WHERE d.channel = 'email' AND d.state IN ('SENT', 'DELIVERED') AND r.role = 'penghubung' \
         AND r.skpd_code = '{SKPD}'{since}"
    )
}

/// The PUPR liaison officers from the seed directory: each bench complaint mails each.
pub fn officers() -> anyhow::Result<BTreeSet<String>> {
    let directory = Directory::load(&lapor_e2e::stack::repo_root().join("deploy/seed")).context("seed directory")?;
    let officers: BTreeSet<String> = directory
        .officers_of(SKPD, OfficerRole::Penghubung)
        .map(|o| o.email.clone())
        .collect();
    anyhow::ensure!(!officers.is_empty(), "{SKPD} has no liaison officers in the seed");
    Ok(officers)
}

pub async fn measure(stack: &ProcessStack, plan: &Plan) -> anyhow::Result<PipelineFigures> {
    let officers = officers()?;
    let stages = Stages::open(stack).await?;
    let pg_before = observe::pg_counters(stack).await?;
    let cpu_before = cpu::snapshot();
    let memory = Sampler::start(stack);
    let outcome = offer_and_drain(stack, plan, &stages, officers.len()).await;
    let memory_under_load = memory.finish().await;
    let cpu = cpu::between(&cpu_before, &cpu::snapshot());
    let consumer_metrics = observe::consumers(stack).await;
    stages.close().await;
    let (accepted, offered_seconds, elapsed_seconds, timeline) = outcome?;
    let pg_after = observe::pg_counters(stack).await?;
    verify_mailbox(stack, &officers, accepted).await?;
    Ok(PipelineFigures {
        clients: plan.pipeline_clients,
        window: plan.pipeline_window,
        offered_seconds,
        accepted,
        elapsed_seconds,
        per_second: accepted as f64 / elapsed_seconds,
        officers_per_complaint: officers.len(),
        timeline,
        memory_under_load,
        cpu,
        postgres_per_complaint: observe::per_complaint(&pg_before, &pg_after, accepted),
        consumer_metrics,
    })
}

type Offered = (u64, f64, f64, Vec<Sample>);

async fn offer_and_drain(
    stack: &ProcessStack,
    plan: &Plan,
    stages: &Stages,
    officers: usize,
) -> anyhow::Result<Offered> {
    let accepted = Arc::new(AtomicU64::new(0));
    let through = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let run = format!("bench-{}-pipeline", std::process::id());
    let port = stack.grpc_port("intake");
    // A JoinSet: should the run fail halfway, dropping it stops every client.
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..plan.pipeline_clients {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect()
            .await
            .context("intake gRPC")?;
        let (accepted, through, stop, next, run, window) = (
            accepted.clone(),
            through.clone(),
            stop.clone(),
            next.clone(),
            run.clone(),
            plan.pipeline_window,
        );
        clients.spawn(async move {
            let mut client = IntakeServiceClient::new(channel);
            while !stop.load(Ordering::Relaxed) {
                if accepted.load(Ordering::Relaxed) >= through.load(Ordering::Relaxed) + window {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                client
                    .submit_complaint(bridge_complaint(&run, n))
                    .await
                    .map_err(|status| anyhow::anyhow!("complaint #{n}: {:?} {}", status.code(), status.message()))?;
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }

    // Poll the stages: feeds the clients' back-pressure, and tells when everything is through.
    let started = Instant::now();
    let mut timeline: Vec<Sample> = Vec::new();
    let mut offered_seconds = None;
    let mut moved = (0i64, Instant::now());
    loop {
        tokio::time::sleep(POLL).await;
        let seconds = started.elapsed().as_secs_f64();
        if offered_seconds.is_none() && started.elapsed() >= plan.pipeline_offer {
            stop.store(true, Ordering::Relaxed);
            while let Some(client) = clients.join_next().await {
                client??;
            }
            offered_seconds = Some(started.elapsed().as_secs_f64());
        }
        let total = accepted.load(Ordering::Relaxed);
        let progress = stages.progress(seconds, total).await?;
        let done = progress.assigned + progress.officer_mails_sent + progress.counted;
        if done != moved.0 {
            moved = (done, Instant::now());
        }
        through.store(progress.through(officers).max(0) as u64, Ordering::Relaxed);
        let expected_mails = total as i64 * officers as i64;
        anyhow::ensure!(
            progress.assigned <= total as i64
                && progress.counted <= total as i64
                && progress.officer_mails_sent <= expected_mails,
            "more done than accepted (a complaint handled twice): {progress:?}"
        );
        let finished = offered_seconds.is_some()
            && progress.assigned == total as i64
            && progress.counted == total as i64
            && progress.officer_mails_sent == expected_mails;
        if finished
            || timeline
                .last()
                .is_none_or(|last| seconds - last.progress.seconds >= 5.0)
        {
            timeline.push(stages.sample(progress).await?);
        }
        if let Some(offered) = offered_seconds {
            if finished {
                eprintln!(
                    "bench:   {total} complaints through every stage in {seconds:.1} s ({:.0}/s)",
                    total as f64 / seconds
                );
                return Ok((total, offered, seconds, timeline));
            }
            anyhow::ensure!(
                moved.1.elapsed() < STALL,
                "no stage moved for {STALL:?} with complaints still to go: {progress:?}"
            );
        }
    }
}

/// The SMTP sink received exactly one e-mail per accepted complaint and officer: what
/// notification marked SENT really left, and nothing went twice.
async fn verify_mailbox(stack: &ProcessStack, officers: &BTreeSet<String>, complaints: u64) -> anyhow::Result<()> {
    let expected = complaints as usize * officers.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let received: usize = stack
            .smtp
            .messages()
            .iter()
            .map(|mail| mail.rcpt_to.iter().filter(|r| officers.contains(*r)).count())
            .sum();
        if received == expected {
            return Ok(());
        }
        anyhow::ensure!(
            received < expected && Instant::now() < deadline,
            "the SMTP sink holds {received} officer e-mails for {complaints} complaints × {} officers",
            officers.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
