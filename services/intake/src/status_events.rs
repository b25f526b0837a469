//! Keeps intake's public view of each complaint current from routing's events, so the
//! status page never reads another service's tables.

use crate::entity::complaint;
use chrono::Utc;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

pub const QUEUE: &str = "intake.status";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.assigned.*".into()]
}

pub struct StatusEvents;

#[async_trait::async_trait]
impl EventHandler for StatusEvents {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let Some(Payload::ComplaintAssigned(assigned)) = &event.payload else {
            return Ok(());
        };
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        complaint::Entity::update_many()
            .col_expr(
                complaint::Column::PublicState,
                Expr::value(lapor_domain::CaseState::Assigned.as_str()),
            )
            .col_expr(complaint::Column::SkpdName, Expr::value(assigned.skpd_name.clone()))
            .col_expr(complaint::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(complaint::Column::Id.eq(complaint_id))
            .exec(txn)
            .await?;
        Ok(())
    }
}
