//! The transactional outbox (DESIGN §6.1). A service writes its state change and its events
//! in one transaction with [`Outbox::enqueue`]; the [`OutboxRelay`] of any replica claims
//! unpublished rows with `FOR UPDATE SKIP LOCKED`, publishes them with confirms and
//! `mandatory`, and marks a row published only after an ack with no return.

use crate::broker::{Broker, reconnect_delay};
use crate::envelope::OutgoingEvent;
use crate::publisher::{self, Message, PublishError};
use crate::topology::{self, EVENTS_EXCHANGE};
use lapin::Channel;
use lapin::types::FieldTable;
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows claimed per relay transaction; confirms for a batch are awaited together.
const BATCH_SIZE: i64 = 200;
/// Polling is the guarantee; the in-process wake-up only shortens the wait.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often the relay refreshes its backlog gauges.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// Handle for writing events; cheap to clone. `wake` tells the local relay there is work.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the event inside the caller's transaction, with the current trace context.
    pub async fn enqueue(&self, txn: &impl ConnectionTrait, event: &OutgoingEvent) -> Result<(), DbErr> {
        let event_id = Uuid::parse_str(&event.envelope.event_id)
            .map_err(|e| DbErr::Custom(format!("event id is not a uuid: {e}")))?;
        let trace_headers = serde_json_value(&crate::propagation::capture_current());
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO outbox (event_id, event_type, exchange, routing_key, payload, trace_headers) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            [
                event_id.into(),
                event.envelope.event_type.clone().into(),
                EVENTS_EXCHANGE.into(),
                event.routing_key.clone().into(),
                event.envelope.encode_to_vec().into(),
                trace_headers.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Call after the enqueuing transaction committed.
    pub fn notify_committed(&self) {
        self.wake.notify_one();
    }

    pub fn relay(&self, db: DatabaseConnection, broker: Broker) -> OutboxRelay {
        OutboxRelay {
            db,
            broker,
            wake: self.wake.clone(),
        }
    }
}

fn serde_json_value(map: &BTreeMap<String, String>) -> sea_orm::JsonValue {
    sea_orm::JsonValue::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), sea_orm::JsonValue::String(v.clone())))
            .collect(),
    )
}

struct PendingRow {
    event_id: Uuid,
    event_type: String,
    exchange: String,
    routing_key: String,
    payload: Vec<u8>,
    trace_headers: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

pub struct OutboxRelay {
    db: DatabaseConnection,
    broker: Broker,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    /// Runs until `shutdown`; then publishes what is already claimable once more (flush).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        let mut channel: Option<Channel> = None;
        let mut gauges_at = tokio::time::Instant::now();
        loop {
            if gauges_at.elapsed() >= GAUGE_INTERVAL {
                gauges_at = tokio::time::Instant::now();
                if let Err(error) = self.record_backlog().await {
                    tracing::debug!(%error, "outbox gauges not updated");
                }
            }
            let outcome = self.relay_once(&mut channel).await;
            if outcome.is_ok()
                && let Err(error) = self.copy_to_history_once(&mut channel).await
            {
                tracing::warn!(%error, "copying events to the history failed, retrying");
            }
            let published_full_batch = match outcome {
                Ok(count) => {
                    failures = 0;
                    count == BATCH_SIZE as usize
                }
                Err(error) => {
                    tracing::warn!(%error, "outbox relay failed, retrying");
                    channel = None;
                    failures += 1;
                    false
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            if published_full_batch {
                continue;
            }
            let wait = if failures > 0 {
                reconnect_delay(failures)
            } else {
                POLL_INTERVAL
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        match self.relay_once(&mut channel).await {
            Ok(count) => tracing::info!(flushed = count, "outbox relay stopped"),
            Err(error) => tracing::warn!(%error, "outbox flush on shutdown failed; rows stay for the next relay"),
        }
    }

    async fn ready_channel(&self, channel: &mut Option<Channel>) -> Result<Channel, lapin::Error> {
        if let Some(existing) = channel
            && existing.status().connected()
        {
            return Ok(existing.clone());
        }
        let fresh = self.broker.channel().await?;
        topology::declare_exchanges(&fresh).await?;
        publisher::enable_confirms(&fresh).await?;
        *channel = Some(fresh.clone());
        Ok(fresh)
    }

    /// Sets `lapor_outbox_pending_events` (rows not yet published) and
    /// `lapor_outbox_lag_seconds` (age of the oldest of them, 0 when none): an outbox that
    /// grows or ages means the broker is unreachable or the relay cannot keep up.
    async fn record_backlog(&self) -> Result<(), DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS pending, \
                 coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS lag \
                 FROM outbox WHERE published_at IS NULL",
            ))
            .await?;
        if let Some(row) = row {
            let pending: i64 = row.try_get("", "pending")?;
            let lag: f64 = row.try_get("", "lag")?;
            metrics::gauge!("lapor_outbox_pending_events").set(pending as f64);
            metrics::gauge!("lapor_outbox_lag_seconds").set(lag.max(0.0));
        }
        Ok(())
    }

