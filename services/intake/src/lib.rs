//! The intake service: where citizens' complaints enter LAPOR.

pub mod access;
pub mod api;
pub mod attachment_reads;
pub mod attachments;
pub mod contacts;
pub mod entity;
pub mod grpc;
pub mod limits;
pub mod migration;
pub mod open311;
pub mod params;
pub mod public_view;
pub mod reporter_actions;
pub mod sms;
pub mod sms_webhook;
pub mod status_events;
pub mod submit;
pub mod vault;
pub mod web;

use anyhow::Context;
use lapor_domain::Directory;
use lapor_messaging::ConsumerSpec;
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_platform::{Listeners, ServiceCore, Tier};
use lapor_proto::intake::v1::attachments_server::AttachmentsServer;
use lapor_proto::intake::v1::intake_service_server::IntakeServiceServer;
use lapor_proto::intake::v1::reporter_contacts_server::ReporterContactsServer;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "intake";
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct VaultSettings {
    pub key_id: String,
    /// 32 bytes, base64. Secret: set it with `LAPOR__VAULT__KEY`.
    pub key: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub grpc: ListenSettings,
    pub http: ListenSettings,
    pub seed: SeedSettings,
    pub vault: VaultSettings,
    pub internal: InternalSettings,
    pub sms: sms::SmsSettings,
    pub limits: limits::LimitSettings,
    pub open311: open311::Open311Settings,
    pub attachments: attachments::AttachmentSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InternalSettings {
    /// Shared secret other services present to internal RPCs; secret:
    /// `LAPOR__INTERNAL__SERVICE_TOKEN`. Empty refuses every internal call.
    #[serde(default)]
    pub service_token: String,
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load intake configuration")
}

/// Runs intake on the given listeners until `shutdown`, then drains.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let seed = Directory::load(&settings.seed.dir).context("failed to load seed data")?;
    let vault = Arc::new(
        vault::Vault::new(&settings.vault.key_id, &settings.vault.key)
            .context("invalid vault key (LAPOR__VAULT__KEY)")?,
    );
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare intake database")?;
    // Categories and kabupaten for the forms and validation, as routing last announced them.
    let directory = lapor_platform::directory_sync::keep_current(&mut core, seed)
        .await
        .context("failed to open the directory")?;
    core.consume(
        ConsumerSpec::new(status_events::QUEUE, status_events::binding_keys()),
        Arc::new(status_events::StatusEvents),
    );
    let limits = Arc::new(limits::Limits::new(&settings.limits).map_err(anyhow::Error::msg)?);
    let access = Arc::new(access::AccessCodes::new(vault.derive_key("lapor access codes v1")));
    let attachment_store = Arc::new(
        attachments::AttachmentStore::open(&settings.attachments).context("cannot open the attachment store")?,
    );
    let submit = Arc::new(submit::SubmitService {
        db: core.db.clone(),
        directory,
        vault: vault.clone(),
        outbox: core.outbox.clone(),
        limits: limits.clone(),
        access: access.clone(),
        attachments: attachment_store.clone(),
    });
    core.spawn(Tier::Worker, move |stop| async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => limits.forget_idle(),
                _ = stop.cancelled() => break,
            }
        }
    });
    // Citizens' SMS arrive over the SMPP receiver, an aggregator's webhook, or both.
    let sms_channel = Arc::new(sms::SmsChannel {
        db: core.db.clone(),
        submit: submit.clone(),
        vault: vault.clone(),
        outbox: core.outbox.clone(),
    });
    if settings.sms.enabled {
        let (channel, sms_settings) = (sms_channel.clone(), settings.sms.clone());
        core.spawn(Tier::Front, move |stop| channel.run(sms_settings, stop));
    }
    let webhook = sms_webhook::router(Arc::new(sms_webhook::SmsWebhook {
        channel: sms_channel,
        token: settings.sms.webhook_token.clone(),
        default_kabupaten: settings.sms.default_kabupaten.clone(),
    }));
    let open311 = open311::router(Arc::new(open311::Open311 {
        submit: submit.clone(),
        settings: settings.open311.clone(),
    }));
    // One IntakeService serves gRPC and, in-process, the JSON API.
    let actions = Arc::new(reporter_actions::ReporterActions {
        db: core.db.clone(),
        access,
        limits: submit.limits.clone(),
        outbox: core.outbox.clone(),
    });
    let web = web::router(Arc::new(web::Web {
        submit: submit.clone(),
        actions: actions.clone(),
    }));
    let intake = Arc::new(grpc::IntakeGrpc { submit, actions });
    // A submission with its files: the largest allowed plus the text around them.
    let largest_request = settings.attachments.max_total_bytes + 64 * 1024;
    let service = IntakeServiceServer::from_arc(intake.clone()).max_decoding_message_size(largest_request);
    let token = Arc::new(settings.internal.service_token.clone());
    let contacts = ReporterContactsServer::with_interceptor(
        contacts::ContactsGrpc {
            db: core.db.clone(),
            vault: vault.clone(),
        },
        lapor_platform::auth::service_interceptor(token.clone()),
    );
    // Routing hands over an officer's follow-up files: as large as a submission's.
    let attachment_reads = tonic::service::interceptor::InterceptedService::new(
        AttachmentsServer::new(attachment_reads::AttachmentReads {
            db: core.db.clone(),
            store: attachment_store,
        })
        .max_decoding_message_size(largest_request),
        lapor_platform::auth::service_interceptor(token),
    );
    core.serve(
        |mut server| {
            server
                .add_service(service)
                .add_service(contacts)
                .add_service(attachment_reads)
        },
        "lapor.intake.v1.IntakeService",
        api::router(intake).merge(webhook).merge(open311).merge(web),
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}
