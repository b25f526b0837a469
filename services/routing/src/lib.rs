//! The routing service: turns submitted complaints into cases and disposes them to SKPDs.

pub mod case_store;
pub mod directory;
pub mod entity;
pub mod grpc;
pub mod migration;
pub mod submissions;

use anyhow::Context;
use lapor_domain::Directory;
use lapor_messaging::ConsumerSpec;
use lapor_messaging::broker::reconnect_delay;
use lapor_platform::auth::{AuthSettings, Authenticator};
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_platform::{Listeners, ServiceCore, Tier};
use lapor_proto::routing::v1::routing_service_server::RoutingServiceServer;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "routing";
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub grpc: ListenSettings,
    pub http: ListenSettings,
    pub seed: SeedSettings,
    pub auth: AuthSettings,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load routing configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let seed = Arc::new(Directory::load(&settings.seed.dir).context("failed to load seed data")?);
    let authenticator = Arc::new(Authenticator::new(&settings.auth).context("invalid auth settings")?);
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare routing database")?;
    directory::seed_skpds(&core.db, &seed)
        .await
        .context("failed to seed skpds")?;

    // The broker may be down at start; keep trying in the background.
    let (broker, db) = (core.broker.clone(), core.db.clone());
    core.spawn(Tier::Front, |stop| async move {
        let mut attempt = 0;
        while !stop.is_cancelled() {
            match directory::declare_skpd_queues(&broker, &db).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "failed to declare skpd queues, retrying"),
            }
            attempt += 1;
            tokio::select! {
                _ = tokio::time::sleep(reconnect_delay(attempt)) => {}
                _ = stop.cancelled() => {}
            }
        }
    });

    core.consume(
        ConsumerSpec::new(submissions::QUEUE, submissions::binding_keys()),
        Arc::new(submissions::Submissions {
            directory: seed.clone(),
            outbox: core.outbox.clone(),
        }),
    );
    let service = RoutingServiceServer::with_interceptor(
        grpc::RoutingGrpc {
            db: core.db.clone(),
            outbox: core.outbox.clone(),
            directory: seed,
        },
        lapor_platform::auth::interceptor(authenticator),
    );
    core.serve(
        |mut server| server.add_service(service),
        "lapor.routing.v1.RoutingService",
        axum::Router::new(),
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}
