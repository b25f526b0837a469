//! Messages to reporters: their tracking id right after submission, the state when they ask
//! for it by SMS, and a word when something changes for them (disposed to an SKPD, a
//! question on hold, the follow-up to reply to, closed, redirected, archived). Events carry
//! no contact and no free text, so a message names the tracking id and links the public
//! status page; the contact is asked of intake now only to learn which channels exist, and
//! again when sending.

use crate::channels::{EMAIL, SMS};
use crate::contacts::IntakeContacts;
use crate::messages::{Kind, MessageContext};
use crate::outbound::{self, ReporterOf, Timing};
use crate::quiet_hours::QuietWindow;
use chrono::Utc;
use lapor_messaging::envelope::from_timestamp;
use lapor_messaging::{ConsumerSpec, DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{EventEnvelope, event_envelope::Payload};
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub const QUEUE: &str = "notification.reporters";

/// Workflow events a reporter hears about.
const TOLD: [&str; 6] = ["assigned", "held", "followed_up", "closed", "not_authority", "archived"];

/// What the reporters of merged duplicates hear: the case's progress, not the admin's
/// question to its own reporter nor its archiving or redirection.
const TOLD_TO_MERGED: [&str; 3] = ["assigned", "followed_up", "closed"];

fn is_told_to_merged(event_type: &str) -> bool {
    event_type
        .strip_prefix("complaint.")
        .and_then(|name| name.split('.').next())
        .is_some_and(|name| TOLD_TO_MERGED.contains(&name))
}

fn is_told(event_type: &str) -> bool {
    event_type
        .strip_prefix("complaint.")
        .is_some_and(|name| TOLD.contains(&name))
}

/// The reporter asked by SMS; answered at once, whatever the hour.
const STATUS_REQUESTED: &str = "complaint.status_requested";

pub fn consumer_spec() -> ConsumerSpec {
    let mut keys = vec!["complaint.submitted".to_owned(), STATUS_REQUESTED.to_owned()];
    for event in TOLD {
        keys.push(format!("complaint.{event}"));
        keys.push(format!("complaint.{event}.*"));
    }
    ConsumerSpec::new(QUEUE, keys)
}

pub struct Reporters {
    pub contacts: Arc<IntakeContacts>,
    /// Base of the public status page: `<status_url>/<tracking id>`.
    pub status_url: String,
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    pub default_quiet: QuietWindow,
    pub sms_enabled: bool,
    pub sender_wake: Arc<tokio::sync::Notify>,
}

impl Reporters {
    fn skpd_name(&self, code: &str) -> String {
        self.directory
            .get()
            .skpd(code)
            .map_or_else(|| code.to_owned(), |skpd| skpd.name.clone())
    }
}

/// What a reporter is told about one event.
struct Message {
    kind: Kind,
    state: String,
    skpd_code: String,
    skpd_name: String,
    deadline: Option<chrono::DateTime<Utc>>,
}

impl Reporters {
    /// Plans the message to one reporter on the channels they gave, if any.
    async fn tell(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        reporter: &ReporterOf,
        message: &Message,
    ) -> Result<(), HandlerError> {
        let contact = match self.contacts.contact(reporter.complaint_id).await {
            Ok(contact) => contact,
            Err(crate::channels::SendError::Transient(reason)) => return Err(HandlerError::Transient(reason)),
            Err(error) => {
                tracing::warn!(%error, tracking_id = %reporter.tracking_id, "no reporter to tell");
                return Ok(());
            }
        };
        let mut channels = Vec::new();
        if !contact.email.is_empty() {
            channels.push(EMAIL);
        }
        if self.sms_enabled && !contact.phone.is_empty() {
            channels.push(SMS);
        }
        if channels.is_empty() {
            return Ok(());
        }
        // No name: greeting a reporter by name would copy it out of the vault.
        let context = MessageContext {
            tracking_id: reporter.tracking_id.clone(),
            skpd_name: message.skpd_name.clone(),
            state: message.state.clone(),
            deadline_at: message.deadline.map(|at| at.to_rfc3339()),
            link: format!("{}/{}", self.status_url.trim_end_matches('/'), reporter.tracking_id),
            merged: reporter.merged,
            ..MessageContext::default()
        };
        let timing = Timing {
            // The tracking id and a requested status answer the reporter's own message:
            // they go out at once.
            urgent: message.kind == Kind::ReporterReceived || event.event_type == STATUS_REQUESTED,
            sms_enabled: self.sms_enabled,
            default_quiet: self.default_quiet,
            now: Utc::now(),
        };
        outbound::plan_for_reporter(
            txn,
            event,
            reporter,
            message.kind,
            &message.skpd_code,
            &channels,
            &timing,
            &context,
        )
        .await
    }
}

#[async_trait::async_trait]
impl EventHandler for Reporters {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let (kind, state, skpd_code, skpd_name, deadline, merged) = match &event.payload {
            Some(Payload::ComplaintSubmitted(_)) => (
                Kind::ReporterReceived,
                "submitted".to_owned(),
                String::new(),
                String::new(),
                None,
                &[][..],
            ),
            Some(Payload::ComplaintAssigned(assigned)) => (
                Kind::ReporterUpdate,
                "assigned".to_owned(),
                assigned.skpd_code.clone(),
                assigned.skpd_name.clone(),
                from_timestamp(assigned.sla_due_at.as_ref()),
                &assigned.merged_reports[..],
            ),
            Some(Payload::StatusRequested(asked)) => (
                Kind::ReporterUpdate,
                asked.public_state.clone(),
                String::new(),
                asked.skpd_name.clone(),
                from_timestamp(asked.expected_at.as_ref()),
                &[][..],
            ),
            Some(Payload::CaseUpdated(update)) if is_told(&event.event_type) => (
                Kind::ReporterUpdate,
                update.state.clone(),
                update.skpd_code.clone(),
                self.skpd_name(&update.skpd_code),
                from_timestamp(update.sla_due_at.as_ref()),
                if is_told_to_merged(&event.event_type) {
                    &update.merged_reports[..]
                } else {
                    &[][..]
                },
            ),
            _ => return Ok(()),
        };
        let message = Message {
            kind,
            state,
            skpd_code,
            skpd_name,
            deadline,
        };
        self.tell(txn, event, &ReporterOf::own(event)?, &message).await?;
        // Reporters of duplicates merged into this case follow it: told under their own
        // tracking id, whose status page shows this case's progress.
        for report in merged {
            let reporter = ReporterOf::merged(&report.complaint_id, &report.tracking_id)?;
            self.tell(txn, event, &reporter, &message).await?;
        }
        Ok(())
    }

    fn after_commit(&self) {
        self.sender_wake.notify_one();
    }
}
