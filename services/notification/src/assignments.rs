//! Consumes the SKPD work queues: a `complaint.assigned.<skpd>` becomes one pending e-mail
//! delivery per liaison officer (penghubung) of that SKPD, in the consumer's transaction.

use crate::entity::{delivery, recipient};
use crate::templates;
use lapor_domain::reference::OfficerRole;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError, topology};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
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
        let Some(Payload::ComplaintAssigned(assigned)) = &event.payload else {
            // Other SKPD-scoped events are not for e-mail yet; acknowledged and recorded.
            tracing::debug!(event_type = %event.event_type, "ignoring event on skpd queue");
            return Ok(());
        };
        let event_id = Uuid::parse_str(&event.event_id).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let complaint_id = Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let officers = recipient::Entity::find()
            .filter(recipient::Column::SkpdCode.eq(assigned.skpd_code.as_str()))
            .filter(recipient::Column::Role.eq(OfficerRole::Penghubung.as_str()))
            .all(txn)
            .await?;
        if officers.is_empty() {
            tracing::warn!(skpd = %assigned.skpd_code, "skpd has no liaison officer to notify");
        }
        let rows: Vec<_> = officers
            .into_iter()
            .map(|officer| {
                let rendered =
                    templates::assigned_email(&officer.name, &event.tracking_id, assigned, &self.console_url);
                delivery::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    event_id: Set(event_id),
                    complaint_id: Set(complaint_id),
                    recipient_id: Set(officer.id),
                    channel: Set(EMAIL.to_owned()),
                    address: Set(officer.email),
                    tracking_id: Set(event.tracking_id.clone()),
                    skpd_code: Set(assigned.skpd_code.clone()),
                    subject: Set(rendered.subject),
                    body: Set(rendered.body),
                    state: Set("PENDING".to_owned()),
                    attempts: Set(0),
                    last_error: Set(None),
                    next_attempt_at: Set(chrono::Utc::now()),
                    created_at: Set(chrono::Utc::now()),
                    sent_at: Set(None),
                }
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
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

    fn after_commit(&self) {
        self.sender_wake.notify_one();
    }
}
