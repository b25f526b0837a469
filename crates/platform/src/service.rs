//! What every LAPOR service does at start-up and shutdown, in one place: prepare the
//! database, open the broker, run the outbox relay and consumers, serve gRPC and HTTP, and
//! stop in order.

use crate::config::{AmqpSettings, DatabaseSettings};
use crate::http::Readiness;
use crate::lifecycle::{Lifecycle, Listeners, Tier};
use crate::{database, gauges, grpc, http};
use lapor_messaging::consumer::{ConsumerHealth, ConsumerRunner};
use lapor_messaging::{Broker, ConsumerSpec, EventHandler, Outbox};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct ServiceCore {
    pub name: &'static str,
    pub db: DatabaseConnection,
    pub broker: Broker,
    pub outbox: Outbox,
    pub lifecycle: Lifecycle,
    consumers: Vec<ConsumerHealth>,
    /// Deliveries in hand at once across all of this replica's consumers.
    consumer_permits: Arc<tokio::sync::Semaphore>,
    consumer_concurrency: usize,
    /// The queues this service consumes, for the depth gauges.
    queues: Vec<String>,
}

/// What starting a consumer needs, detached from the [`ServiceCore`].
#[derive(Clone)]
pub struct LateConsumers {
    db: DatabaseConnection,
    broker: Broker,
    outbox: Outbox,
    lifecycle: Lifecycle,
    permits: Arc<tokio::sync::Semaphore>,
    concurrency: usize,
}

impl LateConsumers {
    pub fn start(&self, mut spec: ConsumerSpec, handler: Arc<dyn EventHandler>) -> ConsumerHealth {
        spec.concurrency = self.concurrency;
        let runner = ConsumerRunner::new(spec, self.db.clone(), self.broker.clone(), self.outbox.clone(), handler)
            .with_permits(self.permits.clone());
        let health = runner.health();
        self.lifecycle.spawn(Tier::Front, |stop| runner.run(stop));
        health
    }
}

impl ServiceCore {
    /// Creates and migrates the database, prepares the broker connection (connected lazily)
    /// and starts the outbox relay.
    pub async fn start<M: MigratorTrait>(
        name: &'static str,
        database: &DatabaseSettings,
        amqp: &AmqpSettings,
    ) -> Result<Self, database::DatabaseError> {
        let db = database::connect_and_migrate::<M>(database).await?;
        let broker = Broker::new(amqp.url.clone(), name);
        let outbox = Outbox::new();
        let lifecycle = Lifecycle::new();
        let relay = outbox.relay(db.clone(), broker.clone());
        lifecycle.spawn(Tier::Relay, |stop| relay.run(stop));
        Ok(Self {
            name,
            db,
            broker,
            outbox,
            lifecycle,
            consumer_permits: Arc::new(tokio::sync::Semaphore::new(amqp.consumer_concurrency.max(1))),
            consumer_concurrency: amqp.consumer_concurrency,
            consumers: Vec::new(),
            queues: Vec::new(),
        })
    }

    /// Runs an idempotent consumer for `spec` in the front tier, with this replica's
    /// configured concurrency; readiness waits for it.
    pub fn consume(&mut self, spec: ConsumerSpec, handler: Arc<dyn EventHandler>) {
        self.queues.push(spec.queue.clone());
        let health = self.late_consumers().start(spec, handler);
        self.consumers.push(health);
    }

    /// Starts consumers after `serve` (queues that appear at run time, such as a new
    /// SKPD's). Their queues are not in the depth gauges and readiness does not wait for them.
    pub fn late_consumers(&self) -> LateConsumers {
        LateConsumers {
            db: self.db.clone(),
            broker: self.broker.clone(),
            outbox: self.outbox.clone(),
            lifecycle: self.lifecycle.clone(),
            permits: self.consumer_permits.clone(),
            concurrency: self.consumer_concurrency,
        }
    }

    pub fn spawn<F, Fut>(&self, tier: Tier, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.lifecycle.spawn(tier, task);
    }

    /// Serves `grpc_router` (health and reflection are added here) and `http_routes` plus
    /// the ops routes until `shutdown`, then stops every tier in order.
    pub async fn serve(
        self,
        grpc_service: impl FnOnce(grpc::Server) -> grpc::Router,
        grpc_service_name: &'static str,
        http_routes: axum::Router,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) {
        let readiness = Readiness {
            db: self.db.clone(),
            broker: self.broker.clone(),
            consumers: self.consumers.clone(),
            stopping: self.lifecycle.stop_token(Tier::Front),
        };
        let (health, health_service, reflection) = grpc::health_and_reflection();
        let router = grpc_service(grpc::server())
            .add_service(health_service)
            .add_service(reflection);
        self.lifecycle.spawn(Tier::Front, |stop| {
            grpc::serve(router, listeners.grpc, health, grpc_service_name, stop)
        });
        let http_router = http_routes.merge(http::ops_router(readiness));
        self.lifecycle
            .spawn(Tier::Front, |stop| http::serve(http_router, listeners.http, stop));
        let (db, broker, queues) = (self.db.clone(), self.broker.clone(), self.queues.clone());
        self.lifecycle
            .spawn(Tier::Worker, move |stop| gauges::sample(db, broker, queues, stop));
        tracing::info!(service = self.name, "started");
        self.lifecycle.run_until(shutdown).await;
        self.broker.close().await;
        let _ = self.db.close().await;
    }
}
