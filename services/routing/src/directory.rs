//! The directory as routing keeps it (DESIGN §1, §5): every version in `directory_changes`,
//! the seed files only the first. An admin's edit is checked whole, appended with who/what
//! and before/after, announced as `directory.changed` through the outbox, and mirrored into
//! `skpds` (the calendar settings and the foreign key of cases); each SKPD's work queue is
//! declared when it appears.

use crate::entity::skpd;
use lapor_domain::Directory;
use lapor_domain::directory_edit::{DirectoryEdit, EditError};
use lapor_messaging::{Broker, Outbox, OutgoingEvent, new_envelope, topology};
use lapor_platform::directory_sync::{self, LiveDirectory, Table};
use lapor_proto::events::v1::DirectoryChanged;
use lapor_proto::events::v1::event_envelope::Payload;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, Set, Statement,
    TransactionTrait,
};
use std::sync::Arc;

/// Routing's history of the directory, whose newest row is in force.
pub const TABLE: Table = Table::Changes;

/// How long adding an SKPD waits for the broker to declare its queue.
const DECLARE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often each replica announces the version it holds, so a service whose copy was lost
/// (a restored database) catches up without waiting for the next change.
pub const ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Serialises edits across replicas for the length of one transaction.
const EDIT_LOCK: i64 = 0x4c41_504f_5244_4952; // "LAPORDIR"

/// Writes the seed as version 1 when there is no version yet, makes sure `skpds` has a row
/// for every SKPD, and opens the directory in force.
pub async fn open(db: &DatabaseConnection, seed: Directory) -> Result<Arc<LiveDirectory>, DbErr> {
    let body = serde_json::to_string(&seed).map_err(|e| DbErr::Custom(e.to_string()))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO directory_changes (version, actor, action, body) VALUES (1, 'seed', 'seed', $1::jsonb) \
         ON CONFLICT (version) DO NOTHING",
        [body.into()],
    ))
    .await?;
    let live = directory_sync::open(db, TABLE, seed).await?;
    sync_skpds(db, &live.get()).await?;
    Ok(live)
}

/// Inserts SKPDs new to `skpds` and keeps their names; calendar settings keep the
/// database defaults (5-day week, WITA) until an admin sets them.
pub async fn sync_skpds(conn: &impl ConnectionTrait, directory: &Directory) -> Result<(), DbErr> {
    let rows = directory.skpds.iter().map(|s| skpd::ActiveModel {
        code: Set(s.code.clone()),
        name: Set(s.name.clone()),
        verification_desk: Set(s.verification_desk),
        ..Default::default()
    });
    skpd::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(skpd::Column::Code)
                .update_columns([skpd::Column::Name, skpd::Column::VerificationDesk])
                .to_owned(),
        )
        .exec(conn)
        .await?;
    Ok(())
}

fn announcement(version: u64, directory: &Directory) -> Result<OutgoingEvent, DbErr> {
    let directory_json = serde_json::to_string(directory).map_err(|e| DbErr::Custom(e.to_string()))?;
    let payload = Payload::DirectoryChanged(DirectoryChanged {
        version,
        directory_json,
    });
    Ok(OutgoingEvent::new(
        new_envelope(crate::SERVICE, uuid::Uuid::nil(), "", payload),
        None,
    ))
}

/// Announces the version in force, so a service that started from the seed (or missed a
/// change while its queue was new) catches up; consumers keep the highest version.
pub async fn announce(db: &DatabaseConnection, outbox: &Outbox, live: &LiveDirectory) -> Result<(), DbErr> {
    let (version, directory) = live.snapshot();
    let txn = db.begin().await?;
    outbox.enqueue(&txn, &announcement(version, &directory)?).await?;
    txn.commit().await?;
    outbox.notify_committed();
    Ok(())
}

/// Why an edit was not made.
#[derive(Debug, thiserror::Error)]
pub enum RefusedEdit {
    #[error("the directory is at version {current}, not {expected}")]
    Stale { expected: u64, current: u64 },
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("broker: {0:#}")]
    Broker(anyhow::Error),
}

/// One admin's edit, serialised with every other: the new version, or why not.
pub async fn edit(
    db: &DatabaseConnection,
    outbox: &Outbox,
    broker: &Broker,
    live: &LiveDirectory,
    actor: &str,
    expected_version: u64,
    change: &DirectoryEdit,
) -> Result<u64, RefusedEdit> {
    if let DirectoryEdit::PutSkpd(skpd) = change
        && live.get().skpd(&skpd.code).is_none()
    {
        // Before the change, outside its transaction and lock: once it is in force,
        // dispositions to the new SKPD have a queue to land in. A queue left by an edit
        // refused later is empty and harmless (and declared again if the SKPD is added).
        let declared = tokio::time::timeout(
            DECLARE_TIMEOUT,
            declare_queues(broker, std::slice::from_ref(&skpd.code)),
        )
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {DECLARE_TIMEOUT:?}")));
        declared.map_err(RefusedEdit::Broker)?;
    }
    let txn = db.begin().await?;
    let outcome = edit_in(&txn, outbox, actor, expected_version, change).await;
    match outcome {
        Ok((version, next)) => {
            txn.commit().await?;
            outbox.notify_committed();
            tracing::info!(version, action = change.action(), actor, "directory changed");
            live.offer(version, next);
            Ok(version)
        }
        Err(refused) => {
            let _ = txn.rollback().await;
            Err(refused)
        }
    }
}

async fn edit_in(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    actor: &str,
    expected_version: u64,
    change: &DirectoryEdit,
) -> Result<(u64, Directory), RefusedEdit> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [EDIT_LOCK.into()],
    ))
    .await?;
    let (current_version, current) = directory_sync::latest(txn, TABLE)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("directory_changes is empty".into()))?;
    if expected_version != 0 && expected_version != current_version {
        return Err(RefusedEdit::Stale {
            expected: expected_version,
            current: current_version,
        });
    }
    let (next, before) = change.apply(&current)?;
    let version = current_version + 1;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO directory_changes (version, actor, action, before, edit, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (version as i64).into(),
            actor.into(),
            change.action().into(),
            before.as_ref().map(to_json).transpose()?.into(),
            to_json(change)?.into(),
            to_json(&next)?.into(),
        ],
    ))
    .await?;
    sync_skpds(txn, &next).await?;
    outbox.enqueue(txn, &announcement(version, &next)?).await?;
    Ok((version, next))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, DbErr> {
    serde_json::to_value(value).map_err(|e| DbErr::Custom(e.to_string()))
}

/// Declares `skpd.<code>` for every SKPD of `directory`, so dispositions have somewhere to
/// land even before the notification service consumes them. Idempotent.
pub async fn declare_skpd_queues(broker: &Broker, directory: &Directory) -> anyhow::Result<()> {
    let codes: Vec<String> = directory.skpds.iter().map(|s| s.code.clone()).collect();
    declare_queues(broker, &codes).await
}

async fn declare_queues(broker: &Broker, codes: &[String]) -> anyhow::Result<()> {
    let channel = broker.channel().await?;
    for code in codes {
        topology::declare_skpd_queue(&channel, code).await?;
    }
    let closing = channel.close(200, "declared".into());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closing).await;
    Ok(())
}
