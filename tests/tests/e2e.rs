//! End-to-end: the four services against real PostgreSQL, RabbitMQ and an SMTP server.

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use lapor_domain::Directory;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::stack::{authorized, token};
use lapor_e2e::{Stack, StackConfig, eventually};
use lapor_proto::analytics::v1::{GetSummaryRequest, Summary};
use lapor_proto::events::v1::EventEnvelope;
use lapor_proto::intake::v1::{Reporter, SubmitComplaintRequest};
use lapor_proto::notification::v1::ListDeliveriesRequest;
use lapor_proto::routing::v1::{CaseRef, GetCaseRequest, VerifyCaseRequest};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn directory() -> Directory {
    Directory::load(&lapor_e2e::stack::repo_root().join("deploy/seed")).expect("seed")
}

fn complaint(title: &str, category: &str, kabupaten: &str) -> SubmitComplaintRequest {
    SubmitComplaintRequest {
        title: title.into(),
        body: format!("{title}. Mohon segera ditindaklanjuti."),
        category_code: category.into(),
        kabupaten_code: kabupaten.into(),
        location: "Jl. Jenderal Ahmad Yani".into(),
        reporter: Some(Reporter {
            name: "Warga Uji".into(),
            phone: "0812-0000-1111".into(),
            email: "warga.uji@example.id".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("count")
}

/// Outbox rows of `event_type` whose envelope is about `tracking_id`: (routing key, payload).
async fn outbox_rows(db: &DatabaseConnection, event_type: &str, tracking_id: &str) -> Vec<(String, Vec<u8>)> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT routing_key, payload FROM outbox WHERE event_type = $1 AND published_at IS NOT NULL",
            [event_type.into()],
        ))
        .await
        .expect("outbox");
    rows.into_iter()
        .map(|r| {
            (
                r.try_get::<String>("", "routing_key").expect("key"),
                r.try_get::<Vec<u8>>("", "payload").expect("payload"),
            )
        })
        .filter(|(_, payload)| EventEnvelope::decode(payload.as_slice()).is_ok_and(|e| e.tracking_id == tracking_id))
        .collect()
}

/// The SKPD-level liaison officers, who hear of every assignment to their SKPD.
fn penghubung_emails(directory: &Directory, skpd: &str) -> BTreeSet<String> {
    directory
        .officers_of(skpd, OfficerRole::Penghubung)
        .filter(|o| o.sub_unit.is_none())
        .map(|o| o.email.clone())
        .collect()
}

fn penghubung_phones(directory: &Directory, skpd: &str) -> BTreeSet<String> {
    directory
        .officers_of(skpd, OfficerRole::Penghubung)
        .filter(|o| o.sub_unit.is_none())
        .map(|o| o.phone.clone())
        .collect()
}

/// SMS the simulator received that name `tracking_id`.
fn sms_about(stack: &Stack, tracking_id: &str) -> Vec<lapor_smpp::sim::ReceivedSms> {
    stack
        .smsc
        .received()
        .into_iter()
        .filter(|m| m.text.contains(tracking_id))
        .collect()
}

/// The reporter of every complaint the flow submits (see `complaint`).
const REPORTER_EMAIL: &str = "warga.uji@example.id";
const REPORTER_PHONE_DIGITS: &str = "6281200001111";

/// Mails about `tracking_id` to anyone but the reporter.
fn officer_mails_about(stack: &Stack, tracking_id: &str) -> Vec<lapor_e2e::mailbox::ReceivedMail> {
    mails_about(stack, tracking_id)
        .into_iter()
        .filter(|m| !m.rcpt_to.contains(&REPORTER_EMAIL.to_owned()))
        .collect()
}

fn mails_about(stack: &Stack, tracking_id: &str) -> Vec<lapor_e2e::mailbox::ReceivedMail> {
    stack
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.raw.contains(tracking_id))
        .collect()
}

async fn summary(stack: &Stack) -> Summary {
    stack
        .analytics()
        .await
        .expect("client")
        .get_summary(authorized(
            GetSummaryRequest::default(),
            &token(OfficerRole::Pimpinan, None),
        ))
        .await
        .expect("summary")
        .into_inner()
}

async fn publish_raw(stack: &Stack, exchange: &str, routing_key: &str, payload: &[u8]) {
    let connection = Connection::connect(&stack.amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            payload,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.close(200, "done".into())).await;
}

async fn queue_depth(stack: &Stack, queue: &str) -> u32 {
    let connection = Connection::connect(&stack.amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue exists");
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.close(200, "done".into())).await;
    declared.message_count()
}

/// Polls routing (as the provincial admin) until the case is in `state`.
/// A complaint in "lainnya", which waits for the admin's verification; its tracking id.
async fn submit_for_verification(
    intake: &lapor_proto::intake::v1::intake_service_client::IntakeServiceClient<tonic::transport::Channel>,
    title: &str,
) -> String {
    intake
        .clone()
        .submit_complaint(complaint(title, "lainnya", "6372"))
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id
}

