//! The deadline scheduler across real routing processes (the built `lapor-routing` binary):
//! three replicas share 1,000 due deadlines while one is killed with SIGKILL, and a replica
//! whose clock runs hours ahead (libfaketime) fires nothing early.

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use lapor_domain::reference::OfficerRole;
use lapor_e2e::process::{ProcessFixture, dev_token, exec, free_port, log_sink, scalar, service_binary};
use lapor_e2e::rabbit;
use lapor_e2e::stack::{authorized, repo_root};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use lapor_proto::routing::v1::routing_service_client::RoutingServiceClient;
use lapor_proto::routing::v1::{CaseRef, PostFollowUpRequest};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use uuid::Uuid;

const DEV_SECRET: &str = "scheduler-test-secret-0123456789abcdef";

/// One routing process with its own ports, on the shared test database and vhost.
struct Replica {
    child: Child,
    grpc_port: u16,
    http_port: u16,
}

impl Replica {
    /// `clock_ahead`: run under `faketime` with the wall clock this far ahead.
    fn start(database_url: &str, vhost: &str, clock_ahead: Option<&str>) -> Replica {
        let (grpc_port, http_port) = (free_port(), free_port());
        let mut command = Command::new(service_binary("lapor-routing"));
        if let Some(offset) = clock_ahead {
            // libfaketime preloaded into the replica itself, not the `faketime` wrapper: the
            // wrapper forks, so killing it would leave the replica running.
            command
                .env("LD_PRELOAD", libfaketime())
                .env("FAKETIME", offset)
                // Only the wall clock: tokio's timers keep the real monotonic clock.
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let child = command
            .current_dir(repo_root())
            .env("LAPOR_CONFIG_DIR", "/nonexistent-lapor-config")
            .env("LAPOR__DATABASE__URL", database_url)
            .env("LAPOR__DATABASE__MAX_CONNECTIONS", "4")
            .env("LAPOR__AMQP__URL", rabbit::amqp_url(vhost))
            .env("LAPOR__GRPC__ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("LAPOR__HTTP__ADDR", format!("127.0.0.1:{http_port}"))
            .env("LAPOR__SEED__DIR", repo_root().join("deploy/seed"))
            .env("LAPOR__AUTH__DEV_SECRET", DEV_SECRET)
            .env("LAPOR__SCHEDULER__POLL_INTERVAL_MS", "1000")
            .env("RUST_LOG", "info")
            .stdout(log_sink())
            .stderr(log_sink())
            .spawn()
            .expect("start lapor-routing");
        Replica {
            child,
            grpc_port,
            http_port,
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no drain, no goodbye to PostgreSQL or RabbitMQ.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The preload library of Debian's `faketime` package, wherever the architecture puts it.
fn libfaketime() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .flatten()
        .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
        .find(|lib| lib.exists())
        .expect("libfaketime is installed (deploy/scripts/ensure-infra.sh installs faketime)")
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Inserts `n` assigned dinkes cases, each with one breach timer due `first_due_ms` from the
/// database's now, spread `spread_ms` apart. Returns their tracking ids.
async fn insert_due_cases(
    db: &DatabaseConnection,
    label: &str,
    n: usize,
    first_due_ms: i64,
    spread_ms: i64,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
        let mut cases = Vec::new();
        let mut deadlines = Vec::new();
        for &i in chunk {
            let complaint_id = Uuid::now_v7();
            let tracking_id = lapor_domain::tracking_id::generate();
            cases.push(format!(
                "('{complaint_id}', '{tracking_id}', '{label} {i}', 'isi', 'kesehatan.puskesmas', '6303', 'lokasi', \
                 'grpc', 'aduan', false, false, 'ref', 'dinkes', 'assigned', now(), 'follow_up', now(), 5, \
                 now() + interval '5 days')"
            ));
            deadlines.push(format!(
                "('{complaint_id}', 'follow_up', 'breach', 'dinkes', 'kepala,koordinator', 1.0, now(), 5, \
                 now() + make_interval(secs => {}), 1)",
                (first_due_ms + i as i64 * spread_ms) as f64 / 1000.0
            ));
            ids.push(tracking_id);
        }
        exec(
            db,
            &format!(
                "INSERT INTO cases (complaint_id, tracking_id, title, body, category_code, kabupaten_code, location, \
                 channel, kind, anonim, rahasia, reporter_ref, skpd_code, state, submitted_at, sla_stage, \
                 sla_started_at, sla_working_days, sla_due_at) VALUES {}",
                cases.join(", ")
            ),
        )
        .await;
        exec(
            db,
            &format!(
                "INSERT INTO deadlines (complaint_id, stage, step, skpd_code, notify_roles, at_fraction, started_at, \
                 working_days, due_at, case_version) VALUES {}",
                deadlines.join(", ")
            ),
        )
        .await;
    }
    ids
}

fn penghubung_token() -> String {
    dev_token(
        DEV_SECRET,
        "scheduler-test-penghubung",
        OfficerRole::Penghubung,
        Some("dinkes"),
    )
}

async fn routing_client(port: u16) -> RoutingServiceClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .connect()
            .await
        {
            Ok(channel) => return RoutingServiceClient::new(channel),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(error) => panic!("routing replica on {port} never listened: {error}"),
        }
    }
}

/// Collects escalation events from a queue bound to `complaint.escalated.#` until `want`
/// distinct deadlines were seen: deadline id → the event ids that carried it.
async fn collect_escalations(vhost: &str, queue: &str, want: usize) -> BTreeMap<i64, BTreeSet<String>> {
    let connection = Connection::connect(&rabbit::amqp_url(vhost), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "scheduler-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut seen: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(delivery)) = tokio::time::timeout(left, consumer.next()).await else {
            break;
        };
        let delivery = delivery.expect("delivery");
        let envelope = EventEnvelope::decode(delivery.data.as_slice()).expect("envelope");
        if let Some(Payload::ComplaintEscalated(escalated)) = &envelope.payload {
            seen.entry(escalated.deadline_id)
                .or_default()
                .insert(envelope.event_id.clone());
        }
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
    }
    // Anything else already waiting would be a second firing: drain briefly.
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
        let envelope = EventEnvelope::decode(delivery.data.as_slice()).expect("envelope");
        if let Some(Payload::ComplaintEscalated(escalated)) = &envelope.payload {
            seen.entry(escalated.deadline_id)
                .or_default()
                .insert(envelope.event_id.clone());
        }
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.close(200, "done".into())).await;
    seen
}

