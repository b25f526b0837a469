//! The live feed. Every event the projection commits is announced with PostgreSQL `NOTIFY`
//! inside the same transaction, so it is heard only once counted, and by every analytics
//! replica (each LISTENs on a connection of its own), whichever replica consumed it.
//!
//! One task per replica turns what it hears into updates: at most once a second it
//! computes the province-wide figures once and hands them, with the events since the last
//! update, to every subscriber (gRPC `StreamFeed`, the dashboard's server-sent events). So
//! a hundred open dashboards cost one set of queries per second, not a hundred; and the
//! number of subscribers per replica is bounded.

use crate::figures::{self, Period};
use chrono::Utc;
use futures::Stream;
use lapor_messaging::HandlerError;
use lapor_messaging::envelope::{from_timestamp, to_timestamp};
use lapor_proto::analytics::v1::{FeedEvent, SkpdScorecard, Summary};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const CHANNEL: &str = "analytics_feed";
/// Events the update task may fall behind by before it reports them as dropped.
const BUFFER: usize = 4096;
/// Events one update lists; the rest are counted as dropped.
pub const MAX_EVENTS_PER_UPDATE: usize = 100;
/// Least time between two computations of the shared figures.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Open live subscriptions per replica (each holds a connection and a little memory).
pub const MAX_SUBSCRIBERS: usize = 200;

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
        .map(|at| to_timestamp(at.with_timezone(&Utc)));
    Some(FeedEvent {
        event_type: text("t"),
        tracking_id: text("id"),
        skpd_code: text("s"),
        category_code: text("c"),
        kabupaten_code: text("k"),
        occurred_at,
    })
}

/// The province-wide figures, all time, as of their computation.
#[derive(Debug)]
pub struct LiveFigures {
    pub summary: Summary,
    pub scorecard: SkpdScorecard,
}

/// New figures and the events counted since the previous update.
#[derive(Debug, Clone)]
pub struct Update {
    pub figures: Arc<LiveFigures>,
    pub events: Vec<FeedEvent>,
    pub dropped: u64,
}

#[derive(Clone)]
pub struct Feed {
    updates: broadcast::Sender<Update>,
    latest: watch::Receiver<Option<Arc<LiveFigures>>>,
    subscribers: Arc<Semaphore>,
    /// Ends every subscriber's stream when the service starts draining.
    stopping: CancellationToken,
}

/// Every live subscription slot of this replica is taken.
#[derive(Debug, thiserror::Error)]
#[error("too many live subscriptions on this replica ({MAX_SUBSCRIBERS}); try again later")]
pub struct Busy;

impl Feed {
    /// Starts the LISTEN task (on a connection of its own, reconnecting with back-off) and
    /// the update task; both run until `stop`. Subscribers' streams end at `stopping`.
    pub fn start(
        db: &DatabaseConnection,
        database_url: &str,
        stop: CancellationToken,
        stopping: CancellationToken,
    ) -> Self {
        let (events, events_rx) = broadcast::channel(BUFFER);
        let (updates, _) = broadcast::channel(16);
        let (latest_tx, latest) = watch::channel(None);
        tokio::spawn(listen_forever(database_url.to_owned(), events, stop.clone()));
        tokio::spawn(refresh_forever(db.clone(), events_rx, updates.clone(), latest_tx, stop));
        Feed {
            updates,
            latest,
            subscribers: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
            stopping,
        }
    }

    /// A subscription: the current figures first (as soon as there are any), then an
    /// update whenever events were counted, at most one per `interval`.
    pub fn subscribe(&self, interval: Duration) -> Result<impl Stream<Item = Update> + Send + use<>, Busy> {
        let permit = self.subscribers.clone().try_acquire_owned().map_err(|_| Busy)?;
        let state = Subscription {
            _permit: permit,
            updates: self.updates.subscribe(),
            latest: self.latest.clone(),
            stopping: self.stopping.clone(),
            interval,
            started: false,
            last: Instant::now(),
        };
        Ok(futures::stream::unfold(state, Subscription::next))
    }
}

struct Subscription {
    _permit: OwnedSemaphorePermit,
    updates: broadcast::Receiver<Update>,
    latest: watch::Receiver<Option<Arc<LiveFigures>>>,
    stopping: CancellationToken,
    interval: Duration,
    started: bool,
    last: Instant,
}

