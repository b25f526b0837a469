//! What a reporter does after submitting, proven by the access code: answer the admin's
//! question while the report is on hold, reply to or object to a follow-up inside the reply
//! window, and rate the answer once. Intake checks what it can see (the code, the text, the
//! public state and deadline), then hands the action to routing as a `complaint.reporter_acted`
//! event through the outbox; routing's workflow has the last word.

use crate::access::AccessCodes;
use crate::entity::complaint;
use crate::submit::reporter_ref;
use chrono::Utc;
use lapor_domain::submission::{BODY_MAX_CHARS, FieldError, check_text};
use lapor_domain::{CaseState, tracking_id};
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{ReporterActed, event_envelope::Payload};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, SqlErr, TransactionTrait};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReporterAction {
    Answer(String),
    Reply(String),
    Objection(String),
    Rate(u8),
}

impl ReporterAction {
    pub fn name(&self) -> &'static str {
        match self {
            ReporterAction::Answer(_) => "answer",
            ReporterAction::Reply(_) => "reply",
            ReporterAction::Objection(_) => "objection",
            ReporterAction::Rate(_) => "rate",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no complaint with tracking id {0}")]
    NotFound(String),
    #[error("the access code does not match this complaint")]
    WrongCode,
    #[error("invalid {0}")]
    Invalid(#[from] FieldError),
    /// The action does not fit the complaint's state or its reply window.
    #[error("{0}")]
    NotNow(Untimely),
    #[error("this complaint has been rated already")]
    AlreadyRated,
    #[error("{0}")]
    Limited(crate::limits::Limited),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Why an action cannot be taken now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Untimely {
    #[error("an answer is taken while the report is on hold with a question")]
    NotOnHold,
    #[error("replies and objections are taken within the reply window after a follow-up")]
    OutsideReplyWindow,
    #[error("a rating is taken once the report has been followed up")]
    NotFollowedUp,
}

pub struct Acted {
    pub tracking_id: String,
    pub replayed: bool,
}

pub struct ReporterActions {
    pub db: DatabaseConnection,
    pub access: Arc<AccessCodes>,
    pub limits: Arc<crate::limits::Limits>,
    pub outbox: Outbox,
}

/// Whether the state intake last heard of allows the action now.
fn check_timing(model: &complaint::Model, action: &ReporterAction) -> Result<(), ActionError> {
    let state = CaseState::parse(&model.public_state);
    let window_open = model.expected_at.is_none_or(|due| Utc::now() < due);
    match action {
        ReporterAction::Answer(_) if state != Some(CaseState::OnHold) => Err(ActionError::NotNow(Untimely::NotOnHold)),
        ReporterAction::Reply(_) | ReporterAction::Objection(_)
            if state != Some(CaseState::FollowedUp) || !window_open =>
        {
            Err(ActionError::NotNow(Untimely::OutsideReplyWindow))
        }
        ReporterAction::Rate(_) if !matches!(state, Some(CaseState::FollowedUp | CaseState::Closed)) => {
            Err(ActionError::NotNow(Untimely::NotFollowedUp))
        }
        ReporterAction::Rate(_) if model.rated_at.is_some() => Err(ActionError::AlreadyRated),
        _ => Ok(()),
    }
}

impl ReporterActions {
    /// Records the action for routing. With an idempotency key the event id is derived from
    /// it, so a retry lands on the same outbox row and is answered as a replay.
    pub async fn act(
        &self,
        raw_tracking_id: &str,
        access_code: &str,
        action: ReporterAction,
        idempotency_key: Option<&str>,
    ) -> Result<Acted, ActionError> {
        let id =
            tracking_id::normalize(raw_tracking_id).ok_or_else(|| ActionError::NotFound(raw_tracking_id.to_owned()))?;
        let model = complaint::Entity::find()
            .filter(complaint::Column::TrackingId.eq(id.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| ActionError::NotFound(id.clone()))?;
        let right = self
            .access
            .check(&self.limits, model.id, &model.tracking_id, access_code)
            .map_err(ActionError::Limited)?;
        if !right {
            return Err(ActionError::WrongCode);
        }
        let (text, stars) = match &action {
            ReporterAction::Answer(text) | ReporterAction::Reply(text) | ReporterAction::Objection(text) => {
                (check_text("text", text, BODY_MAX_CHARS, true, true)?, 0)
            }
            ReporterAction::Rate(stars) if !(1..=5).contains(stars) => {
                return Err(FieldError::new("stars", format!("must be 1 to 5, got {stars}")).into());
            }
            ReporterAction::Rate(stars) => (String::new(), u32::from(*stars)),
        };
        let event_id =
            idempotency_key.map(|key| Uuid::new_v5(&model.id, format!("reporter:{}:{key}", action.name()).as_bytes()));
        let replay = match event_id {
            Some(event_id) => self.already_recorded(event_id).await?,
            None => false,
        };
        if replay {
            return Ok(Acted {
                tracking_id: model.tracking_id,
                replayed: true,
            });
        }
        check_timing(&model, &action)?;
        let payload = Payload::ReporterActed(ReporterActed {
            action: action.name().to_owned(),
            text,
            stars,
            reporter_ref: reporter_ref(model.id, model.reporter_id),
        });
        let mut envelope = new_envelope("intake", model.id, &model.tracking_id, payload);
        if let Some(event_id) = event_id {
            envelope.event_id = event_id.to_string();
        }
        let txn = self.db.begin().await?;
        let recorded = self.outbox.enqueue(&txn, &OutgoingEvent::new(envelope, None)).await;
        match recorded {
            Ok(()) => txn.commit().await?,
            // The same idempotency key raced in from another request: that one recorded it.
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await?;
                return Ok(Acted {
                    tracking_id: model.tracking_id,
                    replayed: true,
                });
            }
            Err(error) => return Err(error.into()),
        }
        self.outbox.notify_committed();
        tracing::info!(tracking_id = %model.tracking_id, action = action.name(), "reporter action recorded");
        metrics::counter!("lapor_intake_reporter_actions_total", "action" => action.name()).increment(1);
        Ok(Acted {
            tracking_id: model.tracking_id,
            replayed: false,
        })
    }

    async fn already_recorded(&self, event_id: Uuid) -> Result<bool, DbErr> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS found FROM outbox WHERE event_id = $1",
                [event_id.into()],
            ))
            .await?;
        Ok(row.is_some())
    }
}
