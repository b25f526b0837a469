//! The HTTP side of every service: `/healthz` (process alive), `/readyz` (database and broker
//! reachable, consumers subscribed, not shutting down) and `/metrics` (Prometheus).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use lapor_messaging::Broker;
use lapor_messaging::consumer::ConsumerHealth;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;
use std::sync::OnceLock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The process-wide Prometheus recorder (one per process, shared by in-process test services).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours stays private.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The value of cookie `name` in a request's `Cookie` headers (the officer pages' sessions).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Content-Disposition` value for a user-named file: an ASCII fallback name and the
/// exact one as RFC 8187 `filename*`, so no quote, semicolon or line break can escape it.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// The bearer token of a page request: `Authorization: Bearer`, else the session cookie.
pub fn bearer_or_cookie<'a>(headers: &'a axum::http::HeaderMap, cookie_name: &str) -> Option<&'a str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| cookie(headers, cookie_name))
}

/// What readiness depends on.
#[derive(Clone)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub broker: Broker,
    pub consumers: Vec<ConsumerHealth>,
    pub stopping: CancellationToken,
}

impl Readiness {
    pub async fn check(&self) -> Result<(), String> {
        if self.stopping.is_cancelled() {
            return Err("shutting down".into());
        }
        crate::database::ping(&self.db)
            .await
            .map_err(|e| format!("database unreachable: {e}"))?;
        if !self.broker.is_connected().await {
            return Err("broker not connected".into());
        }
        if !self.consumers.iter().all(ConsumerHealth::is_consuming) {
            return Err("a consumer is not subscribed".into());
        }
        Ok(())
    }
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    match readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

/// `/healthz`, `/readyz`, `/metrics`; services merge their own routes onto it.
pub fn ops_router(readiness: Readiness) -> Router {
    let metrics = metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
        .route("/metrics", get(move || std::future::ready(metrics.render())))
}

/// Records `lapor_http_request_duration_seconds{route, status}` for every routed request;
/// the route is the matched pattern (`/api/v1/complaints/{tracking_id}`), never the raw
/// path, so tracking ids neither leak into metrics nor multiply the series.
async fn record_latency(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    metrics::histogram!(
        "lapor_http_request_duration_seconds",
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

pub async fn serve(router: Router, listener: TcpListener, shutdown: CancellationToken) {
    // Handlers may read the peer address (intake's abuse limits).
    let router = router.route_layer(axum::middleware::from_fn(record_latency));
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(error) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(%error, "http server failed");
    }
    tracing::info!("http server drained");
}

#[cfg(test)]
mod disposition_tests {
    #[test]
    fn user_file_names_cannot_break_the_header() {
        assert_eq!(
            super::content_disposition("inline", "jalan \"rusak\";\r\nX: y.jpg"),
            "inline; filename=\"jalan _rusak____X_ y.jpg\"; filename*=UTF-8''jalan%20%22rusak%22%3B%0D%0AX%3A%20y%2Ejpg"
        );
        assert!(
            super::content_disposition("attachment", "laporan ü.pdf")
                .contains("filename*=UTF-8''laporan%20%C3%BC%2Epdf")
        );
    }
}
