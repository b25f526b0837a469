//! The delivery worker. Any number of replicas share the work:
//!
//! 1. **Claim**: one statement moves due PENDING rows (and SENDING rows whose lease ran out:
//!    a worker died mid-send) to SENDING under this worker's claim id, with
//!    `FOR UPDATE SKIP LOCKED` so replicas never take the same row.
//! 2. **Send**: rows are rendered from their templates and sent concurrently, each with the
//!    delivery id as the provider's idempotency key (SMTP Message-ID, SMPP TLV, HTTP header).
//! 3. **Record**: each outcome is written only if the row still carries this claim, in one
//!    transaction with the `notification.sent` outbox event or the e-mail fallback.
//!
//! A crash between the provider's acceptance and step 3 leaves a SENDING row whose lease
//! expires; it is sent again with the same idempotency key, which the provider folds. So a
//! message is never lost, and reaches the person once wherever the provider honours the key.

use crate::channels::{Accepted, Channels, EMAIL, Outgoing, SMS, SendError};
use crate::contacts::ContactBook;
use crate::entity::delivery;
use crate::messages::{Kind, Lang, MessageContext};
use crate::outbound::{self, FAILED, PENDING, SENT};
use crate::template_store::TemplateStore;
use futures::{FutureExt, StreamExt};
use lapor_messaging::broker::reconnect_delay;
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{NotificationSent, event_envelope::Payload};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement, TransactionTrait};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// Rows claimed per round.
    pub batch_size: u64,
    /// Messages in flight per worker.
    pub concurrency: usize,
    /// How long a claimed row belongs to its worker; longer than the slowest send.
    pub lease_seconds: u64,
    /// A delivery still failing transiently this long after it was planned FAILS; until
    /// then it is retried with back-off (an outage of the SMSC, the mail relay or intake
    /// delays messages, it does not lose them).
    pub retry_for_minutes: u64,
    /// Hard cap on attempts, which also ends a row that keeps interrupting its worker.
    pub max_attempts: i32,
    pub poll_interval_ms: u64,
}

pub struct Sender {
    pub db: DatabaseConnection,
    pub channels: Channels,
    pub templates: Arc<TemplateStore>,
    pub contacts: Arc<dyn ContactBook>,
    pub outbox: Outbox,
    pub wake: Arc<Notify>,
    pub settings: DeliverySettings,
    /// `List-Unsubscribe` of digest e-mails (see [`crate::digests::DigestSettings`]).
    pub digest_unsubscribe: Option<String>,
}

/// Seconds before attempt `n + 1`: 2^n capped at 10 min, with ±25% jitter so a recovering
/// provider is not hit by every retry at once.
pub fn backoff_seconds(attempts: i32) -> f64 {
    let base = 2f64.powi(attempts.clamp(0, 10)).min(600.0);
    base * (0.75 + rand::random::<f64>() * 0.5)
}

/// A message ready to hand to a channel.
struct Rendered {
    address: String,
    subject: String,
    text: String,
    html: Option<String>,
}

enum Outcome {
    Sent(Rendered, Accepted),
    Failed(SendError, Option<Rendered>),
}