/// Waits until the case is assigned, both liaison officers got their e-mail, and returns the
/// tracking id.
async fn submit_and_follow(stack: &Stack, request: SubmitComplaintRequest, expected_skpd: &str) -> String {
    let tracking_id = stack
        .intake()
        .await
        .expect("client")
        .submit_complaint(request)
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id;
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    assert_eq!(
        case.skpd_code, expected_skpd,
        "case {tracking_id} went to the wrong skpd"
    );
    let expected = penghubung_emails(&directory(), expected_skpd);
    eventually("liaison officers' e-mail", WAIT, || {
        let got = officer_mails_about(stack, &tracking_id).len();
        std::future::ready((got >= expected.len()).then_some(()))
    })
    .await;
    tracking_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complaint_flows_from_intake_to_officers_mailbox_and_analytics() {
    let stack = Stack::start(StackConfig::new("flow")).await.expect("stack starts");
    let directory = directory();
    let cases = [
        (
            complaint("IGD penuh, pasien menunggu di lorong", "kesehatan.rumah-sakit", "6371"),
            "rsud-ulin",
        ),
        (
            complaint(
                "Jembatan Sungai Martapura retak",
                "infrastruktur.jalan-jembatan",
                "6303",
            ),
            "pupr",
        ),
    ];
    let mut tracked = Vec::new();
    for (request, skpd) in cases {
        let tracking_id = submit_and_follow(&stack, request, skpd).await;
        tracked.push((tracking_id, skpd));
    }
    // "lainnya" is verified by hand: it waits in the verification queue until the admin
    // disposes it, then flows like the others.
    let manual = stack
        .intake()
        .await
        .expect("client")
        .submit_complaint(complaint("Keluhan umum pelayanan", "lainnya", "6372"))
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id;
    let waiting = stack.case_in_state(&manual, "submitted").await;
    stack
        .routing()
        .await
        .expect("client")
        .verify_case(authorized(
            VerifyCaseRequest {
                case: Some(CaseRef {
                    tracking_id: manual.clone(),
                    expected_version: waiting.version,
                }),
                skpd_code: "diskominfo".into(),
                complexity_tier: String::new(),
            },
            &token(OfficerRole::Admin, None),
        ))
        .await
        .expect("admin verifies");
    stack.case_in_state(&manual, "assigned").await;
    let expected = penghubung_emails(&directory, "diskominfo");
    eventually("diskominfo liaison officers' e-mail", WAIT, || {
        std::future::ready((officer_mails_about(&stack, &manual).len() >= expected.len()).then_some(()))
    })
    .await;
    tracked.push((manual, "diskominfo"));

    let routing_db = stack.db("routing").await.expect("db");
    let notification_db = stack.db("notification").await.expect("db");
    for (tracking_id, skpd) in &tracked {
        // Exactly one e-mail per liaison officer, each carrying the tracking id.
        let mails = officer_mails_about(&stack, tracking_id);
        let recipients: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
        let unique: BTreeSet<String> = recipients.iter().cloned().collect();
        assert_eq!(
            recipients.len(),
            unique.len(),
            "a liaison officer got {tracking_id} twice"
        );
        assert_eq!(unique, penghubung_emails(&directory, skpd));
        // And one SMS per liaison officer's phone, sent to the SMSC in E.164 form.
        let texts = eventually("liaison officers' sms", WAIT, || {
            let texts: Vec<_> = sms_about(&stack, tracking_id)
                .into_iter()
                .filter(|m| !m.destination.ends_with(REPORTER_PHONE_DIGITS))
                .collect();
            std::future::ready((texts.len() >= penghubung_phones(&directory, skpd).len()).then_some(texts))
        })
        .await;
        let phones: Vec<String> = texts
            .iter()
            .map(|m| format!("+{}", m.destination.trim_start_matches('+')))
            .collect();
        let unique_phones: BTreeSet<String> = phones.iter().cloned().collect();
        assert_eq!(
            phones.len(),
            unique_phones.len(),
            "a liaison officer got {tracking_id} twice by sms"
        );
        assert_eq!(unique_phones, penghubung_phones(&directory, skpd));
        // The reporter heard twice on each channel: the tracking id on receipt, then the
        // disposition to the SKPD, with a link to the public status page.
        let reporter_mails = eventually("the reporter's e-mails", WAIT, || {
            let mails: Vec<_> = mails_about(&stack, tracking_id)
                .into_iter()
                .filter(|m| m.rcpt_to.contains(&REPORTER_EMAIL.to_owned()))
                .collect();
            std::future::ready((mails.len() >= 2).then_some(mails))
        })
        .await;
        assert_eq!(reporter_mails.len(), 2, "receipt and disposition, once each");
        assert!(
            reporter_mails
                .iter()
                .any(|m| m.raw.contains(&format!("/status/{tracking_id}"))),
            "the reporter's mail links the status page"
        );
        let reporter_sms = eventually("the reporter's sms", WAIT, || {
            let texts: Vec<_> = sms_about(&stack, tracking_id)
                .into_iter()
                .filter(|m| m.destination.ends_with(REPORTER_PHONE_DIGITS))
                .collect();
            std::future::ready((texts.len() >= 2).then_some(texts))
        })
        .await;
        assert_eq!(reporter_sms.len(), 2, "{reporter_sms:?}");

        // The assignment was published to the SKPD's routing key and consumed from its queue.
        let assigned = outbox_rows(&routing_db, "complaint.assigned", tracking_id).await;
        assert_eq!(assigned.len(), 1);
        assert_eq!(assigned[0].0, format!("complaint.assigned.{skpd}"));
        let event = EventEnvelope::decode(assigned[0].1.as_slice()).expect("envelope");
        let consumed = count(
            &notification_db,
            &format!(
                "SELECT count(*) FROM inbox WHERE consumer = 'notification.skpd.{skpd}' AND event_id = '{}'",
                event.event_id
            ),
        )
        .await;
        assert_eq!(
            consumed, 1,
            "assignment of {tracking_id} did not pass through skpd.{skpd}"
        );

        let deliveries = stack
            .notification()
            .await
            .expect("client")
            .list_deliveries(authorized(
                ListDeliveriesRequest {
                    tracking_id: tracking_id.clone(),
                    ..Default::default()
                },
                &token(OfficerRole::Admin, None),
            ))
            .await
            .expect("deliveries")
            .into_inner()
            .deliveries;
        assert_eq!(
            deliveries.len(),
            unique.len() * 2 + 4,
            "e-mail and sms per officer, and two of each to the reporter"
        );
        assert!(
            deliveries
                .iter()
                .filter(|d| d.recipient_id == "reporter")
                .all(|d| d.address.is_empty()),
            "no reporter address is stored in notification"
        );
        // Nor anywhere else in notification's rows: the reporter's contact is a canary.
        let leaked = count(
            &notification_db,
            &format!(
                "SELECT count(*) FROM deliveries WHERE concat_ws(' ', address, subject, body, html, context::text, \
                 last_error) ~ '{REPORTER_EMAIL}|{REPORTER_PHONE_DIGITS}'"
            ),
        )
        .await;
        assert_eq!(leaked, 0, "the reporter's contact leaked into notification's database");
        assert!(
            deliveries.iter().all(|d| d.state == "SENT" || d.state == "DELIVERED"),
            "{deliveries:?}"
        );
    }

    // Operators see it in notification's Prometheus metrics: deliveries by channel and
    // outcome, each SKPD queue's depth and consumers, and the database pool.
    let metrics_url = format!("http://127.0.0.1:{}/metrics", stack.http_port("notification"));
    let metrics = eventually("queue and pool gauges", WAIT, || async {
        let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        let sampled = text.contains("lapor_queue_messages{queue=\"skpd.pupr\"}")
            && text.contains("lapor_queue_consumers{queue=\"notification.reporters\"} 1");
        sampled.then_some(text)
    })
    .await;
    for expected in [
        "lapor_deliveries_total{channel=\"sms\",outcome=\"sent\"}",
        "lapor_deliveries_total{channel=\"email\",outcome=\"sent\"}",
        "lapor_db_pool_connections{state=\"in_use\"}",
        "lapor_db_pool_max_connections 4",
        "lapor_grpc_request_duration_seconds_count{method=\"/lapor.intake.v1.IntakeService/SubmitComplaint\",code=\"0\"}",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from\n{metrics}");
    }
    let total = eventually("analytics counts", WAIT, || async {
        let s = summary(&stack).await;
        (s.complaints_total == 3 && s.notifications_sent == 24).then_some(s)
    })
    .await;
    for (_, skpd) in &tracked {
        let assigned = total
            .by_skpd
            .iter()
            .find(|c| c.skpd_code == *skpd && c.state == "assigned")
            .map(|c| c.count);
        assert_eq!(assigned, Some(1), "analytics for {skpd}: {:?}", total.by_skpd);
    }

    // The same client idempotency key twice: one tracking id, one case.
    let mut keyed = complaint("Sekolah rusak", "pendidikan.sma-smk", "6301");
    keyed.idempotency_key = "mobile-7f3a-0001".into();
    let mut intake = stack.intake().await.expect("client");
    let first = intake
        .submit_complaint(keyed.clone())
        .await
        .expect("first")
        .into_inner();
    let second = intake
        .submit_complaint(keyed.clone())
        .await
        .expect("second")
        .into_inner();
    assert_eq!(first.tracking_id, second.tracking_id);
    assert!(!first.replayed && second.replayed);
    keyed.title = "Another complaint with a reused key".into();
    let reused = intake
        .submit_complaint(keyed)
        .await
        .expect_err("key reuse with other content");
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);
    let intake_db = stack.db("intake").await.expect("db");
    assert_eq!(
        count(
            &intake_db,
            "SELECT count(*) FROM complaints WHERE idempotency_key = 'mobile-7f3a-0001'"
        )
        .await,
        1
    );

    // The same events delivered twice: one case, one e-mail per officer.
    let (first_tracking, first_skpd) = tracked[0].clone();
    let submitted = outbox_rows(&intake_db, "complaint.submitted", &first_tracking).await;
    let assigned = outbox_rows(&routing_db, "complaint.assigned", &first_tracking).await;
    assert_eq!((submitted.len(), assigned.len()), (1, 1));
    publish_raw(&stack, "lapor.events", &submitted[0].0, &submitted[0].1).await;
    publish_raw(&stack, "lapor.events", &assigned[0].0, &assigned[0].1).await;
    // A later complaint through the same queues: once it is done, the duplicates were seen.
    let sentinel = submit_and_follow(
        &stack,
        complaint("Antrian rawat jalan", "kesehatan.rumah-sakit", "6371"),
        first_skpd,
    )
    .await;
    assert_eq!(
        count(
            &routing_db,
            &format!("SELECT count(*) FROM cases WHERE tracking_id = '{first_tracking}'")
        )
        .await,
        1
    );
    assert_eq!(
        officer_mails_about(&stack, &first_tracking).len(),
        penghubung_emails(&directory, first_skpd).len()
    );
    assert_eq!(
        count(
            &notification_db,
            &format!("SELECT count(*) FROM deliveries WHERE tracking_id = '{first_tracking}'")
        )
        .await,
        // E-mail and SMS per liaison officer, and the reporter's two of each.
        penghubung_emails(&directory, first_skpd).len() as i64 * 2 + 4
    );
    assert!(!sentinel.is_empty());
    eventually("analytics after duplicates", WAIT, || async {
        let s = summary(&stack).await;
        // 3 + the keyed complaint + the sentinel; duplicates counted nothing.
        (s.complaints_total == 5).then_some(())
    })
    .await;

    stack.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_rejected_by_field_and_stores_nothing() {
    let stack = Stack::start(StackConfig::new("badinput")).await.expect("stack starts");
    let mut intake = stack.intake().await.expect("client");
    let good = complaint("Jalan rusak", "infrastruktur.jalan-jembatan", "6303");
    let with = |edit: &dyn Fn(&mut SubmitComplaintRequest)| {
        let mut request = good.clone();
        edit(&mut request);
        request
    };
    let reporter = |name: &str, phone: &str, email: &str| {
        Some(Reporter {
            name: name.into(),
            phone: phone.into(),
            email: email.into(),
            ..Default::default()
        })
    };
    let nik = |nik: &str| {
        Some(Reporter {
            nik: nik.into(),
            ..Default::default()
        })
    };
    let bad: Vec<(&str, SubmitComplaintRequest)> = vec![
        ("title", with(&|r| r.title = String::new())),
        ("title", with(&|r| r.title = "   ".into())),
        ("title", with(&|r| r.title = "x".repeat(151))),
        ("title", with(&|r| r.title = "bell\u{7}".into())),
        ("body", with(&|r| r.body = String::new())),
        ("body", with(&|r| r.body = "y".repeat(4001))),
        ("body", with(&|r| r.body = "nul\u{0}byte".into())),
        ("category_code", with(&|r| r.category_code = "jalan".into())),
        ("category_code", with(&|r| r.category_code = String::new())),
        ("kabupaten_code", with(&|r| r.kabupaten_code = "3171".into())),
        ("reporter.phone", with(&|r| r.reporter = reporter("", "12345", ""))),
        ("reporter.nik", with(&|r| r.reporter = nik("123"))),
        ("reporter.nik", with(&|r| r.reporter = nik("9971031708850001"))),
        ("reporter.nik", with(&|r| r.reporter = nik("6371033508850001"))),
        ("reporter.nik", with(&|r| r.reporter = nik("6371031708850000"))),
        (
            "reporter.email",
            with(&|r| r.reporter = reporter("", "", "not-an-email")),
        ),
        (
            "reporter.name",
            with(&|r| r.reporter = reporter(&"n".repeat(101), "", "")),
        ),
        ("idempotency_key", with(&|r| r.idempotency_key = "has spaces".into())),
        ("kind", with(&|r| r.kind = 99)),
    ];
    for (field, request) in bad {
        let status = intake.submit_complaint(request).await.expect_err("must be rejected");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{field}: {}",
            status.message()
        );
        assert_eq!(
            status.metadata().get("lapor-field").and_then(|v| v.to_str().ok()),
            Some(field)
        );
    }
    let intake_db = stack.db("intake").await.expect("db");
    assert_eq!(count(&intake_db, "SELECT count(*) FROM complaints").await, 0);
    assert_eq!(count(&intake_db, "SELECT count(*) FROM reporters").await, 0);
    assert_eq!(count(&intake_db, "SELECT count(*) FROM outbox").await, 0);

    // A message no consumer can decode is dead-lettered after the delivery limit, and the
    // queue keeps flowing.
    publish_raw(&stack, "", "routing.submissions", b"\xff\xfenot a protobuf envelope").await;
    submit_and_follow(&stack, good, "pupr").await;
    eventually("poison message in the dead-letter queue", WAIT, || async {
        (queue_depth(&stack, "routing.submissions.dead").await == 1).then_some(())
    })
    .await;
    assert_eq!(queue_depth(&stack, "routing.submissions").await, 0);

    stack.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn case_workflow_is_scoped_audited_and_safe_under_concurrency() {
    use lapor_proto::routing::v1::{
        CloseCaseRequest, ListAuditLogRequest, ListInboxRequest, PostFollowUpRequest, StartProgressRequest,
    };
    let stack = Stack::start(StackConfig::new("workflow")).await.expect("stack starts");
    let tracking_id = submit_and_follow(
        &stack,
        complaint("Obat kosong di puskesmas", "kesehatan.puskesmas", "6303"),
        "dinkes",
    )
    .await;
    let mut routing = stack.routing().await.expect("client");
    let dinkes = token(OfficerRole::Penghubung, Some("dinkes"));
    let pupr = token(OfficerRole::Penghubung, Some("pupr"));
    let pimpinan = token(OfficerRole::Pimpinan, None);
    let get = |t: &str| {
        authorized(
            GetCaseRequest {
                tracking_id: tracking_id.clone(),
            },
            t,
        )
    };
    let case = routing
        .get_case(get(&dinkes))
        .await
        .expect("own skpd reads")
        .into_inner();
    let at = |version: i64| {
        Some(CaseRef {
            tracking_id: tracking_id.clone(),
            expected_version: version,
        })
    };

    // No token, a forged token, another SKPD's officer, a read-only leader.
    let denied = routing
        .get_case(GetCaseRequest {
            tracking_id: tracking_id.clone(),
        })
        .await
        .expect_err("no token");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let forged = format!("{}x", &dinkes[..dinkes.len() - 1]);
    assert_eq!(
        routing.get_case(get(&forged)).await.expect_err("forged").code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        routing.get_case(get(&pupr)).await.expect_err("other skpd").code(),
        tonic::Code::PermissionDenied
    );
    let inbox = authorized(
        ListInboxRequest {
            skpd_code: "dinkes".into(),
            limit: 10,
        },
        &pupr,
    );
    assert_eq!(
        routing.list_inbox(inbox).await.expect_err("other inbox").code(),
        tonic::Code::PermissionDenied
    );
    let start_by_other = authorized(StartProgressRequest { case: at(case.version) }, &pupr);
    assert_eq!(
        routing
            .start_progress(start_by_other)
            .await
            .expect_err("other skpd acts")
            .code(),
        tonic::Code::PermissionDenied
    );
    let start_by_leader = authorized(StartProgressRequest { case: at(case.version) }, &pimpinan);
    assert_eq!(
        routing
            .start_progress(start_by_leader)
            .await
            .expect_err("pimpinan reads only")
            .code(),
        tonic::Code::PermissionDenied
    );

    // Two officers act on the same version: the first wins, the second must reload.
    let started = routing
        .start_progress(authorized(StartProgressRequest { case: at(case.version) }, &dinkes))
        .await
        .expect("first officer")
        .into_inner();
    assert_eq!(
        (started.state.as_str(), started.version),
        ("in_progress", case.version + 1)
    );
    let stale = authorized(
        PostFollowUpRequest {
            case: at(case.version),
            text: "Stale".into(),
            ..Default::default()
        },
        &dinkes,
    );
    assert_eq!(
        routing.post_follow_up(stale).await.expect_err("stale").code(),
        tonic::Code::FailedPrecondition
    );
    // An invalid transition and an oversized follow-up change nothing.
    let close_early = authorized(
        CloseCaseRequest {
            case: at(started.version),
        },
        &dinkes,
    );
    assert_eq!(
        routing
            .close_case(close_early)
            .await
            .expect_err("not followed up")
            .code(),
        tonic::Code::FailedPrecondition
    );
    let huge = authorized(
        PostFollowUpRequest {
            case: at(started.version),
            text: "x".repeat(10_001),
            ..Default::default()
        },
        &dinkes,
    );
    let rejected = routing.post_follow_up(huge).await.expect_err("oversized");
    assert_eq!(rejected.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        rejected.metadata().get("lapor-field").and_then(|v| v.to_str().ok()),
        Some("text")
    );
    let unchanged = routing.get_case(get(&dinkes)).await.expect("read").into_inner();
    assert_eq!(
        (unchanged.state.as_str(), unchanged.version),
        ("in_progress", started.version)
    );

    let followed = routing
        .post_follow_up(authorized(
            PostFollowUpRequest {
                case: at(started.version),
                text: "Stok obat sudah dikirim ke puskesmas".into(),
                ..Default::default()
            },
            &dinkes,
        ))
        .await
        .expect("follow-up")
        .into_inner();
    assert_eq!(followed.state, "followed_up");
    assert_eq!(followed.follow_up, "Stok obat sudah dikirim ke puskesmas");
    let closed = routing
        .close_case(authorized(
            CloseCaseRequest {
                case: at(followed.version),
            },
            &dinkes,
        ))
        .await
        .expect("close")
        .into_inner();
    assert_eq!(closed.state, "closed");

    // The reporter heard of each step meant for them: receipt, disposition, the follow-up
    // to reply to, and the close; nothing of the officers' internal steps.
    let reporter_mails = eventually("the reporter's four e-mails", WAIT, || {
        let mails: Vec<_> = mails_about(&stack, &tracking_id)
            .into_iter()
            .filter(|m| m.rcpt_to.contains(&REPORTER_EMAIL.to_owned()))
            .collect();
        std::future::ready((mails.len() >= 4).then_some(mails))
    })
    .await;
    assert_eq!(reporter_mails.len(), 4);
    assert!(
        reporter_mails
            .iter()
            .all(|m| !m.raw.contains("Stok obat sudah dikirim")),
        "officer text never travels in events, so never in these messages"
    );

    // Every step is in the audit log, with who did it.
    let audit = routing
        .list_audit_log(authorized(
            ListAuditLogRequest {
                tracking_id: tracking_id.clone(),
            },
            &dinkes,
        ))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["auto_dispose", "start_progress", "follow_up", "close"]);
    assert!(audit[1..].iter().all(|e| e.actor == "officer:test-penghubung-dinkes"));
    assert_eq!(audit.last().map(|e| e.version_after), Some(closed.version));
    // The audit log is append-only, even for the database owner.
    let routing_db = stack.db("routing").await.expect("db");
    assert!(routing_db.execute_unprepared("DELETE FROM audit_log").await.is_err());

    // The events went out, and intake's public status followed them.
    let closed_events = outbox_rows(&routing_db, "complaint.closed", &tracking_id).await;
    assert_eq!(closed_events.len(), 1);
    eventually("public status closed", WAIT, || async {
        let status = stack
            .intake()
            .await
            .ok()?
            .get_complaint_status(lapor_proto::intake::v1::GetComplaintStatusRequest {
                tracking_id: tracking_id.clone(),
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner();
        (status.state == "closed").then_some(())
    })
    .await;

    stack.stop().await.expect("clean stop");
}

/// Every role × every officer RPC × own and another SKPD. Mutations carry a stale version on
/// purpose: the scope check comes first, so a permitted caller gets FAILED_PRECONDITION (and
/// nothing changes) while a forbidden one gets PERMISSION_DENIED.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorization_matrix_over_every_officer_rpc() {
    use lapor_proto::routing::v1::*;
    let stack = Stack::start(StackConfig::new("authz")).await.expect("stack starts");
    let tracking_id = submit_and_follow(
        &stack,
        complaint("Ambulans tidak datang", "kesehatan.puskesmas", "6371"),
        "dinkes",
    )
    .await;
    let parent = submit_and_follow(
        &stack,
        complaint("Ambulans terlambat", "kesehatan.puskesmas", "6371"),
        "dinkes",
    )
    .await;
    let routing = stack.routing().await.expect("client");
    let stale = || {
        Some(CaseRef {
            tracking_id: tracking_id.clone(),
            expected_version: 0,
        })
    };

    const RPCS: [&str; 16] = [
        "GetCase",
        "ListInbox",
        "ListAuditLog",
        "ListVerificationQueue",
        "VerifyCase",
        "HoldCase",
        "MarkNotAuthority",
        "ArchiveCase",
        "MergeCase",
        "EditCase",
        "RedisposeCase",
        "DisposeToSubUnit",
        "ReturnToAdmin",
        "StartProgress",
        "PostFollowUp",
        "CloseCase",
    ];
    // Which RPCs each role may call on its own SKPD's case (provincial roles: on any case).
    let allowed: &[(OfficerRole, &[&str])] = &[
        (
            OfficerRole::Admin,
            &[
                "GetCase",
                "ListInbox",
                "ListAuditLog",
                "ListVerificationQueue",
                "VerifyCase",
                "HoldCase",
                "MarkNotAuthority",
                "ArchiveCase",
                "MergeCase",
                "EditCase",
                "RedisposeCase",
                "CloseCase",
            ],
        ),
        (
            OfficerRole::Pimpinan,
            &["GetCase", "ListInbox", "ListAuditLog", "ListVerificationQueue"],
        ),
        (OfficerRole::Kepala, &["GetCase", "ListInbox", "ListAuditLog"]),
        (
            OfficerRole::Koordinator,
            &[
                "GetCase",
                "ListInbox",
                "ListAuditLog",
                "DisposeToSubUnit",
                "ReturnToAdmin",
            ],
        ),
        (
            OfficerRole::Penghubung,
            &[
                "GetCase",
                "ListInbox",
                "ListAuditLog",
                "ReturnToAdmin",
                "StartProgress",
                "PostFollowUp",
                "CloseCase",
            ],
        ),
    ];
    let mut checked = 0;
    for (role, own_allowed) in allowed {
        let provincial = matches!(role, OfficerRole::Admin | OfficerRole::Pimpinan);
        let scopes: &[Option<&str>] = if provincial {
            &[None]
        } else {
            &[Some("dinkes"), Some("pupr")]
        };
        for scope in scopes {
            let bearer = token(*role, *scope);
            let own = provincial || *scope == Some("dinkes");
            for rpc in RPCS {
                let mut client = routing.clone();
                let inbox = scope.unwrap_or("dinkes").to_owned();
                let result = match rpc {
                    "GetCase" => client
                        .get_case(authorized(
                            GetCaseRequest {
                                tracking_id: tracking_id.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    // An SKPD officer lists the inbox of the case's SKPD (own or not).
                    "ListInbox" => client
                        .list_inbox(authorized(
                            ListInboxRequest {
                                skpd_code: if own { inbox } else { "dinkes".into() },
                                limit: 5,
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "ListAuditLog" => client
                        .list_audit_log(authorized(
                            ListAuditLogRequest {
                                tracking_id: tracking_id.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "ListVerificationQueue" => client
                        .list_verification_queue(authorized(ListVerificationQueueRequest { limit: 5 }, &bearer))
                        .await
                        .map(|_| ()),
                    "VerifyCase" => client
                        .verify_case(authorized(
                            VerifyCaseRequest {
                                case: stale(),
                                skpd_code: "dinkes".into(),
                                complexity_tier: String::new(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "HoldCase" => client
                        .hold_case(authorized(
                            HoldCaseRequest {
                                case: stale(),
                                question: "Alamat?".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "MarkNotAuthority" => client
                        .mark_not_authority(authorized(
                            MarkNotAuthorityRequest {
                                case: stale(),
                                body: "PDAM".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "ArchiveCase" => client
                        .archive_case(authorized(
                            ArchiveCaseRequest {
                                case: stale(),
                                reason: "SPAM".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "MergeCase" => client
                        .merge_case(authorized(
                            MergeCaseRequest {
                                case: stale(),
                                parent_tracking_id: parent.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "EditCase" => client
                        .edit_case(authorized(
                            EditCaseRequest {
                                case: stale(),
                                rahasia: Some(true),
                                ..Default::default()
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "RedisposeCase" => client
                        .redispose_case(authorized(
                            RedisposeCaseRequest {
                                case: stale(),
                                skpd_code: "dinkes".into(),
                                complexity_tier: String::new(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "DisposeToSubUnit" => client
                        .dispose_to_sub_unit(authorized(
                            DisposeToSubUnitRequest {
                                case: stale(),
                                sub_unit: "UPT Farmasi".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "ReturnToAdmin" => client
                        .return_to_admin(authorized(
                            ReturnToAdminRequest {
                                case: stale(),
                                reason: "Bukan kami".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "StartProgress" => client
                        .start_progress(authorized(StartProgressRequest { case: stale() }, &bearer))
                        .await
                        .map(|_| ()),
                    "PostFollowUp" => client
                        .post_follow_up(authorized(
                            PostFollowUpRequest {
                                case: stale(),
                                text: "Sudah".into(),
                                ..Default::default()
                            },
                            &bearer,
                        ))
                        .await
                        .map(|_| ()),
                    "CloseCase" => client
                        .close_case(authorized(CloseCaseRequest { case: stale() }, &bearer))
                        .await
                        .map(|_| ()),
                    other => unreachable!("{other}"),
                };
                let permitted = own && own_allowed.contains(&rpc);
                let code = result.err().map(|s| s.code());
                let mutation = !matches!(rpc, "GetCase" | "ListInbox" | "ListAuditLog" | "ListVerificationQueue");
                let expected = match (permitted, mutation) {
                    (false, _) => Some(tonic::Code::PermissionDenied),
                    (true, true) => Some(tonic::Code::FailedPrecondition),
                    (true, false) => None,
                };
                assert_eq!(code, expected, "{} ({scope:?}) calling {rpc}", role.as_str());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16 * (2 + 3 * 2));
    // Nothing above changed the case.
    let admin = token(OfficerRole::Admin, None);
    let case = routing
        .clone()
        .get_case(authorized(
            GetCaseRequest {
                tracking_id: tracking_id.clone(),
            },
            &admin,
        ))
        .await
        .expect("read")
        .into_inner();
    assert_eq!((case.state.as_str(), case.version), ("assigned", 2));

    stack.stop().await.expect("clean stop");
}

/// The rest of the officer surface, every role × own and another SKPD: routing's policy
/// RPCs and duplicate suggestions, notification's deliveries, preferences and dead letters.
/// Policy changes are the admin's alone; a forbidden caller is refused before anything is
/// read or written. Intake's reporter-contact RPC opens to the internal service token only:
/// an officer's token, whatever its role, is no credential there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorization_matrix_over_policy_notification_and_contact_rpcs() {
    use lapor_proto::intake::v1::GetReporterContactRequest;
    use lapor_proto::intake::v1::reporter_contacts_client::ReporterContactsClient;
    use lapor_proto::notification::v1::*;
    use lapor_proto::routing::v1::*;
    let stack = Stack::start(StackConfig::new("authz_rest"))
        .await
        .expect("stack starts");
    let tracking_id = submit_and_follow(
        &stack,
        complaint("Obat puskesmas habis", "kesehatan.puskesmas", "6371"),
        "dinkes",
    )
    .await;
    let admin = token(OfficerRole::Admin, None);
    let routing = stack.routing().await.expect("client");
    let policy = stack.policy().await.expect("client");
    let notification = stack.notification().await.expect("client");
    let case = routing
        .clone()
        .get_case(authorized(
            GetCaseRequest {
                tracking_id: tracking_id.clone(),
            },
            &admin,
        ))
        .await
        .expect("case")
        .into_inner();
    let delivery = notification
        .clone()
        .list_deliveries(authorized(
            ListDeliveriesRequest {
                tracking_id: tracking_id.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("deliveries")
        .into_inner()
        .deliveries
        .into_iter()
        .find(|d| d.channel == "email" && d.skpd_code == "dinkes")
        .expect("an e-mail delivery to dinkes");
    // Someone else's preferences: a dinkes liaison officer none of the test tokens is.
    let colleague = directory()
        .officers_of("dinkes", OfficerRole::Penghubung)
        .next()
        .expect("a dinkes penghubung")
        .id
        .clone();
    let colleague_preferences = notification
        .clone()
        .get_preferences(authorized(
            GetPreferencesRequest {
                recipient_id: colleague.clone(),
            },
            &admin,
        ))
        .await
        .expect("preferences")
        .into_inner();

    const RPCS: [&str; 18] = [
        "SuggestDuplicates",
        "ListHolidays",
        "GetCalendarPolicy",
        "GetSlaPolicy",
        "AddHoliday",
        "RemoveHoliday",
        "SetCalendarPolicy",
        "SetSkpdCalendar",
        "SetSlaRule",
        "ClearSlaRule",
        "SetComplexityTier",
        "ListDeliveries",
        "ResendDelivery",
        "GetOwnPreferences",
        "GetPreferences",
        "SetPreferences",
        "ListDeadLetters",
        "ReplayDeadLetters",
    ];
    const ADMIN_ONLY: [&str; 12] = [
        "SuggestDuplicates",
        "AddHoliday",
        "RemoveHoliday",
        "SetCalendarPolicy",
        "SetSkpdCalendar",
        "SetSlaRule",
        "ClearSlaRule",
        "SetComplexityTier",
        "GetPreferences",
        "SetPreferences",
        "ListDeadLetters",
        "ReplayDeadLetters",
    ];
    let roles: [(OfficerRole, &[Option<&str>]); 5] = [
        (OfficerRole::Admin, &[None]),
        (OfficerRole::Pimpinan, &[None]),
        (OfficerRole::Kepala, &[Some("dinkes"), Some("pupr")]),
        (OfficerRole::Koordinator, &[Some("dinkes"), Some("pupr")]),
        (OfficerRole::Penghubung, &[Some("dinkes"), Some("pupr")]),
    ];
    let mut checked = 0;
    for (role, scopes) in roles {
        for scope in scopes {
            let bearer = token(role, *scope);
            let own = scope.is_none_or(|s| s == "dinkes");
            for rpc in RPCS {
                let (mut routing, mut policy, mut notification) =
                    (routing.clone(), policy.clone(), notification.clone());
                let result: Result<(), tonic::Status> = match rpc {
                    "SuggestDuplicates" => routing
                        .suggest_duplicates(authorized(
                            SuggestDuplicatesRequest {
                                tracking_id: tracking_id.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "ListHolidays" => policy
                        .list_holidays(authorized(ListHolidaysRequest { year: 2026 }, &bearer))
                        .await
                        .map(drop),
                    "GetCalendarPolicy" => policy
                        .get_calendar_policy(authorized(GetCalendarPolicyRequest {}, &bearer))
                        .await
                        .map(drop),
                    "GetSlaPolicy" => policy
                        .get_sla_policy(authorized(GetSlaPolicyRequest {}, &bearer))
                        .await
                        .map(drop),
                    // The admin adds a regional holiday far ahead (no deadline moves) and
                    // removes one that is not there (NOT_FOUND): the same request either way.
                    "AddHoliday" => policy
                        .add_holiday(authorized(
                            AddHolidayRequest {
                                holiday: Some(Holiday {
                                    date: "2099-03-02".into(),
                                    kind: "libur_daerah".into(),
                                    name: "Hari jadi (uji)".into(),
                                    decree: "Uji".into(),
                                    scope: "6371".into(),
                                }),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "RemoveHoliday" => policy
                        .remove_holiday(authorized(
                            RemoveHolidayRequest {
                                date: "2099-03-03".into(),
                                scope: "6371".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "SetCalendarPolicy" => policy
                        .set_calendar_policy(authorized(
                            SetCalendarPolicyRequest {
                                cuti_bersama_stops_clock: true,
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "SetSkpdCalendar" => policy
                        .set_skpd_calendar(authorized(
                            SetSkpdCalendarRequest {
                                skpd_code: "dinkes".into(),
                                work_days_per_week: 5,
                                zone: "WITA".into(),
                                kabupaten_code: String::new(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "SetSlaRule" => policy
                        .set_sla_rule(authorized(
                            SlaRule {
                                scope: "skpd:dinkes".into(),
                                stage: "follow_up".into(),
                                working_days: 10,
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "ClearSlaRule" => policy
                        .clear_sla_rule(authorized(
                            ClearSlaRuleRequest {
                                scope: "skpd:dinkes".into(),
                                stage: "follow_up".into(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "SetComplexityTier" => policy
                        .set_complexity_tier(authorized(
                            ComplexityTier {
                                code: "uji".into(),
                                working_days: 20,
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    // An SKPD officer lists the case's SKPD (own or not); provincial roles any.
                    "ListDeliveries" => notification
                        .list_deliveries(authorized(
                            ListDeliveriesRequest {
                                skpd_code: "dinkes".into(),
                                limit: 5,
                                ..Default::default()
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "ResendDelivery" => notification
                        .resend_delivery(authorized(
                            ResendDeliveryRequest {
                                delivery_id: delivery.delivery_id.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    // Every officer reads their own preferences (the test tokens are no
                    // seeded officer, hence NOT_FOUND, but not refused).
                    "GetOwnPreferences" => notification
                        .get_preferences(authorized(
                            GetPreferencesRequest {
                                recipient_id: format!("test-{}-{}", role.as_str(), scope.unwrap_or("prov")),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "GetPreferences" => notification
                        .get_preferences(authorized(
                            GetPreferencesRequest {
                                recipient_id: colleague.clone(),
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "SetPreferences" => notification
                        .set_preferences(authorized(colleague_preferences.clone(), &bearer))
                        .await
                        .map(drop),
                    "ListDeadLetters" => notification
                        .list_dead_letters(authorized(
                            ListDeadLettersRequest {
                                queue: "skpd.dinkes".into(),
                                limit: 5,
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    "ReplayDeadLetters" => notification
                        .replay_dead_letters(authorized(
                            ReplayDeadLettersRequest {
                                queue: "skpd.dinkes".into(),
                                event_ids: vec![uuid::Uuid::new_v4().to_string()],
                            },
                            &bearer,
                        ))
                        .await
                        .map(drop),
                    other => unreachable!("{other}"),
                };
                let permitted = match rpc {
                    _ if ADMIN_ONLY.contains(&rpc) => role == OfficerRole::Admin,
                    "ListDeliveries" => own,
                    "ResendDelivery" => {
                        role == OfficerRole::Admin
                            || (matches!(role, OfficerRole::Koordinator | OfficerRole::Kepala) && own)
                    }
                    _ => true,
                };
                let code = result.err().map(|s| s.code());
                if permitted {
                    // What a permitted call may meet: the delivery was sent already (only a
                    // FAILED one is resent), the test token is no seeded officer, the
                    // holiday to remove is not there.
                    let expected = match rpc {
                        "ResendDelivery" => Some(tonic::Code::FailedPrecondition),
                        "GetOwnPreferences" | "RemoveHoliday" => Some(tonic::Code::NotFound),
                        _ => None,
                    };
                    assert_eq!(code, expected, "{} ({scope:?}) calling {rpc}", role.as_str());
                } else {
                    assert_eq!(
                        code,
                        Some(tonic::Code::PermissionDenied),
                        "{} ({scope:?}) calling {rpc}",
                        role.as_str()
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, RPCS.len() * 8);

    // Intake's reporter contacts: no officer token opens them, the service token does.
    let mut contacts = ReporterContactsClient::new(stack.channel("intake").await.expect("channel"));
    let request = || GetReporterContactRequest {
        complaint_id: case.complaint_id.clone(),
    };
    for (role, scopes) in roles {
        for scope in scopes {
            let status = contacts
                .get_reporter_contact(authorized(request(), &token(role, *scope)))
                .await
                .expect_err("an officer token is no service credential");
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{}", role.as_str());
        }
    }
    let mut internal = tonic::Request::new(request());
    internal.metadata_mut().insert(
        lapor_platform::auth::SERVICE_TOKEN_HEADER,
        lapor_e2e::stack::TEST_SERVICE_TOKEN.parse().expect("ascii"),
    );
    let contact = contacts
        .get_reporter_contact(internal)
        .await
        .expect("service call")
        .into_inner();
    assert_eq!(contact.tracking_id, tracking_id);

    // The colleague's preferences are as they were (only the admin wrote them, unchanged).
    let after = notification
        .clone()
        .get_preferences(authorized(
            GetPreferencesRequest {
                recipient_id: colleague,
            },
            &admin,
        ))
        .await
        .expect("preferences")
        .into_inner();
    assert_eq!(after, colleague_preferences);

    stack.stop().await.expect("clean stop");
}

/// Sets the due time of a case's pending timers of `steps` to the database's now: the test
/// stands in for the passing working days; the scheduler still decides by the DB clock.
async fn make_due(db: &DatabaseConnection, tracking_id: &str, steps: &[&str]) {
    if steps.contains(&"auto_close") {
        // The auto-close timer is the reply window's deadline: end the window first, so the
        // scheduler never sees the timer due while the window is still open.
        db.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("UPDATE cases SET sla_due_at = now() WHERE tracking_id = '{tracking_id}'"),
        ))
        .await
        .expect("end the reply window");
    }
    let steps: Vec<String> = steps.iter().map(|s| format!("'{s}'")).collect();
    db.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!(
            "UPDATE deadlines SET due_at = now() FROM cases WHERE cases.complaint_id = deadlines.complaint_id \
             AND cases.tracking_id = '{tracking_id}' AND fired_at IS NULL AND cancelled_at IS NULL \
             AND step IN ({})",
            steps.join(", ")
        ),
    ))
    .await
    .expect("make timers due");
}

fn emails_of(directory: &Directory, skpd: &str, role: OfficerRole) -> BTreeSet<String> {
    directory.officers_of(skpd, role).map(|o| o.email.clone()).collect()
}

/// Recipients of the mails about `tracking_id` whose raw text contains `marker`.
fn recipients_of(stack: &Stack, tracking_id: &str, marker: &str) -> BTreeSet<String> {
    mails_about(stack, tracking_id)
        .into_iter()
        .filter(|m| m.raw.contains(marker))
        .flat_map(|m| m.rcpt_to)
        .collect()
}

fn timestamp(at: Option<&prost_types::Timestamp>) -> chrono::DateTime<chrono::Utc> {
    let at = at.expect("timestamp set");
    chrono::DateTime::from_timestamp(at.seconds, at.nanos as u32).expect("valid timestamp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sla_clock_escalates_once_per_step_and_auto_closes() {
    use lapor_domain::calendar::{CalendarPolicy, WorkingCalendar, load_holidays};
    use lapor_proto::intake::v1::GetComplaintStatusRequest;
    use lapor_proto::routing::v1::{ListAuditLogRequest, PostFollowUpRequest};

    let stack = Stack::start(StackConfig::new("sla")).await.expect("stack starts");
    let directory = directory();
    let tracking_id = submit_and_follow(
        &stack,
        complaint("Ambulans puskesmas tidak datang", "kesehatan.puskesmas", "6303"),
        "dinkes",
    )
    .await;
    let routing_db = stack.db("routing").await.expect("db");
    let admin = token(OfficerRole::Admin, None);
    let dinkes = token(OfficerRole::Penghubung, Some("dinkes"));
    let mut routing = stack.routing().await.expect("client");
    let get = |t: &str| {
        authorized(
            GetCaseRequest {
                tracking_id: tracking_id.clone(),
            },
            t,
        )
    };

    // The follow-up clock: 5 working days by the seeded Kalsel calendar, three ladder steps.
    let case = routing.get_case(get(&admin)).await.expect("case").into_inner();
    assert_eq!(case.sla_stage, "follow_up");
    let started: chrono::DateTime<chrono::Utc> = routing_db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT sla_started_at FROM cases WHERE tracking_id = '{tracking_id}'"),
        ))
        .await
        .expect("query")
        .expect("row")
        .try_get("", "sla_started_at")
        .expect("started");
    let holidays = load_holidays(&lapor_e2e::stack::repo_root().join("deploy/seed/holidays")).expect("holidays");
    let calendar = WorkingCalendar::new(&holidays, CalendarPolicy::default(), None);
    let deadline = calendar.deadline(started, 5).expect("deadline");
    assert_eq!(timestamp(case.sla_due_at.as_ref()), deadline);
    // The verification clock ran first (cancelled by the automatic disposition).
    let steps: Vec<_> = case
        .deadlines
        .iter()
        .map(|d| (d.stage.as_str(), d.step.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("verification", "reminder"),
            ("verification", "breach"),
            ("verification", "provincial"),
            ("follow_up", "reminder"),
            ("follow_up", "breach"),
            ("follow_up", "provincial"),
        ]
    );
    assert!(case.deadlines[..3].iter().all(|d| d.cancelled_at.is_some()));
    assert!(
        case.deadlines[3..]
            .iter()
            .all(|d| d.fired_at.is_none() && d.cancelled_at.is_none() && d.working_days == 5)
    );

    // The public status shows the same deadline (Open311 expected_datetime).
    let intake = stack.intake().await.expect("client");
    eventually("public expected date", WAIT, || {
        let mut intake = intake.clone();
        let request = GetComplaintStatusRequest {
            tracking_id: tracking_id.clone(),
            ..Default::default()
        };
        async move {
            let status = intake.get_complaint_status(request).await.expect("status").into_inner();
            status
                .expected_at
                .filter(|at| timestamp(Some(at)) == deadline)
                .map(|_| ())
        }
    })
    .await;

    // Reminder and breach fall due: each fires once, reaching the right people.
    make_due(&routing_db, &tracking_id, &["reminder", "breach"]).await;
    let penghubung = emails_of(&directory, "dinkes", OfficerRole::Penghubung);
    let mut superiors = emails_of(&directory, "dinkes", OfficerRole::Kepala);
    superiors.extend(emails_of(&directory, "dinkes", OfficerRole::Koordinator));
    assert!(!superiors.is_empty());
    eventually("escalation e-mails", WAIT, || {
        let reminded = recipients_of(&stack, &tracking_id, "Pengingat");
        let breached = recipients_of(&stack, &tracking_id, "Melewati batas waktu");
        std::future::ready((reminded == penghubung && breached == superiors).then_some(()))
    })
    .await;
    let case = routing.get_case(get(&admin)).await.expect("case").into_inner();
    let fired: Vec<_> = case
        .deadlines
        .iter()
        .filter(|d| d.fired_at.is_some())
        .map(|d| d.step.as_str())
        .collect();
    assert_eq!(fired, ["reminder", "breach"]);
    for level in ["reminder", "breach"] {
        let events = outbox_rows(&routing_db, &format!("complaint.escalated.{level}"), &tracking_id).await;
        assert_eq!(events.len(), 1, "{level} fired {} times", events.len());
        assert_eq!(events[0].0, format!("complaint.escalated.{level}.dinkes"));
    }
    eventually("analytics counts escalations", WAIT, || {
        let stack = &stack;
        async move {
            let by_level = summary(stack).await.escalations_by_level;
            (by_level.get("reminder") == Some(&1) && by_level.get("breach") == Some(&1)).then_some(())
        }
    })
    .await;

    // The follow-up ends the stage: its last timer is cancelled in the same transaction and
    // the reporter's reply window starts.
    let followed = routing
        .post_follow_up(authorized(
            PostFollowUpRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: case.version,
                }),
                text: "Ambulans sudah dijadwalkan ulang.".into(),
                ..Default::default()
            },
            &dinkes,
        ))
        .await
        .expect("follow-up")
        .into_inner();
    assert_eq!(followed.sla_stage, "reply_window");
    let provincial = followed
        .deadlines
        .iter()
        .find(|d| d.step == "provincial")
        .expect("step");
    assert!(provincial.cancelled_at.is_some() && provincial.fired_at.is_none());
    let auto_close = followed.deadlines.last().expect("auto-close timer");
    assert_eq!((auto_close.step.as_str(), auto_close.working_days), ("auto_close", 10));

    // An admin's correction inside the window keeps the clock (and the close) going.
    let edited = routing
        .edit_case(authorized(
            lapor_proto::routing::v1::EditCaseRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: followed.version,
                }),
                title: Some("Ambulans puskesmas tidak datang saat dipanggil".into()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("edit inside the reply window")
        .into_inner();
    assert_eq!(edited.sla_due_at, followed.sla_due_at);

    // No reply within the window: the system closes the case.
    make_due(&routing_db, &tracking_id, &["auto_close"]).await;
    let closed = stack.case_in_state(&tracking_id, "closed").await;
    assert!(closed.sla_stage.is_empty() && closed.sla_due_at.is_none());
    let audit = routing
        .list_audit_log(authorized(
            ListAuditLogRequest {
                tracking_id: tracking_id.clone(),
            },
            &admin,
        ))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    let last = audit.last().expect("entries");
    assert_eq!((last.actor.as_str(), last.action.as_str()), ("system", "auto_close"));
    assert_eq!(
        count(
            &routing_db,
            "SELECT count(*) FROM deadlines WHERE fired_at IS NULL AND cancelled_at IS NULL"
        )
        .await,
        0,
        "a closed case keeps no pending timer"
    );
    // Nothing fired twice across the whole run.
    assert_eq!(
        count(
            &routing_db,
            "SELECT count(*) FROM outbox WHERE event_type LIKE 'complaint.escalated.%'"
        )
        .await,
        2
    );
    stack.stop().await.expect("stack stops");
}

/// An admin's calendar and SLA edits: bad ones are rejected by field and change nothing;
/// good ones are audited, apply to new clocks, and a holiday moves running deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calendar_and_sla_policy_edits_are_checked_audited_and_move_deadlines() {
    use lapor_domain::calendar::{CalendarPolicy, WorkingCalendar, load_holidays};
    use lapor_proto::routing::v1::{
        AddHolidayRequest, ClearSlaRuleRequest, ComplexityTier, GetSlaPolicyRequest, Holiday, ListHolidaysRequest,
        RemoveHolidayRequest, SetSkpdCalendarRequest, SlaRule,
    };

    let stack = Stack::start(StackConfig::new("policy")).await.expect("stack starts");
    let routing_db = stack.db("routing").await.expect("db");
    let mut policy = stack.policy().await.expect("client");
    let mut routing = stack.routing().await.expect("client");
    let admin = token(OfficerRole::Admin, None);
    let penghubung = token(OfficerRole::Penghubung, Some("dinkes"));
    let field_of = |status: &tonic::Status| {
        status
            .metadata()
            .get("lapor-field")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let audit_rows = || count(&routing_db, "SELECT count(*) FROM policy_audit");
    let before_policy = policy
        .get_sla_policy(authorized(GetSlaPolicyRequest {}, &penghubung))
        .await
        .expect("any officer reads")
        .into_inner();
    assert_eq!(before_policy.tiers.len(), 4);

    // Bad input: rejected with the offending field, nothing stored.
    let rule = |scope: &str, stage: &str, days: u32| SlaRule {
        scope: scope.into(),
        stage: stage.into(),
        working_days: days,
    };
    for (bad, field) in [
        (rule("default", "follow_up", 0), "working_days"),
        (rule("default", "follow_up", 366), "working_days"),
        (rule("kabupaten:6371", "follow_up", 5), "scope"),
        (rule("category:tidak-ada", "follow_up", 5), "scope"),
        (rule("skpd:tidak-ada", "follow_up", 5), "scope"),
        (rule("default", "makan_siang", 5), "stage"),
    ] {
        let status = policy
            .set_sla_rule(authorized(bad.clone(), &admin))
            .await
            .expect_err("bad rule");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad:?}");
        assert_eq!(field_of(&status), field, "{bad:?}");
    }
    let status = policy
        .clear_sla_rule(authorized(
            ClearSlaRuleRequest {
                scope: "default".into(),
                stage: "follow_up".into(),
            },
            &admin,
        ))
        .await
        .expect_err("default stays");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let status = policy
        .set_complexity_tier(authorized(
            ComplexityTier {
                code: "Sangat Kompleks".into(),
                working_days: 30,
            },
            &admin,
        ))
        .await
        .expect_err("bad tier code");
    assert_eq!(field_of(&status), "code");
    for (days, zone, field) in [
        (7, "WITA", "work_days_per_week"),
        (5, "PST", "zone"),
        (5, "Asia/Tokyo", "zone"),
    ] {
        let status = policy
            .set_skpd_calendar(authorized(
                SetSkpdCalendarRequest {
                    skpd_code: "dinkes".into(),
                    work_days_per_week: days,
                    zone: zone.into(),
                    kabupaten_code: String::new(),
                },
                &admin,
            ))
            .await
            .expect_err("bad skpd calendar");
        assert_eq!(
            (status.code(), field_of(&status).as_str()),
            (tonic::Code::InvalidArgument, field)
        );
    }
    let holiday = |date: &str, kind: &str, scope: &str| AddHolidayRequest {
        holiday: Some(Holiday {
            date: date.into(),
            kind: kind.into(),
            name: "Libur uji".into(),
            decree: "Keputusan uji 1/2026".into(),
            scope: scope.into(),
        }),
    };
    for (bad, code) in [
        (
            holiday("2026-02-30", "libur_nasional", "national"),
            tonic::Code::InvalidArgument,
        ),
        (
            holiday("1999-12-31", "libur_nasional", "national"),
            tonic::Code::InvalidArgument,
        ),
        (
            holiday("2026-12-01", "libur_daerah", "national"),
            tonic::Code::InvalidArgument,
        ),
        (
            holiday("2026-12-01", "libur_daerah", "9999"),
            tonic::Code::InvalidArgument,
        ),
        (
            holiday("2026-12-01", "hari_raya", "national"),
            tonic::Code::InvalidArgument,
        ),
        // Idul Fitri 2026 is seeded: the same date and scope again overlaps.
        (
            holiday("2026-03-21", "libur_nasional", "national"),
            tonic::Code::AlreadyExists,
        ),
    ] {
        let status = policy
            .add_holiday(authorized(bad.clone(), &admin))
            .await
            .expect_err("bad holiday");
        assert_eq!(status.code(), code, "{bad:?}: {status:?}");
    }
    let status = policy
        .add_holiday(authorized(
            holiday("2026-12-01", "libur_nasional", "national"),
            &penghubung,
        ))
        .await
        .expect_err("officers do not edit the calendar");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(audit_rows().await, 0, "rejected edits leave no trace");
    let after_rejections = policy
        .get_sla_policy(authorized(GetSlaPolicyRequest {}, &admin))
        .await
        .expect("policy")
        .into_inner();
    assert_eq!(after_rejections, before_policy, "rejected edits change nothing");

    // An SKPD override applies to the next clock; a tier chosen at verification wins.
    policy
        .set_sla_rule(authorized(rule("skpd:dinkes", "follow_up", 7), &admin))
        .await
        .expect("skpd override");
    let automatic = submit_and_follow(
        &stack,
        complaint("Puskesmas tutup siang", "kesehatan.puskesmas", "6303"),
        "dinkes",
    )
    .await;
    let case = routing
        .get_case(authorized(
            GetCaseRequest {
                tracking_id: automatic.clone(),
            },
            &admin,
        ))
        .await
        .expect("case")
        .into_inner();
    assert!(
        case.deadlines
            .iter()
            .filter(|d| d.stage == "follow_up")
            .all(|d| d.working_days == 7),
        "{:?}",
        case.deadlines
    );
    let manual = stack
        .intake()
        .await
        .expect("client")
        .submit_complaint(complaint("Pelayanan kantor lambat", "lainnya", "6371"))
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id;
    let waiting = stack.case_in_state(&manual, "submitted").await;
    assert_eq!(waiting.sla_stage, "verification");
    assert!(waiting.deadlines.iter().all(|d| d.working_days == 3));
    // While it waits, the public status already shows when verification is due.
    let verification_due = timestamp(waiting.sla_due_at.as_ref());
    let intake = stack.intake().await.expect("client");
    eventually("public expected date of verification", WAIT, || {
        let mut intake = intake.clone();
        let request = lapor_proto::intake::v1::GetComplaintStatusRequest {
            tracking_id: manual.clone(),
            ..Default::default()
        };
        async move {
            let status = intake.get_complaint_status(request).await.expect("status").into_inner();
            (status.expected_at.map(|at| timestamp(Some(&at))) == Some(verification_due)).then_some(())
        }
    })
    .await;
    let status = routing
        .verify_case(authorized(
            VerifyCaseRequest {
                case: Some(CaseRef {
                    tracking_id: manual.clone(),
                    expected_version: waiting.version,
                }),
                skpd_code: "dlh".into(),
                complexity_tier: "mustahil".into(),
            },
            &admin,
        ))
        .await
        .expect_err("unknown tier");
    assert_eq!(field_of(&status), "complexity_tier");
    let verified = routing
        .verify_case(authorized(
            VerifyCaseRequest {
                case: Some(CaseRef {
                    tracking_id: manual.clone(),
                    expected_version: waiting.version,
                }),
                skpd_code: "dlh".into(),
                complexity_tier: "kompleks".into(),
            },
            &admin,
        ))
        .await
        .expect("verified with a tier")
        .into_inner();
    assert_eq!(verified.complexity_tier, "kompleks");
    let verification_steps = verified.deadlines.iter().filter(|d| d.stage == "verification");
    assert!(verification_steps.clone().count() == 3 && verification_steps.clone().all(|d| d.cancelled_at.is_some()));
    let follow_up: Vec<_> = verified.deadlines.iter().filter(|d| d.stage == "follow_up").collect();
    assert!(follow_up.len() == 3 && follow_up.iter().all(|d| d.working_days == 14));

    // A new holiday on the next working day pushes every running clock back by a day;
    // removing it brings them back.
    let holidays = load_holidays(&lapor_e2e::stack::repo_root().join("deploy/seed/holidays")).expect("seed");
    let calendar = WorkingCalendar::new(&holidays, CalendarPolicy::default(), None);
    let today = calendar.local_date(chrono::Utc::now());
    let next_working_day = calendar.add_working_days(today, 1).expect("next working day");
    let date = next_working_day.format("%Y-%m-%d").to_string();
    let due_before = timestamp(case.sla_due_at.as_ref());
    let change = policy
        .add_holiday(authorized(holiday(&date, "libur_nasional", "national"), &admin))
        .await
        .expect("holiday added")
        .into_inner();
    assert!(change.recomputed_deadlines >= 6, "{change:?}");
    let get_automatic = || {
        authorized(
            GetCaseRequest {
                tracking_id: automatic.clone(),
            },
            &admin,
        )
    };
    let moved = routing.get_case(get_automatic()).await.expect("case").into_inner();
    let due_moved = timestamp(moved.sla_due_at.as_ref());
    assert_eq!(
        due_moved,
        calendar
            .working_days_after_deadline(due_before, 1)
            .expect("one more working day")
    );
    let listed = policy
        .list_holidays(authorized(
            ListHolidaysRequest {
                year: next_working_day.format("%Y").to_string().parse().expect("year"),
            },
            &penghubung,
        ))
        .await
        .expect("list")
        .into_inner()
        .holidays;
    assert!(listed.iter().any(|h| h.date == date && h.name == "Libur uji"));
    policy
        .remove_holiday(authorized(
            RemoveHolidayRequest {
                date: date.clone(),
                scope: String::new(),
            },
            &admin,
        ))
        .await
        .expect("holiday removed");
    let back = routing.get_case(get_automatic()).await.expect("case").into_inner();
    assert_eq!(timestamp(back.sla_due_at.as_ref()), due_before);
    let status = policy
        .remove_holiday(authorized(
            RemoveHolidayRequest {
                date,
                scope: String::new(),
            },
            &admin,
        ))
        .await
        .expect_err("already removed");
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(audit_rows().await, 3, "one audit row per accepted change");
    stack.stop().await.expect("stack stops");
}

/// Debian's chromium driven through chromedriver (WebDriver), headless, phone-sized.
/// A real 1×1 PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba,
    0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

struct Browser {
    driver: std::process::Child,
    client: fantoccini::Client,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver is installed (deploy/scripts/ensure-infra.sh)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=412,915"],
            }),
        );
        let client = eventually("chromedriver session", WAIT, || {
            let capabilities = capabilities.clone();
            async move {
                // chromedriver listens on loopback: plain HTTP, no TLS stack involved.
                fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                    .ok()
            }
        })
        .await;
        Browser { driver, client }
    }

    async fn sign_in(&self, base: &str, token: &str) {
        self.client
            .goto(&format!("{base}/console/login"))
            .await
            .expect("login page");
        self.fill("textarea#token", token).await;
        self.click("button[type=submit].primary").await;
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn choose(&self, css: &str, value: &str) {
        let select = self.element(css).await;
        select
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    /// Clicks a submit button and waits until the browser has left the old document, so the
    /// next read sees the answer page, not the form.
    async fn click(&self, css: &str) {
        let old_document = self.element("html").await;
        let target = self.element(css).await;
        target.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
        let deadline = std::time::Instant::now() + WAIT;
        while old_document.tag_name().await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "{css} did not lead to a new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self) -> String {
        // The new document may still be replacing its body: retry a stale read.
        for _ in 0..50 {
            if let Ok(body) = self.client.find(fantoccini::Locator::Css("body")).await
                && let Ok(text) = body.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("page text never readable");
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The citizen's web form and status page in headless Chromium on a phone-sized window:
/// every control labelled; a missing title comes back as a named error with the text kept
/// and nothing stored; a report sent shows its tracking id and access code once; the status
/// page follows routing with a timeline, in Bahasa Indonesia and English; a rahasia report
/// opens only with its code; HTML typed into a report is shown as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_form_and_status_page_in_headless_chromium() {
    let stack = Stack::start(StackConfig::new("webform")).await.expect("stack starts");
    let base = format!("http://127.0.0.1:{}", stack.http_port("intake"));
    let intake_db = stack.db("intake").await.expect("db");
    let browser = Browser::start().await;
    let stored = || count(&intake_db, "SELECT count(*) FROM complaints WHERE channel = 'web'");
    browser.client.goto(&format!("{base}/")).await.expect("form page");
    let unlabelled = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea'))\
             .filter(e => e.labels.length === 0).map(e => e.id || e.name)",
            Vec::new(),
        )
        .await
        .expect("script");
    assert_eq!(unlabelled, serde_json::json!([]), "controls without a label");
    let send = "form[action='/lapor'] button[type=submit]";

    // No title: the form comes back naming it, with what was typed, and stores nothing.
    browser
        .fill(
            "#body",
            "Lampu jalan di depan SD 3 mati sejak dua minggu, gelap sekali.",
        )
        .await;
    browser.choose("#category", "infrastruktur.jalan-jembatan").await;
    browser.choose("#kabupaten", "6371").await;
    browser
        .client
        .execute(
            "document.getElementById('title').removeAttribute('required')",
            Vec::new(),
        )
        .await
        .expect("let the empty title through to the server");
    browser.click(send).await;
    let text = browser.text().await;
    assert!(
        text.contains("Laporan belum terkirim") && text.contains("Judul: wajib diisi"),
        "{text}"
    );
    assert_eq!(
        browser
            .element("#title")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        browser
            .element("#body")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("Lampu jalan di depan SD 3 mati sejak dua minggu, gelap sekali.")
    );
    assert_eq!(stored().await, 0);

    // A program named like a photo: the form comes back naming the file, nothing stored.
    let files = std::env::temp_dir().join(format!("{}_web_files", stack.prefix));
    std::fs::create_dir_all(&files).expect("dir");
    let forged = files.join("foto-lampu.jpg");
    std::fs::write(&forged, b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff").expect("write");
    let photo = files.join("lampu-mati.png");
    std::fs::write(&photo, PNG_1X1).expect("write");
    browser.fill("#title", "Lampu jalan mati <b>tebal</b>").await;
    browser
        .element("#lampiran")
        .await
        .send_keys(&forged.display().to_string())
        .await
        .expect("choose a file");
    browser.click(send).await;
    let text = browser.text().await;
    assert!(
        text.contains("Lampiran") && text.contains("foto-lampu.jpg") && text.contains("bukan foto"),
        "{text}"
    );
    assert_eq!(
        browser
            .element("#title")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("Lampu jalan mati <b>tebal</b>"),
        "what was typed is kept"
    );
    assert_eq!(stored().await, 0);

    // Sent with a photo: the tracking id and the access code, once.
    browser
        .element("#lampiran")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .expect("choose a file");
    browser.click(send).await;
    let text = browser.text().await;
    assert!(text.contains("Laporan diterima"), "{text}");
    let tracking_id = browser.element("#tracking-id").await.text().await.expect("id");
    let attached = count(
        &intake_db,
        &format!(
            "SELECT count(*) FROM attachments a JOIN complaints c ON c.id = a.complaint_id \
             WHERE c.tracking_id = '{tracking_id}' AND a.content_type = 'image/png' AND a.filename = 'lampu-mati.png'"
        ),
    )
    .await;
    assert_eq!(attached, 1, "the photo came with the report");
    let _ = std::fs::remove_dir_all(&files);
    let access_code = browser.element("#access-code").await.text().await.expect("code");
    assert_eq!((tracking_id.len(), access_code.len()), (10, 10));
    assert_eq!(stored().await, 1);

    // The status page follows routing; the typed HTML is text, not markup.
    let status_url = format!("{base}/lacak?id={tracking_id}");
    eventually("the status page shows the assignment", WAIT, || {
        let (client, url) = (browser.client.clone(), status_url.clone());
        async move {
            client.goto(&url).await.ok()?;
            let state = client
                .find(fantoccini::Locator::Css("#status-state"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (state == "Belum Ditindaklanjuti").then_some(())
        }
    })
    .await;
    let text = browser.text().await;
    assert!(
        text.contains("Lampu jalan mati <b>tebal</b>") && text.contains("Dinas Pekerjaan Umum"),
        "{text}"
    );
    let bold = browser
        .client
        .execute("return document.querySelectorAll('dd b').length", Vec::new())
        .await
        .expect("script");
    assert_eq!(bold, serde_json::json!(0), "typed HTML became markup");
    let steps = browser
        .client
        .execute("return document.querySelectorAll('#timeline li').length", Vec::new())
        .await
        .expect("script");
    assert!(steps.as_u64().is_some_and(|n| n >= 2), "timeline: {steps}");
    browser
        .client
        .goto(&format!("{status_url}&lang=en"))
        .await
        .expect("english");
    let text = browser.text().await;
    assert!(
        text.contains("Awaiting follow-up") && text.contains("History"),
        "{text}"
    );

    // Followed up: the page offers a reply and a rating; the rating, with the code, is taken
    // once and the form goes away.
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    stack
        .routing()
        .await
        .expect("client")
        .post_follow_up(authorized(
            lapor_proto::routing::v1::PostFollowUpRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: case.version,
                }),
                text: "Lampu sudah diganti.".into(),
                ..Default::default()
            },
            &token(OfficerRole::Penghubung, Some("pupr")),
        ))
        .await
        .expect("follow-up");
    eventually("the status page offers a rating", WAIT, || {
        let (client, url) = (browser.client.clone(), status_url.clone());
        async move {
            client.goto(&url).await.ok()?;
            client
                .find(fantoccini::Locator::Css("#rate-code"))
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    assert!(browser.text().await.contains("Tanggapi tindak lanjut"));
    browser
        .element("input[name=stars][value='4']")
        .await
        .click()
        .await
        .expect("four stars");
    browser.fill("#rate-code", &access_code).await;
    browser.click("form[action$='/nilai'] button[type=submit]").await;
    let text = browser.text().await;
    assert!(text.contains("Terima kasih"), "{text}");
    // Once routing took the rating, the page offers none.
    eventually("the rating form gone", WAIT, || {
        let (client, url) = (browser.client.clone(), status_url.clone());
        async move {
            client.goto(&url).await.ok()?;
            client
                .find(fantoccini::Locator::Css("#rate-code"))
                .await
                .is_err()
                .then_some(())
        }
    })
    .await;
    eventually("routing has the rating", WAIT, || async {
        let case = stack
            .routing()
            .await
            .ok()?
            .get_case(authorized(
                GetCaseRequest {
                    tracking_id: tracking_id.clone(),
                },
                &token(OfficerRole::Admin, None),
            ))
            .await
            .ok()?
            .into_inner();
        case.rated.then_some(())
    })
    .await;

    // A rahasia report: not found by its id alone, opened with its code.
    browser.client.goto(&format!("{base}/")).await.expect("form page");
    browser.fill("#title", "Pungutan liar di jembatan timbang").await;
    browser.fill("#body", "Setiap truk diminta uang tanpa karcis.").await;
    browser.choose("#category", "infrastruktur.jalan-jembatan").await;
    browser.choose("#kabupaten", "6371").await;
    browser.element("#rahasia").await.click().await.expect("tick rahasia");
    browser.click(send).await;
    let secret_id = browser.element("#tracking-id").await.text().await.expect("id");
    let secret_code = browser.element("#access-code").await.text().await.expect("code");
    browser
        .client
        .goto(&format!("{base}/lacak?id={secret_id}"))
        .await
        .expect("status");
    let text = browser.text().await;
    assert!(
        text.contains("Laporan tidak ditemukan") && !text.contains("Pungutan"),
        "{text}"
    );
    // The id asked for stays in the form: only the code is missing.
    assert_eq!(
        browser
            .element("#track-id")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some(secret_id.as_str())
    );
    browser.fill("#track-code", &secret_code).await;
    browser.click("form[action='/lacak'] button[type=submit]").await;
    let text = browser.text().await;
    assert!(text.contains("Pungutan liar di jembatan timbang"), "{text}");
    // Switching language leads back to the form with the id kept (the code never goes in
    // an address); with the code the status opens in English.
    browser.click("header a[lang=en]").await;
    let text = browser.text().await;
    assert!(
        text.contains("Report not found") && !text.contains("Pungutan"),
        "{text}"
    );
    browser.fill("#track-code", &secret_code).await;
    browser.click("form[action='/lacak'] button[type=submit]").await;
    let text = browser.text().await;
    assert!(
        text.contains("Pungutan liar di jembatan timbang") && text.contains("Tracking number"),
        "{text}"
    );
    browser.stop().await;
    stack.stop().await.expect("stack stops");
}

/// The officer console in a real browser: the admin signs in, sees the verification queue
/// with a duplicate suggestion, verifies one case with a tier and merges the duplicate; the
/// SKPD's penghubung sees the case in the inbox with its clock, starts work, and a stale form
/// is refused with 409 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn officer_console_in_headless_chromium() {
    use lapor_proto::routing::v1::{ListAuditLogRequest, StartProgressRequest};
    let stack = Stack::start(StackConfig::new("console")).await.expect("stack starts");
    let intake = stack.intake().await.expect("client");
    let submit = |title: &'static str, body: &'static str| {
        let mut request = complaint(title, "lainnya", "6371");
        request.body = body.into();
        let mut intake = intake.clone();
        async move {
            intake
                .submit_complaint(request)
                .await
                .expect("accepted")
                .into_inner()
                .tracking_id
        }
    };
    let first = submit(
        "Pelayanan KTP di kecamatan lambat",
        "Antrian pembuatan KTP di kantor kecamatan sangat lambat, sudah tiga hari menunggu.",
    )
    .await;
    let second = submit(
        "Pelayanan KTP kecamatan lambat sekali",
        "Antrian pembuatan KTP di kantor kecamatan lambat sekali, saya menunggu tiga hari.",
    )
    .await;
    stack.case_in_state(&first, "submitted").await;
    let waiting = stack.case_in_state(&second, "submitted").await;
    let base = format!("http://127.0.0.1:{}", stack.http_port("routing"));
    let browser = Browser::start().await;

    // Without a token the console sends the officer to sign in; a forged token is refused.
    browser
        .client
        .goto(&format!("{base}/console/queue"))
        .await
        .expect("queue");
    assert!(
        browser
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/console/login")
    );
    browser.sign_in(&base, "not-a-token").await;
    assert!(browser.text().await.contains("Token ditolak"));

    // The admin's queue shows both cases and suggests the earlier one as the duplicate.
    browser.sign_in(&base, &token(OfficerRole::Admin, None)).await;
    let page = browser.text().await;
    assert!(page.contains("Antrian verifikasi") && page.contains(&first) && page.contains(&second));
    assert!(page.contains(&format!("Kemungkinan duplikat dari {second}")), "{page}");
    browser
        .click(&format!(
            "form[action='/console/cases/{second}/act'] button[type=submit]"
        ))
        .await;
    let merged = stack.case_in_state(&second, "archived").await;
    assert_eq!(merged.duplicate_of, first);
    assert_eq!(merged.version, waiting.version + 1);

    // The admin corrects the first case's title and marks it rahasia through the form; the
    // flag cannot be cleared afterwards (the box comes back checked and disabled).
    browser
        .client
        .goto(&format!("{base}/console/cases/{first}"))
        .await
        .expect("case page");
    browser
        .element("#edit_details-title")
        .await
        .clear()
        .await
        .expect("clear the title");
    browser
        .fill("#edit_details-title", "Antrean obat di RSUD (dikoreksi)")
        .await;
    browser
        .element("#edit_details-rahasia")
        .await
        .click()
        .await
        .expect("tick rahasia");
    browser.click("button[value=edit_details]").await;
    let page = browser.text().await;
    assert!(
        page.contains("Antrean obat di RSUD (dikoreksi)") && page.contains("RAHASIA"),
        "{page}"
    );
    assert!(
        page.contains("edit_details"),
        "the correction is in the history: {page}"
    );
    assert!(
        browser
            .element("#edit_details-rahasia")
            .await
            .attr("disabled")
            .await
            .expect("attr")
            .is_some()
    );

    // Verify the first case to dinkes with the "kompleks" tier through the form.
    browser.choose("select#verify-skpd", "dinkes").await;
    browser.choose("select#verify-tier", "kompleks").await;
    browser.click("button[value=verify]").await;
    let page = browser.text().await;
    assert!(page.contains("kompleksitas kompleks"), "{page}");
    assert!(
        page.contains("Pengingat ke penghubung") && page.contains("14 hari kerja"),
        "{page}"
    );

    // The liaison officer's inbox shows the case with its clock.
    browser.click("header button").await;
    let dinkes = token(OfficerRole::Penghubung, Some("dinkes"));
    browser.sign_in(&base, &dinkes).await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/console/inbox/dinkes")
    );
    let page = browser.text().await;
    assert!(page.contains(&first) && page.contains("Tepat waktu"), "{page}");

    // Another officer acts first; the stale form in this browser is refused, nothing changes.
    browser
        .client
        .goto(&format!("{base}/console/cases/{first}"))
        .await
        .expect("case page");
    let mut routing = stack.routing().await.expect("client");
    let current = stack.case_in_state(&first, "assigned").await;
    routing
        .start_progress(authorized(
            StartProgressRequest {
                case: Some(CaseRef {
                    tracking_id: first.clone(),
                    expected_version: current.version,
                }),
            },
            &dinkes,
        ))
        .await
        .expect("the other officer starts");
    browser.click("button[value=start_progress]").await;
    let page = browser.text().await;
    assert!(page.contains("Tidak disimpan"), "{page}");
    let after = stack.case_in_state(&first, "in_progress").await;
    assert_eq!(after.version, current.version + 1, "the stale form changed nothing");

    // A fresh page acts: the follow-up goes through, with a photo of the new counter.
    browser
        .client
        .goto(&format!("{base}/console/cases/{first}"))
        .await
        .expect("case page");
    browser
        .fill("textarea#follow_up-text", "Loket tambahan dibuka mulai Senin.")
        .await;
    let photo = std::env::temp_dir().join(format!("{}_loket-baru.png", stack.prefix));
    std::fs::write(&photo, PNG_1X1).expect("write");
    browser
        .element("#follow_up-lampiran")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .expect("choose a file");
    browser.click("button[value=follow_up]").await;
    let followed = stack.case_in_state(&first, "followed_up").await;
    let _ = std::fs::remove_file(&photo);
    let names: Vec<_> = followed.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, [format!("{}_loket-baru.png", stack.prefix).as_str()]);
    let screenshot = browser.client.screenshot().await.expect("screenshot");
    let path = lapor_e2e::stack::repo_root().join("target/console-case.png");
    std::fs::write(&path, screenshot).expect("write screenshot");
    let audit = routing
        .list_audit_log(authorized(
            ListAuditLogRequest {
                tracking_id: first.clone(),
            },
            &token(OfficerRole::Admin, None),
        ))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["edit_details", "verify", "start_progress", "follow_up"]);
    browser.stop().await;
    stack.stop().await.expect("stack stops");
}

/// The public JSON API over real HTTP: submit, idempotent retry, public status with the
/// deadline, the OpenAPI document, and every kind of bad input as a JSON error that stores
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_api_submits_reports_status_and_rejects_bad_input_as_json() {
    use serde_json::{Value, json};
    let stack = Stack::start(StackConfig::new("api")).await.expect("stack starts");
    let base = format!("http://127.0.0.1:{}/api/v1", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let intake_db = stack.db("intake").await.expect("db");
    let stored = || count(&intake_db, "SELECT count(*) FROM complaints");
    let valid = json!({
        "title": "Jembatan kayu di Sungai Andai rapuh",
        "body": "Papan jembatan banyak yang patah, anak sekolah melintas setiap pagi.",
        "category_code": "infrastruktur.jalan-jembatan",
        "kabupaten_code": "6371",
        "location": "Sungai Andai",
        "reporter": {"name": "Warga Uji", "phone": "0812-0000-2222", "email": "warga@example.id",
                     "nik": "6371 0357 0885 0001"}
    });
    let post = |body: Value, key: Option<&str>| {
        let mut request = http.post(format!("{base}/complaints")).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };

    let first = post(valid.clone(), Some("api-test-key-1")).await.expect("post");
    assert_eq!(first.status(), 201);
    let accepted: Value = first.json().await.expect("json");
    let tracking_id = accepted["tracking_id"].as_str().expect("tracking id").to_owned();
    assert_eq!(accepted["status_url"], format!("/api/v1/complaints/{tracking_id}"));
    // The same key and content: the same complaint, 200, nothing new stored.
    let again = post(valid.clone(), Some("api-test-key-1")).await.expect("post");
    assert_eq!(again.status(), 200);
    let replayed: Value = again.json().await.expect("json");
    assert_eq!(
        (replayed["tracking_id"].as_str(), replayed["replayed"].as_bool()),
        (Some(tracking_id.as_str()), Some(true))
    );
    assert_eq!(stored().await, 1);

    // The status follows routing: assigned, with the follow-up deadline.
    let status: Value = eventually("assigned with a deadline", WAIT, || {
        let request = http.get(format!("{base}/complaints/{tracking_id}")).send();
        async move {
            let status: Value = request.await.ok()?.json().await.ok()?;
            (status["state"] == "assigned" && status["expected_at"].is_string()).then_some(status)
        }
    })
    .await;
    assert_eq!(status["state_label"], "Belum Ditindaklanjuti");
    assert_eq!(status["title"], "Jembatan kayu di Sungai Andai rapuh");
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    let expected: chrono::DateTime<chrono::Utc> = status["expected_at"]
        .as_str()
        .expect("expected_at")
        .parse()
        .expect("rfc3339");
    assert_eq!(expected, timestamp(case.sla_due_at.as_ref()));

    // Bad input: the right status, a JSON body naming the problem, nothing stored.
    let mut other_content = valid.clone();
    other_content["title"] = json!("Judul lain untuk kunci yang sama");
    let mut no_title = valid.clone();
    no_title.as_object_mut().expect("object").remove("title");
    let mut unknown_category = valid.clone();
    unknown_category["category_code"] = json!("tidak.ada");
    let mut bad_phone = valid.clone();
    bad_phone["reporter"]["phone"] = json!("12");
    let mut bad_nik = valid.clone();
    bad_nik["reporter"]["nik"] = json!("6371 0399 0885 0001");
    let mut bad_kind = valid.clone();
    bad_kind["kind"] = json!("keluhan");
    let mut extra_field = valid.clone();
    extra_field["admin"] = json!(true);
    for (body, key, status, code, field) in [
        (
            other_content,
            Some("api-test-key-1"),
            409,
            "idempotency_key_reused",
            None,
        ),
        (no_title, None, 422, "invalid_json", Some("title")),
        (unknown_category, None, 400, "invalid_argument", Some("category_code")),
        (bad_phone, None, 400, "invalid_argument", Some("reporter.phone")),
        (bad_nik, None, 400, "invalid_argument", Some("reporter.nik")),
        (bad_kind, None, 400, "invalid_argument", Some("kind")),
        (extra_field, None, 422, "invalid_json", Some("admin")),
    ] {
        let response = post(body.clone(), key).await.expect("post");
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("json error body");
        assert_eq!(error["code"], code, "{error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{error}");
        }
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let malformed = http
        .post(format!("{base}/complaints"))
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .expect("post");
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<Value>().await.expect("json")["code"], "invalid_json");
    let huge = json!({"title": "x".repeat(70_000)});
    let too_large = post(huge, None).await.expect("post");
    assert_eq!(too_large.status(), 413);
    assert_eq!(too_large.json::<Value>().await.expect("json")["code"], "body_too_large");
    assert_eq!(stored().await, 1, "rejected requests store nothing");

    for (path, status) in [("complaints/ZZZZZZZZZZ", 404), ("complaints/bukan-id", 400)] {
        let response = http.get(format!("{base}/{path}")).send().await.expect("get");
        assert_eq!(response.status(), status, "{path}");
        assert!(response.json::<Value>().await.expect("json")["code"].is_string());
    }

    let openapi: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("openapi json");
    assert!(openapi["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert!(openapi["paths"]["/api/v1/complaints"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/complaints/{tracking_id}"]["get"].is_object());
    stack.stop().await.expect("stack stops");
}

/// The reporter's side of a case over the JSON API, proven by the access code: the code
/// comes with the tracking id (the same on a replay); an objection inside the reply window
/// reopens the case in routing (audited as the reporter, the SKPD re-notified); a rating is
/// taken once and reaches analytics; an answer sends a held case back to verification; a
/// rahasia report's status opens only with its code. Every refusal names its reason and
/// records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reporter_replies_objects_rates_and_answers_with_the_access_code() {
    use lapor_proto::routing::v1::{HoldCaseRequest, ListAuditLogRequest, PostFollowUpRequest};
    use serde_json::{Value, json};
    let stack = Stack::start(StackConfig::new("reporter")).await.expect("stack starts");
    let base = format!("http://127.0.0.1:{}/api/v1", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let routing = stack.routing().await.expect("client");
    let routing_db = stack.db("routing").await.expect("db");
    let intake_db = stack.db("intake").await.expect("db");
    let submit = |body: Value, key: &str| {
        http.post(format!("{base}/complaints"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let road = json!({
        "title": "Aspal mengelupas di Jl. Veteran",
        "body": "Lubang besar setelah hujan, motor sering tergelincir.",
        "category_code": "infrastruktur.jalan-jembatan",
        "kabupaten_code": "6371",
        "reporter": {"email": "pelapor.jalan@example.id"}
    });
    let accepted: Value = submit(road.clone(), "reporter-road")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let tracking_id = accepted["tracking_id"].as_str().expect("id").to_owned();
    let code = accepted["access_code"].as_str().expect("access code").to_owned();
    assert_eq!(code.len(), 10);
    let replayed: Value = submit(road, "reporter-road")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(replayed["access_code"], code.as_str(), "a replay returns the same code");
    let assigned = stack.case_in_state(&tracking_id, "assigned").await;

    let act = |path: &'static str, body: Value, key: Option<&'static str>| {
        let mut request = http.post(format!("{base}/complaints/{tracking_id}/{path}")).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let refused = |response: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(response.status().as_u16(), status);
        let error: Value = response.json().await.expect("json error");
        assert_eq!(error["code"], code, "{error}");
        error
    };
    // Before any follow-up, and with anything wrong: refused, nothing recorded.
    refused(
        act(
            "replies",
            json!({"access_code": code, "kind": "objection", "text": "Belum diperbaiki"}),
            None,
        )
        .await
        .expect("post"),
        409,
        "not_allowed_now",
    )
    .await;
    refused(
        act("rating", json!({"access_code": code, "stars": 5}), None)
            .await
            .expect("post"),
        409,
        "not_allowed_now",
    )
    .await;
    let wrong = refused(
        act(
            "replies",
            json!({"access_code": "22222222", "kind": "reply", "text": "Halo"}),
            None,
        )
        .await
        .expect("post"),
        403,
        "access_code_invalid",
    )
    .await;
    assert_eq!(wrong["field"], "access_code");
    let bad_kind = refused(
        act(
            "replies",
            json!({"access_code": code, "kind": "protes", "text": "Halo"}),
            None,
        )
        .await
        .expect("post"),
        400,
        "invalid_argument",
    )
    .await;
    assert_eq!(bad_kind["field"], "kind");
    refused(
        act("replies", json!({"access_code": code, "kind": "reply"}), None)
            .await
            .expect("post"),
        422,
        "invalid_json",
    )
    .await;
    let unknown = http
        .post(format!("{base}/complaints/ZZZZZZZZZZ/replies"))
        .json(&json!({"access_code": code, "kind": "reply", "text": "Halo"}))
        .send()
        .await
        .expect("post");
    refused(unknown, 404, "not_found").await;

    // The liaison officer follows up; the public status follows.
    let penghubung = token(OfficerRole::Penghubung, Some("pupr"));
    let follow_up = |version: i64| {
        let mut routing = routing.clone();
        let request = authorized(
            PostFollowUpRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: version,
                }),
                text: "Sudah ditambal pada hari Senin.".into(),
                ..Default::default()
            },
            &penghubung,
        );
        async move { routing.post_follow_up(request).await }
    };
    follow_up(assigned.version).await.expect("follow-up");
    let status_url = format!("{base}/complaints/{tracking_id}");
    let public_state = |state: &'static str| {
        let (url, http) = (status_url.clone(), http.clone());
        async move {
            eventually(&format!("public state {state}"), WAIT, || {
                let request = http.get(url.clone()).send();
                async move {
                    let status: Value = request.await.ok()?.json().await.ok()?;
                    (status["state"] == state).then_some(())
                }
            })
            .await
        }
    };
    public_state("followed_up").await;
    refused(
        act(
            "replies",
            json!({"access_code": code, "kind": "objection", "text": ""}),
            None,
        )
        .await
        .expect("post"),
        400,
        "invalid_argument",
    )
    .await;
    refused(
        act("rating", json!({"access_code": code, "stars": 6}), None)
            .await
            .expect("post"),
        400,
        "invalid_argument",
    )
    .await;

    // The objection reopens the case; a retry with the same key is the same objection.
    let objection = json!({"access_code": code.to_lowercase(), "kind": "objection", "text": "Lubangnya masih ada, hanya ditutup tanah."});
    let first = act("replies", objection.clone(), Some("objection-1"))
        .await
        .expect("post");
    assert_eq!(first.status(), 202);
    let again = act("replies", objection, Some("objection-1")).await.expect("post");
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.expect("json")["replayed"], true);
    let reopened = stack.case_in_state(&tracking_id, "in_progress").await;
    let audit = routing
        .clone()
        .list_audit_log(authorized(
            ListAuditLogRequest {
                tracking_id: tracking_id.clone(),
            },
            &token(OfficerRole::Admin, None),
        ))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    let by_reporter: Vec<_> = audit.iter().filter(|e| e.actor == "reporter").collect();
    assert_eq!(by_reporter.len(), 1, "{audit:?}");
    assert_eq!(
        (by_reporter[0].action.as_str(), by_reporter[0].state_after.as_str()),
        ("objection", "in_progress")
    );
    assert_eq!(
        outbox_rows(&routing_db, "complaint.reopened", &tracking_id).await.len(),
        1
    );

    // Followed up again, then rated once; analytics counts the rating.
    follow_up(reopened.version).await.expect("second follow-up");
    public_state("followed_up").await;
    let rated = act("rating", json!({"access_code": code, "stars": 4}), None)
        .await
        .expect("post");
    assert_eq!(rated.status(), 202);
    eventually("the rating in analytics", WAIT, || async {
        let ratings = summary(&stack).await.ratings?;
        (ratings.count == 1 && ratings.average == Some(4.0)).then_some(())
    })
    .await;
    let case = stack.case_in_state(&tracking_id, "followed_up").await;
    assert!(case.rated);
    // Once routing took it (intake hears of it from `complaint.rated`), no second rating.
    let rated_sql =
        format!("SELECT count(*) FROM complaints WHERE tracking_id = '{tracking_id}' AND rated_at IS NOT NULL");
    eventually("intake knows of the rating", WAIT, || async {
        (count(&intake_db, &rated_sql).await == 1).then_some(())
    })
    .await;
    refused(
        act("rating", json!({"access_code": code, "stars": 1}), None)
            .await
            .expect("post"),
        409,
        "already_rated",
    )
    .await;

    // A held report: the reporter's answer sends it back to verification.
    let other: Value = submit(
        json!({
            "title": "Pungutan di kantor kelurahan",
            "body": "Diminta uang tambahan untuk surat pengantar.",
            "category_code": "lainnya",
            "kabupaten_code": "6372"
        }),
        "reporter-held",
    )
    .await
    .expect("post")
    .json()
    .await
    .expect("json");
    let held_id = other["tracking_id"].as_str().expect("id").to_owned();
    let held_code = other["access_code"].as_str().expect("code").to_owned();
    let waiting = stack.case_in_state(&held_id, "submitted").await;
    routing
        .clone()
        .hold_case(authorized(
            HoldCaseRequest {
                case: Some(CaseRef {
                    tracking_id: held_id.clone(),
                    expected_version: waiting.version,
                }),
                question: "Di kelurahan mana, dan kapan?".into(),
            },
            &token(OfficerRole::Admin, None),
        ))
        .await
        .expect("hold");
    let held_status = format!("{base}/complaints/{held_id}");
    eventually("public state on_hold", WAIT, || {
        let request = http.get(held_status.clone()).send();
        async move {
            let status: Value = request.await.ok()?.json().await.ok()?;
            (status["state"] == "on_hold").then_some(())
        }
    })
    .await;
    let answered = http
        .post(format!("{base}/complaints/{held_id}/replies"))
        .json(&json!({"access_code": held_code, "kind": "answer", "text": "Kelurahan Sungai Besar, Senin lalu."}))
        .send()
        .await
        .expect("post");
    assert_eq!(answered.status(), 202);
    let back = stack.case_in_state(&held_id, "submitted").await;
    assert!(back.version > waiting.version);

    // A rahasia report's status opens only with its access code.
    let secret: Value = submit(
        json!({
            "title": "Oknum meminta uang di jembatan timbang",
            "body": "Setiap truk diminta dua puluh ribu tanpa karcis.",
            "category_code": "infrastruktur.jalan-jembatan",
            "kabupaten_code": "6371",
            "rahasia": true
        }),
        "reporter-secret",
    )
    .await
    .expect("post")
    .json()
    .await
    .expect("json");
    let secret_id = secret["tracking_id"].as_str().expect("id");
    let secret_code = secret["access_code"].as_str().expect("code");
    let status_of = |query: String, header: Option<&str>| {
        let mut request = http.get(format!("{base}/complaints/{secret_id}{query}"));
        if let Some(code) = header {
            request = request.header("X-Access-Code", code);
        }
        request.send()
    };
    assert_eq!(status_of(String::new(), None).await.expect("get").status(), 404);
    assert_eq!(
        status_of(String::new(), Some("2222222222"))
            .await
            .expect("get")
            .status(),
        404
    );
    // The code goes in a header only: a URL keeps it in logs.
    assert_eq!(
        status_of(format!("?access_code={secret_code}"), None)
            .await
            .expect("get")
            .status(),
        400
    );
    let opened: Value = status_of(String::new(), Some(secret_code))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(opened["title"], "Oknum meminta uang di jembatan timbang");
    assert_eq!(
        status_of(String::new(), Some(secret_code)).await.expect("get").status(),
        200
    );
    assert_eq!(status_of("?kode=1".into(), None).await.expect("get").status(), 400);

    // Exactly the three accepted actions were recorded for routing.
    assert_eq!(
        count(
            &intake_db,
            "SELECT count(*) FROM outbox WHERE event_type = 'complaint.reporter_acted'"
        )
        .await,
        3
    );
    stack.stop().await.expect("stack stops");
}

/// SMS the simulator holds for `phone` (E.164 digits without the plus).
fn sms_to(stack: &Stack, digits: &str) -> Vec<lapor_smpp::sim::ReceivedSms> {
    stack
        .smsc
        .received()
        .into_iter()
        .filter(|m| m.destination.trim_start_matches('+') == digits)
        .collect()
}

/// The first tracking id in an SMS text.
fn tracking_id_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(lapor_domain::tracking_id::normalize)
        .filter(|id| text.contains(id.as_str()))
}

/// A duplicate the admin merged into another report follows that report on the public
/// status (JSON and the web page): its state and deadline are the parent's, with a notice
/// naming the parent; the merged report's own reply and rating forms are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merged_duplicate_follows_its_parent_on_the_public_status() {
    use lapor_proto::routing::v1::{CaseRef, MergeCaseRequest, VerifyCaseRequest};
    let stack = Stack::start(StackConfig::new("merged")).await.expect("stack");
    let intake = stack.intake().await.expect("intake");
    let mut routing = stack.routing().await.expect("routing");
    let admin = token(OfficerRole::Admin, None);
    let submit = |title: &'static str| submit_for_verification(&intake, title);
    let parent = submit("Pungutan liar di loket samsat Banjarbaru").await;
    let duplicate = submit("Pungli di loket samsat Banjarbaru, diminta uang tambahan").await;
    stack.case_in_state(&parent, "submitted").await;
    let waiting = stack.case_in_state(&duplicate, "submitted").await;
    routing
        .merge_case(authorized(
            MergeCaseRequest {
                case: Some(CaseRef {
                    tracking_id: duplicate.clone(),
                    expected_version: waiting.version,
                }),
                parent_tracking_id: parent.clone(),
            },
            &admin,
        ))
        .await
        .expect("merge");
    let before = stack.case_in_state(&parent, "submitted").await;
    let verified = routing
        .verify_case(authorized(
            VerifyCaseRequest {
                case: Some(CaseRef {
                    tracking_id: parent.clone(),
                    expected_version: before.version,
                }),
                skpd_code: "bapenda".into(),
                complexity_tier: String::new(),
            },
            &admin,
        ))
        .await
        .expect("verify the parent")
        .into_inner();
    // The admin corrects the parent's title: the public status shows the correction.
    let verified = routing
        .edit_case(authorized(
            lapor_proto::routing::v1::EditCaseRequest {
                case: Some(CaseRef {
                    tracking_id: parent.clone(),
                    expected_version: verified.version,
                }),
                title: Some("Pungutan liar di loket Samsat Banjarbaru".into()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("correct the title");
    assert_eq!(verified.into_inner().title, "Pungutan liar di loket Samsat Banjarbaru");
    let base = format!("http://127.0.0.1:{}", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let status: serde_json::Value = eventually("the duplicate shows the parent's progress", WAIT, || {
        let (http, url) = (http.clone(), format!("{base}/api/v1/complaints/{duplicate}"));
        async move {
            let status: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            (status["state"] == "assigned").then_some(status)
        }
    })
    .await;
    assert_eq!(status["merged_into"], parent.as_str(), "{status}");
    assert!(status["expected_at"].is_string(), "the parent's deadline: {status}");
    // The duplicate's reporter is told of the parent's disposition under their own number,
    // by a mail that reaches the SMTP server.
    let notification = stack.notification().await.expect("notification");
    let told = format!("reporter:{duplicate}");
    eventually("the duplicate's reporter is told", WAIT, || {
        let (mut notification, told, duplicate) = (notification.clone(), told.clone(), duplicate.clone());
        async move {
            let request = ListDeliveriesRequest {
                tracking_id: duplicate,
                ..Default::default()
            };
            let deliveries = notification
                .list_deliveries(authorized(request, &token(OfficerRole::Admin, None)))
                .await
                .ok()?
                .into_inner()
                .deliveries;
            deliveries
                .iter()
                .find(|d| {
                    d.recipient_id == told
                        && d.kind == "reporter_update"
                        && d.skpd_code == "bapenda"
                        && matches!(d.state.as_str(), "SENT" | "DELIVERED")
                })
                .map(|_| ())
        }
    })
    .await;
    assert_eq!(status["tracking_id"], duplicate.as_str());
    let page = http
        .get(format!("{base}/lacak?id={duplicate}"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(&format!("digabung dengan laporan {parent}")), "{page}");
    // Open311 clients see the same: the parent's progress, and a notice naming it.
    let open311: serde_json::Value = http
        .get(format!("{base}/open311/v2/requests/{duplicate}.json"))
        .send()
        .await
        .expect("open311")
        .json()
        .await
        .expect("json");
    let record = &open311[0];
    assert_eq!(record["status"], "open", "{open311}");
    assert_eq!(record["agency_responsible"], "Badan Pendapatan Daerah", "{open311}");
    assert_eq!(
        record["service_notice"],
        format!("Digabung dengan laporan {parent}"),
        "{open311}"
    );
    // Lists filter by what they show: the duplicate is open (its parent is), not closed.
    for (status, listed) in [("open", true), ("closed", false)] {
        let list: serde_json::Value = http
            .get(format!("{base}/open311/v2/requests.json?status={status}"))
            .send()
            .await
            .expect("open311 list")
            .json()
            .await
            .expect("json");
        let ids: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["service_request_id"].as_str())
            .collect();
        assert_eq!(ids.contains(&duplicate.as_str()), listed, "status={status}: {ids:?}");
    }
    assert!(
        !page.contains("/balas") && !page.contains("/nilai"),
        "no actions on a merged report"
    );
    // The parent itself shows no notice.
    let own: serde_json::Value = http
        .get(format!("{base}/api/v1/complaints/{parent}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(own["merged_into"].is_null(), "{own}");
    // Merged into a rahasia report: the duplicate shows its own state and names nothing.
    let mut secret = complaint("Pungli di jembatan timbang Liang Anggang", "lainnya", "6372");
    secret.rahasia = true;
    let secret = intake
        .clone()
        .submit_complaint(secret)
        .await
        .expect("submit")
        .into_inner()
        .tracking_id;
    let copy = submit("Pungli jembatan timbang Liang Anggang, truk dimintai uang").await;
    stack.case_in_state(&secret, "submitted").await;
    let waiting = stack.case_in_state(&copy, "submitted").await;
    routing
        .merge_case(authorized(
            MergeCaseRequest {
                case: Some(CaseRef {
                    tracking_id: copy.clone(),
                    expected_version: waiting.version,
                }),
                parent_tracking_id: secret.clone(),
            },
            &admin,
        ))
        .await
        .expect("merge into the rahasia report");
    let shown: serde_json::Value = eventually("the copy shows its own archived state", WAIT, || {
        let (http, url) = (http.clone(), format!("{base}/api/v1/complaints/{copy}"));
        async move {
            let status: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            (status["state"] == "archived").then_some(status)
        }
    })
    .await;
    assert!(
        shown["merged_into"].is_null() && !shown.to_string().contains(&secret),
        "{shown}"
    );
    // The rahasia report moves on: its own reporter hears of it, the copy's reporter does not.
    let secret_case = stack.case_in_state(&secret, "submitted").await;
    routing
        .verify_case(authorized(
            VerifyCaseRequest {
                case: Some(CaseRef {
                    tracking_id: secret.clone(),
                    expected_version: secret_case.version,
                }),
                skpd_code: "dishub".into(),
                complexity_tier: String::new(),
            },
            &admin,
        ))
        .await
        .expect("verify the rahasia report");
    let deliveries = |tracking_id: String| {
        let mut notification = notification.clone();
        async move {
            let request = ListDeliveriesRequest {
                tracking_id,
                ..Default::default()
            };
            notification
                .list_deliveries(authorized(request, &token(OfficerRole::Admin, None)))
                .await
                .expect("deliveries")
                .into_inner()
                .deliveries
        }
    };
    eventually("the rahasia report's reporter is told", WAIT, || async {
        deliveries(secret.clone())
            .await
            .iter()
            .any(|d| d.recipient_id == "reporter" && d.skpd_code == "dishub")
            .then_some(())
    })
    .await;
    let told_copy = deliveries(copy.clone()).await;
    assert!(
        told_copy.iter().all(|d| d.skpd_code != "dishub"),
        "nothing of the rahasia report reaches the copy's reporter: {told_copy:?}"
    );
    eventually("the corrected title reaches the public status", WAIT, || {
        let (http, url) = (http.clone(), format!("{base}/api/v1/complaints/{parent}"));
        async move {
            let status: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            (status["title"] == "Pungutan liar di loket Samsat Banjarbaru").then_some(())
        }
    })
    .await;
    stack.stop().await.expect("stack stops");
}

/// A text intake cannot store (its database refuses connections) is not acknowledged: the
/// SMSC hears ESME_RX_T_APPN (or nothing) and keeps it; delivered again once the database is
/// back, it makes exactly one complaint.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sms_that_cannot_be_stored_is_not_acknowledged() {
    use lapor_smpp::sim::SimError;
    let stack = Stack::start(StackConfig::new("smsdown")).await.expect("stack");
    let server = sea_orm::Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("server");
    let database = format!("{}_intake", stack.prefix);
    let allow = |on: bool| {
        let (server, database) = (server.clone(), database.clone());
        async move {
            server
                .execute_unprepared(&format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {on}"))
                .await
                .expect("alter database");
            if !on {
                server
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
                    ))
                    .await
                    .expect("terminate");
            }
        }
    };
    let text = "LAPOR#puskesmas#Banjarmasin Utara#Antrean obat di puskesmas sampai sore";
    allow(false).await;
    let refused = stack.smsc.deliver_mo("+6281311113333", "1708", text).await;
    assert!(
        matches!(
            refused,
            Err(SimError::Rejected { status: 0x64, .. }) | Err(SimError::Timeout(_))
        ),
        "a text that was not stored must not be acknowledged: {refused:?}"
    );
    allow(true).await;
    eventually("the redelivered text is taken", WAIT, || async {
        stack.smsc.deliver_mo("+6281311113333", "1708", text).await.ok()
    })
    .await;
    let intake_db = stack.db("intake").await.expect("db");
    assert_eq!(
        count(&intake_db, "SELECT count(*) FROM complaints WHERE channel = 'sms'").await,
        1,
        "one complaint, however often the SMSC delivered it"
    );
    stack.stop().await.expect("stack stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sms_short_code_takes_complaints_and_answers_status() {
    let stack = Stack::start(StackConfig::new("sms")).await.expect("stack");
    const CITIZEN: &str = "6281311112222";
    const NEIGHBOUR: &str = "6285755556666";
    let text = "LAPOR#puskesmas#Banjarmasin Utara#Obat di puskesmas habis sejak minggu lalu";
    stack
        .smsc
        .deliver_mo(&format!("+{CITIZEN}"), "1708", text)
        .await
        .expect("the short code's receiver takes the text");

    // The tracking id comes back by SMS, through routing and notification.
    let ack = eventually("the tracking id by sms", WAIT, || {
        std::future::ready(
            sms_to(&stack, CITIZEN)
                .into_iter()
                .find_map(|m| tracking_id_in(&m.text)),
        )
    })
    .await;
    // Routed automatically (the receipt may overtake routing, so wait for the case); the
    // receipt and then the disposition reach the citizen.
    let case = stack.case_in_state(&ack, "assigned").await;
    assert_eq!(case.category_code, "kesehatan.puskesmas");
    assert_eq!(case.kabupaten_code, "6371");
    eventually("receipt and disposition by sms", WAIT, || {
        std::future::ready((sms_to(&stack, CITIZEN).len() >= 2).then_some(()))
    })
    .await;

    // The SMSC delivers the same text again (a lost answer): still one complaint. Then the
    // citizen asks for the status; the answer comes after the repeat was handled.
    stack
        .smsc
        .deliver_mo(&format!("+{CITIZEN}"), "1708", text)
        .await
        .expect("redelivery");
    let before = sms_to(&stack, CITIZEN).len();
    stack
        .smsc
        .deliver_mo(
            &format!("+{CITIZEN}"),
            "1708",
            &format!("status {}", ack.to_lowercase()),
        )
        .await
        .expect("status request");
    eventually("the status answer", WAIT, || {
        std::future::ready((sms_to(&stack, CITIZEN).len() > before).then_some(()))
    })
    .await;

    // Someone else cannot ask for it; a malformed request is refused; a free-text report in
    // UCS-2 over several parts is taken for the verification desk. Its receipt, arriving last,
    // shows the two before it were handled.
    stack
        .smsc
        .deliver_mo(&format!("+{NEIGHBOUR}"), "1708", &format!("STATUS {ack}"))
        .await
        .expect("status from another phone");
    stack
        .smsc
        .deliver_mo(&format!("+{NEIGHBOUR}"), "1708", "STATUS")
        .await
        .expect("malformed");
    let free = "Jalan di depan rumah saya di Banjarbaru rusak parah 😡 sudah tiga bulan tidak diperbaiki, \
                banyak pengendara jatuh terutama malam hari karena lampu jalan juga mati. Mohon perhatian.";
    stack
        .smsc
        .deliver_mo(&format!("+{NEIGHBOUR}"), "1708", free)
        .await
        .expect("free text");
    let neighbour_ack = eventually("the neighbour's receipt", WAIT, || {
        std::future::ready(
            sms_to(&stack, NEIGHBOUR)
                .into_iter()
                .find_map(|m| tracking_id_in(&m.text)),
        )
    })
    .await;
    assert_ne!(neighbour_ack, ack);
    stack.case_in_state(&neighbour_ack, "submitted").await;
    assert!(
        sms_to(&stack, NEIGHBOUR).iter().all(|m| !m.text.contains(ack.as_str())),
        "the neighbour learned nothing of the citizen's report"
    );
    let intake_db = stack.db("intake").await.expect("db");
    assert_eq!(
        count(&intake_db, "SELECT count(*) FROM complaints WHERE channel = 'sms'").await,
        2,
        "one complaint per distinct text, none for the status requests"
    );
    let free_case = stack.case_in_state(&neighbour_ack, "submitted").await;
    assert_eq!(free_case.category_code, "lainnya");
    assert_eq!(free_case.kabupaten_code, "6372");
    assert!(sms_to(&stack, CITIZEN).len() <= before + 1, "one status answer");

    // The same short code through an aggregator's webhook: JSON or form, the complaint is
    // stored before the answer, a repeat is the same complaint, a wrong token or a text that
    // cannot be taken gets a JSON error and stores nothing.
    let url = format!("http://127.0.0.1:{}/api/v1/sms/inbound", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let hook = |body: serde_json::Value, token: &str| {
        http.post(&url)
            .header("x-lapor-webhook-token", token)
            .json(&body)
            .send()
    };
    let text = "LAPOR#sampah#Banjarbaru#Sampah menumpuk di pasar dan tidak diangkut";
    let body = serde_json::json!({"from": "0813-4444-5555", "to": "1708", "text": text});
    let denied = hook(body.clone(), "wrong").await.expect("http");
    assert_eq!(denied.status(), 401);
    let created = hook(body.clone(), lapor_e2e::stack::TEST_SMS_WEBHOOK_TOKEN)
        .await
        .expect("http");
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    let webhook_id = created["tracking_id"].as_str().expect("tracking id").to_owned();
    let again = hook(body, lapor_e2e::stack::TEST_SMS_WEBHOOK_TOKEN)
        .await
        .expect("http");
    assert_eq!(again.status(), 200, "a repeat replays");
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["tracking_id"], webhook_id.as_str());
    let case = stack.case_in_state(&webhook_id, "assigned").await;
    assert_eq!(case.category_code, "lingkungan.sampah");
    assert_eq!(case.kabupaten_code, "6372");
    let form = http
        .post(&url)
        .header("x-lapor-webhook-token", lapor_e2e::stack::TEST_SMS_WEBHOOK_TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("from=%2B6281355556666&text=STATUS")
        .send()
        .await
        .expect("http");
    assert_eq!(form.status(), 422);
    let error: serde_json::Value = form.json().await.expect("json");
    assert_eq!(error["code"], "sms_refused");
    assert_eq!(error["field"], "text");
    let bad_sender = hook(
        serde_json::json!({"from": "12ab", "text": "Jalan rusak"}),
        lapor_e2e::stack::TEST_SMS_WEBHOOK_TOKEN,
    )
    .await
    .expect("http");
    assert_eq!(bad_sender.status(), 422);
    let plain = http
        .post(&url)
        .header("x-lapor-webhook-token", lapor_e2e::stack::TEST_SMS_WEBHOOK_TOKEN)
        .body("from=1&text=2")
        .send()
        .await
        .expect("http");
    assert_eq!(plain.status(), 415);
    assert_eq!(
        count(&intake_db, "SELECT count(*) FROM complaints WHERE channel = 'sms'").await,
        3,
        "only the webhook's one complaint was added"
    );
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abuse_limits_answer_429_and_resource_exhausted_with_retry_after() {
    let mut config = StackConfig::new("limits");
    config.limits = lapor_intake::limits::LimitSettings {
        per_ip_per_minute: 3,
        per_contact_per_hour: 2,
        // The test client plays the ingress: its X-Forwarded-For is believed.
        trusted_proxies: vec!["127.0.0.1".into()],
        code_attempts_per_hour: 3,
    };
    let stack = Stack::start(config).await.expect("stack");
    let url = format!("http://127.0.0.1:{}/api/v1/complaints", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let submit = |client: &'static str, email: Option<&'static str>| {
        let mut body = serde_json::json!({
            "title": "Lampu jalan mati di gang",
            "body": "Sudah dua minggu lampu jalan di gang kami mati total.",
            "category_code": "infrastruktur.jalan-jembatan",
            "kabupaten_code": "6371",
        });
        if let Some(email) = email {
            body["reporter"] = serde_json::json!({ "email": email });
        }
        http.post(&url).header("x-forwarded-for", client).json(&body).send()
    };
    // Per client address, as the ingress reports it.
    for _ in 0..3 {
        assert_eq!(submit("198.51.100.1", None).await.expect("http").status(), 201);
    }
    let limited = submit("198.51.100.1", None).await.expect("http");
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    let error: serde_json::Value = limited.json().await.expect("json");
    assert_eq!(error["code"], "rate_limited");
    assert_eq!(submit("198.51.100.2", None).await.expect("http").status(), 201);
    // Per reporter contact, whatever the address.
    for client in ["198.51.100.3", "198.51.100.4"] {
        assert_eq!(
            submit(client, Some("warga.aktif@example.id"))
                .await
                .expect("http")
                .status(),
            201
        );
    }
    let same_person = submit("198.51.100.5", Some("Warga.Aktif@example.id"))
        .await
        .expect("http");
    assert_eq!(same_person.status(), 429);
    assert!(same_person.headers().contains_key("retry-after"));
    // gRPC: the peer is the test itself, a fresh bucket of 3.
    let mut intake = stack.intake().await.expect("client");
    for _ in 0..3 {
        intake
            .submit_complaint(complaint("Jalan berlubang", "infrastruktur.jalan-jembatan", "6371"))
            .await
            .map(|_| ())
            .or_else(|status| {
                // The shared reporter of `complaint` hits the contact limit after 2.
                (status.code() == tonic::Code::ResourceExhausted)
                    .then_some(())
                    .ok_or(status)
            })
            .expect("accepted or limited");
    }
    let refused = intake
        .submit_complaint(complaint("Jalan berlubang", "infrastruktur.jalan-jembatan", "6371"))
        .await
        .expect_err("over the limit");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(refused.metadata().get("retry-after").is_some());
    let intake_db = stack.db("intake").await.expect("db");
    assert_eq!(
        count(&intake_db, "SELECT count(*) FROM complaints").await,
        3 + 1 + 2 + 2,
        "nothing over a limit was stored"
    );

    // A rahasia report answers three access-code checks an hour, from any address; then
    // even the right code waits, so guessing cannot tell a right code from a locked report.
    let secret: serde_json::Value = http
        .post(&url)
        .header("x-forwarded-for", "198.51.100.9")
        .json(&serde_json::json!({
            "title": "Pungutan di loket",
            "body": "Diminta uang tambahan tanpa kuitansi.",
            "category_code": "lainnya",
            "kabupaten_code": "6371",
            "rahasia": true
        }))
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    let (secret_id, secret_code) = (
        secret["tracking_id"].as_str().expect("id").to_owned(),
        secret["access_code"].as_str().expect("code").to_owned(),
    );
    let status_with = |client: &'static str, code: &str| {
        http.get(format!("{url}/{secret_id}"))
            .header("x-forwarded-for", client)
            .header("x-access-code", code)
            .send()
    };
    assert_eq!(
        status_with("198.51.100.10", "2222222222").await.expect("http").status(),
        404
    );
    assert_eq!(
        status_with("198.51.100.11", "3333333333").await.expect("http").status(),
        404
    );
    assert_eq!(
        status_with("198.51.100.12", &secret_code).await.expect("http").status(),
        200
    );
    let locked = status_with("198.51.100.13", &secret_code).await.expect("http");
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    stack.stop().await.expect("stop");
}

async fn metrics_text(url: &str) -> String {
    reqwest::get(url).await.expect("metrics").text().await.expect("text")
}

/// The period analytics figures are compared over: everything, as of one fixed instant, so
/// two databases can be compared (ages and overdue counts depend on the instant).
async fn figures_of(db: &DatabaseConnection, as_of: chrono::DateTime<chrono::Utc>) -> (String, String, String) {
    use lapor_analytics::figures::{self, Period, TrendQuery};
    let all = Period::default();
    let mut summary = figures::summary(db, &all, as_of).await.expect("summary");
    // Counted the same either way, but a HashMap's order is not.
    let levels: std::collections::BTreeMap<_, _> = summary.escalations_by_level.drain().collect();
    let scorecard = figures::scorecard(db, &all, as_of).await.expect("scorecard");
    let query =
        TrendQuery::new(lapor_proto::analytics::v1::Dimension::Category as i32, 0, all, as_of).expect("trend query");
    let trends = figures::trends(db, &query).await.expect("trends");
    (
        format!("{summary:?} {levels:?}"),
        format!("{scorecard:?}"),
        format!("{trends:?}"),
    )
}

/// Analytics end to end: a scripted batch through the real services; the gRPC figures,
/// the live feed, the dashboard in headless Chromium, the exports and the digest e-mail
/// agree; bad filters and unknown events are refused; and replaying the event history
/// into an empty database (twice) gives the live figures exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analytics_figures_feed_dashboard_exports_and_replay_agree() {
    use lapor_analytics::history;
    use lapor_messaging::topology::HISTORY_STREAM;
    use lapor_proto::analytics::v1::{
        Dimension, GetSkpdScorecardRequest, Granularity, ListTrendsRequest, StreamFeedRequest,
    };
    use lapor_proto::routing::v1::{ArchiveCaseRequest, PostFollowUpRequest};
    let mut config = StackConfig::new("analytics");
    config.digest = lapor_analytics::digest::DigestSettings {
        enabled: true,
        // Past the send hour at any time of day: yesterday's and last week's digests go out
        // as soon as analytics runs.
        send_hour: 0,
        poll_seconds: 1,
        dashboard_url: "https://lapor.kalselprov.example.id/dashboard".into(),
    };
    let stack = Stack::start(config).await.expect("stack starts");
    let directory = directory();
    let pimpinan = token(OfficerRole::Pimpinan, None);
    let mut analytics = stack.analytics().await.expect("client");

    // Access and bad input.
    let denied = analytics
        .get_summary(authorized(
            GetSummaryRequest::default(),
            &token(OfficerRole::Penghubung, Some("dinkes")),
        ))
        .await
        .expect_err("penghubung");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    // Every role × every analytics RPC: leadership figures for admin, pimpinan and kepala.
    for role in [
        OfficerRole::Admin,
        OfficerRole::Pimpinan,
        OfficerRole::Kepala,
        OfficerRole::Koordinator,
        OfficerRole::Penghubung,
    ] {
        // Provincial roles have no SKPD; the others are scoped to one.
        let provincial = matches!(role, OfficerRole::Admin | OfficerRole::Pimpinan);
        let bearer = token(role, (!provincial).then_some("dinkes"));
        let allowed = matches!(role, OfficerRole::Admin | OfficerRole::Pimpinan | OfficerRole::Kepala);
        let codes = [
            analytics
                .get_summary(authorized(GetSummaryRequest::default(), &bearer))
                .await
                .err()
                .map(|s| s.code()),
            analytics
                .get_skpd_scorecard(authorized(GetSkpdScorecardRequest::default(), &bearer))
                .await
                .err()
                .map(|s| s.code()),
            analytics
                .list_trends(authorized(ListTrendsRequest::default(), &bearer))
                .await
                .err()
                .map(|s| s.code()),
            analytics
                .stream_feed(authorized(StreamFeedRequest::default(), &bearer))
                .await
                .err()
                .map(|s| s.code()),
        ];
        let expected = if allowed {
            None
        } else {
            Some(tonic::Code::PermissionDenied)
        };
        assert!(codes.iter().all(|c| *c == expected), "{role:?}: {codes:?}");
    }
    let anonymous = analytics
        .get_summary(GetSummaryRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let reversed = analytics
        .get_summary(authorized(
            GetSummaryRequest {
                from: at(1_795_000_000),
                to: at(1_794_000_000),
            },
            &pimpinan,
        ))
        .await
        .expect_err("reversed period");
    assert_eq!(reversed.code(), tonic::Code::InvalidArgument);
    assert!(reversed.message().starts_with("to:"), "{}", reversed.message());
    let unknown_dimension = analytics
        .list_trends(authorized(
            ListTrendsRequest {
                dimension: 42,
                ..Default::default()
            },
            &pimpinan,
        ))
        .await
        .expect_err("dimension 42");
    assert_eq!(unknown_dimension.code(), tonic::Code::InvalidArgument);
    let too_fast = analytics
        .stream_feed(authorized(StreamFeedRequest { interval_ms: 5 }, &pimpinan))
        .await
        .expect_err("5 ms feed");
    assert_eq!(too_fast.code(), tonic::Code::InvalidArgument);

    // The live feed, subscribed before the batch: the first update comes at once.
    let mut feed = analytics
        .stream_feed(authorized(StreamFeedRequest { interval_ms: 200 }, &pimpinan))
        .await
        .expect("feed")
        .into_inner();
    let first = feed.message().await.expect("feed").expect("first update");
    assert!(first.events.is_empty());

    // The scripted batch: two auto-disposed and followed up, one archived, one waiting for
    // verification, one through the JSON API.
    let hospital = submit_and_follow(
        &stack,
        complaint("IGD penuh sejak pagi", "kesehatan.rumah-sakit", "6371"),
        "rsud-ulin",
    )
    .await;
    let bridge = submit_and_follow(
        &stack,
        complaint("Jembatan retak di Martapura", "infrastruktur.jalan-jembatan", "6303"),
        "pupr",
    )
    .await;
    let intake = stack.intake().await.expect("client");
    let submit = |title: &'static str| submit_for_verification(&intake, title);
    let archived = submit("Pesan uji coba saja").await;
    let waiting = submit("Keluhan umum pelayanan").await;
    // A rahasia report: counted inside, never named in the feed, left out of the public page.
    let mut secret = complaint("Pungutan liar di loket pelayanan", "lainnya", "6372");
    secret.rahasia = true;
    let rahasia = intake
        .clone()
        .submit_complaint(secret)
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id;
    let api = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/complaints",
            stack.http_port("intake")
        ))
        .json(&serde_json::json!({
            "title": "Lampu jalan padam di Banjarbaru",
            "body": "Sudah seminggu gelap total di malam hari.",
            "category_code": "lainnya",
            "kabupaten_code": "6372",
            "location": "Jl. A. Yani km 35",
        }))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 201);
    let mut routing = stack.routing().await.expect("client");
    let admin = token(OfficerRole::Admin, None);
    let to_archive = stack.case_in_state(&archived, "submitted").await;
    routing
        .archive_case(authorized(
            ArchiveCaseRequest {
                case: Some(CaseRef {
                    tracking_id: archived.clone(),
                    expected_version: to_archive.version,
                }),
                reason: "SPAM".into(),
            },
            &admin,
        ))
        .await
        .expect("archived");
    for (tracking_id, skpd) in [(&hospital, "rsud-ulin"), (&bridge, "pupr")] {
        let case = stack.case_in_state(tracking_id, "assigned").await;
        routing
            .post_follow_up(authorized(
                PostFollowUpRequest {
                    case: Some(CaseRef {
                        tracking_id: tracking_id.clone(),
                        expected_version: case.version,
                    }),
                    text: "Sudah ditangani petugas di lapangan.".into(),
                    ..Default::default()
                },
                &token(OfficerRole::Penghubung, Some(skpd)),
            ))
            .await
            .expect("followed up");
    }
    stack.case_in_state(&waiting, "submitted").await;

    // gRPC figures once analytics has counted everything.
    let counted_summary = eventually("analytics counts the batch", WAIT, || {
        let mut analytics = analytics.clone();
        let request = authorized(GetSummaryRequest::default(), &pimpinan);
        async move {
            let summary = analytics.get_summary(request).await.expect("summary").into_inner();
            let follow_up = summary.follow_up.unwrap_or_default();
            let archived = summary.by_state.iter().any(|s| s.state == "archived");
            (summary.complaints_total == 6 && follow_up.on_time == 2 && archived).then_some(summary)
        }
    })
    .await;
    let figures = counted_summary;
    let counted =
        |list: &[lapor_proto::analytics::v1::KeyCount], key: &str| list.iter().find(|k| k.key == key).map(|k| k.count);
    assert_eq!(counted(&figures.by_channel, "grpc"), Some(5));
    assert_eq!(counted(&figures.by_channel, "api"), Some(1));
    assert_eq!(counted(&figures.by_category, "lainnya"), Some(4));
    assert_eq!(counted(&figures.by_kabupaten, "6372"), Some(4));
    assert_eq!(figures.open_backlog, 3, "three wait for verification: {figures:?}");
    assert_eq!(figures.backlog_by_age[0].count, 3, "all submitted today");
    let verification = figures.verification.expect("verification");
    assert_eq!((verification.on_time, verification.late), (3, 0));
    assert_eq!(verification.percent, Some(100.0));
    assert_eq!(figures.follow_up.as_ref().and_then(|c| c.percent), Some(100.0));
    assert_eq!(figures.time_to_verify.as_ref().map(|d| d.count), Some(2));
    assert_eq!(figures.time_to_follow_up.as_ref().map(|d| d.count), Some(2));
    assert_eq!(figures.followed_up, 2);
    let scorecard = analytics
        .get_skpd_scorecard(authorized(GetSkpdScorecardRequest::default(), &pimpinan))
        .await
        .expect("scorecard")
        .into_inner();
    let codes: BTreeSet<_> = scorecard.skpds.iter().map(|s| s.skpd_code.as_str()).collect();
    assert_eq!(codes, BTreeSet::from(["pupr", "rsud-ulin"]));
    assert!(scorecard.skpds.iter().all(|s| s.received == 1 && s.followed_up == 1));
    assert!(
        scorecard
            .skpds
            .iter()
            .all(|s| !s.skpd_name.is_empty() && s.skpd_name != s.skpd_code),
        "names from the events: {scorecard:?}"
    );
    let trends = analytics
        .list_trends(authorized(
            ListTrendsRequest {
                dimension: Dimension::Total as i32,
                granularity: Granularity::Day as i32,
                ..Default::default()
            },
            &pimpinan,
        ))
        .await
        .expect("trends")
        .into_inner();
    assert_eq!(trends.points.len(), 30, "the last 30 days");
    assert_eq!(trends.points.iter().map(|p| p.count).sum::<u64>(), 6);
    assert_eq!(trends.points.last().map(|p| p.count), Some(6), "all today");

    // The feed heard the batch, without the rahasia-free tracking ids hidden.
    // The feed heard the batch: updates carried the events (tracking ids shown, as none of
    // these is rahasia) and the new totals.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut heard = Vec::new();
    loop {
        let update = tokio::time::timeout_at(deadline, feed.message())
            .await
            .expect("the feed reaches the batch's totals in time")
            .expect("feed")
            .expect("open");
        heard.extend(update.events);
        let followed_up = |s: &Summary| s.follow_up.as_ref().map_or(0, |c| c.on_time);
        if update
            .summary
            .is_some_and(|s| s.complaints_total == 6 && followed_up(&s) == 2)
        {
            break;
        }
    }
    assert!(
        heard
            .iter()
            .any(|e| e.event_type == "complaint.followed_up" && e.tracking_id == bridge),
        "{heard:?}"
    );
    assert!(
        heard
            .iter()
            .any(|e| e.event_type == "complaint.submitted" && e.tracking_id.is_empty()),
        "the rahasia submission is in the feed without its tracking id: {heard:?}"
    );
    assert!(
        heard.iter().all(|e| e.tracking_id != rahasia),
        "the feed named a rahasia report"
    );

    // Unknown event type and a newer schema version: dead-lettered and counted, not applied.
    let unknown = EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: "complaint.teleported".into(),
        complaint_id: uuid::Uuid::new_v4().to_string(),
        schema_version: 1,
        ..Default::default()
    };
    let mut newer = unknown.clone();
    newer.event_id = uuid::Uuid::now_v7().to_string();
    newer.event_type = "complaint.submitted".into();
    newer.schema_version = 2;
    newer.payload = Some(lapor_proto::events::v1::event_envelope::Payload::ComplaintSubmitted(
        Default::default(),
    ));
    // As a newer producer's outbox would: to the exchange and to the history stream.
    for (routing_key, event) in [("complaint.teleported", &unknown), ("complaint.submitted", &newer)] {
        publish_raw(&stack, "lapor.events", routing_key, &event.encode_to_vec()).await;
        publish_raw(&stack, "", HISTORY_STREAM, &event.encode_to_vec()).await;
    }
    eventually("unknown events dead-lettered", WAIT, || async {
        (queue_depth(&stack, "analytics.events.dead").await == 2).then_some(())
    })
    .await;
    let metrics_url = format!("http://127.0.0.1:{}/metrics", stack.http_port("analytics"));
    let metrics = metrics_text(&metrics_url).await;
    assert!(
        metrics.lines().any(|l| l.starts_with("lapor_consumer_messages_total")
            && l.contains("queue=\"analytics.events\"")
            && l.contains("outcome=\"dead_lettered\"")),
        "dead letters counted"
    );
    // The backlog gauges per SKPD (sampled every few seconds).
    eventually("backlog gauges", WAIT, || {
        let metrics_url = metrics_url.clone();
        async move {
            let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
            text.lines()
                .any(|l| l.starts_with("lapor_backlog_open{skpd=\"pupr\"}"))
                .then_some(())
        }
    })
    .await;

    // The leadership digests reached each pimpinan once (daily and weekly).
    let pimpinan_mail: BTreeSet<String> = directory
        .officers
        .iter()
        .filter(|o| o.role == OfficerRole::Pimpinan)
        .map(|o| o.email.clone())
        .collect();
    assert!(!pimpinan_mail.is_empty());
    // Nothing escalated here, so every mail to a pimpinan is a digest.
    let to_pimpinan = || {
        let mut per_person = std::collections::BTreeMap::<String, usize>::new();
        for mail in stack.smtp.messages() {
            for rcpt in mail.rcpt_to.iter().filter(|r| pimpinan_mail.contains(*r)) {
                *per_person.entry(rcpt.clone()).or_default() += 1;
            }
        }
        per_person
    };
    eventually("digest e-mails", WAIT, || {
        std::future::ready(
            (to_pimpinan().len() == pimpinan_mail.len() && to_pimpinan().values().all(|n| *n >= 2)).then_some(()),
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        to_pimpinan().values().all(|n| *n == 2),
        "one daily and one weekly digest each, however often analytics polls: {:?}",
        to_pimpinan()
    );

    // Exports: CSV-injection safe, JSON, and a clear 400 with the field for bad filters.
    let base = format!("http://127.0.0.1:{}", stack.http_port("analytics"));
    let http = reqwest::Client::new();
    let csv = http
        .get(format!("{base}/dashboard/exports/scorecard.csv"))
        .bearer_auth(&pimpinan)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.expect("text");
    assert!(csv.contains("pupr") && csv.contains("rsud-ulin"), "{csv}");
    let bad = http
        .get(format!("{base}/dashboard/exports/trends.json?granularity=hourly"))
        .bearer_auth(&pimpinan)
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.expect("json");
    assert_eq!(body["field"], "granularity");
    let unauthenticated = http
        .get(format!("{base}/dashboard/exports/summary.json"))
        .send()
        .await
        .expect("anon");
    assert_eq!(unauthenticated.status(), 401);
    // Latency per HTTP route (the pattern, not the path) and per consumed queue.
    let metrics = metrics_text(&metrics_url).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("lapor_http_request_duration_seconds")
                && l.contains("route=\"/dashboard/exports/scorecard.csv\"")
                && l.contains("status=\"200\"")),
        "HTTP route latency recorded"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("lapor_consumer_handle_seconds") && l.contains("queue=\"analytics.events\"")),
        "consumer handling latency recorded"
    );
    let public = http.get(format!("{base}/transparansi")).send().await.expect("public");
    assert_eq!(public.status(), 200);
    let public = public.text().await.expect("text");
    for tracking_id in [&hospital, &bridge, &archived, &waiting, &rahasia] {
        assert!(!public.contains(tracking_id.as_str()), "public page names a complaint");
    }
    let public_total = format!(
        "data-figure=\"complaints_total\" data-value=\"{}\"",
        figures.complaints_total - 1
    );
    assert!(
        public.contains(&public_total),
        "the public total leaves the rahasia report out"
    );
    let bad_query = http
        .get(format!(
            "{base}/dashboard/exports/summary.json?from=2026-01-01&from=2026-02-01"
        ))
        .bearer_auth(&pimpinan)
        .send()
        .await
        .expect("repeated parameter");
    assert_eq!(bad_query.status(), 400);
    let body: serde_json::Value = bad_query.json().await.expect("json");
    assert_eq!(body["field"], "query");

    // The dashboard in a real browser shows the gRPC numbers; a screenshot for people.
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{base}/dashboard/login"))
        .await
        .expect("login page");
    browser.fill("textarea#token, input#token", &pimpinan).await;
    browser.click("button[type=submit]").await;
    // Live updates replace the figures' elements: a read may meet a stale one, so retry.
    let figure = |name: &'static str, expected: String| {
        let browser = &browser;
        eventually(name, WAIT, move || {
            let expected = expected.clone();
            async move {
                let css = format!("[data-figure=\"{name}\"]");
                let element = browser.client.find(fantoccini::Locator::Css(&css)).await.ok()?;
                let text = element.text().await.ok()?;
                (text.trim() == expected).then_some(())
            }
        })
    };
    figure("complaints_total", figures.complaints_total.to_string()).await;
    figure("open_backlog", figures.open_backlog.to_string()).await;
    // A complaint submitted now arrives through the live feed without a reload.
    submit("Antrean panjang di kantor samsat").await;
    figure("complaints_total", (figures.complaints_total + 1).to_string()).await;
    // Screenshots for people (docs/images/ holds a copy for the README): phone and desktop.
    let shots = lapor_e2e::stack::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let phone = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(shots.join("analytics-dashboard-phone.png"), phone).expect("screenshot written");
    browser.client.set_window_size(1280, 1500).await.expect("desktop size");
    figure("complaints_total", (figures.complaints_total + 1).to_string()).await;
    let desktop = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(shots.join("analytics-dashboard.png"), desktop).expect("screenshot written");
    browser.stop().await;

    // Replay the event history into an empty database: the same figures; twice: no change.
    let analytics_db = stack.db("analytics").await.expect("db");
    let settled = || async {
        let consumed = |s: Summary| s.events_consumed;
        let before = consumed(summary(&stack).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
        (consumed(summary(&stack).await) == before).then_some(())
    };
    eventually("analytics settles", WAIT, settled).await;
    let replay_url = format!("postgres://postgres@127.0.0.1:5432/{}_analytics_replay", stack.prefix);
    let replay_settings = lapor_platform::config::DatabaseSettings {
        url: replay_url,
        max_connections: 2,
    };
    let replay_db =
        lapor_platform::database::connect_and_migrate::<lapor_analytics::migration::Migrator>(&replay_settings)
            .await
            .expect("empty database");
    let broker = lapor_messaging::Broker::new(stack.amqp_url(), "analytics-replay-test");
    let report = history::replay(&replay_db, &broker).await.expect("replay");
    assert_eq!(report.skipped, 2, "the two unknown events: {report:?}");
    let as_of = chrono::Utc::now();
    let live = figures_of(&analytics_db, as_of).await;
    assert_eq!(figures_of(&replay_db, as_of).await, live, "replayed figures differ");
    // Replaying everything again (the stored offset forgotten): every event is known.
    lapor_e2e::process::exec(&replay_db, "DELETE FROM history_offsets").await;
    let again = history::replay(&replay_db, &broker).await.expect("second replay");
    assert_eq!(again.applied, 0, "{again:?}");
    assert_eq!(
        again.duplicates,
        report.applied + report.duplicates,
        "{again:?} after {report:?}"
    );
    assert_eq!(
        figures_of(&replay_db, as_of).await,
        live,
        "a second replay changed figures"
    );
    // Rebuilding the live database from scratch gives the same figures too.
    let rebuilt = history::rebuild(&analytics_db, &broker, false).await.expect("rebuild");
    assert_eq!(rebuilt.applied, report.applied, "{rebuilt:?} vs {report:?}");
    assert_eq!(figures_of(&analytics_db, as_of).await, live, "rebuilt figures differ");
    broker.close().await;
    drop(replay_db);
    stack
        .db("analytics")
        .await
        .expect("db")
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {}_analytics_replay WITH (FORCE)",
            stack.prefix
        ))
        .await
        .ok();
    stack.stop().await.expect("stack stops");
}
