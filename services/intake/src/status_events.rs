//! Keeps intake's public view of each complaint current from routing's events, so the
//! status page never reads another service's tables. Events may arrive in any order; the
//! case version decides which is newest.

use crate::entity::complaint;
use chrono::Utc;
use lapor_messaging::envelope::from_timestamp;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, Statement, sea_query::Expr,
};
use uuid::Uuid;

pub const QUEUE: &str = "intake.status";

/// Every workflow event routing publishes (intake's own `complaint.submitted` is skipped).
pub fn binding_keys() -> Vec<String> {
    vec!["complaint.#".into()]
}

pub struct StatusEvents;

#[async_trait::async_trait]
impl EventHandler for StatusEvents {
    /// Only routing's view of the case matters here; intake's own events and escalations
    /// are acked without a transaction.
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.payload,
            Some(Payload::ComplaintAssigned(_) | Payload::CaseUpdated(_))
        )
    }

    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        // A CaseUpdated also carries the admin's corrections: title, category and the
        // privacy flags, so a report marked rahasia later leaves the public lists too.
        let (state, version, skpd_name, expected_at, corrected, privacy) = match &event.payload {
            Some(Payload::ComplaintAssigned(assigned)) => (
                lapor_domain::CaseState::Assigned.as_str().to_owned(),
                assigned.version,
                Some(assigned.skpd_name.clone()),
                from_timestamp(assigned.sla_due_at.as_ref()),
                None,
                (false, assigned.rahasia),
            ),
            Some(Payload::CaseUpdated(update)) => (
                update.state.clone(),
                update.version,
                None,
                from_timestamp(update.sla_due_at.as_ref()),
                Some(update),
                (update.anonim, update.rahasia),
            ),
            _ => return Ok(()),
        };
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        // Privacy only ever tightens (the workflow never clears a flag), so it is applied
        // whatever the event's version: an older `details_edited` arriving after a newer
        // event must still hide the report.
        if privacy.0 || privacy.1 {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE complaints SET anonim = anonim OR $2, rahasia = rahasia OR $3 WHERE id = $1",
                [complaint_id.into(), privacy.0.into(), privacy.1.into()],
            ))
            .await?;
        }
        // The rating counts once routing took it; until then the reporter may try again.
        if event.event_type == "complaint.rated" {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE complaints SET rated_at = coalesce(rated_at, now()) WHERE id = $1",
                [complaint_id.into()],
            ))
            .await?;
        }
        // The timeline keeps every state in version order, whatever order the events came in.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO complaint_timeline (complaint_id, version, state, at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM complaints WHERE id = $1) \
             ON CONFLICT DO NOTHING",
            [
                complaint_id.into(),
                version.into(),
                state.clone().into(),
                from_timestamp(event.occurred_at.as_ref())
                    .unwrap_or_else(Utc::now)
                    .into(),
            ],
        ))
        .await?;
        let mut update = complaint::Entity::update_many()
            .col_expr(complaint::Column::PublicState, Expr::value(state))
            .col_expr(complaint::Column::CaseVersion, Expr::value(version))
            .col_expr(complaint::Column::ExpectedAt, Expr::value(expected_at))
            .col_expr(complaint::Column::UpdatedAt, Expr::value(Utc::now()));
        if let Some(name) = skpd_name {
            update = update.col_expr(complaint::Column::SkpdName, Expr::value(name));
        }
        if let Some(corrected) = corrected.filter(|c| !c.category_code.is_empty()) {
            update = update.col_expr(
                complaint::Column::CategoryCode,
                Expr::value(corrected.category_code.clone()),
            );
        }
        if let Some(corrected) = corrected.filter(|c| !c.title.is_empty()) {
            update = update.col_expr(complaint::Column::Title, Expr::value(corrected.title.clone()));
        }
        // Merged as a duplicate: from now on the public sees the parent's progress.
        if let Some(merged) = corrected.filter(|c| !c.duplicate_of.is_empty()) {
            update = update.col_expr(complaint::Column::MergedInto, Expr::value(merged.duplicate_of.clone()));
        }
        update
            .filter(complaint::Column::Id.eq(complaint_id))
            .filter(complaint::Column::CaseVersion.lt(version))
            .exec(txn)
            .await?;
        Ok(())
    }
}
