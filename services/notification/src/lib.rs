//! The notification service: reaches liaison officers when a complaint lands in their SKPD,
//! the officers an escalation names when a deadline is near or missed, reporters when their
//! case changes, and the provincial leaders with analytics' daily and weekly digest.

pub mod assignments;
pub mod channels;
pub mod contacts;
pub mod digests;
pub mod entity;
pub mod escalations;
pub mod grpc;
pub mod messages;
pub mod migration;
pub mod outbound;
pub mod quiet_hours;
pub mod receipts;
pub mod recipients;
pub mod reporters;
pub mod sender;
pub mod template_store;

use anyhow::Context;
use lapor_domain::Directory;
use lapor_platform::auth::{AuthSettings, Authenticator};
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_platform::directory_sync;
use lapor_platform::{Listeners, ServiceCore, Tier};
use lapor_proto::notification::v1::notification_service_server::NotificationServiceServer;
use serde::Deserialize;
use std::collections::HashSet;
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
    pub auth: AuthSettings,
    pub smtp: channels::email::SmtpSettings,
    pub sms: channels::SmsSettings,
    pub templates: TemplateSettings,
    pub delivery: sender::DeliverySettings,
    pub quiet_hours: quiet_hours::QuietHoursSettings,
    pub console: ConsoleSettings,
    pub intake: contacts::IntakeSettings,
    pub reporters: ReporterSettings,
    pub digests: digests::DigestSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReporterSettings {
    /// Public status page base; messages link `<status_url>/<tracking id>`.
    pub status_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TemplateSettings {
    /// Directory of the minijinja message templates.
    pub dir: std::path::PathBuf,
    /// How often the directory is checked for edits, which then apply without a restart.
    pub reload_seconds: u64,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load notification configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let seed = Directory::load(&settings.seed.dir).context("failed to load seed data")?;
    // A broken template never stops the service: see template_store.
    let templates = Arc::new(template_store::TemplateStore::open(&settings.templates.dir));
    let default_quiet = settings
        .quiet_hours
        .default_window()
        .map_err(|e| anyhow::anyhow!("quiet_hours: {e}"))?;
    let digest_unsubscribe = settings
        .digests
        .list_unsubscribe()
        .map_err(|e| anyhow::anyhow!("digests: {e}"))?;
    let mailer = Arc::new(channels::email::Mailer::new(&settings.smtp).context("invalid smtp settings")?);
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare notification database")?;
    // Officers and SKPDs as routing last announced them; changes apply while running.
    let directory = directory_sync::keep_current(&mut core, seed)
        .await
        .context("failed to open the directory")?;
    recipients::sync(&core.db, &directory.get())
        .await
        .context("failed to store recipients")?;

    let sender_wake = Arc::new(Notify::new());
    let sms_enabled = !matches!(settings.sms, channels::SmsSettings::None);
    let sms: Arc<dyn channels::Channel> = match &settings.sms {
        channels::SmsSettings::None => Arc::new(channels::NoSms),
        channels::SmsSettings::Http(http) => {
            Arc::new(channels::http_sms::HttpSms::new(http.clone()).context("invalid sms settings")?)
        }
        channels::SmsSettings::Smpp(smpp) => {
            let (session, inbound) = channels::smpp::SmppSms::start(smpp).context("invalid sms settings")?;
            let (db, wake) = (core.db.clone(), sender_wake.clone());
            core.spawn(Tier::Worker, move |stop| receipts::run(db, inbound, wake, stop));
            Arc::new(session)
        }
    };
    let assignments = Arc::new(assignments::Assignments {
        console_url: settings.console.url.clone(),
        directory: directory.clone(),
        default_quiet,
        sms_enabled,
        urgent_levels: settings.quiet_hours.urgent_levels.clone(),
        sender_wake: sender_wake.clone(),
    });
    // Subscribed before the first read, so no version slips between the two.
    let mut changes = directory.changes();
    let mut consumed: HashSet<String> = HashSet::new();
    for skpd in &directory.get().skpds {
        core.consume(assignments::consumer_spec(&skpd.code), assignments.clone());
        consumed.insert(skpd.code.clone());
    }
    let (db, late, current) = (core.db.clone(), core.late_consumers(), directory.clone());
    core.spawn(Tier::Worker, move |stop| async move {
        let mut synced = current.version();
        loop {
            // A change, or a retry of the last one that failed.
            let retry = tokio::time::sleep(std::time::Duration::from_secs(10));
            let woke = stop
                .run_until_cancelled(async {
                    tokio::select! {
                        changed = changes.changed() => changed.is_ok(),
                        _ = retry => true,
                    }
                })
                .await;
            if woke != Some(true) {
                return;
            }
            let (version, directory) = current.snapshot();
            if version == synced {
                continue;
            }
            // Contacts first: a new SKPD's waiting assignments find its officers.
            if let Err(error) = recipients::sync(&db, &directory).await {
                tracing::warn!(%error, version, "failed to update recipients from the directory, retrying");
                continue;
            }
            for skpd in &directory.skpds {
                if !consumed.contains(&skpd.code) {
                    // Replicas see a version within the same poll: spread their first
                    // declarations of the queue (routing already declared it).
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(std::process::id() % 2000))).await;
                    tracing::info!(skpd = %skpd.code, "consuming a new SKPD's queue");
                    late.start(assignments::consumer_spec(&skpd.code), assignments.clone());
                    consumed.insert(skpd.code.clone());
                }
            }
            synced = version;
        }
    });
    core.consume(
        digests::consumer_spec(),
        Arc::new(digests::Digests {
            directory: directory.clone(),
            sender_wake: sender_wake.clone(),
        }),
    );
    let reporters_consumed = !settings.intake.service_token.is_empty();
    let contacts: Arc<dyn contacts::ContactBook> = if !reporters_consumed {
        tracing::warn!("no intake service token: reporters get no messages");
        Arc::new(contacts::NoContacts)
    } else {
        let intake = Arc::new(contacts::IntakeContacts::new(&settings.intake).context("invalid intake settings")?);
        core.consume(
            reporters::consumer_spec(),
            Arc::new(reporters::Reporters {
                contacts: intake.clone(),
                status_url: settings.reporters.status_url.clone(),
                directory: directory.clone(),
                default_quiet,
                sms_enabled,
                sender_wake: sender_wake.clone(),
            }),
        );
        intake
    };
    let authenticator = Arc::new(Authenticator::new(&settings.auth).context("invalid auth settings")?);
    let sender = sender::Sender {
        db: core.db.clone(),
        channels: channels::Channels { email: mailer, sms },
        templates: templates.clone(),
        contacts,
        outbox: core.outbox.clone(),
        wake: sender_wake.clone(),
        settings: settings.delivery.clone(),
        digest_unsubscribe,
    };
    core.spawn(Tier::Worker, |stop| sender.run(stop));
    let reload_every = std::time::Duration::from_secs(settings.templates.reload_seconds.max(1));
    core.spawn(Tier::Worker, move |stop| templates.watch(reload_every, stop));

    let mut other_queues = vec![digests::QUEUE.to_owned(), directory_sync::consumer_spec(SERVICE).queue];
    if reporters_consumed {
        other_queues.push(reporters::QUEUE.to_owned());
    }
    let service = NotificationServiceServer::with_interceptor(
        grpc::NotificationGrpc {
            db: core.db.clone(),
            broker: core.broker.clone(),
            directory: directory.clone(),
            other_queues,
            sender_wake: sender_wake.clone(),
        },
        lapor_platform::auth::interceptor(authenticator),
    );
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
