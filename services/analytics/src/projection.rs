//! Projects every domain event into the read models. Idempotent through the consumer's inbox
//! and order-insensitive through `state_rank`, so duplicates and any replica order give the
//! same figures.

use lapor_domain::CaseState;
use lapor_messaging::envelope::from_timestamp;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{Channel, EventEnvelope, event_envelope::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use uuid::Uuid;

pub const QUEUE: &str = "analytics.events";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.#".into(), "notification.#".into()]
}

pub const EVENTS_CONSUMED: &str = "events_consumed";
pub const NOTIFICATIONS_SENT: &str = "notifications_sent";

/// Position in the lifecycle; only moves forward.
fn rank(state: CaseState) -> i32 {
    match state {
        CaseState::Submitted => 0,
        CaseState::Verified | CaseState::OnHold | CaseState::RejectedNotAuthority => 1,
        CaseState::Assigned => 2,
        CaseState::InProgress => 3,
        CaseState::FollowedUp => 4,
        CaseState::Closed | CaseState::Archived => 5,
    }
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
                let state = CaseState::Submitted;
                exec(
                    txn,
                    "INSERT INTO complaint_facts (complaint_id, tracking_id, category_code, kabupaten_code, channel, state, state_rank, rahasia, submitted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (complaint_id) DO UPDATE SET category_code = EXCLUDED.category_code, \
                       kabupaten_code = EXCLUDED.kabupaten_code, channel = EXCLUDED.channel, \
                       rahasia = EXCLUDED.rahasia, submitted_at = EXCLUDED.submitted_at, updated_at = now()",
                    vec![
                        complaint_id.into(),
                        event.tracking_id.clone().into(),
                        submitted.category_code.clone().into(),
                        submitted.kabupaten_code.clone().into(),
                        channel_name(submitted.channel).into(),
                        state.as_str().into(),
                        rank(state).into(),
                        submitted.rahasia.into(),
                        from_timestamp(submitted.submitted_at.as_ref()).into(),
                    ],
                )
                .await
            }
            Some(Payload::ComplaintAssigned(assigned)) => {
                let state = CaseState::Assigned;
                exec(
                    txn,
                    "INSERT INTO complaint_facts (complaint_id, tracking_id, category_code, kabupaten_code, skpd_code, state, state_rank, rahasia, assigned_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (complaint_id) DO UPDATE SET skpd_code = EXCLUDED.skpd_code, assigned_at = EXCLUDED.assigned_at, \
                       state = CASE WHEN complaint_facts.state_rank <= EXCLUDED.state_rank THEN EXCLUDED.state ELSE complaint_facts.state END, \
                       state_rank = GREATEST(complaint_facts.state_rank, EXCLUDED.state_rank), updated_at = now()",
                    vec![
                        complaint_id.into(),
                        event.tracking_id.clone().into(),
                        assigned.category_code.clone().into(),
                        assigned.kabupaten_code.clone().into(),
                        assigned.skpd_code.clone().into(),
                        state.as_str().into(),
                        rank(state).into(),
                        assigned.rahasia.into(),
                        from_timestamp(assigned.assigned_at.as_ref()).into(),
                    ],
                )
                .await
            }
            Some(Payload::NotificationSent(_)) => bump(txn, NOTIFICATIONS_SENT).await,
            None => Err(HandlerError::Permanent(format!(
                "unknown event type {:?}",
                event.event_type
            ))),
        }
    }
}
