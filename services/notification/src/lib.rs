//! The notification service: reaches liaison officers when a complaint lands in their SKPD,
//! and the officers an escalation names when a deadline is near or missed.

pub mod assignments;
pub mod entity;
pub mod escalations;
pub mod grpc;
pub mod mailer;
pub mod migration;
pub mod recipients;
pub mod sender;
pub mod templates;

use anyhow::Context;
use lapor_domain::Directory;
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_platform::{Listeners, ServiceCore, Tier};
use lapor_proto::notification::v1::notification_service_server::NotificationServiceServer;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "notification";
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    /// Base URL of the officer console, for links in messages.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub grpc: ListenSettings,
    pub http: ListenSettings,
    pub seed: SeedSettings,
    pub smtp: mailer::SmtpSettings,
    pub console: ConsoleSettings,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load notification configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let directory = Directory::load(&settings.seed.dir).context("failed to load seed data")?;
    let mailer = Arc::new(mailer::Mailer::new(&settings.smtp).context("invalid smtp settings")?);
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare notification database")?;
    recipients::seed(&core.db, &directory)
        .await
        .context("failed to seed recipients")?;

    let sender_wake = Arc::new(Notify::new());
    for skpd in &directory.skpds {
        core.consume(
            assignments::consumer_spec(&skpd.code),
            Arc::new(assignments::Assignments {
                console_url: settings.console.url.clone(),
                sender_wake: sender_wake.clone(),
            }),
        );
    }
    let sender = sender::Sender {
        db: core.db.clone(),
        mailer,
        outbox: core.outbox.clone(),
        wake: sender_wake,
    };
    core.spawn(Tier::Worker, |stop| sender.run(stop));

    let service = NotificationServiceServer::new(grpc::NotificationGrpc { db: core.db.clone() });
    core.serve(
        |mut server| server.add_service(service),
        "lapor.notification.v1.NotificationService",
        axum::Router::new(),
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}
