//! Consumes the SKPD work queues. A `complaint.assigned.<skpd>` becomes deliveries to every
//! SKPD-level liaison officer (penghubung) of that SKPD; a `complaint.reassigned.<skpd>` to a
//! sub-unit, deliveries to that sub-unit's officers; a `complaint.escalated.<level>.<skpd>`
//! deliveries to the officers its `notify_roles` name (see [`crate::escalations`]). Each
//! person is reached on the channels they prefer (see [`crate::outbound`]). Deliveries are
//! written in the consumer's transaction; the worker sends them. Any other event on the
//! queue is acknowledged and ignored.

use crate::entity::recipient;
use crate::escalations;
use crate::messages::{Kind, MessageContext};
use crate::outbound::{self, Timing};
use crate::quiet_hours::QuietWindow;
use chrono::{DateTime, Utc};
use lapor_domain::reference::OfficerRole;
use lapor_messaging::{DeliveryContext, EventHandler, HandlerError, topology};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;

/// A koordinator's disposition to a sub-unit.
const REASSIGNED: &str = "complaint.reassigned";

/// Written instead of the title of a rahasia case, which may name people or places.
pub const HIDDEN_TITLE: &str = "(rahasia)";

pub fn consumer_spec(skpd_code: &str) -> lapor_messaging::ConsumerSpec {
    let mut spec =
        lapor_messaging::ConsumerSpec::new(topology::skpd_queue(skpd_code), topology::skpd_binding_keys(skpd_code));
    spec.consumer_name = format!("notification.{}", topology::skpd_queue(skpd_code));
    spec
}

pub struct Assignments {
    pub console_url: String,
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    pub default_quiet: QuietWindow,
    pub sms_enabled: bool,
    /// Escalation levels whose SMS ignores quiet hours.
    pub urgent_levels: Vec<String>,
    /// Wakes the delivery worker once new rows are committed.
    pub sender_wake: Arc<tokio::sync::Notify>,
}

fn instant(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|at| at.to_rfc3339())
}

impl Assignments {
    fn case_link(&self, tracking_id: &str) -> String {
        format!("{}/console/cases/{tracking_id}", self.console_url.trim_end_matches('/'))
    }

    fn category_name(&self, code: &str) -> String {
        self.directory
            .get()
            .categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_owned(), |c| c.name.clone())
    }

    fn kabupaten_name(&self, code: &str) -> String {
        self.directory
            .get()
            .kabupaten
            .iter()
            .find(|k| k.code == code)
            .map_or_else(|| code.to_owned(), |k| k.name.clone())
    }

    /// Plans `kind` for each officer: `base` greeting them by name.
    #[allow(clippy::too_many_arguments)]
    async fn plan(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        kind: Kind,
        skpd_code: &str,
        officers: &[recipient::Model],
        urgent: bool,
        base: &MessageContext,
    ) -> Result<(), HandlerError> {
        let timing = self.timing(urgent);
        outbound::plan_for_officers(txn, event, kind, skpd_code, officers, &timing, |officer| {
            MessageContext {
                recipient_name: officer.name.clone(),
                ..base.clone()
            }
        })
        .await?;
        Ok(())
    }

    fn timing(&self, urgent: bool) -> Timing {
        Timing {
            urgent,
            sms_enabled: self.sms_enabled,
            default_quiet: self.default_quiet,
            now: Utc::now(),
        }
    }
}

fn shown_title(title: &str, rahasia: bool) -> String {
    if rahasia {
        HIDDEN_TITLE.to_owned()
    } else {
        title.to_owned()
    }
}