impl Subscription {
    async fn next(mut self) -> Option<(Update, Self)> {
        if !self.started {
            let figures = tokio::select! {
                found = self.latest.wait_for(Option::is_some) => found.ok()?.clone()?,
                _ = self.stopping.cancelled() => return None,
            };
            self.started = true;
            self.last = Instant::now();
            let first = Update {
                figures,
                events: Vec::new(),
                dropped: 0,
            };
            return Some((first, self));
        }
        let mut merged: Option<Update> = None;
        let mut lagged = 0u64;
        // Wait for one update, then gather what else comes until the interval is over.
        loop {
            let deadline = self.last + self.interval;
            let received = if merged.is_none() {
                tokio::select! {
                    received = self.updates.recv() => received,
                    _ = self.stopping.cancelled() => return None,
                }
            } else {
                tokio::select! {
                    received = self.updates.recv() => received,
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = self.stopping.cancelled() => return None,
                }
            };
            match received {
                Ok(update) => merged = Some(merge(merged, update)),
                Err(broadcast::error::RecvError::Lagged(n)) => lagged += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
            if merged.is_some() && Instant::now() >= deadline {
                break;
            }
        }
        let mut update = merged?;
        update.dropped += lagged;
        self.last = Instant::now();
        Some((update, self))
    }
}

/// The newer figures, with both updates' events.
fn merge(older: Option<Update>, newer: Update) -> Update {
    let Some(mut older) = older else { return newer };
    let room = MAX_EVENTS_PER_UPDATE.saturating_sub(older.events.len());
    let extra = newer.events.len().saturating_sub(room);
    older.events.extend(newer.events.into_iter().take(room));
    Update {
        figures: newer.figures,
        events: older.events,
        dropped: older.dropped + newer.dropped + extra as u64,
    }
}

async fn compute(db: &DatabaseConnection) -> Result<Arc<LiveFigures>, DbErr> {
    let now = Utc::now();
    let all = Period::default();
    Ok(Arc::new(LiveFigures {
        summary: figures::summary(db, &all, now).await?,
        scorecard: figures::scorecard(db, &all, now).await?,
    }))
}

/// Computes the figures at start and after counted events, at most once per [`REFRESH`].
async fn refresh_forever(
    db: DatabaseConnection,
    mut events: broadcast::Receiver<FeedEvent>,
    updates: broadcast::Sender<Update>,
    latest: watch::Sender<Option<Arc<LiveFigures>>>,
    stop: CancellationToken,
) {
    // The first figures, for subscribers that arrive before any event.
    while !stop.is_cancelled() {
        match compute(&db).await {
            Ok(figures) => {
                latest.send_replace(Some(figures));
                break;
            }
            Err(error) => tracing::debug!(%error, "live figures not computed yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = stop.cancelled() => return,
        }
    }
    let mut last = Instant::now();
    while !stop.is_cancelled() {
        let mut pending = Vec::new();
        let mut dropped = 0u64;
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => pending.push(event),
                Err(broadcast::error::RecvError::Lagged(n)) => dropped += n,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep_until(last + REFRESH) => {}
            _ = stop.cancelled() => return,
        }
        loop {
            match events.try_recv() {
                Ok(event) if pending.len() < MAX_EVENTS_PER_UPDATE => pending.push(event),
                Ok(_) => dropped += 1,
                Err(broadcast::error::TryRecvError::Lagged(n)) => dropped += n,
                Err(_) => break,
            }
        }
        last = Instant::now();
        match compute(&db).await {
            Ok(figures) => {
                latest.send_replace(Some(figures.clone()));
                // No subscriber is fine: nobody is watching.
                let _ = updates.send(Update {
                    figures,
                    events: pending,
                    dropped,
                });
            }
            // The events are still counted; the next ones bring fresh figures.
            Err(error) => tracing::warn!(%error, "live figures not refreshed"),
        }
    }
}

async fn listen_forever(database_url: String, events: broadcast::Sender<FeedEvent>, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    while !stop.is_cancelled() {
        match listen(&database_url, &events, &stop).await {
            Ok(()) => break,
            Err(error) => tracing::warn!(%error, "analytics feed lost its LISTEN connection, reconnecting"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => break,
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn listen(
    database_url: &str,
    events: &broadcast::Sender<FeedEvent>,
    stop: &CancellationToken,
) -> Result<(), sqlx::Error> {
    // A connection of its own: LISTEN holds it for good, which a pool slot must not.
    let mut listener = sqlx::postgres::PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!("analytics feed listening");
    loop {
        let notification = tokio::select! {
            received = listener.recv() => received?,
            _ = stop.cancelled() => return Ok(()),
        };
        if let Some(event) = parse(notification.payload()) {
            let _ = events.send(event);
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

    #[test]
    fn merging_keeps_the_newest_figures_and_bounds_the_events() {
        let figures = |total| {
            Arc::new(LiveFigures {
                summary: Summary {
                    complaints_total: total,
                    ..Default::default()
                },
                scorecard: SkpdScorecard::default(),
            })
        };
        let events = |n| vec![FeedEvent::default(); n];
        let older = Update {
            figures: figures(1),
            events: events(80),
            dropped: 2,
        };
        let newer = Update {
            figures: figures(2),
            events: events(30),
            dropped: 1,
        };
        let merged = merge(Some(older), newer);
        assert_eq!(merged.figures.summary.complaints_total, 2);
        assert_eq!(merged.events.len(), MAX_EVENTS_PER_UPDATE);
        assert_eq!(merged.dropped, 2 + 1 + 10);
    }
}
