//! Gauges sampled every 5 s for operators: the database pool (connections in use and
//! idle, against its maximum) and, per consumed queue, the messages waiting and the consumers
//! attached — the consumer lag that KEDA and the alerts watch.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapor_messaging::broker::Broker;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(5);

pub async fn sample(db: DatabaseConnection, broker: Broker, queues: Vec<String>, stop: CancellationToken) {
    loop {
        pool(&db);
        if let Err(error) = queue_depths(&broker, &queues).await {
            tracing::debug!(%error, "queue depths not sampled");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => break,
        }
    }
}

fn pool(db: &DatabaseConnection) {
    let pool = db.get_postgres_connection_pool();
    let (size, idle) = (pool.size(), pool.num_idle());
    let in_use = size.saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX));
    metrics::gauge!("lapor_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!("lapor_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("lapor_db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
}

/// A passive declare reads a queue's depth without changing it; a missing queue (not yet
/// declared by its consumer) would close the channel, so each gets a fresh one on failure.
async fn queue_depths(broker: &Broker, queues: &[String]) -> lapin::Result<()> {
    if queues.is_empty() {
        return Ok(());
    }
    let mut channel = broker.channel().await?;
    for queue in queues {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(state) => {
                metrics::gauge!("lapor_queue_messages", "queue" => queue.clone()).set(f64::from(state.message_count()));
                metrics::gauge!("lapor_queue_consumers", "queue" => queue.clone())
                    .set(f64::from(state.consumer_count()));
            }
            Err(_) => channel = broker.channel().await?,
        }
    }
    let _ = channel.close(200, "sampled".into()).await;
    Ok(())
}