#[async_trait::async_trait]
impl EventHandler for Assignments {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        match &event.payload {
            Some(Payload::ComplaintAssigned(assigned)) => {
                // The SKPD-level liaison officers; sub-unit officers hear when a case is
                // disposed to their sub-unit.
                let officers = recipient::Entity::find()
                    .filter(recipient::Column::SkpdCode.eq(assigned.skpd_code.as_str()))
                    .filter(recipient::Column::Role.eq(OfficerRole::Penghubung.as_str()))
                    .filter(recipient::Column::SubUnit.is_null())
                    .order_by_asc(recipient::Column::Id)
                    .all(txn)
                    .await?;
                if officers.is_empty() {
                    tracing::warn!(skpd = %assigned.skpd_code, "skpd has no liaison officer to notify");
                }
                let base = MessageContext {
                    tracking_id: event.tracking_id.clone(),
                    title: shown_title(&assigned.title, assigned.rahasia),
                    rahasia: assigned.rahasia,
                    skpd_name: assigned.skpd_name.clone(),
                    category: self.category_name(&assigned.category_code),
                    kabupaten: self.kabupaten_name(&assigned.kabupaten_code),
                    deadline_at: instant(assigned.sla_due_at.as_ref()),
                    stage: "follow_up".into(),
                    link: self.case_link(&event.tracking_id),
                    ..MessageContext::default()
                };
                self.plan(txn, event, Kind::Assigned, &assigned.skpd_code, &officers, false, &base)
                    .await
            }
            Some(Payload::ComplaintEscalated(escalated)) => {
                let (audiences, unknown) = escalations::audiences(&escalated.notify_roles);
                if !unknown.is_empty() {
                    tracing::warn!(roles = ?unknown, level = %escalated.level, "ignoring unknown roles in escalation");
                }
                let officers = escalations::recipients(txn, &audiences, &escalated.skpd_code).await?;
                if officers.is_empty() {
                    tracing::warn!(
                        skpd = %escalated.skpd_code,
                        level = %escalated.level,
                        roles = ?escalated.notify_roles,
                        "escalation has no recipient to notify"
                    );
                }
                let base = MessageContext {
                    tracking_id: event.tracking_id.clone(),
                    title: shown_title(&escalated.title, escalated.rahasia),
                    rahasia: escalated.rahasia,
                    skpd_name: escalated.skpd_name.clone(),
                    deadline_at: instant(escalated.deadline_at.as_ref()),
                    working_days: escalated.working_days,
                    level: escalated.level.clone(),
                    stage: escalated.stage.clone(),
                    link: self.case_link(&event.tracking_id),
                    ..MessageContext::default()
                };
                let urgent = self.urgent_levels.contains(&escalated.level);
                self.plan(
                    txn,
                    event,
                    Kind::Escalated,
                    &escalated.skpd_code,
                    &officers,
                    urgent,
                    &base,
                )
                .await
            }
            Some(Payload::CaseUpdated(update)) if event.event_type == REASSIGNED && !update.sub_unit.is_empty() => {
                let officers: Vec<_> = recipient::Entity::find()
                    .filter(recipient::Column::SkpdCode.eq(update.skpd_code.as_str()))
                    .order_by_asc(recipient::Column::Id)
                    .all(txn)
                    .await?
                    .into_iter()
                    .filter(|o| {
                        o.sub_unit
                            .as_deref()
                            .is_some_and(|unit| unit.trim().eq_ignore_ascii_case(update.sub_unit.trim()))
                    })
                    .collect();
                if officers.is_empty() {
                    tracing::warn!(skpd = %update.skpd_code, sub_unit = %update.sub_unit, "sub-unit has no officer to notify");
                }
                let skpd_name = self.directory.get().skpd(&update.skpd_code).map_or_else(
                    || update.skpd_code.clone(),
                    |skpd| format!("{} ({})", skpd.name, update.sub_unit),
                );
                // The event carries no title (officer and citizen text stay out of events):
                // the console link shows it.
                let base = MessageContext {
                    tracking_id: event.tracking_id.clone(),
                    title: if update.rahasia {
                        HIDDEN_TITLE.to_owned()
                    } else {
                        "(lihat di konsol)".to_owned()
                    },
                    rahasia: update.rahasia,
                    skpd_name,
                    category: self.category_name(&update.category_code),
                    deadline_at: instant(update.sla_due_at.as_ref()),
                    stage: "follow_up".into(),
                    link: self.case_link(&event.tracking_id),
                    ..MessageContext::default()
                };
                self.plan(txn, event, Kind::Assigned, &update.skpd_code, &officers, false, &base)
                    .await
            }
            _ => {
                tracing::debug!(event_type = %event.event_type, "ignoring event on skpd queue");
                Ok(())
            }
        }
    }

    fn after_commit(&self) {
        self.sender_wake.notify_one();
    }
}