impl Sender {
    pub async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            // A panic while handling one row must not silently end the worker: the row's
            // lease runs out, it is retried, and the attempt cap ends it.
            let round = std::panic::AssertUnwindSafe(self.round(&stop)).catch_unwind().await;
            let round = round.unwrap_or_else(|_| Err(DbErr::Custom("delivery round panicked".into())));
            let claimed = match round {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "delivery round failed");
                    0
                }
            };
            if stop.is_cancelled() {
                break;
            }
            if claimed as u64 == self.settings.batch_size {
                continue;
            }
            let wait = if failures > 0 {
                reconnect_delay(failures)
            } else {
                Duration::from_millis(self.settings.poll_interval_ms)
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => break,
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// One claim → send → record round; the number of rows claimed. Sends already started
    /// finish and are recorded; rows not yet started when `stop` comes go back to PENDING,
    /// so a stopping worker leaves no SENDING row behind.
    async fn round(&self, stop: &CancellationToken) -> Result<usize, DbErr> {
        let claim = Uuid::now_v7();
        let rows = self.claim(claim).await?;
        let claimed = rows.len();
        let results = futures::stream::iter(rows)
            .map(|row| async move {
                if stop.is_cancelled() {
                    self.release(&row, claim).await?;
                    return Ok(false);
                }
                // The lease was taken for the whole batch; renew it for this row now, so a
                // row that waited its turn is never sent while another worker reclaims it.
                if !self.renew(&row, claim).await? {
                    tracing::warn!(delivery = %row.id, "lease lost before sending; left to its new owner");
                    return Ok(false);
                }
                if row.attempts > 1 && row.sent_at.is_none() && row.last_error.is_none() {
                    tracing::warn!(delivery = %row.id, "resending after an interrupted attempt, same idempotency key");
                }
                // The send and its notification.sent event continue the complaint's trace.
                let span = tracing::info_span!(
                    "deliver",
                    otel.kind = "client",
                    delivery = %row.id,
                    channel = %row.channel,
                    tracking_id = %row.tracking_id,
                );
                lapor_messaging::propagation::restore_parent(
                    &span,
                    &lapor_messaging::propagation::headers_from_json(&row.trace_headers),
                );
                let outcome = self.attempt(&row).instrument(span.clone()).await;
                self.record(&row, claim, outcome).instrument(span).await
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut sent_any = false;
        for result in results {
            sent_any |= result?;
        }
        if sent_any {
            self.outbox.notify_committed();
        }
        Ok(claimed)
    }

    async fn claim(&self, claim: Uuid) -> Result<Vec<delivery::Model>, DbErr> {
        // A row whose every attempt was cut off (its worker died or panicked each time) is
        // given up rather than retried forever.
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET state = 'FAILED', claim_id = NULL, lease_until = NULL,
                          last_error = 'every attempt was interrupted; not retried'
                   WHERE state = 'SENDING' AND lease_until < now() AND attempts >= $1"#,
                [self.settings.max_attempts.into()],
            ))
            .await?;
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"UPDATE deliveries SET state = 'SENDING', claim_id = $1,
                      lease_until = now() + make_interval(secs => $2), attempts = attempts + 1
               WHERE id IN (
                   SELECT id FROM deliveries
                   WHERE (state = 'PENDING' AND next_attempt_at <= now())
                      OR (state = 'SENDING' AND lease_until < now())
                   ORDER BY next_attempt_at
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED)
               RETURNING *"#,
            [
                claim.into(),
                (self.settings.lease_seconds as f64).into(),
                (self.settings.batch_size as i64).into(),
            ],
        );
        delivery::Entity::find().from_raw_sql(statement).all(&self.db).await
    }

    async fn renew(&self, row: &delivery::Model, claim: Uuid) -> Result<bool, DbErr> {
        let renewed = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET lease_until = now() + make_interval(secs => $3)
                   WHERE id = $1 AND claim_id = $2 AND state = 'SENDING'"#,
                [row.id.into(), claim.into(), (self.settings.lease_seconds as f64).into()],
            ))
            .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Gives an unstarted row back, as if it had never been claimed.
    async fn release(&self, row: &delivery::Model, claim: Uuid) -> Result<(), DbErr> {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET state = 'PENDING', claim_id = NULL, lease_until = NULL,
                          attempts = greatest(attempts - 1, 0)
                   WHERE id = $1 AND claim_id = $2 AND state = 'SENDING'"#,
                [row.id.into(), claim.into()],
            ))
            .await?;
        Ok(())
    }

    async fn attempt(&self, row: &delivery::Model) -> Outcome {
        let rendered = match self.render(row).await {
            Ok(rendered) => rendered,
            Err(error) => return Outcome::Failed(error, None),
        };
        let Some(channel) = self.channels.for_name(&row.channel) else {
            return Outcome::Failed(
                SendError::Permanent(format!("unknown channel {:?}", row.channel)),
                Some(rendered),
            );
        };
        let message = Outgoing {
            delivery_id: row.id,
            address: &rendered.address,
            subject: &rendered.subject,
            text: &rendered.text,
            html: rendered.html.as_deref(),
            // The digest is a mailing list (RFC 2369); case mail is part of the job, not a list.
            list_unsubscribe: if row.kind == Kind::Digest.as_str() && row.channel == EMAIL {
                self.digest_unsubscribe.as_deref()
            } else {
                None
            },
        };
        match channel.send(&message).await {
            Ok(accepted) => Outcome::Sent(rendered, accepted),
            Err(error) => Outcome::Failed(error, Some(rendered)),
        }
    }

    /// The text of `row` from its template, and its address (a reporter's is looked up
    /// now, from intake, and never stored).
    async fn render(&self, row: &delivery::Model) -> Result<Rendered, SendError> {
        if is_legacy(row) {
            // Written before messages were rendered at send time: send the stored text.
            return Ok(Rendered {
                address: row.address.clone(),
                subject: row.subject.clone(),
                text: row.body.clone(),
                html: row.html.clone(),
            });
        }
        let kind =
            Kind::parse(&row.kind).ok_or_else(|| SendError::Permanent(format!("unknown kind {:?}", row.kind)))?;
        let lang = Lang::parse(&row.lang).unwrap_or_default();
        let context: MessageContext = serde_json::from_value(row.context.clone())
            .map_err(|e| SendError::Permanent(format!("stored context unreadable: {e}")))?;
        let templates = self
            .templates
            .current()
            .map_err(|reason| SendError::Transient(format!("message templates unavailable: {reason}")))?;
        let address = if row.address.is_empty() {
            self.contacts.address(row.complaint_id, &row.channel).await?
        } else {
            row.address.clone()
        };
        match row.channel.as_str() {
            EMAIL => {
                let email = templates
                    .email(kind, lang, &context)
                    .map_err(|e| SendError::Permanent(format!("template: {e}")))?;
                Ok(Rendered {
                    address,
                    subject: email.subject,
                    text: email.text,
                    html: Some(email.html),
                })
            }
            SMS => Ok(Rendered {
                address,
                subject: String::new(),
                text: templates
                    .sms(kind, lang, &context)
                    .map_err(|e| SendError::Permanent(format!("template: {e}")))?,
                html: None,
            }),
            other => Err(SendError::Permanent(format!("unknown channel {other:?}"))),
        }
    }

    /// Writes the outcome if the row is still ours; true when a message was sent.
    async fn record(&self, row: &delivery::Model, claim: Uuid, outcome: Outcome) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let channel = row.channel.clone();
        let age_minutes = (chrono::Utc::now() - row.retry_from).num_minutes();
        let may_retry = row.attempts < self.settings.max_attempts
            && u64::try_from(age_minutes).unwrap_or(0) < self.settings.retry_for_minutes;
        let (state, error, rendered, provider_ids, retry_in) = match outcome {
            Outcome::Sent(rendered, accepted) => (SENT, None, Some(rendered), accepted.provider_ids, None),
            Outcome::Failed(SendError::Transient(reason), rendered) if may_retry => {
                let wait = backoff_seconds(row.attempts - 1);
                (PENDING, Some(reason), rendered, Vec::new(), Some(wait))
            }
            Outcome::Failed(error, rendered) => (FAILED, Some(error.to_string()), rendered, Vec::new(), None),
        };
        // Providers echo addresses in their errors; the log and the delivery log get them
        // masked (a reporter's address must not leave intake's vault at all).
        let error = error.map(|reason| redact(&reason, rendered.as_ref().map(|r| r.address.as_str())));
        let (subject, body, html) = match &rendered {
            Some(r) => (r.subject.clone(), r.text.clone(), r.html.clone()),
            None => (row.subject.clone(), row.body.clone(), row.html.clone()),
        };
        let updated = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE deliveries SET state = $3, last_error = $4, subject = $5, body = $6, html = $7,
                          provider_ids = $8,
                          sent_at = CASE WHEN $3 = 'SENT' THEN now() ELSE sent_at END,
                          next_attempt_at = now() + make_interval(secs => $9),
                          claim_id = NULL, lease_until = NULL
                   WHERE id = $1 AND claim_id = $2 AND state = 'SENDING'"#,
                [
                    row.id.into(),
                    claim.into(),
                    state.into(),
                    error.clone().into(),
                    subject.into(),
                    body.into(),
                    html.into(),
                    provider_ids.into(),
                    retry_in.unwrap_or(0.0).into(),
                ],
            ))
            .await?;
        if updated.rows_affected() != 1 {
            // The lease ran out and another worker took the row: its outcome stands.
            tracing::warn!(delivery = %row.id, "claim lost before the outcome was recorded");
            txn.rollback().await?;
            return Ok(false);
        }
        let outcome_label = match (state, retry_in) {
            (SENT, _) => "sent",
            (PENDING, _) => "retry",
            _ => "failed",
        };
        metrics::counter!("lapor_deliveries_total", "channel" => channel.clone(), "outcome" => outcome_label)
            .increment(1);
        match state {
            SENT => {
                let payload = Payload::NotificationSent(NotificationSent {
                    delivery_id: row.id.to_string(),
                    source_event_id: row.event_id.to_string(),
                    recipient_id: row.recipient_id.clone(),
                    channel: channel.clone(),
                    skpd_code: row.skpd_code.clone(),
                });
                let event = OutgoingEvent::new(
                    new_envelope("notification", row.complaint_id, &row.tracking_id, payload),
                    None,
                );
                self.outbox.enqueue(&txn, &event).await?;
                tracing::info!(tracking_id = %row.tracking_id, recipient = %row.recipient_id, %channel, "message sent");
            }
            PENDING => {
                tracing::warn!(recipient = %row.recipient_id, %channel, reason = ?error, "delivery failed, will retry");
            }
            _ => {
                tracing::error!(recipient = %row.recipient_id, %channel, reason = ?error, "delivery failed permanently");
                if channel == SMS && outbound::fall_back_to_email(&txn, row).await? {
                    tracing::info!(recipient = %row.recipient_id, "falling back to e-mail");
                    self.wake.notify_one();
                }
            }
        }
        txn.commit().await?;
        Ok(state == SENT)
    }
}

/// A row planned before messages were rendered at send time: no context, stored text.
fn is_legacy(row: &delivery::Model) -> bool {
    row.context.as_object().is_some_and(|o| o.is_empty()) && !row.body.is_empty()
}

/// `reason` with every form of `address` (as given, and a phone without its `+`) masked.
pub fn redact(reason: &str, address: Option<&str>) -> String {
    let Some(address) = address.filter(|a| a.len() >= 4) else {
        return reason.to_owned();
    };
    let masked = crate::grpc::mask_address(address);
    let mut redacted = reason.replace(address, &masked);
    if let Some(digits) = address.strip_prefix('+') {
        redacted = redacted.replace(digits, &masked);
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn addresses_are_masked_in_provider_errors() {
        assert_eq!(
            redact("550 <warga@example.id>: no such user", Some("warga@example.id")),
            "550 <wa***@example.id>: no such user"
        );
        assert_eq!(
            redact("ESME_RINVDSTADR for 6281200001111", Some("+6281200001111")),
            "ESME_RINVDSTADR for ***111"
        );
        assert_eq!(redact("timeout", None), "timeout");
    }
}
