//! The routing service: turns submitted complaints into cases and disposes them to SKPDs.

pub mod attachments;
pub mod case_store;
pub mod clock;
pub mod console;
pub mod directory;
pub mod directory_grpc;
pub mod duplicates;
pub mod entity;
pub mod grpc;
pub mod migration;
pub mod policy_grpc;
pub mod policy_store;
pub mod reporter_actions;
pub mod scheduler;
pub mod submissions;

use anyhow::Context;
use case_store::CaseWriter;
use clock::ClockRules;
use lapor_domain::Directory;
use lapor_domain::calendar::load_holidays;
use lapor_domain::sla::{Ladder, LadderStep};
use lapor_messaging::ConsumerSpec;
use lapor_messaging::broker::reconnect_delay;
use lapor_platform::auth::{AuthSettings, Authenticator};
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_platform::directory_sync;
use lapor_platform::{Listeners, ServiceCore, Tier};
use lapor_proto::routing::v1::directory_service_server::DirectoryServiceServer;
use lapor_proto::routing::v1::policy_service_server::PolicyServiceServer;
use lapor_proto::routing::v1::routing_service_server::RoutingServiceServer;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: &str = "routing";

/// The largest officer request: a follow-up with 10 MiB of files (intake's deployed limit)
/// and its text.
pub(crate) const FOLLOW_UP_REQUEST_MAX: usize = 10 * 1024 * 1024 + 64 * 1024;
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub grpc: ListenSettings,
    pub http: ListenSettings,
    pub seed: SeedSettings,
    pub auth: AuthSettings,
    pub scheduler: scheduler::SchedulerSettings,
    pub escalation: EscalationSettings,
    /// Intake, which holds the files reporters attach.
    pub intake: attachments::IntakeSettings,
}

/// The escalation ladder (`[[escalation.ladder]]`), checked at start.
#[derive(Debug, Clone, Deserialize)]
pub struct EscalationSettings {
    pub ladder: Vec<LadderStep>,
}

/// Names this replica in `deadlines.fired_by`: the pod name on Kubernetes, plus the pid.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| SERVICE.to_owned());
    format!("{host}-{}", std::process::id())
}

pub fn load_settings() -> anyhow::Result<Settings> {
    lapor_platform::config::load(SERVICE, DEFAULTS).context("failed to load routing configuration")
}

pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let seed = Directory::load(&settings.seed.dir).context("failed to load seed data")?;
    let holidays = load_holidays(&settings.seed.dir.join("holidays")).context("failed to load holiday seed")?;
    let ladder = Ladder::new(settings.escalation.ladder.clone()).context("invalid escalation ladder")?;
    let authenticator = Arc::new(Authenticator::new(&settings.auth).context("invalid auth settings")?);
    let mut core = ServiceCore::start::<migration::Migrator>(SERVICE, &settings.database, &settings.amqp)
        .await
        .context("failed to prepare routing database")?;
    let live = directory::open(&core.db, seed)
        .await
        .context("failed to open the directory")?;
    // The desk is fixed once the directory exists (an edit cannot move it).
    let rules = Arc::new(ClockRules {
        ladder,
        verification_desk: live.get().verification_desk().code.clone(),
    });
    // Now and every so often: a service that lost its copy catches up without a change.
    let (db, outbox, announcing) = (core.db.clone(), core.outbox.clone(), live.clone());
    core.spawn(Tier::Worker, move |stop| async move {
        loop {
            if let Err(error) = directory::announce(&db, &outbox, &announcing).await {
                tracing::warn!(%error, "failed to announce the directory");
            }
            if stop
                .run_until_cancelled(tokio::time::sleep(directory::ANNOUNCE_EVERY))
                .await
                .is_none()
            {
                return;
            }
        }
    });
    policy_store::seed_holidays(&core.db, &holidays)
        .await
        .context("failed to seed holidays")?;
    let writer = CaseWriter {
        outbox: core.outbox.clone(),
        rules: rules.clone(),
    };

    // The broker may be down at start; keep trying in the background.
    let (broker, current) = (core.broker.clone(), live.clone());
    core.spawn(Tier::Front, |stop| async move {
        let mut attempt = 0;
        while !stop.is_cancelled() {
            match directory::declare_skpd_queues(&broker, &current.get()).await {
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

    // Another replica's edit: swap it in (that replica declared a new SKPD's queue).
    let (db, following) = (core.db.clone(), live.clone());
    core.spawn(Tier::Worker, move |stop| {
        directory_sync::follow(db, directory::TABLE, following, stop)
    });

    core.consume(
        ConsumerSpec::new(submissions::QUEUE, submissions::binding_keys()),
        Arc::new(submissions::Submissions {
            directory: live.clone(),
            writer: writer.clone(),
        }),
    );
    core.consume(
        ConsumerSpec::new(reporter_actions::QUEUE, reporter_actions::binding_keys()),
        Arc::new(reporter_actions::ReporterActions { writer: writer.clone() }),
    );
    let scheduler = scheduler::Scheduler {
        db: core.db.clone(),
        writer: writer.clone(),
        settings: settings.scheduler.clone(),
        replica: replica_name(),
    };
    core.spawn(Tier::Worker, |stop| scheduler.run(stop));
    // One RoutingService serves gRPC and, in-process, the officer console.
    let routing = Arc::new(grpc::RoutingGrpc {
        db: core.db.clone(),
        writer,
        directory: live.clone(),
        files: Arc::new(attachments::IntakeFiles::new(&settings.intake).context("invalid intake settings")?),
    });
    let service = InterceptedService::new(
        // A follow-up with its files; intake checks the files against its own limits.
        RoutingServiceServer::from_arc(routing.clone()).max_decoding_message_size(FOLLOW_UP_REQUEST_MAX),
        lapor_platform::auth::interceptor(authenticator.clone()),
    );
    let console = console::router(console::Console {
        grpc: routing,
        authenticator: authenticator.clone(),
    });
    let policy = PolicyServiceServer::with_interceptor(
        policy_grpc::PolicyGrpc {
            db: core.db.clone(),
            rules,
            directory: live.clone(),
        },
        lapor_platform::auth::interceptor(authenticator.clone()),
    );
    let directory_service = DirectoryServiceServer::with_interceptor(
        directory_grpc::DirectoryGrpc {
            db: core.db.clone(),
            outbox: core.outbox.clone(),
            broker: core.broker.clone(),
            live,
        },
        lapor_platform::auth::interceptor(authenticator),
    );
    core.serve(
        |mut server| {
            server
                .add_service(service)
                .add_service(policy)
                .add_service(directory_service)
        },
        "lapor.routing.v1.RoutingService",
        console,
        listeners,
        shutdown,
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped configuration is the documented default ladder.
    #[test]
    fn default_configuration_has_the_default_ladder() {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("defaults deserialize");
        let ladder = Ladder::new(settings.escalation.ladder).expect("valid ladder");
        assert_eq!(ladder, Ladder::default());
        assert!(settings.scheduler.enabled);
    }
}
