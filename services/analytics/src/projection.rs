//! Projects every domain event into the read models. Idempotent through the consumer's inbox
//! (the history replay shares it) and order-insensitive: case state moves only forward in
//! routing's case version, first-time timestamps keep the earliest value, and the
//! submission fills only what no later event has set. So duplicates, replays and any
//! replica order give the same figures.

use crate::feed;
use lapor_domain::CaseState;
use lapor_messaging::envelope::{channel_name, from_timestamp, kind_name};
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::analytics::v1::FeedEvent;
use lapor_proto::events::v1::{CaseUpdated, ComplaintEscalated, EventEnvelope, event_envelope::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use uuid::Uuid;

/// The live work queue; also the inbox name the history replay shares, so an event is
/// counted once whichever path brings it.
pub const QUEUE: &str = "analytics.events";

/// The event families analytics counts; others (directory changes, its own digests) are
/// not its business, live or replayed.
const FAMILIES: [&str; 2] = ["complaint", "notification"];

pub fn binding_keys() -> Vec<String> {
    FAMILIES.iter().map(|family| format!("{family}.#")).collect()
}

/// Whether the live queue's bindings deliver an event of this type (the replay applies the
/// same filter to the history stream, so both count the same events).
pub fn is_bound(event_type: &str) -> bool {
    FAMILIES.iter().any(|family| {
        event_type
            .strip_prefix(family)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

pub const EVENTS_CONSUMED: &str = "events_consumed";
pub const NOTIFICATIONS_SENT: &str = "notifications_sent";

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

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// What a workflow event says about the case as a whole.
struct CaseSnapshot<'a> {
    state: &'a str,
    version: i64,
    skpd_code: &'a str,
    category_code: &'a str,
    rahasia: bool,
}

/// Moves the fact row to the case's state at `version`, unless it already holds a newer one.
async fn apply_case_state(
    txn: &DatabaseTransaction,
    complaint_id: Uuid,
    tracking_id: &str,
    case: CaseSnapshot<'_>,
) -> Result<(), HandlerError> {
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
            case.category_code.into(),
            non_empty(case.skpd_code).into(),
            case.state.into(),
            case.version.into(),
            case.rahasia.into(),
        ],
    )
    .await
}

/// Sets a first-time column (`assigned_at`, `followed_up_at`, ...) to the earliest value seen.
async fn first_time(
    txn: &DatabaseTransaction,
    complaint_id: Uuid,
    column: &'static str,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), HandlerError> {
    // `column` is one of our own constants, never input.
    let sql = format!("UPDATE complaint_facts SET {column} = least({column}, $2) WHERE complaint_id = $1");
    exec(txn, &sql, vec![complaint_id.into(), at.into()]).await
}

async fn remember_skpd_name(txn: &DatabaseTransaction, code: &str, name: &str) -> Result<(), HandlerError> {
    if code.is_empty() || name.is_empty() {
        return Ok(());
    }
    exec(
        txn,
        "INSERT INTO skpd_names (skpd_code, name) VALUES ($1, $2) \
         ON CONFLICT (skpd_code) DO UPDATE SET name = EXCLUDED.name WHERE skpd_names.name <> EXCLUDED.name",
        vec![code.into(), name.into()],
    )
    .await
}

async fn case_updated(
    txn: &DatabaseTransaction,
    event: &EventEnvelope,
    complaint_id: Uuid,
    update: &CaseUpdated,
) -> Result<(), HandlerError> {
    // A returned case names the SKPD that returned it, but no SKPD holds it any more: it
    // waits for the admin and must not count against that SKPD.
    let returned = event.event_type == "complaint.returned_to_admin";
    let snapshot = CaseSnapshot {
        state: &update.state,
        version: update.version,
        skpd_code: if returned { "" } else { &update.skpd_code },
        category_code: &update.category_code,
        rahasia: update.rahasia,
    };
    apply_case_state(txn, complaint_id, &event.tracking_id, snapshot).await?;
    let at = from_timestamp(update.at.as_ref()).or_else(|| from_timestamp(event.occurred_at.as_ref()));
    match event.event_type.as_str() {
        "complaint.followed_up" => first_time(txn, complaint_id, "followed_up_at", at).await,
        "complaint.closed" => first_time(txn, complaint_id, "closed_at", at).await,
        "complaint.archived" | "complaint.not_authority" => first_time(txn, complaint_id, "finished_at", at).await,
        "complaint.reopened" => {
            exec(
                txn,
                "UPDATE complaint_facts SET reopen_count = reopen_count + 1 WHERE complaint_id = $1",
                vec![complaint_id.into()],
            )
            .await
        }
        "complaint.rated" if (1..=5).contains(&update.stars) => {
            exec(
                txn,
                "UPDATE complaint_facts SET stars = $2 WHERE complaint_id = $1",
                vec![complaint_id.into(), (update.stars as i16).into()],
            )
            .await
        }
        _ => Ok(()),
    }
}

async fn escalated(
    txn: &DatabaseTransaction,
    event: &EventEnvelope,
    complaint_id: Uuid,
    escalation: &ComplaintEscalated,
) -> Result<(), HandlerError> {
    let event_id = Uuid::parse_str(&event.event_id).map_err(|e| HandlerError::Permanent(format!("event_id: {e}")))?;
    let due_at = from_timestamp(escalation.due_at.as_ref());
    let deadline_at = from_timestamp(escalation.deadline_at.as_ref());
    let breach = matches!((due_at, deadline_at), (Some(due), Some(deadline)) if due >= deadline);
    remember_skpd_name(txn, &escalation.skpd_code, &escalation.skpd_name).await?;
    exec(
        txn,
        "INSERT INTO escalation_facts (event_id, complaint_id, level, stage, skpd_code, due_at, deadline_at, breach) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        vec![
            event_id.into(),
            complaint_id.into(),
            escalation.level.clone().into(),
            escalation.stage.clone().into(),
            escalation.skpd_code.clone().into(),
            due_at.into(),
            deadline_at.into(),
            breach.into(),
        ],
    )
    .await
}

