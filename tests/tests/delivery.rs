//! Notification's delivery guarantees with real processes (the built `lapor-notification`
//! binary), a real SMTP server (aiosmtpd) and a real SMPP peer (the SMSC simulator):
//!
//! - 1,000 notifications through 10% injected transient failures (SMTP 451, dropped SMTP
//!   connections, SMSC throttling and dropped SMPP sessions) while one of two workers is
//!   killed with SIGKILL and restarted: every one arrives, and arrives once.
//! - Bad recipient data, a template that fails at render time, an oversized SMS and an SMSC
//!   error status each end in a recorded failure with its reason (and the e-mail fallback
//!   where it applies) while other deliveries keep flowing; resend and dead-letter replay
//!   work through gRPC.

use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use lapor_domain::reference::OfficerRole;
use lapor_e2e::eventually;
use lapor_e2e::mailbox::SmtpSink;
use lapor_e2e::process::{ProcessFixture, dev_token, exec, free_port, log_sink, scalar, service_binary};
use lapor_e2e::stack::{SMS_IDEMPOTENCY_TLV, authorized, repo_root, smsc_config};
use lapor_messaging::publisher::{self, Message};
use lapor_messaging::topology::{self, EVENTS_EXCHANGE};
use lapor_messaging::{new_envelope, new_typed_envelope};
use lapor_proto::events::v1::{
    CaseUpdated, ComplaintAssigned, ComplaintEscalated, EventEnvelope, event_envelope::Payload,
};
use lapor_proto::notification::v1::notification_service_client::NotificationServiceClient;
use lapor_proto::notification::v1::{
    ListDeadLettersRequest, ListDeliveriesRequest, Preferences, ReplayDeadLettersRequest, ResendDeliveryRequest,
};
use lapor_smpp::sim::{Faults, Smsc};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;
use uuid::Uuid;

const DEV_SECRET: &str = "delivery-test-secret-0123456789abcdef";

fn admin_token() -> String {
    dev_token(DEV_SECRET, "prov-admin", OfficerRole::Admin, None)
}

/// One notification process.
struct Worker {
    child: Child,
    grpc_port: u16,
}

