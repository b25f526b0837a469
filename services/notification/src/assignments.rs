//! Consumes the SKPD work queues. A `complaint.assigned.<skpd>` becomes one pending e-mail
//! delivery per liaison officer (penghubung) of that SKPD; a
//! `complaint.escalated.<level>.<skpd>` one per officer its `notify_roles` name (see
//! [`crate::escalations`]). Deliveries are written in the consumer's transaction; the sender
//! worker sends them. Any other event on the queue is acknowledged and ignored.

use crate::entity::{delivery, recipient};
use crate::escalations;
use crate::templates::{self, Rendered};
use lapor_domain::reference::OfficerRole;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError, topology};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

pub const EMAIL: &str = "email";

pub fn consumer_spec(skpd_code: &str) -> lapor_messaging::ConsumerSpec {
    let mut spec =
        lapor_messaging::ConsumerSpec::new(topology::skpd_queue(skpd_code), topology::skpd_binding_keys(skpd_code));
    spec.consumer_name = format!("notification.{}", topology::skpd_queue(skpd_code));
    spec
}

pub struct Assignments {
    pub console_url: String,
    /// Wakes the delivery worker once new rows are committed.
    pub sender_wake: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl EventHandler for Assignments {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        match &event.payload {
            Some(Payload::ComplaintAssigned(assigned)) => {
                let officers = recipient::Entity::find()
                    .filter(recipient::Column::SkpdCode.eq(assigned.skpd_code.as_str()))
                    .filter(recipient::Column::Role.eq(OfficerRole::Penghubung.as_str()))
                    .order_by_asc(recipient::Column::Id)
                    .all(txn)
                    .await?;
                if officers.is_empty() {
                    tracing::warn!(skpd = %assigned.skpd_code, "skpd has no liaison officer to notify");
                }
                insert_pending_emails(txn, event, &assigned.skpd_code, officers, |officer| {
                    templates::assigned_email(&officer.name, &event.tracking_id, assigned, &self.console_url)
                })
                .await
            }
            Some(Payload::ComplaintEscalated(escalated)) => {
                let (audiences, unknown) = escalations::audiences(&escalated.notify_roles);
                if !unknown.is_empty() {
                    tracing::warn!(roles = ?unknown, level = %escalated.level, "ignoring unknown roles in escalation");
                }
                let officers = escalations::recipients(txn, &audiences, &escalated.skpd_code).await?;
                if officers.is_empty() {
                    tracing::warn!(
                        skpd = %escalated.skpd_code,
                        level = %escalated.level,
                        roles = ?escalated.notify_roles,
                        "escalation has no recipient to notify"
                    );
                }
                insert_pending_emails(txn, event, &escalated.skpd_code, officers, |officer| {
                    templates::escalation_email(&officer.name, &event.tracking_id, escalated, &self.console_url)
                })
                .await
            }
            _ => {
                // Other SKPD-scoped events are not for e-mail yet; acknowledged and recorded.
                tracing::debug!(event_type = %event.event_type, "ignoring event on skpd queue");
                Ok(())
            }
        }
    }

    fn after_commit(&self) {
        self.sender_wake.notify_one();
    }
}

/// Writes one PENDING e-mail delivery per officer for `event`, rendered by `render`. The
/// unique key (event, recipient, channel) makes a redelivered event add nothing.
async fn insert_pending_emails(
    txn: &DatabaseTransaction,
    event: &EventEnvelope,
    skpd_code: &str,
    officers: Vec<recipient::Model>,
    render: impl Fn(&recipient::Model) -> Rendered,
) -> Result<(), HandlerError> {
    let event_id = Uuid::parse_str(&event.event_id).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    let complaint_id = Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    if officers.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rows: Vec<_> = officers
        .into_iter()
        .map(|officer| {
            let rendered = render(&officer);
            delivery::ActiveModel {
                id: Set(Uuid::now_v7()),
                event_id: Set(event_id),
                complaint_id: Set(complaint_id),
                recipient_id: Set(officer.id),
                channel: Set(EMAIL.to_owned()),
                address: Set(officer.email),
                tracking_id: Set(event.tracking_id.clone()),
                skpd_code: Set(skpd_code.to_owned()),
                subject: Set(rendered.subject),
                body: Set(rendered.body),
                state: Set("PENDING".to_owned()),
                attempts: Set(0),
                last_error: Set(None),
                next_attempt_at: Set(now),
                created_at: Set(now),
                sent_at: Set(None),
            }
        })
        .collect();
    delivery::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                delivery::Column::EventId,
                delivery::Column::RecipientId,
                delivery::Column::Channel,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
