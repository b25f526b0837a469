//! Chaos: two replicas of every service, complaints submitted at a steady rate, while
//! - a random replica is killed with SIGKILL every few seconds and started again,
//! - `rabbitmqctl close_all_connections` runs once, and RabbitMQ's app is stopped and
//!   started once,
//! - the services' PostgreSQL backends are terminated once (`pg_terminate_backend`),
//! - and two poison messages are published.
//!
//! Afterwards: every accepted complaint is exactly one case, assigned once; each liaison
//! officer got each notification exactly once; analytics counted exactly the accepted
//! complaints; the only dead letters are the poison messages; every outbox is drained.
//!
//! `make test` runs the reduced version (300 complaints); `make chaos` the full one (5,000).

use lapor_domain::Directory;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::eventually;
use lapor_e2e::load::{bridge_complaint, submit_until_accepted};
use lapor_e2e::process::scalar;
use lapor_e2e::process_stack::ProcessStack;
use lapor_e2e::rabbit;
use lapor_messaging::{Broker, dead_letters};
use lapor_proto::events::v1::EventEnvelope;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SKPD: &str = "pupr";
const CLIENTS: usize = 4;

/// A small xorshift: which replica dies is random, but the seed is printed to replay a run.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// Submits `total` complaints at `per_second`, from [`CLIENTS`] clients, each retried on
/// another intake replica with the same idempotency key until accepted.
fn start_load(
    total: usize,
    per_second: u64,
    ports: Arc<Mutex<Vec<u16>>>,
    accepted: Arc<Mutex<BTreeSet<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    (0..CLIENTS)
        .map(|_| {
            let (next, ports, accepted, failures) = (next.clone(), ports.clone(), accepted.clone(), failures.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    // Pace: complaint n is due n/per_second seconds after the start.
                    let due = started + Duration::from_millis(n as u64 * 1000 / per_second.max(1));
                    tokio::time::sleep_until(due.into()).await;
                    match submit_until_accepted(
                        &ports,
                        &bridge_complaint("chaos", n),
                        n,
                        600,
                        Duration::from_millis(100),
                    )
                    .await
                    {
                        Ok(tracking_id) => {
                            accepted.lock().expect("accepted").insert(tracking_id);
                        }
                        Err(status) => failures.lock().expect("failures").push(format!("#{n}: {status:?}")),
                    }
                }
            })
        })
        .collect()
}

