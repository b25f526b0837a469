//! The idempotent consumer runner (DESIGN §6.2). Per delivery, in one database transaction:
//! record the event id in `inbox` (a duplicate stops here), apply the handler's effect and
//! any outbox rows; commit, then ack. Failures retry through `<queue>.retry` (fixed TTL) up to
//! a limit, then dead-letter; bodies that cannot be decoded are rejected back to the queue
//! until the broker's delivery limit dead-letters them, so one poison message never blocks
//! the rest.

use crate::broker::{Broker, reconnect_delay};
use crate::inbox;
use crate::outbox::Outbox;
use crate::publisher::{self, Message};
use crate::topology;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Consumer};
use lapor_proto::events::v1::EventEnvelope;
use prost::Message as _;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

const RETRIES_HEADER: &str = "x-lapor-retries";

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying later (database down, a dependency timing out).
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (an event this consumer cannot accept): dead-letter it now.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<DbErr> for HandlerError {
    fn from(error: DbErr) -> Self {
        HandlerError::Transient(error.to_string())
    }
}

/// What a handler may want to know about the delivery besides the event.
#[derive(Debug, Clone)]
pub struct DeliveryContext {
    pub queue: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub retries: u32,
}

#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies the event's effect inside `txn`. The runner has already recorded the event id,
    /// and commits `txn` only when this returns `Ok`.
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        context: &DeliveryContext,
    ) -> Result<(), HandlerError>;

    /// Called after the transaction of a first delivery committed, e.g. to wake a worker
    /// that picks up the rows the handler wrote.
    fn after_commit(&self) {}

    /// Whether the event has any effect here. One that has none is acked without a
    /// transaction: a wide binding (`complaint.#`) then costs a decode, not a commit.
    fn wants(&self, _event: &EventEnvelope) -> bool {
        true
    }
}

/// Why a subscription ended; the runner reconnects after any of these.
#[derive(Debug, thiserror::Error)]
enum SubscriptionError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("retry publish failed: {0}")]
    Retry(#[from] publisher::PublishError),
    #[error("consumer stream ended")]
    StreamEnded,
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Name in the inbox table; stable across replicas and restarts.
    pub consumer_name: String,
    pub queue: String,
    pub binding_keys: Vec<String>,
    /// Per-consumer prefetch (unacked deliveries in flight).
    pub prefetch: u16,
    /// Deliveries this consumer has in hand at once (also bounded by the replica's shared
    /// permits, see `ConsumerRunner::with_permits`). Each is its own transaction, and any
    /// order among them is as normal as the order between replicas (DESIGN §6.2), so a
    /// slow handler (a database round trip) no longer caps a queue at one per round trip.
    pub concurrency: usize,
    /// Handler failures retried through the wait queue before dead-lettering.
    pub max_retries: u32,
}

impl ConsumerSpec {
    pub fn new(queue: impl Into<String>, binding_keys: Vec<String>) -> Self {
        let queue = queue.into();
        Self {
            consumer_name: queue.clone(),
            queue,
            binding_keys,
            prefetch: 50,
            concurrency: 8,
            max_retries: 5,
        }
    }
}

/// Health of one consumer for readiness: true while it holds a live subscription.
#[derive(Clone, Default)]
pub struct ConsumerHealth(Arc<AtomicU32>);

impl ConsumerHealth {
    pub fn is_consuming(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

pub struct ConsumerRunner {
    spec: ConsumerSpec,
    /// Deliveries being handled by this replica, across all its consumers: each holds a
    /// database connection, and the pool is per replica.
    permits: Arc<tokio::sync::Semaphore>,
    db: DatabaseConnection,
    broker: Broker,
    outbox: Outbox,
    handler: Arc<dyn EventHandler>,
    health: ConsumerHealth,
}

enum Outcome {
    Processed,
    Ignored,
    Duplicate,
    Retried,
    DeadLettered,
    Rejected,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Rejected => "rejected_undecodable",
        }
    }
}

