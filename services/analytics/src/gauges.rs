//! Prometheus gauges of the backlog per SKPD, for alerting on a pile-up without opening the
//! dashboard. Every replica samples the same shared read model; alert on `max by (skpd)`.

use crate::figures::IS_OPEN;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(5);

async fn sample_once(db: &DatabaseConnection) -> Result<(), DbErr> {
    let sql = format!(
        "SELECT skpd_code, count(*) FILTER (WHERE {IS_OPEN}) AS open,
                count(*) FILTER (WHERE {IS_OPEN} AND followed_up_at IS NULL
                                 AND follow_up_due_at < now()) AS overdue
         FROM complaint_facts WHERE skpd_code IS NOT NULL GROUP BY skpd_code"
    );
    for row in db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
    {
        let skpd: String = row.try_get("", "skpd_code")?;
        let open: i64 = row.try_get("", "open")?;
        let overdue: i64 = row.try_get("", "overdue")?;
        metrics::gauge!("lapor_backlog_open", "skpd" => skpd.clone()).set(open as f64);
        metrics::gauge!("lapor_backlog_overdue", "skpd" => skpd).set(overdue as f64);
    }
    Ok(())
}

pub async fn sample(db: DatabaseConnection, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(error) = sample_once(&db).await {
            tracing::debug!(%error, "backlog gauges not sampled");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => {}
        }
    }
}
