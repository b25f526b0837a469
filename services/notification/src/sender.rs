//! The delivery worker: claims due PENDING deliveries with `FOR UPDATE SKIP LOCKED` (so any
//! number of replicas share the work), sends them, and records the outcome together with a
//! `notification.sent` outbox event in the same transaction. A crash between the SMTP accept
//! and the commit leaves the row PENDING, so the message may go out twice but is never lost;
//! the stable Message-ID lets mail clients fold that rare duplicate.

use crate::entity::delivery;
use crate::mailer::{Email, Mailer, SendError};
use lapor_messaging::broker::reconnect_delay;
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{NotificationSent, event_envelope::Payload};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: u64 = 20;
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Transient failures are retried this many times before the delivery is FAILED.
pub const MAX_ATTEMPTS: i32 = 8;

pub struct Sender {
    pub db: DatabaseConnection,
    pub mailer: Arc<Mailer>,
    pub outbox: Outbox,
    pub wake: Arc<Notify>,
}

/// Seconds before attempt `n + 1`: 2^n capped at 10 min, with ±25% jitter so a recovering
/// SMTP server is not hit by every retry at once.
fn backoff_seconds(attempts: i32) -> f64 {
    let base = 2f64.powi(attempts.clamp(0, 10)).min(600.0);
    base * (0.75 + rand_fraction() * 0.5)
}

fn rand_fraction() -> f64 {
    (Uuid::new_v4().as_u128() % 10_000) as f64 / 10_000.0
}

impl Sender {
    pub async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let claimed = match self.send_batch().await {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "delivery batch failed");
                    0
                }
            };
            if stop.is_cancelled() {
                break;
            }
            if claimed as u64 == BATCH {
                continue;
            }
            let wait = if failures > 0 {
                reconnect_delay(failures)
            } else {
                POLL_INTERVAL
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => break,
            }
        }
        tracing::info!("delivery worker stopped");
    }

    async fn send_batch(&self) -> Result<usize, DbErr> {
        let txn = self.db.begin().await?;
        let due = delivery::Entity::find()
            .filter(delivery::Column::State.eq("PENDING"))
            .filter(Expr::col(delivery::Column::NextAttemptAt).lte(Expr::cust("now()")))
            .order_by_asc(delivery::Column::CreatedAt)
            .limit(BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        let claimed = due.len();
        let mut sent_any = false;
        for row in due {
            let email = Email {
                delivery_id: row.id,
                to: &row.address,
                subject: &row.subject,
                body: &row.body,
            };
            let outcome = self.mailer.send(&email).await;
            let update = delivery::Entity::update_many()
                .filter(delivery::Column::Id.eq(row.id))
                .col_expr(delivery::Column::Attempts, Expr::col(delivery::Column::Attempts).add(1));
            match outcome {
                Ok(()) => {
                    update
                        .col_expr(delivery::Column::State, Expr::value("SENT"))
                        .col_expr(delivery::Column::SentAt, Expr::cust("now()"))
                        .col_expr(delivery::Column::LastError, Expr::value(Option::<String>::None))
                        .exec(&txn)
                        .await?;
                    let payload = Payload::NotificationSent(NotificationSent {
                        delivery_id: row.id.to_string(),
                        source_event_id: row.event_id.to_string(),
                        recipient_id: row.recipient_id.clone(),
                        channel: row.channel.clone(),
                        skpd_code: row.skpd_code.clone(),
                    });
                    let event = OutgoingEvent::new(
                        new_envelope("notification", row.complaint_id, &row.tracking_id, payload),
                        None,
                    );
                    self.outbox.enqueue(&txn, &event).await?;
                    sent_any = true;
                    metrics::counter!("lapor_deliveries_total", "channel" => row.channel.clone(), "outcome" => "sent")
                        .increment(1);
                    tracing::info!(tracking_id = %row.tracking_id, recipient = %row.recipient_id, "e-mail sent");
                }
                Err(SendError::Transient(reason)) if row.attempts + 1 < MAX_ATTEMPTS => {
                    update
                        .col_expr(delivery::Column::LastError, Expr::value(reason.clone()))
                        .col_expr(
                            delivery::Column::NextAttemptAt,
                            Expr::cust(format!(
                                "now() + interval '{:.3} seconds'",
                                backoff_seconds(row.attempts)
                            )),
                        )
                        .exec(&txn)
                        .await?;
                    metrics::counter!("lapor_deliveries_total", "channel" => row.channel.clone(), "outcome" => "retry")
                        .increment(1);
                    tracing::warn!(recipient = %row.recipient_id, %reason, "delivery failed, will retry");
                }
                Err(error) => {
                    update
                        .col_expr(delivery::Column::State, Expr::value("FAILED"))
                        .col_expr(delivery::Column::LastError, Expr::value(error.to_string()))
                        .exec(&txn)
                        .await?;
                    metrics::counter!("lapor_deliveries_total", "channel" => row.channel.clone(), "outcome" => "failed").increment(1);
                    tracing::error!(recipient = %row.recipient_id, %error, "delivery failed permanently");
                }
            }
        }
        txn.commit().await?;
        if sent_any {
            self.outbox.notify_committed();
        }
        Ok(claimed)
    }
}
