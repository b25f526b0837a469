//! The reporter's actions, as intake took them (after checking the access code): answer a
//! question, reply to or object to a follow-up, rate it. Each goes through the workflow
//! like an officer's action, as the reporter, with the reply window by the database clock.
//! One the workflow refuses (the window closed meanwhile, rated already) is acknowledged
//! and counted, not retried: no later attempt can make it right.

use crate::case_store::{self, AuditActor, CaseWriter, Change};
use crate::clock::{db_now, reply_window_open};
use crate::entity::case;
use lapor_domain::workflow::{self, Action, Actor, Context};
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::{DatabaseTransaction, EntityTrait, QuerySelect, sea_query::LockType};
use uuid::Uuid;

pub const QUEUE: &str = "routing.reporter_actions";

pub fn binding_keys() -> Vec<String> {
    vec!["complaint.reporter_acted".into()]
}

pub struct ReporterActions {
    pub writer: CaseWriter,
}

fn action_of(action: &str, text: &str, stars: u32) -> Result<Action, HandlerError> {
    Ok(match action {
        "answer" => Action::ReporterAnswer { text: text.to_owned() },
        "reply" => Action::Reply { text: text.to_owned() },
        "objection" => Action::Objection { text: text.to_owned() },
        "rate" => Action::Rate {
            stars: u8::try_from(stars).unwrap_or(0),
        },
        other => return Err(HandlerError::Permanent(format!("unknown reporter action {other:?}"))),
    })
}

#[async_trait::async_trait]
impl EventHandler for ReporterActions {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let Some(Payload::ReporterActed(acted)) = &event.payload else {
            return Err(HandlerError::Permanent(format!(
                "unexpected event {:?} on {QUEUE}",
                event.event_type
            )));
        };
        let action = action_of(&acted.action, &acted.text, acted.stars)?;
        let complaint_id =
            Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
        // The case row is locked for the transaction: an officer acting at the same moment
        // waits, then sees the new version.
        let Some(model) = case::Entity::find_by_id(complaint_id)
            .lock(LockType::Update)
            .one(txn)
            .await?
        else {
            // The submission has not reached routing yet: later, it will have.
            return Err(HandlerError::Transient("no case for this complaint yet".into()));
        };
        let mut before = case_store::to_workflow(&model);
        // Reports submitted without any identity before intake named their reporter
        // `anonymous:<complaint id>` carry an empty reference here: the same person.
        if before.reporter_ref.is_empty() && acted.reporter_ref == format!("anonymous:{complaint_id}") {
            before.reporter_ref = acted.reporter_ref.clone();
        }
        let now = db_now(txn).await?;
        let context = Context {
            reply_window_open: reply_window_open(&model, now),
        };
        let actor = Actor::reporter(acted.reporter_ref.clone());
        let transition = match workflow::apply(&before, &actor, &action, &context) {
            Ok(transition) => transition,
            Err(refused) => {
                tracing::warn!(tracking_id = %event.tracking_id, action = %acted.action, %refused, "reporter action refused");
                metrics::counter!("lapor_routing_reporter_actions_refused_total", "action" => acted.action.clone())
                    .increment(1);
                return Ok(());
            }
        };
        let who = AuditActor {
            actor: "reporter".into(),
            role: "reporter".into(),
        };
        let change = Change {
            action: action.kind().as_str(),
            who: &who,
            tier: None,
            attached: &[],
        };
        if !self
            .writer
            .store(txn, complaint_id, &before, &transition, &change)
            .await?
        {
            return Err(HandlerError::Transient("case changed concurrently".into()));
        }
        tracing::info!(tracking_id = %event.tracking_id, action = %acted.action, "reporter action applied");
        Ok(())
    }
}