impl Worker {
    fn start(fixture: &ProcessFixture, smtp_port: u16, smsc: &Smsc, templates: &Path) -> Worker {
        let grpc_port = free_port();
        let child = Command::new(service_binary("lapor-notification"))
            .current_dir(repo_root())
            .env("LAPOR_CONFIG_DIR", "/nonexistent-lapor-config")
            .env("LAPOR__DATABASE__URL", fixture.url())
            .env("LAPOR__DATABASE__MAX_CONNECTIONS", "6")
            .env("LAPOR__AMQP__URL", fixture.amqp_url())
            .env("LAPOR__GRPC__ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("LAPOR__HTTP__ADDR", format!("127.0.0.1:{}", free_port()))
            .env("LAPOR__SEED__DIR", repo_root().join("deploy/seed"))
            .env("LAPOR__AUTH__DEV_SECRET", DEV_SECRET)
            .env("LAPOR__SMTP__PORT", smtp_port.to_string())
            .env("LAPOR__SMS__ADDR", smsc.local_addr().to_string())
            .env("LAPOR__SMS__IDEMPOTENCY_TLV", SMS_IDEMPOTENCY_TLV.to_string())
            .env("LAPOR__SMS__MAX_PER_SECOND", "500")
            .env("LAPOR__TEMPLATES__DIR", templates)
            .env("LAPOR__DELIVERY__LEASE_SECONDS", "3")
            .env("LAPOR__DELIVERY__POLL_INTERVAL_MS", "200")
            // No quiet hours: the suite runs at any hour of the WITA night.
            .env("LAPOR__QUIET_HOURS__START", "00:00")
            .env("LAPOR__QUIET_HOURS__END", "00:00")
            .env("RUST_LOG", "info")
            .stdout(log_sink())
            .stderr(log_sink())
            .spawn()
            .expect("start lapor-notification");
        Worker { child, grpc_port }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no drain, in-flight sends cut off.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn client(&self) -> NotificationServiceClient<tonic::transport::Channel> {
        let endpoint = format!("http://127.0.0.1:{}", self.grpc_port);
        let channel = eventually("notification grpc", Duration::from_secs(30), || {
            let endpoint = endpoint.clone();
            async move {
                tonic::transport::Endpoint::from_shared(endpoint)
                    .ok()?
                    .connect()
                    .await
                    .ok()
            }
        })
        .await;
        NotificationServiceClient::new(channel)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A confirming channel on the suite's vhost, once the workers declared the SKPD queues.
async fn broker(fixture: &ProcessFixture) -> (Connection, Channel) {
    let connection = Connection::connect(&fixture.amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    eventually("skpd queues declared", Duration::from_secs(60), || {
        queue_exists(&connection, "skpd.pupr")
    })
    .await;
    let channel = connection.create_channel().await.expect("channel");
    publisher::enable_confirms(&channel).await.expect("confirms");
    (connection, channel)
}

async fn queue_exists(connection: &Connection, queue: &str) -> Option<()> {
    lapor_e2e::rabbit::probe_queue(connection, queue).await.map(|_| ())
}

/// Publishes to `lapor.events`; retried while the workers are still binding their queues
/// (an unroutable message is returned, not lost).
async fn publish(channel: &Channel, routing_key: &str, envelope: &EventEnvelope) {
    let body = envelope.encode_to_vec();
    let headers = BTreeMap::new();
    for _ in 0..100 {
        let result = publisher::publish(
            channel,
            &Message {
                exchange: EVENTS_EXCHANGE,
                routing_key,
                message_id: &envelope.event_id,
                event_type: &envelope.event_type,
                payload: &body,
                headers: &headers,
                extra_headers: FieldTable::default(),
            },
        )
        .await;
        match result {
            Ok(()) => return,
            Err(publisher::PublishError::Unroutable(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(error) => panic!("publish {routing_key}: {error}"),
        }
    }
    panic!("{routing_key} stayed unroutable");
}

fn assigned(skpd: &str, title: &str) -> EventEnvelope {
    new_envelope(
        "test",
        Uuid::now_v7(),
        &lapor_domain::tracking_id::generate(),
        Payload::ComplaintAssigned(ComplaintAssigned {
            skpd_code: skpd.into(),
            skpd_name: format!("SKPD {skpd}"),
            category_code: "kesehatan.puskesmas".into(),
            kabupaten_code: "6371".into(),
            title: title.into(),
            ..Default::default()
        }),
    )
}

/// The title the doctored e-mail template cannot render.
const BREAKS_TEMPLATE: &str = "Judul yang merusak templat";

fn escalated(skpd: &str, level: &str, roles: &[&str], title: &str) -> EventEnvelope {
    new_typed_envelope(
        "test",
        &format!("complaint.escalated.{level}"),
        Uuid::now_v7(),
        &lapor_domain::tracking_id::generate(),
        Payload::ComplaintEscalated(ComplaintEscalated {
            level: level.into(),
            stage: "follow_up".into(),
            skpd_code: skpd.into(),
            skpd_name: format!("SKPD {skpd}"),
            notify_roles: roles.iter().map(|r| r.to_string()).collect(),
            working_days: 5,
            title: title.into(),
            ..Default::default()
        }),
    )
}

fn message_id_of(raw: &str) -> Option<String> {
    raw.lines()
        .find_map(|l| {
            l.strip_prefix("Message-ID: ")
                .or_else(|| l.strip_prefix("Message-Id: "))
        })
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .split('@')
                .next()
                .unwrap_or("")
                .to_owned()
        })
}

async fn states(fixture: &ProcessFixture) -> BTreeMap<String, i64> {
    let rows = fixture
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT state, count(*) AS n FROM deliveries GROUP BY state",
        ))
        .await
        .expect("states");
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "state").expect("state"),
                r.try_get::<i64>("", "n").expect("n"),
            )
        })
        .collect()
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lapor_{label}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_notifications_arrive_exactly_once_through_faults_and_a_killed_worker() {
    const EVENTS: usize = 250; // × 2 liaison officers × (e-mail + SMS) = 1,000 deliveries
    let fixture = ProcessFixture::new("deliv", "notification").await;
    let maildir = temp_dir("deliv_mail");
    // Every 10th message answered 451, and every 37th connection dropped mid-DATA.
    let smtp = SmtpSink::start_with(maildir.clone(), &["--fail-every", "10", "--drop-every", "37"])
        .await
        .expect("smtp sink");
    let mut config = smsc_config();
    config.faults = Faults {
        throttle_every: Some(10),
        drop_connection_every: Some(97),
        reject_destination_prefix: None,
    };
    let smsc = Smsc::start("127.0.0.1:0", config).await.expect("smsc");
    let templates = repo_root().join("deploy/templates");
    let mut workers = vec![
        Worker::start(&fixture, smtp.port, &smsc, &templates),
        Worker::start(&fixture, smtp.port, &smsc, &templates),
    ];
    fixture
        .wait_for_schema("SELECT count(*) FROM recipients", || {
            workers.iter_mut().all(Worker::running)
        })
        .await;
    let (_connection, channel) = broker(&fixture).await;

    for i in 0..EVENTS {
        let event = assigned("dinkes", &format!("Aduan uji {i}"));
        publish(&channel, "complaint.assigned.dinkes", &event).await;
    }
    // Kill one worker once it is well into the run.
    eventually("a third of the deliveries sent", Duration::from_secs(120), || async {
        let sent = scalar(
            &fixture.db,
            "SELECT count(*) FROM deliveries WHERE state IN ('SENT', 'DELIVERED')",
        )
        .await;
        (sent >= 330).then_some(())
    })
    .await;
    workers[0].kill();
    let in_flight = scalar(&fixture.db, "SELECT count(*) FROM deliveries WHERE state = 'SENDING'").await;
    workers[0] = Worker::start(&fixture, smtp.port, &smsc, &templates);

    let final_states = eventually("every delivery final", Duration::from_secs(240), || async {
        let states = states(&fixture).await;
        let total: i64 = states.values().sum();
        let open = states.get("PENDING").copied().unwrap_or(0) + states.get("SENDING").copied().unwrap_or(0);
        (total == 1_000 && open == 0).then_some(states)
    })
    .await;
    assert_eq!(final_states.get("FAILED"), None, "{final_states:?}");

    // E-mail: every e-mail delivery's Message-ID is in the mailbox exactly once.
    let email_ids: BTreeSet<String> = fixture
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id::text AS id FROM deliveries WHERE channel = 'email'",
        ))
        .await
        .expect("ids")
        .iter()
        .map(|r| r.try_get::<String>("", "id").expect("id"))
        .collect();
    assert_eq!(email_ids.len(), 500);
    let mails = smtp.messages();
    let received: Vec<String> = mails.iter().filter_map(|m| message_id_of(&m.raw)).collect();
    let received_set: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(received.len(), received_set.len(), "a message was stored twice");
    assert_eq!(received_set, email_ids, "every e-mail arrived, and nothing else");

    // SMS: every SMS delivery reached the SMSC once, under its idempotency key.
    let sms_ids: BTreeSet<String> = fixture
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id::text AS id FROM deliveries WHERE channel = 'sms'",
        ))
        .await
        .expect("ids")
        .iter()
        .map(|r| r.try_get::<String>("", "id").expect("id"))
        .collect();
    assert_eq!(sms_ids.len(), 500);
    let texts = smsc.received();
    let keys: Vec<String> = texts.iter().filter_map(|m| m.idempotency_key.clone()).collect();
    let key_set: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(texts.len(), 500, "the SMSC holds one message per SMS delivery");
    assert_eq!(keys.len(), key_set.len());
    assert_eq!(key_set, sms_ids);

    // The faults happened and were retried.
    let retried_email = scalar(
        &fixture.db,
        "SELECT count(*) FROM deliveries WHERE channel = 'email' AND attempts > 1",
    )
    .await;
    let retried_sms = scalar(
        &fixture.db,
        "SELECT count(*) FROM deliveries WHERE channel = 'sms' AND attempts > 1",
    )
    .await;
    assert!(retried_email >= 40, "only {retried_email} e-mails were retried");
    assert!(retried_sms >= 40, "only {retried_sms} sms were retried");
    // A message goes to a provider twice only when a worker died between the provider's
    // acceptance and recording it; the providers fold those by idempotency key. Nothing else
    // may produce a second send.
    let folded = std::fs::read_to_string(maildir.join("folded"))
        .unwrap_or_default()
        .lines()
        .count();
    let sms_folded = smsc.folded_duplicates() as usize;
    assert!(
        folded + sms_folded <= in_flight as usize,
        "{folded} e-mail and {sms_folded} sms resends, but only {in_flight} sends were cut off"
    );
    println!(
        "1,000 deliveries: {retried_email} e-mails and {retried_sms} sms retried, {in_flight} in flight at the kill, \
         {folded} e-mail(s) and {sms_folded} sms resent and folded by idempotency key"
    );

    drop(workers);
    smtp.stop().await;
    let _ = std::fs::remove_dir_all(&maildir);
    fixture.cleanup().await;
}

