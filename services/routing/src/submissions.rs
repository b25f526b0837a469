//! `complaint.submitted` → a case, disposed by the routing rules to an SKPD, announced as
//! `complaint.assigned.<skpd>` so it lands in that SKPD's work queue.

use crate::entity::{case, skpd};
use chrono::Utc;
use lapor_domain::routing_rules::dispose;
use lapor_domain::{CaseState, Directory};
use lapor_messaging::envelope::{from_timestamp, to_timestamp};
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError, Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{Channel, ComplaintAssigned, ComplaintKind, EventEnvelope, event_envelope::Payload};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseTransaction, EntityTrait, Set};
use std::sync::Arc;
use uuid::Uuid;

pub const QUEUE: &str = "routing.submissions";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.submitted".into()]
}

pub struct Submissions {
    pub directory: Arc<Directory>,
    pub outbox: Outbox,
}

fn channel_name(channel: i32) -> &'static str {
    match Channel::try_from(channel).unwrap_or(Channel::Unspecified) {
        Channel::Web => "web",
        Channel::Api => "api",
        Channel::Open311 => "open311",
        Channel::Sms => "sms",
        Channel::Grpc | Channel::Unspecified => "grpc",
    }
}

fn kind_name(kind: i32) -> &'static str {
    match ComplaintKind::try_from(kind).unwrap_or(ComplaintKind::Unspecified) {
        ComplaintKind::Aspirasi => "aspirasi",
        ComplaintKind::PermintaanInformasi => "permintaan_informasi",
        ComplaintKind::Aduan | ComplaintKind::Unspecified => "aduan",
    }
}

#[async_trait::async_trait]
impl EventHandler for Submissions {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let Some(Payload::ComplaintSubmitted(submitted)) = &event.payload else {
            return Err(HandlerError::Permanent(format!(
                "unexpected event {:?} on {QUEUE}",
                event.event_type
            )));
        };
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        let disposition = dispose(&self.directory, &submitted.category_code, &submitted.kabupaten_code);
        let skpd = skpd::Entity::find_by_id(disposition.skpd_code.clone())
            .one(txn)
            .await?
            .ok_or_else(|| HandlerError::Transient(format!("skpd {} not in directory yet", disposition.skpd_code)))?;
        let now = Utc::now();
        let submitted_at = from_timestamp(submitted.submitted_at.as_ref()).unwrap_or(now);
        let inserted = case::Entity::insert(case::ActiveModel {
            complaint_id: Set(complaint_id),
            tracking_id: Set(event.tracking_id.clone()),
            title: Set(submitted.title.clone()),
            body: Set(submitted.body.clone()),
            category_code: Set(submitted.category_code.clone()),
            kabupaten_code: Set(submitted.kabupaten_code.clone()),
            location: Set(submitted.location.clone()),
            channel: Set(channel_name(submitted.channel).to_owned()),
            kind: Set(kind_name(submitted.kind).to_owned()),
            anonim: Set(submitted.anonim),
            rahasia: Set(submitted.rahasia),
            reporter_ref: Set(submitted.reporter_ref.clone()),
            skpd_code: Set(Some(skpd.code.clone())),
            state: Set(CaseState::Assigned.as_str().to_owned()),
            disposition_reason: Set(disposition.reason.clone()),
            version: Set(1),
            submitted_at: Set(submitted_at),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(OnConflict::column(case::Column::ComplaintId).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
        if inserted == 0 {
            // The same complaint under a different event id: one case per complaint.
            tracing::warn!(tracking_id = %event.tracking_id, "case exists already, not assigning again");
            return Ok(());
        }
        let payload = Payload::ComplaintAssigned(ComplaintAssigned {
            skpd_code: skpd.code.clone(),
            skpd_name: skpd.name.clone(),
            category_code: submitted.category_code.clone(),
            kabupaten_code: submitted.kabupaten_code.clone(),
            title: submitted.title.clone(),
            reason: disposition.reason,
            rahasia: submitted.rahasia,
            assigned_at: Some(to_timestamp(now)),
        });
        let assigned = OutgoingEvent::new(
            new_envelope("routing", complaint_id, &event.tracking_id, payload),
            Some(&skpd.code),
        );
        self.outbox.enqueue(txn, &assigned).await?;
        tracing::info!(tracking_id = %event.tracking_id, skpd = %skpd.code, "case assigned");
        metrics::counter!("lapor_routing_assigned_total", "skpd" => skpd.code).increment(1);
        Ok(())
    }
}
