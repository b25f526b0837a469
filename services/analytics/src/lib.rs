//! The analytics service: read models for leadership, built only from events.

pub mod digest;
pub mod feed;
pub mod figures;
pub mod gauges;
pub mod grpc;
pub mod history;
pub mod http;
pub mod migration;
pub mod projection;
pub mod web;

use anyhow::Context;
use lapor_messaging::ConsumerSpec;
use lapor_platform::auth::{AuthSettings, Authenticator};
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings};
use lapor_platform::lifecycle::Tier;
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
    pub auth: AuthSettings,
    pub digest: digest::DigestSettings,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load analytics configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let authenticator = Arc::new(Authenticator::new(&settings.auth).context("invalid auth settings")?);
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare analytics database")?;
    core.consume(
        ConsumerSpec::new(projection::QUEUE, projection::binding_keys()),
        Arc::new(projection::Projection),
    );
    let feed_stop = core.lifecycle.stop_token(Tier::Worker);
    let feed = feed::Feed::start(
        &core.db,
        &settings.database.url,
        feed_stop,
        core.lifecycle.stop_token(Tier::Front),
    );
    let (db, outbox, digest_settings) = (core.db.clone(), core.outbox.clone(), settings.digest.clone());
    core.spawn(Tier::Worker, move |stop| digest::run(db, outbox, digest_settings, stop));
    let db = core.db.clone();
    core.spawn(Tier::Worker, move |stop| gauges::sample(db, stop));
    let service = AnalyticsServiceServer::with_interceptor(
        grpc::AnalyticsGrpc {
            db: core.db.clone(),
            feed: feed.clone(),
        },
        lapor_platform::auth::interceptor(authenticator.clone()),
    );
    let site = http::router(http::Site {
        db: core.db.clone(),
        feed,
        authenticator,
        public_page: Arc::default(),
    });
    core.serve(
        |mut server| server.add_service(service),
        "lapor.analytics.v1.AnalyticsService",
        site,
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}
