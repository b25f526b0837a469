//! The analytics service: read models for leadership, built only from events.

pub mod grpc;
pub mod migration;
pub mod projection;

use anyhow::Context;
use lapor_messaging::ConsumerSpec;
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings};
use lapor_platform::{Listeners, ServiceCore};
use lapor_proto::analytics::v1::analytics_service_server::AnalyticsServiceServer;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "analytics";
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub grpc: ListenSettings,
    pub http: ListenSettings,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load analytics configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare analytics database")?;
    core.consume(
        ConsumerSpec::new(projection::QUEUE, projection::binding_keys()),
        Arc::new(projection::Projection),
    );
    let service = AnalyticsServiceServer::new(grpc::AnalyticsGrpc { db: core.db.clone() });
    core.serve(
        |mut server| server.add_service(service),
        "lapor.analytics.v1.AnalyticsService",
        axum::Router::new(),
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}
