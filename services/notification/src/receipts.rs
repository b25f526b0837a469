//! Delivery receipts from the SMSC: SENT → DELIVERED, or FAILED (with the e-mail fallback)
//! when the network gave up on the phone. A receipt can overtake the worker recording the
//! submit's message id, so an unmatched receipt is tried again a few times before it is
//! logged and dropped.

use crate::entity::delivery;
use crate::outbound;
use lapor_smpp::client::{Inbound, ReceiptState};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

const MATCH_ATTEMPTS: u32 = 6;

pub async fn run(
    db: DatabaseConnection,
    mut inbound: mpsc::Receiver<Inbound>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            message = inbound.recv() => message,
            _ = stop.cancelled() => None,
        };
        let Some(message) = message else { break };
        match message {
            Inbound::Receipt {
                message_id,
                state,
                error,
            } => {
                let db = db.clone();
                let wake = wake.clone();
                tokio::spawn(async move {
                    if let Err(e) = apply(&db, &message_id, state, error.as_deref(), &wake).await {
                        tracing::warn!(error = %e, %message_id, "could not record delivery receipt");
                    }
                });
            }
            Inbound::Message { ack, .. } => {
                // Citizens' SMS belong to intake's own receiver session: not taken here, so
                // the SMSC keeps it for intake instead of this session swallowing it.
                ack.retry_later();
                tracing::warn!(
                    "mobile-originated sms on the notification session ignored; bind intake's receiver to the short code"
                );
            }
        }
    }
}

async fn apply(
    db: &DatabaseConnection,
    message_id: &str,
    state: ReceiptState,
    error: Option<&str>,
    wake: &Notify,
) -> Result<(), DbErr> {
    let failure = match state {
        ReceiptState::Delivered => None,
        ReceiptState::Expired | ReceiptState::Deleted | ReceiptState::Undeliverable | ReceiptState::Rejected => {
            Some(format!(
                "receipt: {state:?}{}",
                error.map(|e| format!(" ({e})")).unwrap_or_default()
            ))
        }
        // Intermediate states say nothing final.
        _ => return Ok(()),
    };
    for attempt in 0..MATCH_ATTEMPTS {
        let txn = db.begin().await?;
        let statement = match &failure {
            None => Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET state = 'DELIVERED', delivered_at = now()
                   WHERE channel = 'sms' AND provider_ids @> ARRAY[$1]::text[] AND state = 'SENT'
                   RETURNING *"#,
                [message_id.into()],
            ),
            Some(reason) => Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET state = 'FAILED', last_error = $2
                   WHERE channel = 'sms' AND provider_ids @> ARRAY[$1]::text[] AND state IN ('SENT', 'DELIVERED')
                   RETURNING *"#,
                [message_id.into(), reason.clone().into()],
            ),
        };
        let rows = delivery::Entity::find().from_raw_sql(statement).all(&txn).await?;
        if let Some(row) = rows.first() {
            let outcome = if failure.is_some() { "undelivered" } else { "delivered" };
            metrics::counter!("lapor_deliveries_total", "channel" => "sms", "outcome" => outcome).increment(1);
            if failure.is_some() && outbound::fall_back_to_email(&txn, row).await? {
                wake.notify_one();
            }
            txn.commit().await?;
            return Ok(());
        }
        // Matched a row already final (another part's receipt settled it): done.
        let known = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM deliveries WHERE channel = 'sms' AND provider_ids @> ARRAY[$1]::text[]",
                [message_id.into()],
            ))
            .await?
            .is_some();
        txn.rollback().await?;
        if known {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
    tracing::info!(%message_id, "delivery receipt matched no sent sms");
    Ok(())
}
