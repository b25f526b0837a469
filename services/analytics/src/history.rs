//! Rebuilding the read models from the event history stream (`lapor.events.history`).
//! The replay shares the live consumer's inbox, so an event both paths bring is counted
//! once, and stores the next stream offset in the same transaction as each event's
//! effect, so an interrupted replay resumes where it stopped.
//!
//! `replay` catches a database up (an empty one: everything from the first event);
//! `rebuild` wipes the read models and replays from the first event. Both may run while
//! the live consumer runs.

use crate::projection::{Announce, Projection, QUEUE};
use lapor_messaging::envelope::is_known_schema;
use lapor_messaging::history::{self, Entry, HistoryError};
use lapor_messaging::inbox::record_first_delivery;
use lapor_messaging::topology::HISTORY_STREAM;
use lapor_messaging::{Broker, HandlerError};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    /// Entries read from the stream.
    pub read: u64,
    /// Events counted now.
    pub applied: u64,
    /// Events counted before (by the live consumer or an earlier replay).
    pub duplicates: u64,
    /// Messages no consumer of this version can read (dead-lettered when consumed live).
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("{0}")]
    Projection(String),
    #[error("{0}")]
    Refused(String),
}

/// Stops a read at the first event (not an error: how `first_event` ends the read early).
#[derive(Debug, thiserror::Error)]
#[error("first event found")]
struct Found(Box<lapor_proto::events::v1::EventEnvelope>);

/// When the oldest event the history still holds happened; `None` when it holds none.
async fn first_event_at(broker: &Broker) -> Result<Option<chrono::DateTime<chrono::Utc>>, HistoryError<ApplyError>> {
    let read = history::read(broker, None, |_, entry| async move {
        match entry {
            Entry::Event(event) => Err(Found(event)),
            _ => Ok(()),
        }
    })
    .await;
    match read {
        Ok(_) => Ok(None),
        Err(HistoryError::Apply {
            source: Found(event), ..
        }) => Ok(lapor_messaging::envelope::from_timestamp(event.occurred_at.as_ref())),
        Err(HistoryError::Amqp(e)) => Err(HistoryError::Amqp(e)),
        Err(HistoryError::Marker(e)) => Err(HistoryError::Marker(e)),
        Err(HistoryError::Ended) => Err(HistoryError::Ended),
    }
}

/// A rebuild must not lose complaints older than the history: the stream keeps events for
/// a limited time, and events from before it existed are not in it.
async fn check_history_covers(db: &DatabaseConnection, broker: &Broker) -> Result<(), HistoryError<ApplyError>> {
    let refused = |message: String| HistoryError::Apply {
        offset: 0,
        source: ApplyError::Refused(message),
    };
    let oldest: Option<chrono::DateTime<chrono::Utc>> = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT min(coalesce(submitted_at, updated_at)) AS oldest FROM complaint_facts",
        ))
        .await
        .map_err(|e| refused(e.to_string()))?
        .and_then(|row| row.try_get("", "oldest").ok())
        .flatten();
    let Some(oldest) = oldest else { return Ok(()) };
    match first_event_at(broker).await? {
        Some(first) if first <= oldest + chrono::Duration::hours(1) => Ok(()),
        Some(first) => Err(refused(format!(
            "the history starts at {first}, but the read models hold complaints from {oldest}: \
             a rebuild would lose them (rebuild --force to accept that)"
        ))),
        None => Err(refused(
            "the history holds no events, but the read models hold complaints: a rebuild would lose them \
             (rebuild --force to accept that)"
                .into(),
        )),
    }
}

async fn stored_offset(db: &DatabaseConnection) -> Result<Option<u64>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT next_offset FROM history_offsets WHERE stream = $1",
            [HISTORY_STREAM.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<i64>("", "next_offset"))
        .transpose()
        .map(|offset| offset.map(|o| o.max(0) as u64))
}