/// Copies the shipped templates and breaks two of them on purpose.
fn doctored_templates() -> std::path::PathBuf {
    let dir = temp_dir("deliv_templates");
    copy_dir(&repo_root().join("deploy/templates"), &dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read templates") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_recipients_templates_and_smsc_errors_are_recorded_failures() {
    let fixture = ProcessFixture::new("delivbad", "notification").await;
    let maildir = temp_dir("delivbad_mail");
    let smtp = SmtpSink::start(maildir.clone()).await.expect("smtp sink");
    let mut config = smsc_config();
    // dinkes-penghubung2's number is refused by the network.
    config.faults.reject_destination_prefix = Some("6281200000006".into());
    let smsc = Smsc::start("127.0.0.1:0", config).await.expect("smsc");
    let templates = doctored_templates();
    // The escalation SMS runs to many parts; the escalation e-mail fails to render for one
    // title only (a template that passes the load-time check with sample values).
    std::fs::write(
        templates.join("id/escalated.sms.txt"),
        "{% for i in range(60) %}Aduan {{ tracking_id }} melewati batas waktu. {% endfor %}",
    )
    .expect("write template");
    let email = templates.join("id/escalated.email.txt");
    let original = std::fs::read_to_string(&email).expect("template");
    std::fs::write(
        &email,
        format!("{{% if title == \"{BREAKS_TEMPLATE}\" %}}{{{{ level | long_time(lang) }}}}{{% endif %}}{original}"),
    )
    .expect("write template");
    let mut worker = Worker::start(&fixture, smtp.port, &smsc, &templates);
    fixture
        .wait_for_schema("SELECT count(*) FROM recipients", || worker.running())
        .await;
    // Bad contact data for dinkes-penghubung1; penghubung2 and the kepala want SMS only.
    exec(
        &fixture.db,
        "UPDATE recipients SET email = 'bukan-alamat', phone = '12ab' WHERE id = 'dinkes-penghubung1'",
    )
    .await;
    let admin = admin_token();
    let mut client = worker.client().await;
    for who in ["dinkes-penghubung2", "dinkes-kepala"] {
        client
            .set_preferences(authorized(
                Preferences {
                    recipient_id: who.into(),
                    channels: "sms".into(),
                    lang: "id".into(),
                    quiet_start: String::new(),
                    quiet_end: String::new(),
                },
                &admin,
            ))
            .await
            .expect("preferences");
    }
    let bad_prefs = client
        .set_preferences(authorized(
            Preferences {
                recipient_id: "dinkes-kepala".into(),
                channels: "fax".into(),
                lang: "id".into(),
                quiet_start: "25:00".into(),
                quiet_end: String::new(),
            },
            &admin,
        ))
        .await
        .expect_err("fax is no channel");
    assert_eq!(bad_prefs.code(), tonic::Code::InvalidArgument);

    let (_connection, channel) = broker(&fixture).await;
    let to_dinkes = assigned("dinkes", "Obat habis di puskesmas");
    let breach = escalated("dinkes", "breach", &["kepala"], "Antrian puskesmas");
    let provincial = escalated("dinkes", "provincial", &["pimpinan"], BREAKS_TEMPLATE);
    let to_pupr = assigned("pupr", "Jalan berlubang");
    publish(&channel, "complaint.assigned.dinkes", &to_dinkes).await;
    publish(&channel, "complaint.escalated.breach.dinkes", &breach).await;
    publish(&channel, "complaint.escalated.provincial.dinkes", &provincial).await;
    publish(&channel, "complaint.assigned.pupr", &to_pupr).await;
    // A poison message, and a valid event already sitting in the dead-letter queue (as an
    // outage would have left it) for replay.
    channel
        .basic_publish(
            "".into(),
            "skpd.pupr".into(),
            BasicPublishOptions::default(),
            b"not protobuf at all",
            BasicProperties::default().with_message_id("poison-1".into()),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let parked = assigned("pupr", "Lampu jalan mati");
    publish_raw(&channel, &topology::dead_queue("skpd.pupr"), &parked).await;

    let rows = eventually("every delivery final", Duration::from_secs(90), || async {
        let rows = delivery_rows(&fixture).await;
        let open = rows.iter().any(|r| r.state == "PENDING" || r.state == "SENDING");
        let all_planned = [&to_dinkes, &breach, &provincial, &to_pupr]
            .iter()
            .all(|event| rows.iter().any(|r| r.tracking_id == event.tracking_id));
        (!open && all_planned).then_some(rows)
    })
    .await;
    let find = |tracking: &str, who: &str, channel: &str| {
        rows.iter()
            .find(|r| r.tracking_id == tracking && r.recipient_id == who && r.channel == channel)
            .unwrap_or_else(|| panic!("no {channel} delivery to {who} for {tracking}: {rows:#?}"))
            .clone()
    };
    // Malformed e-mail address and phone number.
    let p1_email = find(&to_dinkes.tracking_id, "dinkes-penghubung1", "email");
    assert_eq!(p1_email.state, "FAILED");
    assert!(p1_email.last_error.contains("bad recipient address"), "{p1_email:?}");
    let p1_sms = find(&to_dinkes.tracking_id, "dinkes-penghubung1", "sms");
    assert_eq!(p1_sms.state, "FAILED");
    assert!(p1_sms.last_error.contains("malformed phone number"), "{p1_sms:?}");
    // The SMSC refused the number: recorded with its status, and e-mail took over.
    let p2_sms = find(&to_dinkes.tracking_id, "dinkes-penghubung2", "sms");
    assert_eq!(p2_sms.state, "FAILED");
    assert!(p2_sms.last_error.contains("ESME_RINVDSTADR"), "{p2_sms:?}");
    let p2_email = find(&to_dinkes.tracking_id, "dinkes-penghubung2", "email");
    assert_eq!(p2_email.state, "SENT");
    assert_eq!(p2_email.fallback_for.as_deref(), Some(p2_sms.id.as_str()));
    // An SMS too long to send, replaced by e-mail.
    let kepala_sms = find(&breach.tracking_id, "dinkes-kepala", "sms");
    assert_eq!(kepala_sms.state, "FAILED");
    assert!(kepala_sms.last_error.contains("sms too long"), "{kepala_sms:?}");
    assert_eq!(find(&breach.tracking_id, "dinkes-kepala", "email").state, "SENT");
    // A template that fails at render time.
    let sekda = find(&provincial.tracking_id, "prov-sekda", "email");
    assert_eq!(sekda.state, "FAILED");
    assert!(sekda.last_error.contains("template"), "{sekda:?}");
    // Meanwhile pupr's deliveries flowed.
    assert!(
        rows.iter()
            .filter(|r| r.tracking_id == to_pupr.tracking_id)
            .all(|r| r.state == "SENT" || r.state == "DELIVERED"),
        "{rows:#?}"
    );
    assert!(rows.iter().any(|r| r.tracking_id == to_pupr.tracking_id));

    // Resend after the admin corrected the address; only a FAILED delivery may be resent.
    exec(
        &fixture.db,
        "UPDATE recipients SET email = 'penghubung1@dinkes.kalselprov.example.id' WHERE id = 'dinkes-penghubung1'",
    )
    .await;
    client
        .resend_delivery(authorized(
            ResendDeliveryRequest {
                delivery_id: p1_email.id.clone(),
            },
            &admin,
        ))
        .await
        .expect("resend");
    let twice = client
        .resend_delivery(authorized(
            ResendDeliveryRequest {
                delivery_id: p2_email.id.clone(),
            },
            &admin,
        ))
        .await
        .expect_err("a sent message is not resent");
    assert_eq!(twice.code(), tonic::Code::FailedPrecondition);
    eventually("resent e-mail arrives", Duration::from_secs(30), || {
        let arrived = smtp.messages().iter().any(|m| {
            m.rcpt_to
                .contains(&"penghubung1@dinkes.kalselprov.example.id".to_owned())
        });
        std::future::ready(arrived.then_some(()))
    })
    .await;

    // The poison message is listed as a dead letter; the parked event replays and is sent.
    let dead = eventually("poison dead-lettered", Duration::from_secs(60), || {
        let mut client = client.clone();
        let admin = admin.clone();
        async move {
            let letters = client
                .list_dead_letters(authorized(
                    ListDeadLettersRequest {
                        queue: "skpd.pupr".into(),
                        limit: 10,
                    },
                    &admin,
                ))
                .await
                .ok()?
                .into_inner()
                .dead_letters;
            (letters.len() == 2).then_some(letters)
        }
    })
    .await;
    assert!(dead.iter().any(|d| d.event_type == "(undecodable)"), "{dead:?}");
    assert!(dead.iter().any(|d| d.event_id == parked.event_id), "{dead:?}");
    let replayed = client
        .replay_dead_letters(authorized(
            ReplayDeadLettersRequest {
                queue: "skpd.pupr".into(),
                event_ids: vec![parked.event_id.clone()],
            },
            &admin,
        ))
        .await
        .expect("replay")
        .into_inner()
        .replayed;
    assert_eq!(replayed, 1);
    eventually("replayed event delivered", Duration::from_secs(30), || async {
        let sent = scalar(
            &fixture.db,
            &format!(
                "SELECT count(*) FROM deliveries WHERE tracking_id = '{}' AND state IN ('SENT', 'DELIVERED')",
                parked.tracking_id
            ),
        )
        .await;
        (sent > 0).then_some(())
    })
    .await;
    let left = client
        .list_dead_letters(authorized(ListDeadLettersRequest::default(), &admin))
        .await
        .expect("list")
        .into_inner()
        .dead_letters;
    assert_eq!(left.len(), 1, "only the poison message stays: {left:?}");
    let refused = client
        .list_dead_letters(authorized(
            ListDeadLettersRequest {
                queue: "routing.submissions".into(),
                limit: 10,
            },
            &admin,
        ))
        .await
        .expect_err("not a notification queue");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let log = client
        .list_deliveries(authorized(
            ListDeliveriesRequest {
                state: "FAILED".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("log")
        .into_inner()
        .deliveries;
    assert!(!log.is_empty(), "the failures above are in the log");
    assert!(
        log.iter().all(|d| d.state == "FAILED" && !d.last_error.is_empty()),
        "{log:?}"
    );

    drop(worker);
    smtp.stop().await;
    let _ = std::fs::remove_dir_all(&maildir);
    let _ = std::fs::remove_dir_all(&templates);
    fixture.cleanup().await;
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    event_id: String,
    tracking_id: String,
    recipient_id: String,
    channel: String,
    state: String,
    last_error: String,
    fallback_for: Option<String>,
}

async fn delivery_rows(fixture: &ProcessFixture) -> Vec<Row> {
    fixture
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id::text AS id, event_id::text AS event_id, tracking_id, recipient_id, channel, state, coalesce(last_error, '') AS last_error, \
             fallback_for::text AS fallback_for FROM deliveries ORDER BY created_at",
        ))
        .await
        .expect("rows")
        .iter()
        .map(|r| Row {
            id: r.try_get("", "id").expect("id"),
            event_id: r.try_get("", "event_id").expect("event_id"),
            tracking_id: r.try_get("", "tracking_id").expect("tracking_id"),
            recipient_id: r.try_get("", "recipient_id").expect("recipient_id"),
            channel: r.try_get("", "channel").expect("channel"),
            state: r.try_get("", "state").expect("state"),
            last_error: r.try_get("", "last_error").expect("last_error"),
            fallback_for: r.try_get("", "fallback_for").expect("fallback_for"),
        })
        .collect()
}

/// Publishes straight into a queue through the default exchange.
async fn publish_raw(channel: &Channel, queue: &str, envelope: &EventEnvelope) {
    let body = envelope.encode_to_vec();
    publisher::publish(
        channel,
        &Message {
            exchange: "",
            routing_key: queue,
            message_id: &envelope.event_id,
            event_type: &envelope.event_type,
            payload: &body,
            headers: &BTreeMap::new(),
            extra_headers: FieldTable::default(),
        },
    )
    .await
    .expect("published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sub_unit_disposition_reaches_only_the_sub_units_officers() {
    let fixture = ProcessFixture::new("delivsub", "notification").await;
    let maildir = temp_dir("delivsub_mail");
    let smtp = SmtpSink::start(maildir.clone()).await.expect("smtp sink");
    let smsc = Smsc::start("127.0.0.1:0", smsc_config()).await.expect("smsc");
    let mut worker = Worker::start(&fixture, smtp.port, &smsc, &repo_root().join("deploy/templates"));
    fixture
        .wait_for_schema("SELECT count(*) FROM recipients", || worker.running())
        .await;
    let (_connection, channel) = broker(&fixture).await;

    // Assigned to dinkes: the SKPD-level liaison officers, not the sub-unit's.
    let to_dinkes = assigned("dinkes", "Obat habis di puskesmas");
    publish(&channel, "complaint.assigned.dinkes", &to_dinkes).await;
    // The koordinator disposes it to a sub-unit (named as typed, in any case).
    let disposed = new_typed_envelope(
        "test",
        "complaint.reassigned",
        Uuid::parse_str(&to_dinkes.complaint_id).expect("uuid"),
        &to_dinkes.tracking_id,
        Payload::CaseUpdated(CaseUpdated {
            state: "assigned".into(),
            version: 3,
            skpd_code: "dinkes".into(),
            sub_unit: "bidang pelayanan kesehatan".into(),
            category_code: "kesehatan.puskesmas".into(),
            ..Default::default()
        }),
    );
    publish(&channel, "complaint.reassigned.dinkes", &disposed).await;

    let rows = eventually("both events delivered", Duration::from_secs(60), || async {
        let rows = delivery_rows(&fixture).await;
        let done = rows.len() >= 6 && rows.iter().all(|r| r.state == "SENT" || r.state == "DELIVERED");
        done.then_some(rows)
    })
    .await;
    let recipients = |event: &EventEnvelope| recipients_of(&rows, event);
    let skpd_level: BTreeSet<(String, String)> = ["dinkes-penghubung1", "dinkes-penghubung2"]
        .iter()
        .flat_map(|who| {
            [
                (who.to_string(), "email".to_owned()),
                (who.to_string(), "sms".to_owned()),
            ]
        })
        .collect();
    assert_eq!(recipients(&to_dinkes), skpd_level);
    let sub_unit: BTreeSet<(String, String)> = [
        ("dinkes-yankes-penghubung".to_owned(), "email".to_owned()),
        ("dinkes-yankes-penghubung".to_owned(), "sms".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(recipients(&disposed), sub_unit);
    let mail = eventually("the sub-unit officer's e-mail", Duration::from_secs(30), || {
        let found = smtp
            .messages()
            .into_iter()
            .find(|m| m.rcpt_to.contains(&"yankes@dinkes.kalselprov.example.id".to_owned()));
        std::future::ready(found)
    })
    .await;
    assert!(mail.raw.contains(&to_dinkes.tracking_id));

    drop(worker);
    smtp.stop().await;
    let _ = std::fs::remove_dir_all(&maildir);
    fixture.cleanup().await;
}

/// The (recipient, channel) pairs of `event`'s deliveries.
fn recipients_of(rows: &[Row], event: &EventEnvelope) -> BTreeSet<(String, String)> {
    rows.iter()
        .filter(|r| r.event_id == event.event_id)
        .map(|r| (r.recipient_id.clone(), r.channel.clone()))
        .collect()
}
