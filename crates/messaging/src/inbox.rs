//! Processed event ids per consumer, written in the same transaction as the effect.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// Records `event_id` for `consumer`; `false` means it was processed before (a duplicate).
pub async fn record_first_delivery(db: &impl ConnectionTrait, consumer: &str, event_id: Uuid) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [consumer.into(), event_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}