async fn store_offset(txn: &impl ConnectionTrait, next: u64) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO history_offsets (stream, next_offset) VALUES ($1, $2) \
         ON CONFLICT (stream) DO UPDATE SET next_offset = EXCLUDED.next_offset",
        [HISTORY_STREAM.into(), (next as i64).into()],
    ))
    .await?;
    Ok(())
}

/// Applies the history from the stored offset (or the first event) up to now.
pub async fn replay(db: &DatabaseConnection, broker: &Broker) -> Result<ReplayReport, HistoryError<ApplyError>> {
    let start = stored_offset(db).await.map_err(|e| HistoryError::Apply {
        offset: 0,
        source: e.into(),
    })?;
    let (applied, duplicates, skipped) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let (applied, duplicates, skipped) = (&applied, &duplicates, &skipped);
    let read = history::read(broker, start, |offset, entry| {
        async move {
            let txn = db.begin().await?;
            match entry {
                // Not delivered to the live queue either (a directory change, a digest).
                Entry::Event(event) if !crate::projection::is_bound(&event.event_type) => {}
                Entry::Event(event) if is_known_schema(&event) && event.payload.is_some() => {
                    let event_id = Uuid::parse_str(&event.event_id).map_err(|e| ApplyError::Projection(e.to_string()))?;
                    if record_first_delivery(&txn, QUEUE, event_id).await? {
                        match Projection::apply(&txn, &event, Announce::Quietly).await {
                            Ok(()) => {
                                applied.fetch_add(1, Ordering::Relaxed);
                            }
                            // What the live consumer would dead-letter: skip it, but still
                            // move past it, so the replay never sticks at one bad event.
                            Err(HandlerError::Permanent(reason)) => {
                                txn.rollback().await?;
                                tracing::warn!(%reason, offset, "history: event the projection refuses, skipped");
                                metrics::counter!("lapor_analytics_replay_skipped_total").increment(1);
                                skipped.fetch_add(1, Ordering::Relaxed);
                                let txn = db.begin().await?;
                                store_offset(&txn, offset + 1).await?;
                                txn.commit().await?;
                                return Ok(());
                            }
                            Err(error) => return Err(ApplyError::Projection(error.to_string())),
                        }
                    } else {
                        duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Entry::Event(event) => {
                    tracing::warn!(event_type = %event.event_type, schema = event.schema_version, offset, "history: event this version cannot read, skipped");
                    metrics::counter!("lapor_analytics_replay_skipped_total").increment(1);
                    skipped.fetch_add(1, Ordering::Relaxed);
                }
                Entry::Undecodable(reason) => {
                    tracing::warn!(%reason, offset, "history: undecodable message, skipped");
                    metrics::counter!("lapor_analytics_replay_skipped_total").increment(1);
                    skipped.fetch_add(1, Ordering::Relaxed);
                }
                Entry::Marker => {}
            }
            store_offset(&txn, offset + 1).await?;
            txn.commit().await?;
            Ok::<(), ApplyError>(())
        }
    })
    .await?;
    Ok(ReplayReport {
        read,
        applied: applied.load(Ordering::Relaxed),
        duplicates: duplicates.load(Ordering::Relaxed),
        skipped: skipped.load(Ordering::Relaxed),
    })
}

/// Empties the read models (and this consumer's inbox and the stored offset) in one
/// transaction, then replays the whole history. Refused when the history does not reach
/// back to the oldest complaint counted, unless `force`.
pub async fn rebuild(
    db: &DatabaseConnection,
    broker: &Broker,
    force: bool,
) -> Result<ReplayReport, HistoryError<ApplyError>> {
    if !force {
        check_history_covers(db, broker).await?;
    }
    let wipe = async {
        let txn = db.begin().await?;
        txn.execute_unprepared("TRUNCATE complaint_facts, counters, escalation_facts, skpd_names, history_offsets")
            .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM inbox WHERE consumer = $1",
            [QUEUE.into()],
        ))
        .await?;
        txn.commit().await
    };
    wipe.await.map_err(|e| HistoryError::Apply {
        offset: 0,
        source: e.into(),
    })?;
    replay(db, broker).await
}
