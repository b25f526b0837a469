//! `complaint.submitted` → a case. In a category with automatic verification whose routing
//! rule matches, the system disposes it at once (`complaint.assigned.<skpd>` lands in that
//! SKPD's work queue); otherwise it waits in the admin's verification queue.

use crate::case_store::{self, AuditActor, CaseWriter, Change};
use crate::clock;
use crate::entity::case;
use chrono::{DateTime, Utc};
use lapor_domain::CaseState;
use lapor_domain::reference::Verification;
use lapor_domain::routing_rules::dispose;
use lapor_domain::workflow::{self, Action, Actor, Case, Context};
use lapor_messaging::envelope::{channel_name, from_timestamp, kind_name, to_timestamp};
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_messaging::{OutgoingEvent, new_typed_envelope};
use lapor_proto::events::v1::{CaseUpdated, EventEnvelope, event_envelope::Payload};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use std::sync::Arc;
use uuid::Uuid;

pub const QUEUE: &str = "routing.submissions";
/// Event type of a case waiting for verification.
pub const RECEIVED: &str = "complaint.received";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.submitted".into()]
}

pub struct Submissions {
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    pub writer: CaseWriter,
}

impl Submissions {
    /// `complaint.received`: the case exists and waits for verification, with the deadline of
    /// its verification clock (the public status page's expected date).
    async fn announce_received(
        &self,
        txn: &DatabaseTransaction,
        complaint_id: Uuid,
        case: &Case,
        due: Option<DateTime<Utc>>,
    ) -> Result<(), HandlerError> {
        let update = CaseUpdated {
            state: case.state.as_str().to_owned(),
            version: case.version as i64,
            category_code: case.category.clone(),
            anonim: case.anonim,
            rahasia: case.rahasia,
            actor_role: "system".into(),
            at: Some(to_timestamp(Utc::now())),
            sla_due_at: due.map(to_timestamp),
            ..Default::default()
        };
        let envelope = new_typed_envelope(
            "routing",
            RECEIVED,
            complaint_id,
            &case.tracking_id,
            Payload::CaseUpdated(update),
        );
        self.writer
            .outbox
            .enqueue(txn, &OutgoingEvent::new(envelope, None))
            .await?;
        Ok(())
    }
}

/// The files intake stored with the submission, so officers see them on the case.
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
            skpd_code: Set(None),
            state: Set(CaseState::Submitted.as_str().to_owned()),
            disposition_reason: Set(String::new()),
            // Versions start at 1 so that an unset expected_version (0) never matches.
            version: Set(1),
            submitted_at: Set(submitted_at),
            created_at: Set(now),
            updated_at: Set(now),
            sub_unit: Set(None),
            referred_to: Set(None),
            archive_reason: Set(None),
            duplicate_of: Set(None),
            rated: Set(false),
            ..Default::default()
        })
        .on_conflict(OnConflict::column(case::Column::ComplaintId).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
        if inserted == 0 {
            // The same complaint under a different event id: one case per complaint.
            tracing::warn!(tracking_id = %event.tracking_id, "case exists already");
            return Ok(());
        }
        crate::attachments::record(txn, complaint_id, &submitted.attachments)
            .await
            .map_err(|error| match error {
                // A malformed reference in the event will not heal on a retry.
                sea_orm::DbErr::Custom(reason) => HandlerError::Permanent(reason),
                other => other.into(),
            })?;
        let model = case::Entity::find_by_id(complaint_id)
            .one(txn)
            .await?
            .ok_or_else(|| HandlerError::Transient("case vanished inside its transaction".into()))?;
        let before = case_store::to_workflow(&model);
        // The verification clock starts when the citizen submitted, not when routing got to it.
        let verification_due =
            clock::start_new_case(txn, &self.writer.rules, complaint_id, &before, submitted_at).await?;
        let directory = self.directory.get();
        if directory.verification_of(&submitted.category_code) == Verification::Manual {
            tracing::info!(tracking_id = %event.tracking_id, "case waits for verification");
            return self
                .announce_received(txn, complaint_id, &before, verification_due)
                .await;
        }
        let disposition = dispose(&directory, &submitted.category_code, &submitted.kabupaten_code);
        if disposition.reason == "fallback" {
            // No rule for this category and place: an admin decides.
            tracing::info!(tracking_id = %event.tracking_id, "no routing rule matched, case waits for verification");
            return self
                .announce_received(txn, complaint_id, &before, verification_due)
                .await;
        }
        let action = Action::AutoDispose {
            skpd: disposition.skpd_code.clone(),
        };
        let transition = workflow::apply(&before, &Actor::System, &action, &Context::default())
            .map_err(|e| HandlerError::Permanent(format!("automatic disposition refused: {e}")))?;
        let change = Change {
            action: action.kind().as_str(),
            who: &AuditActor::system(),
            tier: None,
            attached: &[],
        };
        let stored = self
            .writer
            .store(txn, complaint_id, &before, &transition, &change)
            .await?;
        if !stored {
            return Err(HandlerError::Transient("case changed concurrently".into()));
        }
        case::Entity::update_many()
            .col_expr(case::Column::DispositionReason, Expr::value(disposition.reason))
            .filter(case::Column::ComplaintId.eq(complaint_id))
            .exec(txn)
            .await?;
        tracing::info!(tracking_id = %event.tracking_id, skpd = %disposition.skpd_code, "case disposed automatically");
        metrics::counter!("lapor_routing_assigned_total", "skpd" => disposition.skpd_code).increment(1);
        Ok(())
    }
}
