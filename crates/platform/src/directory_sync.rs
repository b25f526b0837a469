//! The directory each service works from, kept current while it runs (DESIGN §1, §5).
//!
//! Routing owns the directory and appends every version to `directory_changes`. Each change
//! (and each routing start) is announced as `directory.changed`, carrying the whole
//! directory; intake and notification keep the copies in their own `directory_copies`, so a
//! restart finds the last version even when routing is down. Every replica then polls its
//! own table's highest version and swaps the directory in memory: one consumer per service
//! writes the copy, every replica sees it, and the services stay independent of each other.

use crate::{ServiceCore, Tier};
use lapor_domain::Directory;
use lapor_messaging::envelope::DIRECTORY_CHANGED;
use lapor_messaging::migration::SqlMigration;
use lapor_messaging::{ConsumerSpec, DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::EventEnvelope;
use lapor_proto::events::v1::event_envelope::Payload;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement};
use sea_orm_migration::MigrationTrait;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a replica looks for a newer version: an admin's change is in force everywhere
/// within a few seconds, for one indexed read per replica.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Copies kept besides the newest (a handful of KB each).
const COPIES_KEPT: i64 = 20;

/// The table intake and notification keep copies in (a migration of each service runs it).
pub fn copies_migration() -> Box<dyn MigrationTrait> {
    Box::new(SqlMigration {
        name: "m20261205_000100_directory_copies",
        up: "CREATE TABLE directory_copies (
                version     bigint PRIMARY KEY,
                body        jsonb NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now()
            );",
        down: "DROP TABLE directory_copies;",
    })
}

/// For intake and notification: the last copy (else `seed`), kept current by the
/// `<service>.directory` consumer and a follower (see [`LiveDirectory::changes`]).
pub async fn keep_current(core: &mut ServiceCore, seed: Directory) -> Result<Arc<LiveDirectory>, DbErr> {
    let live = open(&core.db, Table::Copies, seed).await?;
    core.consume(consumer_spec(core.name), Arc::new(DirectoryCopies));
    let (db, following) = (core.db.clone(), live.clone());
    core.spawn(Tier::Worker, move |stop| follow(db, Table::Copies, following, stop));
    Ok(live)
}

/// The directory in force in this replica and its version (0: the seed files, before any
/// version reached this service).
pub struct LiveDirectory {
    current: RwLock<(u64, Arc<Directory>)>,
    versions: watch::Sender<u64>,
}

impl LiveDirectory {
    pub fn new(version: u64, directory: Directory) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new((version, Arc::new(directory))),
            versions: watch::Sender::new(version),
        })
    }

    /// Wakes on each version taken in, for work a change brings (a new SKPD's queue).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.versions.subscribe()
    }

    /// The directory now; hold it for one request so a change never splits one.
    pub fn get(&self) -> Arc<Directory> {
        self.read().1.clone()
    }

    pub fn version(&self) -> u64 {
        self.read().0
    }

    /// The version and the directory of that version, read together.
    pub fn snapshot(&self) -> (u64, Arc<Directory>) {
        let current = self.read();
        (current.0, current.1.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (u64, Arc<Directory>)> {
        // A poisoned lock only means a writer panicked between two field writes of a tuple
        // that is replaced whole: the value is intact.
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `directory` if it is newer than what is held; says whether it did.
    pub fn offer(&self, version: u64, directory: Directory) -> bool {
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if version <= current.0 {
            return false;
        }
        *current = (version, Arc::new(directory));
        drop(current);
        self.versions.send_replace(version);
        true
    }
}

fn parse(version: i64, body: &str) -> Result<(u64, Directory), DbErr> {
    let directory: Directory =
        serde_json::from_str(body).map_err(|e| DbErr::Custom(format!("directory version {version}: {e}")))?;
    Ok((version.max(0) as u64, directory))
}

/// Where a service keeps its versions of the directory.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Routing's own history, which it changes.
    Changes,
    /// The copies intake and notification receive.
    Copies,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Changes => "directory_changes",
            Table::Copies => "directory_copies",
        }
    }
}

/// The newest version in `table`.
pub async fn latest(conn: &impl ConnectionTrait, table: Table) -> Result<Option<(u64, Directory)>, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT version, body::text AS body FROM {} ORDER BY version DESC LIMIT 1",
                table.name()
            ),
        ))
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let (version, body): (i64, String) = (row.try_get("", "version")?, row.try_get("", "body")?);
            parse(version, &body).map(Some)
        }
    }
}

async fn latest_version(conn: &impl ConnectionTrait, table: Table) -> Result<u64, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT coalesce(max(version), 0) AS version FROM {}", table.name()),
        ))
        .await?;
    let version: i64 = match row {
        Some(row) => row.try_get("", "version")?,
        None => 0,
    };
    Ok(version.max(0) as u64)
}

/// The newest stored version, else `seed` as version 0.
pub async fn open(db: &DatabaseConnection, table: Table, seed: Directory) -> Result<Arc<LiveDirectory>, DbErr> {
    Ok(match latest(db, table).await? {
        Some((version, directory)) => {
            tracing::info!(version, "directory loaded");
            LiveDirectory::new(version, directory)
        }
        None => LiveDirectory::new(0, seed),
    })
}

/// Polls `table` until `stop` and, when a newer version is there, swaps it in. A failed
/// read is retried at the next tick; the directory in force stays meanwhile.
pub async fn follow(db: DatabaseConnection, table: Table, live: Arc<LiveDirectory>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
        let newer = match latest_version(&db, table).await {
            Ok(version) if version > live.version() => latest(&db, table).await,
            Ok(_) => continue,
            Err(error) => Err(error),
        };
        match newer {
            Ok(Some((version, directory))) => {
                if live.offer(version, directory) {
                    tracing::info!(version, "directory changed");
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "failed to read the directory"),
        }
    }
}

/// The consumer that keeps `directory_copies`: queue `<service>.directory`.
pub struct DirectoryCopies;

pub fn consumer_spec(service: &str) -> ConsumerSpec {
    ConsumerSpec::new(format!("{service}.directory"), vec![DIRECTORY_CHANGED.to_owned()])
}

#[async_trait::async_trait]
impl EventHandler for DirectoryCopies {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let Some(Payload::DirectoryChanged(changed)) = &event.payload else {
            return Err(HandlerError::Permanent(format!(
                "{} is not a directory change",
                event.event_type
            )));
        };
        // Refuse what would not load: the copy is what this service starts from.
        serde_json::from_str::<Directory>(&changed.directory_json)
            .map_err(|e| HandlerError::Permanent(format!("directory version {}: {e}", changed.version)))?;
        let version = i64::try_from(changed.version)
            .map_err(|_| HandlerError::Permanent(format!("directory version {} out of range", changed.version)))?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO directory_copies (version, body) VALUES ($1, $2::jsonb) ON CONFLICT (version) DO NOTHING",
            [version.into(), changed.directory_json.clone().into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM directory_copies WHERE version < (SELECT max(version) FROM directory_copies) - $1",
            [COPIES_KEPT.into()],
        ))
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Directory {
        Directory::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed")).expect("seed")
    }

    #[test]
    fn only_a_newer_version_replaces_the_directory() {
        let live = LiveDirectory::new(3, seed());
        let mut older = seed();
        older.skpds.truncate(2);
        assert!(!live.offer(3, older.clone()));
        assert!(!live.offer(2, older.clone()));
        assert_eq!(live.get().skpds.len(), seed().skpds.len());
        assert!(live.offer(4, older));
        assert_eq!((live.version(), live.get().skpds.len()), (4, 2));
    }
}
