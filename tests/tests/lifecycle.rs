//! Graceful shutdown under load: two replicas of every service run as processes while a
//! client submits complaints without pause; each service in turn gets SIGTERM on one
//! replica, which must drain and exit cleanly, and is started again. Every request either
//! succeeds or fails with a status a client retries (UNAVAILABLE, or the connection
//! refused by a replica that already left); every accepted complaint becomes exactly one
//! case, reaches analytics, and nothing is left unpublished.

use lapor_e2e::eventually;
use lapor_e2e::load::{bridge_complaint, submit_until_accepted};
use lapor_e2e::process::scalar;
use lapor_e2e::process_stack::ProcessStack;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
/// Concurrent clients, so SIGTERM always meets requests in flight.
const CLIENTS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_every_service_under_load_and_loses_nothing() {
    let mut stack = ProcessStack::start("lifecycle", 2, Vec::new())
        .await
        .expect("stack starts");
    let intake_ports: Arc<Mutex<Vec<u16>>> = Arc::new(Mutex::new(
        ["intake-1", "intake-2"]
            .iter()
            .map(|n| stack.replica(n).grpc_port)
            .collect(),
    ));
    let accepted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let running = Arc::new(AtomicBool::new(true));

    // The load: four clients, each submitting one complaint after another, each retried on
    // another replica (same idempotency key) until accepted; a retry that replays an
    // earlier accept is fine.
    let load: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (ports, accepted, failures, running) = (
                intake_ports.clone(),
                accepted.clone(),
                failures.clone(),
                running.clone(),
            );
            tokio::spawn(async move {
                let mut n = client * 1_000_000;
                let mut submitted = 0usize;
                while running.load(Ordering::Relaxed) {
                    n += 1;
                    submitted += 1;
                    match submit_until_accepted(
                        &ports,
                        &bridge_complaint("lifecycle", n),
                        n,
                        200,
                        Duration::from_millis(50),
                    )
                    .await
                    {
                        Ok(tracking_id) => {
                            accepted.lock().expect("accepted").insert(tracking_id);
                        }
                        Err(status) => failures.lock().expect("failures").push(format!("#{n}: {status:?}")),
                    }
                }
                submitted
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    for service in ["intake", "routing", "notification", "analytics"] {
        let name = format!("{service}-1");
        let status = stack
            .terminate(&name, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(status.success(), "{name} exited with {status} after SIGTERM");
        // Keep the load on the survivor for a moment, then bring the replica back.
        tokio::time::sleep(Duration::from_secs(1)).await;
        stack.spawn(service, 1).expect("restart");
        stack.wait_ready(&name, WAIT).await.expect("restarted replica ready");
        if service == "intake" {
            let port = stack.replica(&name).grpc_port;
            intake_ports.lock().expect("ports")[0] = port;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    running.store(false, Ordering::Relaxed);
    let mut submitted = 0;
    for client in load {
        submitted += client.await.expect("load task");
    }
    let failures = failures.lock().expect("failures").clone();
    assert!(failures.is_empty(), "non-retryable failures: {failures:?}");
    let accepted = accepted.lock().expect("accepted").clone();
    assert_eq!(accepted.len(), submitted, "every submission was accepted in the end");
    assert!(submitted >= 40, "only {submitted} submissions: not much of a load");

    // Nothing accepted is lost: one case each, each counted by analytics, outboxes empty.
    let routing = stack.db("routing").await.expect("db");
    let analytics = stack.db("analytics").await.expect("db");
    let expected = accepted.len() as i64;
    eventually("every accepted complaint is one case", WAIT, || async {
        (scalar(&routing, "SELECT count(*) FROM cases").await == expected).then_some(())
    })
    .await;
    eventually("analytics counted every complaint", WAIT, || async {
        (scalar(
            &analytics,
            "SELECT count(*) FROM complaint_facts WHERE state = 'assigned'",
        )
        .await
            == expected)
            .then_some(())
    })
    .await;
    for service in ["intake", "routing", "notification", "analytics"] {
        let db = stack.db(service).await.expect("db");
        eventually(&format!("{service} outbox drained"), WAIT, || async {
            (scalar(&db, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0).then_some(())
        })
        .await;
    }
    let intake = stack.db("intake").await.expect("db");
    assert_eq!(
        scalar(&intake, "SELECT count(*) FROM complaints").await,
        expected,
        "one stored complaint per accepted submission, retries included"
    );
    stack.stop().await.expect("stack stops");
}
