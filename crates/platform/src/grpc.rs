//! gRPC server scaffolding: health (tonic-health) and reflection on every port, message-size
//! limits, and a shutdown that reports NOT_SERVING before draining.

use crate::rpc_metrics::RpcMetricsLayer;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tower::layer::util::{Identity, Stack};

/// The server every service builds on, with the per-call metrics layer.
pub type Server = tonic::transport::Server<Stack<RpcMetricsLayer, Identity>>;
/// Its router, once services are added.
pub type Router = tonic::transport::server::Router<Stack<RpcMetricsLayer, Identity>>;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A server builder with the limits every LAPOR service uses. `max_connection_age` makes
/// clients behind a Kubernetes ClusterIP reconnect now and then, spreading load over replicas.
pub fn server() -> Server {
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_connection_age(Duration::from_secs(300))
        .max_connection_age_grace(Duration::from_secs(30))
        .trace_fn(request_span)
        .layer(RpcMetricsLayer)
}

/// The server span of one call, child of the caller's W3C trace context when it sent one,
/// so a submission made by a traced client continues the client's trace.
fn request_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.request",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = %request.uri().path(),
    );
    let headers: std::collections::BTreeMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|key| {
            let value = request.headers().get(key)?.to_str().ok()?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    lapor_messaging::propagation::restore_parent(&span, &headers);
    metrics::counter!("lapor_grpc_requests_total", "method" => request.uri().path().to_owned()).increment(1);
    span
}

/// Health reporter and the health + reflection services to add to the router.
pub fn health_and_reflection() -> (
    HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
) {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lapor_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("embedded descriptor sets are valid");
    (reporter, health_service, reflection)
}

/// Serves until `shutdown`, then marks every service NOT_SERVING and drains in-flight calls.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    health: HealthReporter,
    service_name: &'static str,
    shutdown: CancellationToken,
) {
    health.set_service_status("", ServingStatus::Serving).await;
    health.set_service_status(service_name, ServingStatus::Serving).await;
    let drain = {
        let health = health.clone();
        async move {
            shutdown.cancelled().await;
            health.set_service_status("", ServingStatus::NotServing).await;
            health.set_service_status(service_name, ServingStatus::NotServing).await;
        }
    };
    if let Err(error) = router
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), drain)
        .await
    {
        tracing::error!(%error, "grpc server failed");
    }
    tracing::info!("grpc server drained");
}

/// A database failure as the client sees it: retryable, details only in the log.
pub fn database_unavailable(error: impl std::fmt::Display) -> tonic::Status {
    tracing::error!(%error, "database error");
    tonic::Status::unavailable("database unavailable, retry")
}

/// Header naming the offending field of an INVALID_ARGUMENT, for clients that map errors to
/// form fields; the message names it too, for people.
pub const FIELD_METADATA_KEY: &str = "lapor-field";

pub fn invalid_argument(field: &str, message: &str) -> tonic::Status {
    let mut status = tonic::Status::invalid_argument(format!("{field}: {message}"));
    if let Ok(value) = field.parse() {
        status.metadata_mut().insert(FIELD_METADATA_KEY, value);
    }
    status
}
