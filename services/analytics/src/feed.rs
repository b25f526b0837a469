//! The live feed: every event the projection commits is announced with PostgreSQL
//! `NOTIFY` inside the same transaction, so it is heard only once counted, and by every
//! analytics replica (each LISTENs), whichever replica consumed it. Subscribers (gRPC
//! `StreamFeed`, the dashboard's server-sent events) get batches at a bounded rate.

use futures::Stream;
use lapor_messaging::HandlerError;
use lapor_messaging::envelope::{from_timestamp, to_timestamp};
use lapor_proto::analytics::v1::FeedEvent;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const CHANNEL: &str = "analytics_feed";
/// Events a slow subscriber may fall behind by before it is told how many it missed.
const BUFFER: usize = 1024;
/// Events one batch lists; the rest are counted as dropped.
pub const MAX_EVENTS_PER_BATCH: usize = 100;

/// Announces `event` when the caller's transaction commits.
pub async fn notify(txn: &DatabaseTransaction, event: &FeedEvent) -> Result<(), HandlerError> {
    let occurred_at = from_timestamp(event.occurred_at.as_ref()).map(|at| at.to_rfc3339());
    let payload = json!({
        "t": event.event_type, "id": event.tracking_id, "s": event.skpd_code,
        "c": event.category_code, "k": event.kabupaten_code, "at": occurred_at,
    });
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.to_string().into()],
    ))
    .await?;
    Ok(())
}

fn parse(payload: &str) -> Option<FeedEvent> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let occurred_at = value
        .get("at")
        .and_then(|v| v.as_str())
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| to_timestamp(at.with_timezone(&chrono::Utc)));
    Some(FeedEvent {
        event_type: text("t"),
        tracking_id: text("id"),
        skpd_code: text("s"),
        category_code: text("c"),
        kabupaten_code: text("k"),
        occurred_at,
    })
}

#[derive(Clone)]
pub struct Feed {
    events: broadcast::Sender<FeedEvent>,
    /// Ends every subscriber's stream when the service starts draining.
    stopping: CancellationToken,
}

/// Counted events since the previous batch; the first batch of a subscription is empty.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<FeedEvent>,
    pub dropped: u64,
}

impl Feed {
    /// Listens until `stop`, reconnecting with back-off when the database goes away.
    /// Subscribers' streams end when `stopping` is cancelled.
    pub fn start(db: &DatabaseConnection, stop: CancellationToken, stopping: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(BUFFER);
        let feed = Feed { events, stopping };
        let pool = db.get_postgres_connection_pool().clone();
        let sender = feed.events.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            while !stop.is_cancelled() {
                match listen(&pool, &sender, &stop).await {
                    Ok(()) => break,
                    Err(error) => tracing::warn!(%error, "analytics feed lost its LISTEN connection, reconnecting"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => break,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        });
        feed
    }

    /// Batches of counted events, at most one per `interval`, the first one right away.
    pub fn batches(&self, interval: Duration) -> impl Stream<Item = Batch> + Send + use<> {
        let receiver = self.events.subscribe();
        let stopping = self.stopping.clone();
        // State: the receiver, whether the first batch went out, when the last one did.
        futures::stream::unfold(
            (receiver, false, Instant::now()),
            move |(mut receiver, started, last)| {
                let stopping = stopping.clone();
                async move {
                    if !started {
                        return Some((Batch::default(), (receiver, true, Instant::now())));
                    }
                    let mut batch = Batch::default();
                    // Wait for something to happen, then for the rest of the interval.
                    tokio::select! {
                        first = receiver.recv() => add(&mut batch, first).ok()?,
                        _ = stopping.cancelled() => return None,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(last + interval) => {}
                        _ = stopping.cancelled() => return None,
                    }
                    loop {
                        match receiver.try_recv() {
                            Ok(event) => add(&mut batch, Ok(event)).ok()?,
                            Err(broadcast::error::TryRecvError::Lagged(n)) => batch.dropped += n,
                            Err(_) => break,
                        }
                    }
                    Some((batch, (receiver, true, Instant::now())))
                }
            },
        )
    }
}

/// Adds one received event (or a lag notice) to the batch; `Err` when the feed closed.
fn add(batch: &mut Batch, received: Result<FeedEvent, broadcast::error::RecvError>) -> Result<(), ()> {
    match received {
        Ok(event) if batch.events.len() < MAX_EVENTS_PER_BATCH => batch.events.push(event),
        Ok(_) => batch.dropped += 1,
        Err(broadcast::error::RecvError::Lagged(n)) => batch.dropped += n,
        Err(broadcast::error::RecvError::Closed) => return Err(()),
    }
    Ok(())
}

async fn listen(
    pool: &sqlx::PgPool,
    sender: &broadcast::Sender<FeedEvent>,
    stop: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!("analytics feed listening");
    loop {
        let notification = tokio::select! {
            received = listener.recv() => received?,
            _ = stop.cancelled() => return Ok(()),
        };
        if let Some(event) = parse(notification.payload()) {
            // No subscriber is fine: nobody is watching.
            let _ = sender.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let payload = json!({"t": "complaint.assigned", "id": "AB3DEF7H9K", "s": "dinkes", "c": "kesehatan",
                             "k": "6371", "at": "2026-11-28T01:02:03+00:00"});
        let event = parse(&payload.to_string()).expect("test value");
        assert_eq!(event.event_type, "complaint.assigned");
        assert_eq!(event.skpd_code, "dinkes");
        assert_eq!(event.occurred_at.expect("test value").seconds, 1_795_827_723);
        assert!(parse("not json").is_none());
    }
}