impl ConsumerRunner {
    pub fn new(
        spec: ConsumerSpec,
        db: DatabaseConnection,
        broker: Broker,
        outbox: Outbox,
        handler: Arc<dyn EventHandler>,
    ) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(spec.concurrency.max(1))),
            spec,
            db,
            broker,
            outbox,
            handler,
            health: ConsumerHealth::default(),
        }
    }

    /// Shares `permits` with the replica's other consumers instead of a budget of its own.
    pub fn with_permits(mut self, permits: Arc<tokio::sync::Semaphore>) -> Self {
        self.permits = permits;
        self
    }

    pub fn health(&self) -> ConsumerHealth {
        self.health.clone()
    }

    /// Consumes until `shutdown`, reconnecting with back-off whenever the broker or the
    /// channel goes away. The delivery in hand is finished and acked before returning.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown, &mut failures).await {
                Ok(()) => {}
                Err(error) => {
                    failures += 1;
                    tracing::warn!(queue = %self.spec.queue, %error, attempt = failures, "consumer lost its subscription, reconnecting");
                }
            }
            self.health.0.store(0, Ordering::Relaxed);
            if shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(reconnect_delay(failures)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        tracing::info!(queue = %self.spec.queue, "consumer stopped");
    }

    async fn subscribe(&self) -> lapin::Result<(Channel, Consumer)> {
        let channel = self.broker.channel().await?;
        topology::declare_work_queue(&channel, &self.spec.queue, &self.spec.binding_keys).await?;
        publisher::enable_confirms(&channel).await?;
        channel
            .basic_qos(self.spec.prefetch, BasicQosOptions { global: false })
            .await?;
        let consumer = channel
            .basic_consume(
                self.spec.queue.as_str().into(),
                format!("{}.{}", self.spec.consumer_name, Uuid::new_v4().simple())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((channel, consumer))
    }

    /// Takes deliveries while fewer than `concurrency` are in hand; on shutdown, finishes
    /// and acks those in hand, then closes the channel.
    async fn consume(&self, shutdown: &CancellationToken, failures: &mut u32) -> Result<(), SubscriptionError> {
        let (channel, mut consumer) = self.subscribe().await?;
        self.health.0.store(1, Ordering::Relaxed);
        *failures = 0;
        tracing::info!(queue = %self.spec.queue, concurrency = self.spec.concurrency, "consuming");
        let limit = self.spec.concurrency.max(1);
        let mut in_hand = FuturesUnordered::new();
        let ended = loop {
            tokio::select! {
                Some(finished) = in_hand.next(), if !in_hand.is_empty() => {
                    if let Err(error) = finished {
                        break Err(error);
                    }
                }
                next = consumer.next(), if in_hand.len() < limit => match next {
                    Some(Ok(delivery)) => in_hand.push(self.process_measured(&channel, delivery)),
                    Some(Err(error)) => break Err(error.into()),
                    None => break Err(SubscriptionError::StreamEnded),
                },
                _ = shutdown.cancelled() => break Ok(()),
            }
        };
        // Whatever is in hand is finished first, whether we stop or reconnect: its effect
        // may be committed, and an ack on a live channel saves a redelivery.
        while in_hand.next().await.is_some() {}
        if ended.is_ok() {
            // Unacked prefetched deliveries return to the queue when the channel closes.
            let closing = channel.close(200, "shutdown".into());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closing).await;
        }
        ended
    }

    async fn process_measured(&self, channel: &Channel, delivery: Delivery) -> Result<(), SubscriptionError> {
        // A closed semaphore is never used here; without a permit the delivery still runs.
        let _permit = self.permits.acquire().await.ok();
        let started = std::time::Instant::now();
        let outcome = self.process(channel, &delivery).await?;
        metrics::counter!("lapor_consumer_messages_total", "queue" => self.spec.queue.clone(), "outcome" => outcome.label()).increment(1);
        metrics::histogram!("lapor_consumer_handle_seconds", "queue" => self.spec.queue.clone(), "outcome" => outcome.label())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn process(&self, channel: &Channel, delivery: &Delivery) -> Result<Outcome, SubscriptionError> {
        let headers = string_headers(delivery);
        let retries = retries_of(delivery);
        let envelope = match decode(&delivery.data) {
            Ok(envelope) => envelope,
            Err(reason) => {
                tracing::warn!(queue = %self.spec.queue, %reason, "undecodable message, rejecting until the delivery limit dead-letters it");
                delivery.reject(BasicRejectOptions { requeue: true }).await?;
                return Ok(Outcome::Rejected);
            }
        };
        let span = tracing::info_span!(
            "consume",
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.destination.name = %self.spec.queue,
            event_type = %envelope.event_type,
            event_id = %envelope.event_id,
            tracking_id = %envelope.tracking_id,
        );
        crate::propagation::restore_parent(&span, &headers);
        // Only events this consumer can read are skipped: an unknown type or a newer schema
        // still goes to the dead letters below.
        let readable = envelope.payload.is_some() && crate::envelope::is_known_schema(&envelope);
        if readable && !self.handler.wants(&envelope) {
            delivery.ack(BasicAckOptions::default()).instrument(span).await?;
            return Ok(Outcome::Ignored);
        }
        let context = DeliveryContext {
            queue: self.spec.queue.clone(),
            routing_key: delivery.routing_key.to_string(),
            redelivered: delivery.redelivered,
            retries,
        };
        let result = self.apply(&envelope, &context).instrument(span.clone()).await;
        // The acknowledgement belongs to the same span; instrumented, never entered across
        // an await (an entered guard that moves threads corrupts the span registry).
        self.settle(channel, delivery, result, retries).instrument(span).await
    }

    /// Acks, retries or dead-letters a processed delivery.
    async fn settle(
        &self,
        channel: &Channel,
        delivery: &Delivery,
        result: Result<bool, HandlerError>,
        retries: u32,
    ) -> Result<Outcome, SubscriptionError> {
        match result {
            Ok(first) => {
                delivery.ack(BasicAckOptions::default()).await?;
                if first {
                    self.outbox.notify_committed();
                    self.handler.after_commit();
                    Ok(Outcome::Processed)
                } else {
                    tracing::debug!("duplicate delivery acknowledged without effect");
                    Ok(Outcome::Duplicate)
                }
            }
            Err(HandlerError::Transient(reason)) if retries < self.spec.max_retries => {
                tracing::warn!(%reason, retries, "handler failed, retrying through the wait queue");
                self.send_to_retry(channel, delivery, retries + 1).await?;
                delivery.ack(BasicAckOptions::default()).await?;
                Ok(Outcome::Retried)
            }
            Err(error) => {
                tracing::error!(%error, retries, "giving up on message, dead-lettering");
                delivery.reject(BasicRejectOptions { requeue: false }).await?;
                Ok(Outcome::DeadLettered)
            }
        }
    }

    /// Inbox row + effect in one transaction. `Ok(false)`: already processed.
    async fn apply(&self, envelope: &EventEnvelope, context: &DeliveryContext) -> Result<bool, HandlerError> {
        let event_id =
            Uuid::parse_str(&envelope.event_id).map_err(|e| HandlerError::Permanent(format!("event_id: {e}")))?;
        if !crate::envelope::is_known_schema(envelope) {
            return Err(HandlerError::Permanent(format!(
                "event {:?} has schema version {}, this consumer reads up to {}",
                envelope.event_type,
                envelope.schema_version,
                crate::envelope::SCHEMA_VERSION
            )));
        }
        if envelope.payload.is_none() {
            return Err(HandlerError::Permanent(format!(
                "event {:?} has no payload this consumer knows",
                envelope.event_type
            )));
        }
        let txn = self.db.begin().await?;
        if !inbox::record_first_delivery(&txn, &self.spec.consumer_name, event_id).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        self.handler.handle(&txn, envelope, context).await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn send_to_retry(
        &self,
        channel: &Channel,
        delivery: &Delivery,
        retries: u32,
    ) -> Result<(), publisher::PublishError> {
        let mut extra = FieldTable::default();
        extra.insert(ShortString::from(RETRIES_HEADER), AMQPValue::LongUInt(retries));
        let headers = string_headers(delivery);
        let properties = &delivery.properties;
        let message_id = properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let event_type = properties.kind().as_ref().map(|s| s.to_string()).unwrap_or_default();
        let retry_queue = topology::retry_queue(&self.spec.queue);
        let message = Message {
            exchange: "",
            routing_key: &retry_queue,
            message_id: &message_id,
            event_type: &event_type,
            payload: &delivery.data,
            headers: &headers,
            extra_headers: extra,
        };
        publisher::publish(channel, &message).await
    }
}

/// An envelope from a message body, with a usable event id.
pub fn decode(data: &[u8]) -> Result<EventEnvelope, String> {
    let envelope = EventEnvelope::decode(data).map_err(|e| format!("not an EventEnvelope: {e}"))?;
    if Uuid::parse_str(&envelope.event_id).is_err() {
        return Err(format!("event_id {:?} is not a uuid", envelope.event_id));
    }
    Ok(envelope)
}

/// String-valued AMQP headers (trace context), without our own retry counter.
fn string_headers(delivery: &Delivery) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    if let Some(headers) = delivery.properties.headers() {
        for (key, value) in headers.inner() {
            let text = match value {
                AMQPValue::LongString(s) => s.to_string(),
                AMQPValue::ShortString(s) => s.to_string(),
                _ => continue,
            };
            map.insert(key.to_string(), text);
        }
    }
    map
}

fn retries_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(RETRIES_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(0)
}