async fn bind_observer(vhost: &str, queue: &str) {
    let connection = Connection::connect(&rabbit::amqp_url(vhost), ConnectionProperties::default())
        .await
        .expect("amqp");
    // The replicas declare lapor.events on start; until then a bind fails with NOT_FOUND,
    // which closes the channel, so each attempt takes a fresh one.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let channel = connection.create_channel().await.expect("channel");
        channel
            .queue_declare(queue.into(), QueueDeclareOptions::default(), FieldTable::default())
            .await
            .expect("observer queue");
        let bound = channel
            .queue_bind(
                queue.into(),
                lapor_messaging::topology::EVENTS_EXCHANGE.into(),
                "complaint.escalated.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await;
        match bound {
            Ok(()) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(error) => panic!("bind observer: {error}"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.close(200, "done".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_deadlines_fire_exactly_once_across_replicas_despite_sigkill() {
    const N: usize = 1000;
    let fixture = ProcessFixture::new("sched", "routing").await;
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&fixture.url(), &fixture.name, None))
        .collect();
    fixture
        .wait_for_schema("SELECT count(*) FROM skpds", || {
            replicas.iter_mut().all(Replica::running)
        })
        .await;
    let mut client = routing_client(replicas[0].grpc_port).await;
    for replica in &replicas[1..] {
        routing_client(replica.grpc_port).await;
    }
    bind_observer(&fixture.name, "test.escalations").await;

    // 1,000 deadlines due 4–6 s from now, and 20 cases that are resolved just before theirs.
    let due = insert_due_cases(&fixture.db, "due", N, 4_000, 2).await;
    let resolved = insert_due_cases(&fixture.db, "resolved", 20, 5_000, 10).await;
    let token = penghubung_token();
    for tracking_id in &resolved {
        client
            .post_follow_up(authorized(
                PostFollowUpRequest {
                    case: Some(CaseRef {
                        tracking_id: tracking_id.clone(),
                        expected_version: 1,
                    }),
                    text: "Sudah ditangani.".into(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("follow-up before the deadline");
    }

    // Mid-run: the first deadlines are firing when one replica dies without a word.
    tokio::time::sleep(Duration::from_millis(4_800)).await;
    replicas[1].kill();

    let started = Instant::now();
    loop {
        let fired = scalar(
            &fixture.db,
            "SELECT count(*) FROM deadlines d JOIN cases c USING (complaint_id) \
             WHERE c.title LIKE 'due %' AND d.fired_at IS NOT NULL",
        )
        .await;
        if fired as usize == N {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {fired} of {N} deadlines fired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Each fired within 5 s of its due time, by the database clock.
    let late = scalar(
        &fixture.db,
        "SELECT count(*) FROM deadlines WHERE fired_at IS NOT NULL AND fired_at - due_at > interval '5 seconds'",
    )
    .await;
    assert_eq!(late, 0, "deadlines fired more than 5 s late");
    let worst_ms = scalar(
        &fixture.db,
        "SELECT coalesce(max(extract(epoch FROM fired_at - due_at) * 1000), 0)::bigint FROM deadlines \
         WHERE fired_at IS NOT NULL",
    )
    .await;
    // Exactly one outbox event per deadline, none for the resolved cases.
    let events = scalar(
        &fixture.db,
        "SELECT count(*) FROM outbox WHERE event_type = 'complaint.escalated.breach'",
    )
    .await;
    assert_eq!(events as usize, N, "one escalation event per deadline");
    let resolved_fired = scalar(
        &fixture.db,
        "SELECT count(*) FROM deadlines d JOIN cases c USING (complaint_id) \
         WHERE c.title LIKE 'resolved %' AND d.fired_at IS NOT NULL",
    )
    .await;
    assert_eq!(resolved_fired, 0, "a resolved case fired");
    let resolved_cancelled = scalar(
        &fixture.db,
        "SELECT count(*) FROM deadlines d JOIN cases c USING (complaint_id) \
         WHERE c.title LIKE 'resolved %' AND d.step = 'breach' AND d.cancelled_at IS NOT NULL",
    )
    .await;
    assert_eq!(resolved_cancelled, 20);

    // On the wire: every deadline arrives, each under exactly one event id.
    let seen = collect_escalations(&fixture.name, "test.escalations", N).await;
    assert_eq!(seen.len(), N, "deadlines seen on the broker");
    let twice: Vec<_> = seen.iter().filter(|(_, ids)| ids.len() != 1).collect();
    assert!(twice.is_empty(), "deadlines fired twice: {twice:?}");
    let by_replica = fixture
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT fired_by, count(*) AS n FROM deadlines WHERE fired_at IS NOT NULL GROUP BY fired_by",
        ))
        .await
        .expect("by replica");
    let shares: Vec<(String, i64)> = by_replica
        .iter()
        .map(|r| (r.try_get("", "fired_by").expect("by"), r.try_get("", "n").expect("n")))
        .collect();
    println!("{N} deadlines fired, worst lag {worst_ms} ms, shares per replica: {shares:?}");
    assert_eq!(due.len(), N);

    drop(replicas);
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_with_clock_hours_ahead_fires_nothing_early() {
    // The replica really runs 5 hours ahead under faketime.
    let faked = Command::new("faketime")
        .args(["-f", "+5h", "date", "+%s"])
        .output()
        .expect("faketime is installed (deploy/scripts/ensure-infra.sh)");
    let faked: i64 = String::from_utf8_lossy(&faked.stdout).trim().parse().expect("epoch");
    assert!(
        faked - chrono::Utc::now().timestamp() > 4 * 3600,
        "faketime does not skew the clock"
    );

    let fixture = ProcessFixture::new("skew", "routing").await;
    let mut replica = Replica::start(&fixture.url(), &fixture.name, Some("+5h"));
    fixture
        .wait_for_schema("SELECT count(*) FROM skpds", || replica.running())
        .await;
    routing_client(replica.grpc_port).await;
    // The replica itself runs ahead: its HTTP `Date` header is taken from its wall clock.
    let answer = reqwest::get(format!("http://127.0.0.1:{}/healthz", replica.http_port))
        .await
        .expect("replica answers");
    let date = answer.headers()["date"].to_str().expect("ascii").to_owned();
    let replica_now = chrono::DateTime::parse_from_rfc2822(&date).expect("HTTP date");
    assert!(
        replica_now.timestamp() - chrono::Utc::now().timestamp() > 4 * 3600,
        "the replica's clock is not ahead: {date}"
    );
    // 50 deadlines due within the next 1–4 hours (before the replica's clock), 5 already due.
    insert_due_cases(&fixture.db, "future", 50, 3_600_000, 200_000).await;
    insert_due_cases(&fixture.db, "due", 5, -1_000, 0).await;

    let started = Instant::now();
    loop {
        let fired_due = scalar(
            &fixture.db,
            "SELECT count(*) FROM deadlines d JOIN cases c USING (complaint_id) \
             WHERE c.title LIKE 'due %' AND d.fired_at IS NOT NULL",
        )
        .await;
        if fired_due == 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the skewed replica fired nothing at all"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A few more scheduler ticks for it to misbehave.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early = scalar(
        &fixture.db,
        "SELECT count(*) FROM deadlines d JOIN cases c USING (complaint_id) \
         WHERE c.title LIKE 'future %' AND d.fired_at IS NOT NULL",
    )
    .await;
    assert_eq!(early, 0, "a replica with a fast clock fired deadlines early");
    drop(replica);
    fixture.cleanup().await;
}