/// What the live feed shows of an event; a rahasia complaint's tracking id stays out.
fn feed_event(event: &EventEnvelope) -> FeedEvent {
    let (skpd, category, kabupaten, rahasia) = match &event.payload {
        Some(Payload::ComplaintSubmitted(s)) => ("", s.category_code.as_str(), s.kabupaten_code.as_str(), s.rahasia),
        Some(Payload::ComplaintAssigned(a)) => (
            a.skpd_code.as_str(),
            a.category_code.as_str(),
            a.kabupaten_code.as_str(),
            a.rahasia,
        ),
        Some(Payload::CaseUpdated(u)) => (u.skpd_code.as_str(), u.category_code.as_str(), "", u.rahasia),
        Some(Payload::ComplaintEscalated(e)) => (e.skpd_code.as_str(), e.category_code.as_str(), "", e.rahasia),
        Some(Payload::NotificationSent(n)) => (n.skpd_code.as_str(), "", "", true),
        _ => ("", "", "", true),
    };
    FeedEvent {
        event_type: event.event_type.clone(),
        tracking_id: if rahasia {
            String::new()
        } else {
            event.tracking_id.clone()
        },
        skpd_code: skpd.to_owned(),
        category_code: category.to_owned(),
        kabupaten_code: kabupaten.to_owned(),
        occurred_at: event.occurred_at,
    }
}

pub struct Projection;

/// Whether a counted event is announced to the live feed: yes when consumed live, no when
/// replayed from the history (a dashboard must not show last year's events as news).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    Live,
    Quietly,
}

