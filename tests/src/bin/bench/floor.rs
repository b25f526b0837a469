//! The floor: what this machine's PostgreSQL and RabbitMQ do on their own with the kind of
//! work LAPOR gives them, measured with nothing of LAPOR running. Every complaint costs at
//! least one durable transaction and one confirmed persistent message, so these rates bound
//! what the services can reach; the other figures are read as shares of them.

use crate::cleanup::floor_name;
use crate::{Plan, db};
use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use lapor_e2e::process::postgres_url;
use lapor_e2e::rabbit;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct PostgresFloor {
    pub connections: usize,
    pub seconds: f64,
    pub transactions: u64,
    pub per_second: f64,
    /// Group commit: how many of those transactions one WAL flush covered on average.
    pub transactions_per_wal_flush: f64,
    /// The same from one connection: the rate of commits that wait for each other.
    pub single_connection_per_second: f64,
    /// The server settings that decide what "durable" costs (fsync, wal_sync_method, ...).
    pub settings: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RabbitFloor {
    pub publishers: usize,
    pub window: usize,
    pub message_bytes: usize,
    pub seconds: f64,
    pub confirmed: u64,
    pub nacked: u64,
    pub per_second: f64,
}

/// Counts done work between the end of the warm-up and the end of the measurement: the
/// workers run throughout and the counter is read at both instants.
struct Window {
    done: AtomicU64,
    stop: AtomicBool,
}

impl Window {
    fn new() -> Arc<Self> {
        Arc::new(Window {
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Sleeps through the warm-up and the measurement, then tells the workers to stop;
    /// returns (work done in the measurement, its length).
    async fn measure(&self, warmup: Duration, measure: Duration) -> (u64, f64) {
        tokio::time::sleep(warmup).await;
        let (first, started) = (self.done.load(Ordering::Relaxed), Instant::now());
        tokio::time::sleep(measure).await;
        let (last, seconds) = (self.done.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
        self.stop.store(true, Ordering::Relaxed);
        (last - first, seconds)
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

/// Single-row insert transactions (BEGIN, INSERT, COMMIT, as a service writes) from
/// `postgres_connections` connections, each a task of its own, with synchronous commit:
/// every commit waits for its WAL flush, as LAPOR's do.
pub async fn postgres(plan: &Plan) -> anyhow::Result<PostgresFloor> {
    let name = floor_name();
    let admin = db::admin().await?;
    db::exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    db::exec(&admin, &format!("CREATE DATABASE {name}")).await?;
    // On the database, so every connection of the pools has it whatever the server default.
    db::exec(&admin, &format!("ALTER DATABASE {name} SET synchronous_commit = on")).await?;
    let outcome = measure_postgres(&admin, &name, plan).await;
    let dropped = db::exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    let _ = admin.close().await;
    let figure = outcome?;
    dropped?;
    Ok(figure)
}

async fn measure_postgres(admin: &DatabaseConnection, name: &str, plan: &Plan) -> anyhow::Result<PostgresFloor> {
    let setup = db::connect(name).await?;
    db::exec(
        &setup,
        "CREATE TABLE floor_rows (id bigserial PRIMARY KEY, payload text NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let mut settings = Vec::new();
    for setting in [
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "full_page_writes",
        "commit_delay",
    ] {
        let value = db::strings(&setup, &format!("SHOW {setting}")).await?.join("");
        settings.push((setting.to_owned(), value));
    }
    let _ = setup.close().await;
    let syncs_before = wal_syncs(admin).await?;
    let (transactions, seconds) =
        insert_transactions(name, plan.postgres_connections, plan.floor_warmup, plan.floor_measure).await?;
    let syncs = wal_syncs(admin).await? - syncs_before;
    // One connection: every commit waits for its own flush, as a handler's does.
    let (single, single_seconds) = insert_transactions(name, 1, plan.floor_warmup / 2, plan.floor_measure / 2).await?;
    Ok(PostgresFloor {
        connections: plan.postgres_connections,
        seconds,
        transactions,
        per_second: transactions as f64 / seconds,
        transactions_per_wal_flush: transactions as f64 / syncs.max(1) as f64,
        single_connection_per_second: single as f64 / single_seconds,
        settings,
    })
}

/// WAL flushes so far, server-wide (counted over warm-up and measurement alike).
async fn wal_syncs(admin: &DatabaseConnection) -> anyhow::Result<i64> {
    // Backends publish their counters about once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    db::int(admin, "SELECT wal_sync::bigint FROM pg_stat_wal").await
}

/// `connections` tasks, each with a connection of its own, inserting one row per
/// transaction; (transactions, seconds) in the measured window.
async fn insert_transactions(
    name: &str,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<(u64, f64)> {
    let mut pools = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut options = ConnectOptions::new(postgres_url(name));
        options.max_connections(1).min_connections(1).sqlx_logging(false);
        pools.push(Database::connect(options).await.context("floor connection")?);
    }
    // About the size of a complaint row with its sealed identity.
    let payload = "x".repeat(400);
    let window = Window::new();
    let workers: Vec<_> = pools
        .into_iter()
        .map(|connection| {
            let (window, payload) = (window.clone(), payload.clone());
            tokio::spawn(async move {
                while window.running() {
                    let txn = connection.begin().await?;
                    txn.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "INSERT INTO floor_rows (payload) VALUES ($1)",
                        [payload.clone().into()],
                    ))
                    .await?;
                    txn.commit().await?;
                    window.done.fetch_add(1, Ordering::Relaxed);
                }
                connection.close().await?;
                Ok::<_, sea_orm::DbErr>(())
            })
        })
        .collect();
    let measured = window.measure(warmup, measure).await;
    for worker in workers {
        worker.await?.context("floor insert")?;
    }
    Ok(measured)
}

/// Persistent ~1 KB messages into one quorum queue (declared as LAPOR declares its work
/// queues), `mandatory`, from `rabbit_publishers` connections that each keep up to
/// `rabbit_window` confirms outstanding, as the outbox relay keeps a batch in flight.
/// Nothing consumes: the queue only grows for the seconds the measurement lasts.
pub async fn rabbitmq(plan: &Plan) -> anyhow::Result<RabbitFloor> {
    let vhost = floor_name();
    rabbit::create_vhost(&vhost).await?;
    let mut guard = rabbit::VhostGuard::new(&vhost);
    let outcome = publish_confirmed(&rabbit::amqp_url(&vhost), plan).await;
    let deleted = rabbit::delete_vhost(&vhost).await;
    if deleted.is_ok() {
        guard.disarm();
    }
    let figure = outcome?;
    deleted?;
    Ok(figure)
}

const FLOOR_QUEUE: &str = "floor";

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    args
}

async fn publish_confirmed(url: &str, plan: &Plan) -> anyhow::Result<RabbitFloor> {
    let mut connections = Vec::with_capacity(plan.rabbit_publishers);
    for _ in 0..plan.rabbit_publishers {
        connections.push(Connection::connect(url, ConnectionProperties::default()).await?);
    }
    let setup = connections.first().context("no connections")?.create_channel().await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    setup.queue_declare(FLOOR_QUEUE.into(), durable, quorum()).await?;
    let window = Window::new();
    let nacked = Arc::new(AtomicU64::new(0));
    let body = Arc::new(vec![b'x'; plan.rabbit_message_bytes]);
    let mut publishers = Vec::new();
    for connection in &connections {
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let (window, nacked, body, limit) = (window.clone(), nacked.clone(), body.clone(), plan.rabbit_window);
        publishers.push(tokio::spawn(async move {
            let mut outstanding = VecDeque::with_capacity(limit);
            let options = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            while window.running() {
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        FLOOR_QUEUE.into(),
                        options,
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?;
                outstanding.push_back(confirm);
                if outstanding.len() >= limit
                    && let Some(oldest) = outstanding.pop_front()
                {
                    settle(oldest.await?, &window.done, &nacked);
                }
            }
            // Settle the tail so the channel closes cleanly; it falls after the window.
            while let Some(confirm) = outstanding.pop_front() {
                settle(confirm.await?, &window.done, &nacked);
            }
            Ok::<_, lapin::Error>(())
        }));
    }
    let (confirmed, seconds) = window.measure(plan.floor_warmup, plan.floor_measure).await;
    for publisher in publishers {
        publisher.await?.context("floor publisher")?;
    }
    for connection in connections {
        let _ = connection.close(200, "floor measured".into()).await;
    }
    Ok(RabbitFloor {
        publishers: plan.rabbit_publishers,
        window: plan.rabbit_window,
        message_bytes: plan.rabbit_message_bytes,
        seconds,
        confirmed,
        nacked: nacked.load(Ordering::Relaxed),
        per_second: confirmed as f64 / seconds,
    })
}

fn settle(confirmation: Confirmation, done: &AtomicU64, nacked: &AtomicU64) {
    match confirmation {
        Confirmation::Ack(None) => done.fetch_add(1, Ordering::Relaxed),
        _ => nacked.fetch_add(1, Ordering::Relaxed),
    };
}