    /// Claims one batch, publishes it, records the outcome per row. Returns rows claimed.
    pub async fn relay_once(&self, channel: &mut Option<Channel>) -> Result<usize, RelayError> {
        let txn = self.db.begin().await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT event_id, event_type, exchange, routing_key, payload, trace_headers FROM outbox \
                 WHERE published_at IS NULL AND next_attempt_at <= now() \
                 ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                [BATCH_SIZE.into()],
            ))
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let headers: sea_orm::JsonValue = row.try_get("", "trace_headers")?;
            let trace_headers = crate::propagation::headers_from_json(&headers);
            pending.push(PendingRow {
                event_id: row.try_get("", "event_id")?,
                event_type: row.try_get("", "event_type")?,
                exchange: row.try_get("", "exchange")?,
                routing_key: row.try_get("", "routing_key")?,
                payload: row.try_get("", "payload")?,
                trace_headers,
            });
        }
        let channel = self.ready_channel(channel).await?;
        // Publish the whole batch, then collect confirms: one round trip of latency per batch.
        let mut confirms = Vec::with_capacity(pending.len());
        for row in &pending {
            let message_id = row.event_id.to_string();
            let message = Message {
                exchange: &row.exchange,
                routing_key: &row.routing_key,
                message_id: &message_id,
                event_type: &row.event_type,
                payload: &row.payload,
                headers: &row.trace_headers,
                extra_headers: FieldTable::default(),
            };
            confirms.push(publisher::start_publish(&channel, &message).await);
        }
        let mut published = Vec::new();
        let mut failed = Vec::new();
        for (row, confirm) in pending.iter().zip(confirms) {
            let outcome = match confirm {
                Ok(confirm) => publisher::confirmed(confirm).await,
                Err(error) => Err(PublishError::Amqp(error)),
            };
            match outcome {
                Ok(()) => published.push(row.event_id),
                Err(error) => {
                    tracing::warn!(event_id = %row.event_id, routing_key = %row.routing_key, %error, "outbox row not published");
                    failed.push((row.event_id, error.to_string()));
                }
            }
        }
        if !published.is_empty() {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE event_id = ANY($1)",
                [published.clone().into()],
            ))
            .await?;
        }
        for (event_id, error) in &failed {
            // Back off per row: 1 s doubling to 5 min, so an unroutable event neither blocks
            // the others nor spins.
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, \
                 next_attempt_at = now() + least(interval '1 second' * power(2, attempts), interval '5 minutes') \
                 WHERE event_id = $1",
                [(*event_id).into(), error.clone().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        metrics::counter!("lapor_outbox_published_total").increment(published.len() as u64);
        metrics::counter!("lapor_outbox_failed_total").increment(failed.len() as u64);
        Ok(pending.len())
    }
}

impl OutboxRelay {
    /// Copies published events, without their free text, to the history stream: a second
    /// pass, so a stream in trouble never holds up the events themselves (nor makes the
    /// relay publish them twice). Returns the rows copied.
    pub async fn copy_to_history_once(&self, channel: &mut Option<Channel>) -> Result<usize, RelayError> {
        let txn = self.db.begin().await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT event_id, event_type, payload, trace_headers FROM outbox \
                 WHERE published_at IS NOT NULL AND history_at IS NULL \
                 ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                [BATCH_SIZE.into()],
            ))
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let channel = self.ready_channel(channel).await?;
        let mut copies = Vec::with_capacity(rows.len());
        for row in &rows {
            let event_id: Uuid = row.try_get("", "event_id")?;
            let event_type: String = row.try_get("", "event_type")?;
            let payload: Vec<u8> = row.try_get("", "payload")?;
            let headers: sea_orm::JsonValue = row.try_get("", "trace_headers")?;
            let trace_headers = crate::propagation::headers_from_json(&headers);
            let Some(body) = crate::envelope::history_body(&payload) else {
                // Not an envelope: nothing a reader could use; mark it done.
                tracing::warn!(%event_id, "outbox row is not an event envelope; not copied to the history");
                copies.push((event_id, None));
                continue;
            };
            let message_id = event_id.to_string();
            let message = Message {
                exchange: "",
                routing_key: topology::HISTORY_STREAM,
                message_id: &message_id,
                event_type: &event_type,
                payload: &body,
                headers: &trace_headers,
                extra_headers: FieldTable::default(),
            };
            copies.push((event_id, Some(publisher::start_publish(&channel, &message).await)));
        }
        let mut copied = Vec::new();
        for (event_id, confirm) in copies {
            let outcome = match confirm {
                None => Ok(()),
                Some(Ok(confirm)) => publisher::confirmed(confirm).await,
                Some(Err(error)) => Err(PublishError::Amqp(error)),
            };
            match outcome {
                Ok(()) => copied.push(event_id),
                Err(error) => {
                    tracing::warn!(%event_id, %error, "event not copied to the history; retried next round");
                    metrics::counter!("lapor_outbox_history_failed_total").increment(1);
                }
            }
        }
        if !copied.is_empty() {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE outbox SET history_at = now() WHERE event_id = ANY($1)",
                [copied.clone().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(copied.len())
    }
}

/// Unpublished rows and the age of the oldest, for metrics and readiness.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<(i64, f64), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS lag \
             FROM outbox WHERE published_at IS NULL",
        ))
        .await?;
    match row {
        Some(row) => Ok((row.try_get("", "pending")?, row.try_get("", "lag")?)),
        None => Ok((0, 0.0)),
    }
}
