//! One submission is one trace, and it leaks no PII: the four services run as processes
//! exporting spans over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT`) to a collector in this test,
//! and the trace that starts at intake's SubmitComplaint reaches routing, the notification
//! that was sent to each liaison officer, and analytics — through gRPC metadata, AMQP
//! headers, the outbox and the delivery rows. The reporter's canary name, phone and
//! e-mail appear in no event on the exchange, no log line, no span attribute and no
//! analytics or routing table.

use lapor_domain::Directory;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::eventually;
use lapor_e2e::process::free_port;
use lapor_e2e::process_stack::ProcessStack;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_proto::intake::v1::{Reporter, SubmitComplaintRequest};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::{Request, Response, Status};

const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct CollectedSpan {
    service: String,
    trace_id: Vec<u8>,
    name: String,
    attributes: BTreeMap<String, String>,
}

/// An OTLP trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(n)) => n.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        _ => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().map_err(|_| Status::internal("poisoned"))?;
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref()))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(CollectedSpan {
                    service: service.clone(),
                    trace_id: span.trace_id,
                    name: span.name,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

const CANARY_NAME: &str = "Canarius Zetapii";
const CANARY_EMAIL: &str = "canary.zetapii@example.id";
const CANARY_NIK: &str = "6371035708850417";
/// The phone as typed, and the forms intake normalises it to.
const CANARY_PHONES: [&str; 4] = ["0812-7777-1717", "081277771717", "6281277771717", "81277771717"];

fn assert_no_canary(place: &str, text: &str) {
    let lowered = text.to_lowercase();
    for canary in [CANARY_NAME, CANARY_EMAIL, CANARY_NIK]
        .iter()
        .chain(CANARY_PHONES.iter())
    {
        assert!(
            !lowered.contains(&canary.to_lowercase()),
            "{canary:?} leaked into {place}"
        );
    }
}

/// Every row of every table of a database, as text.
async fn every_row(db: &sea_orm::DatabaseConnection) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let tables = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .expect("tables");
    let mut all = String::new();
    for table in tables {
        let name: String = table.try_get("", "name").expect("name");
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT t::text AS row FROM \"{name}\" t"),
            ))
            .await
            .expect("rows");
        for row in rows {
            all.push_str(&row.try_get::<String>("", "row").expect("row text"));
            all.push('\n');
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_submission_is_one_trace_across_all_four_services_and_leaks_no_pii() {
    let collector = Collector::default();
    let port = free_port();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve(format!("127.0.0.1:{port}").parse().expect("addr"));
    tokio::spawn(server);
    let env = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "200".to_owned()),
    ];
    let stack = ProcessStack::start("trace", 1, env).await.expect("stack starts");

    // Every event on the exchange, as the services publish it.
    let tap_connection = lapin::Connection::connect(&stack.amqp_url(), lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let tap = tap_connection.create_channel().await.expect("channel");
    let exclusive = lapin::options::QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    tap.queue_declare("pii-tap".into(), exclusive, lapin::types::FieldTable::default())
        .await
        .expect("tap queue");
    tap.queue_bind(
        "pii-tap".into(),
        "lapor.events".into(),
        "#".into(),
        lapin::options::QueueBindOptions::default(),
        lapin::types::FieldTable::default(),
    )
    .await
    .expect("tap binding");

    let mut intake = IntakeServiceClient::connect(format!("http://127.0.0.1:{}", stack.grpc_port("intake")))
        .await
        .expect("intake");
    let tracking_id = intake
        .submit_complaint(SubmitComplaintRequest {
            title: "IGD penuh, pasien menunggu di lorong".into(),
            body: "Sudah tiga jam belum ditangani.".into(),
            category_code: "kesehatan.rumah-sakit".into(),
            kabupaten_code: "6371".into(),
            location: "RSUD Ulin".into(),
            reporter: Some(Reporter {
                name: CANARY_NAME.into(),
                phone: "0812-7777-1717".into(),
                email: CANARY_EMAIL.into(),
                nik: CANARY_NIK.into(),
            }),
            ..Default::default()
        })
        .await
        .expect("accepted")
        .into_inner()
        .tracking_id;

    // Everything the submission causes has happened: the liaison officers' e-mails are in
    // the sink and analytics counted the notifications.
    let directory = Directory::load(&lapor_e2e::stack::repo_root().join("deploy/seed")).expect("seed");
    let officers: BTreeSet<String> = directory
        .officers_of("rsud-ulin", OfficerRole::Penghubung)
        .map(|o| o.email.clone())
        .collect();
    eventually("officers' e-mails", WAIT, || {
        let reached: BTreeSet<String> = stack
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.raw.contains(&tracking_id))
            .flat_map(|m| m.rcpt_to)
            .collect();
        std::future::ready(officers.is_subset(&reached).then_some(()))
    })
    .await;
    let analytics_db = stack.db("analytics").await.expect("db");
    eventually("analytics counts the notifications", WAIT, || async {
        let n = lapor_e2e::process::scalar(
            &analytics_db,
            "SELECT coalesce(max(value), 0) FROM counters WHERE name = 'notifications_sent'",
        )
        .await;
        (n as usize >= officers.len()).then_some(())
    })
    .await;
    // No canary in any event body, analytics or routing table, or log line.
    let mut bodies = 0;
    while let Some(message) = tap
        .basic_get("pii-tap".into(), lapin::options::BasicGetOptions { no_ack: true })
        .await
        .expect("basic_get")
    {
        bodies += 1;
        assert_no_canary("an event body", &String::from_utf8_lossy(&message.delivery.data));
    }
    assert!(bodies >= 3, "the tap saw the submission, the assignment and the sends");
    for service in ["analytics", "routing"] {
        let db = stack.db(service).await.expect("db");
        assert_no_canary(&format!("{service}'s tables"), &every_row(&db).await);
    }
    drop(analytics_db);
    assert_no_canary("the services' logs", &stack.logs());
    // A graceful stop flushes every exporter.
    stack.stop().await.expect("stack stops");

    let spans = collector.spans.lock().expect("spans").clone();
    for span in &spans {
        assert_no_canary(&format!("span {}", span.name), &format!("{:?}", span.attributes));
    }
    let submit = spans
        .iter()
        .find(|s| {
            s.service == "lapor-intake"
                && s.attributes
                    .get("rpc.method")
                    .is_some_and(|m| m.ends_with("/SubmitComplaint"))
        })
        .unwrap_or_else(|| panic!("no SubmitComplaint span among {} spans", spans.len()));
    let in_trace: Vec<&CollectedSpan> = spans.iter().filter(|s| s.trace_id == submit.trace_id).collect();
    let services: BTreeSet<&str> = in_trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["lapor-analytics", "lapor-intake", "lapor-notification", "lapor-routing"]),
        "services in the submission's trace"
    );
    let consumed = |service: &str, queue_prefix: &str| {
        in_trace.iter().any(|s| {
            s.service == service
                && s.name == "consume"
                && s.attributes
                    .get("messaging.destination.name")
                    .is_some_and(|q| q.starts_with(queue_prefix))
        })
    };
    assert!(
        consumed("lapor-routing", "routing.submissions"),
        "routing consumed the submission"
    );
    assert!(
        consumed("lapor-notification", "skpd.rsud-ulin"),
        "notification consumed the assignment"
    );
    // Each officer's e-mail was sent within the trace, and analytics counted each send in it.
    let deliveries = in_trace
        .iter()
        .filter(|s| s.service == "lapor-notification" && s.name == "deliver")
        .filter(|s| s.attributes.get("channel").is_some_and(|c| c == "email"))
        .count();
    assert!(
        deliveries >= officers.len(),
        "{deliveries} e-mail deliveries in the trace, {} officers",
        officers.len()
    );
    let counted_sends = in_trace
        .iter()
        .filter(|s| {
            s.service == "lapor-analytics"
                && s.name == "consume"
                && s.attributes.get("event_type").is_some_and(|t| t == "notification.sent")
        })
        .count();
    assert!(
        counted_sends >= officers.len(),
        "analytics counted the sends in the trace"
    );
}