impl Projection {
    /// Applies one event inside the caller's transaction (the live consumer's or the replay's).
    pub async fn apply(
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        announce: Announce,
    ) -> Result<(), HandlerError> {
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        // Analytics' own digests are in the history (which keeps everything) but are not
        // figures: the live queue is not even bound to them, so the replay must not count them.
        if matches!(event.payload, Some(Payload::DigestReady(_))) {
            return Ok(());
        }
        bump(txn, EVENTS_CONSUMED).await?;
        match &event.payload {
            Some(Payload::ComplaintSubmitted(submitted)) => {
                // A later workflow event may already have set category and rahasia (case
                // version > 0); the submission then only fills what it alone knows.
                exec(
                    txn,
                    "INSERT INTO complaint_facts (complaint_id, tracking_id, category_code, kabupaten_code, channel, kind, \
                     state, case_version, rahasia, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) \
                     ON CONFLICT (complaint_id) DO UPDATE SET kabupaten_code = EXCLUDED.kabupaten_code, \
                       channel = EXCLUDED.channel, kind = EXCLUDED.kind, submitted_at = EXCLUDED.submitted_at, \
                       category_code = CASE WHEN complaint_facts.case_version = 0 THEN EXCLUDED.category_code \
                                            ELSE complaint_facts.category_code END, \
                       rahasia = CASE WHEN complaint_facts.case_version = 0 THEN EXCLUDED.rahasia \
                                      ELSE complaint_facts.rahasia END, \
                       updated_at = now()",
                    vec![
                        complaint_id.into(),
                        event.tracking_id.clone().into(),
                        submitted.category_code.clone().into(),
                        submitted.kabupaten_code.clone().into(),
                        channel_name(submitted.channel).into(),
                        kind_name(submitted.kind).into(),
                        CaseState::Submitted.as_str().into(),
                        submitted.rahasia.into(),
                        from_timestamp(submitted.submitted_at.as_ref()).into(),
                    ],
                )
                .await?;
            }
            Some(Payload::ComplaintAssigned(assigned)) => {
                let snapshot = CaseSnapshot {
                    state: CaseState::Assigned.as_str(),
                    version: assigned.version,
                    skpd_code: &assigned.skpd_code,
                    category_code: &assigned.category_code,
                    rahasia: assigned.rahasia,
                };
                apply_case_state(txn, complaint_id, &event.tracking_id, snapshot).await?;
                remember_skpd_name(txn, &assigned.skpd_code, &assigned.skpd_name).await?;
                first_time(
                    txn,
                    complaint_id,
                    "assigned_at",
                    from_timestamp(assigned.assigned_at.as_ref()),
                )
                .await?;
                // The deadline of the disposition the row now reflects (a re-disposition
                // replaces it; an older assignment arriving late does not).
                exec(
                    txn,
                    "UPDATE complaint_facts SET follow_up_due_at = $3, follow_up_due_version = $2 \
                     WHERE complaint_id = $1 AND coalesce(follow_up_due_version, -1) < $2",
                    vec![
                        complaint_id.into(),
                        assigned.version.into(),
                        from_timestamp(assigned.sla_due_at.as_ref()).into(),
                    ],
                )
                .await?;
            }
            Some(Payload::CaseUpdated(update)) => case_updated(txn, event, complaint_id, update).await?,
            Some(Payload::NotificationSent(_)) => bump(txn, NOTIFICATIONS_SENT).await?,
            Some(Payload::ComplaintEscalated(escalation)) => escalated(txn, event, complaint_id, escalation).await?,
            // A reporter's status question, or what a reporter did (counted once routing
            // applied it: reopened, rated): events, nothing more.
            Some(Payload::StatusRequested(_))
            | Some(Payload::DigestReady(_))
            | Some(Payload::ReporterActed(_))
            | Some(Payload::DirectoryChanged(_)) => {}
            None => {
                return Err(HandlerError::Permanent(format!(
                    "unknown event type {:?}",
                    event.event_type
                )));
            }
        }
        match announce {
            Announce::Live => feed::notify(txn, &feed_event(event)).await,
            Announce::Quietly => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl EventHandler for Projection {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        Projection::apply(txn, event, Announce::Live).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_filter_matches_the_bindings() {
        for bound in [
            "complaint.submitted",
            "complaint.escalated.2.dinkes",
            "notification.sent",
        ] {
            assert!(is_bound(bound), "{bound}");
        }
        for unbound in [
            "directory.changed",
            "analytics.digest.daily",
            "complaints.x",
            "notificationx",
        ] {
            assert!(!is_bound(unbound), "{unbound}");
        }
        assert_eq!(binding_keys(), ["complaint.#", "notification.#"]);
    }
}
