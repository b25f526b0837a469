//! Projects every domain event into the read models. Idempotent through the consumer's inbox
//! and order-insensitive through `state_rank`, so duplicates and any replica order give the
//! same figures.

use lapor_domain::CaseState;
use lapor_messaging::envelope::{channel_name, from_timestamp};
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use uuid::Uuid;

pub const QUEUE: &str = "analytics.events";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.#".into(), "notification.#".into()]
}

pub const EVENTS_CONSUMED: &str = "events_consumed";
pub const NOTIFICATIONS_SENT: &str = "notifications_sent";
/// Prefix of the per-level escalation counters, e.g. `escalations.breach`.
pub const ESCALATIONS_PREFIX: &str = "escalations.";

async fn exec(txn: &DatabaseTransaction, sql: &str, values: Vec<Value>) -> Result<(), HandlerError> {
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await?;
    Ok(())
}

async fn bump(txn: &DatabaseTransaction, counter: &str) -> Result<(), HandlerError> {
    exec(
        txn,
        "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1",
        vec![counter.into()],
    )
    .await
}

/// Moves the fact row to the case's state at `version`, unless it already holds a newer one.
#[allow(clippy::too_many_arguments)]
async fn apply_case_state(
    txn: &DatabaseTransaction,
    complaint_id: Uuid,
    tracking_id: &str,
    state: &str,
    version: i64,
    skpd_code: &str,
    category_code: &str,
    rahasia: bool,
) -> Result<(), HandlerError> {
    let skpd = (!skpd_code.is_empty()).then(|| skpd_code.to_owned());
    exec(
        txn,
        "INSERT INTO complaint_facts (complaint_id, tracking_id, category_code, skpd_code, state, case_version, rahasia) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (complaint_id) DO UPDATE SET skpd_code = EXCLUDED.skpd_code, state = EXCLUDED.state, \
           case_version = EXCLUDED.case_version, category_code = EXCLUDED.category_code, \
           rahasia = EXCLUDED.rahasia, updated_at = now() \
         WHERE complaint_facts.case_version < EXCLUDED.case_version",
        vec![
            complaint_id.into(),
            tracking_id.into(),
            category_code.into(),
            skpd.into(),
            state.into(),
            version.into(),
            rahasia.into(),
        ],
    )
    .await
}

pub struct Projection;

#[async_trait::async_trait]
impl EventHandler for Projection {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        bump(txn, EVENTS_CONSUMED).await?;
        match &event.payload {
            Some(Payload::ComplaintSubmitted(submitted)) => {
                exec(
                    txn,
                    "INSERT INTO complaint_facts (complaint_id, tracking_id, category_code, kabupaten_code, channel, state, \
                     case_version, rahasia, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) \
                     ON CONFLICT (complaint_id) DO UPDATE SET category_code = EXCLUDED.category_code, \
                       kabupaten_code = EXCLUDED.kabupaten_code, channel = EXCLUDED.channel, \
                       rahasia = EXCLUDED.rahasia, submitted_at = EXCLUDED.submitted_at, updated_at = now()",
                    vec![
                        complaint_id.into(),
                        event.tracking_id.clone().into(),
                        submitted.category_code.clone().into(),
                        submitted.kabupaten_code.clone().into(),
                        channel_name(submitted.channel).into(),
                        CaseState::Submitted.as_str().into(),
                        submitted.rahasia.into(),
                        from_timestamp(submitted.submitted_at.as_ref()).into(),
                    ],
                )
                .await
            }
            Some(Payload::ComplaintAssigned(assigned)) => {
                apply_case_state(
                    txn,
                    complaint_id,
                    &event.tracking_id,
                    CaseState::Assigned.as_str(),
                    assigned.version,
                    &assigned.skpd_code,
                    &assigned.category_code,
                    assigned.rahasia,
                )
                .await?;
                exec(
                    txn,
                    "UPDATE complaint_facts SET assigned_at = coalesce(assigned_at, $2) WHERE complaint_id = $1",
                    vec![complaint_id.into(), from_timestamp(assigned.assigned_at.as_ref()).into()],
                )
                .await
            }
            Some(Payload::CaseUpdated(update)) => {
                apply_case_state(
                    txn,
                    complaint_id,
                    &event.tracking_id,
                    &update.state,
                    update.version,
                    &update.skpd_code,
                    &update.category_code,
                    update.rahasia,
                )
                .await
            }
            Some(Payload::NotificationSent(_)) => bump(txn, NOTIFICATIONS_SENT).await,
            Some(Payload::ComplaintEscalated(escalated)) => {
                bump(txn, &format!("{ESCALATIONS_PREFIX}{}", escalated.level)).await
            }
            // A reporter's question, not a change: nothing to count.
            Some(Payload::StatusRequested(_)) => Ok(()),
            None => Err(HandlerError::Permanent(format!(
                "unknown event type {:?}",
                event.event_type
            ))),
        }
    }
}