async fn publish_poison(stack: &ProcessStack, count: usize) -> BTreeSet<String> {
    let connection = lapin::Connection::connect(&stack.amqp_url(), lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let mut ids = BTreeSet::new();
    for _ in 0..count {
        // A well-formed envelope no consumer knows how to apply: dead-lettered by design.
        let poison = EventEnvelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: "complaint.submitted".into(),
            complaint_id: uuid::Uuid::new_v4().to_string(),
            schema_version: 1,
            ..Default::default()
        };
        channel
            .basic_publish(
                "lapor.events".into(),
                "complaint.submitted".into(),
                lapin::options::BasicPublishOptions::default(),
                &poison.encode_to_vec(),
                lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(poison.event_id.as_str().into()),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        ids.insert(poison.event_id);
    }
    let _ = connection.close(200, "done".into()).await;
    ids
}

async fn terminate_backends(prefix: &str) -> i64 {
    let admin = sea_orm::Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("postgres");
    let killed = scalar(
        &admin,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname LIKE '{prefix}\\_%' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    let _ = admin.close().await;
    killed
}

async fn run_chaos(label: &str, total: usize, per_second: u64) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("chaos {label}: {total} complaints at {per_second}/s, seed {seed}");
    let mut dice = Dice(seed);
    let mut stack = ProcessStack::start(label, 2, Vec::new()).await.expect("stack starts");
    let ports = Arc::new(Mutex::new(vec![
        stack.replica("intake-1").grpc_port,
        stack.replica("intake-2").grpc_port,
    ]));
    let accepted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = start_load(total, per_second, ports.clone(), accepted.clone(), failures.clone());
    let poison = publish_poison(&stack, 2).await;

    // Faults every two seconds until the load is done and each one-off fault happened.
    let mut tick = 0usize;
    while tick < 8 || load.iter().any(|client| !client.is_finished()) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        tick += 1;
        match tick {
            2 => {
                rabbit::rabbitmqctl_output(&["close_all_connections", "chaos"])
                    .await
                    .expect("close_all_connections");
                println!("chaos: closed every broker connection");
            }
            4 => {
                rabbit::rabbitmqctl_output(&["stop_app"]).await.expect("stop_app");
                tokio::time::sleep(Duration::from_secs(3)).await;
                rabbit::rabbitmqctl_output(&["start_app"]).await.expect("start_app");
                println!("chaos: restarted the RabbitMQ app");
            }
            6 => {
                let killed = terminate_backends(&stack.prefix).await;
                println!("chaos: terminated {killed} database backends");
            }
            _ => {
                let names = stack.names();
                let name = names[dice.roll(names.len())].clone();
                let replica = stack.replica(&name);
                let (service, index) = (
                    replica.service,
                    name.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap_or(1),
                );
                stack.kill(&name);
                stack.spawn(service, index).expect("restart");
                stack
                    .wait_ready(&name, Duration::from_secs(120))
                    .await
                    .unwrap_or_else(|e| panic!("{name} after SIGKILL: {e}"));
                if service == "intake" {
                    ports.lock().expect("ports")[index - 1] = stack.replica(&name).grpc_port;
                }
                println!("chaos: killed and restarted {name}");
            }
        }
    }
    for client in load {
        client.await.expect("load client");
    }
    let failures = failures.lock().expect("failures").clone();
    assert!(failures.is_empty(), "non-retryable failures: {failures:?}");
    let accepted = accepted.lock().expect("accepted").clone();
    assert_eq!(accepted.len(), total, "every submission was accepted in the end");
    let expected = total as i64;
    let wait = Duration::from_secs(60 + total as u64 / 20);

    // One complaint, one case, one assignment each.
    let intake = stack.db("intake").await.expect("db");
    assert_eq!(scalar(&intake, "SELECT count(*) FROM complaints").await, expected);
    let routing = stack.db("routing").await.expect("db");
    eventually("every complaint assigned", wait, || async {
        (scalar(&routing, "SELECT count(*) FROM cases WHERE state = 'assigned'").await == expected).then_some(())
    })
    .await;
    assert_eq!(scalar(&routing, "SELECT count(*) FROM cases").await, expected);
    assert_eq!(
        scalar(
            &routing,
            "SELECT count(*) FROM outbox WHERE event_type = 'complaint.assigned'"
        )
        .await,
        expected,
        "exactly one assignment event per case"
    );

    // Each liaison officer: each notification exactly once.
    let directory = Directory::load(&lapor_e2e::stack::repo_root().join("deploy/seed")).expect("seed");
    let officers: BTreeSet<String> = directory
        .officers_of(SKPD, OfficerRole::Penghubung)
        .map(|o| o.email.clone())
        .collect();
    let notification = stack.db("notification").await.expect("db");
    let per_officer = expected * officers.len() as i64;
    eventually("every officer e-mail sent", wait, || async {
        let sent = scalar(
            &notification,
            &format!(
                "SELECT count(*) FROM deliveries d JOIN recipients r ON r.id = d.recipient_id \
                 WHERE d.channel = 'email' AND d.state IN ('SENT', 'DELIVERED') AND r.role = 'penghubung' \
                 AND r.skpd_code = '{SKPD}'"
            ),
        )
        .await;
        (sent == per_officer).then_some(())
    })
    .await;
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for mail in stack.smtp.messages() {
        let Some(tracking_id) = accepted.iter().find(|t| mail.raw.contains(t.as_str())) else {
            continue;
        };
        for rcpt in mail.rcpt_to.iter().filter(|r| officers.contains(*r)) {
            *received.entry((tracking_id.clone(), rcpt.clone())).or_default() += 1;
        }
    }
    assert_eq!(
        received.len(),
        accepted.len() * officers.len(),
        "every officer got every case"
    );
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "an officer got a case twice: {twice:?}");

    // Analytics counted exactly the accepted complaints.
    let analytics = stack.db("analytics").await.expect("db");
    eventually("analytics counted every complaint", wait, || async {
        (scalar(
            &analytics,
            "SELECT count(*) FROM complaint_facts WHERE state = 'assigned'",
        )
        .await
            == expected)
            .then_some(())
    })
    .await;
    assert_eq!(
        scalar(&analytics, "SELECT count(*) FROM complaint_facts").await,
        expected
    );

    // Dead letters: the poison, and nothing else.
    let broker = Broker::new(stack.amqp_url(), "chaos-check");
    let channel = broker.channel().await.expect("channel");
    let mut dead_poison = 0usize;
    for (queue, messages) in rabbit::queues(&stack.prefix).await.expect("queues") {
        let Some(work_queue) = queue.strip_suffix(".dead") else {
            continue;
        };
        if messages == 0 {
            continue;
        }
        let letters = dead_letters::list(&channel, work_queue, 1000)
            .await
            .expect("dead letters");
        for letter in &letters {
            assert!(
                poison.contains(&letter.event_id),
                "{queue} holds {} ({}), not a poison message",
                letter.event_id,
                letter.event_type
            );
        }
        dead_poison += letters.len();
    }
    assert!(
        dead_poison >= poison.len(),
        "the poison messages sit in dead-letter queues"
    );
    broker.close().await;

    for service in lapor_e2e::process_stack::SERVICES {
        let db = stack.db(service).await.expect("db");
        eventually(&format!("{service} outbox drained"), wait, || async {
            (scalar(&db, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0).then_some(())
        })
        .await;
    }
    stack.stop().await.expect("stack stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reduced_chaos_loses_and_duplicates_nothing() {
    run_chaos("chaos", 300, 20).await;
}

/// `make chaos`: the full run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: run with `make chaos`"]
async fn chaos_with_5000_complaints_loses_and_duplicates_nothing() {
    run_chaos("chaosfull", 5000, 50).await;
}
