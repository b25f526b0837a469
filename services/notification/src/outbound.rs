//! Planning deliveries: which person hears of an event on which channel, and when. One row
//! per event × recipient × channel; the unique key makes a redelivered event add nothing.
//! Rows hold the message's kind, language and context, not its text: the worker renders
//! when it sends (see [`crate::sender`]).

use crate::channels::{EMAIL, SMS};
use crate::entity::{delivery, recipient};
use crate::messages::{Kind, Lang, MessageContext};
use crate::quiet_hours::QuietWindow;
use chrono::{DateTime, Utc};
use lapor_messaging::HandlerError;
use lapor_proto::events::v1::EventEnvelope;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

pub const PENDING: &str = "PENDING";
pub const SENDING: &str = "SENDING";
pub const SENT: &str = "SENT";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";
/// Every delivery state, in the order a delivery moves through them.
pub const STATES: [&str; 5] = [PENDING, SENDING, SENT, DELIVERED, FAILED];

/// The channels a person is reached on: their preference, limited to the contacts they
/// have and to SMS being configured at all. Someone who prefers SMS but cannot get it still
/// gets e-mail.
pub fn channels_for(officer: &recipient::Model, sms_enabled: bool) -> Vec<&'static str> {
    let has_email = !officer.email.trim().is_empty();
    let has_phone = sms_enabled && !officer.phone.trim().is_empty();
    let wanted: &[&'static str] = match officer.channels.as_str() {
        EMAIL => &[EMAIL],
        SMS => &[SMS],
        _ => &[EMAIL, SMS],
    };
    let mut chosen: Vec<&'static str> = wanted
        .iter()
        .copied()
        .filter(|channel| match *channel {
            EMAIL => has_email,
            _ => has_phone,
        })
        .collect();
    if chosen.is_empty() && has_email {
        chosen.push(EMAIL);
    }
    chosen
}

/// When a message may go out: now, except a non-urgent SMS inside the person's quiet hours.
pub struct Timing {
    pub urgent: bool,
    /// False when no SMS transport is configured: nothing is planned for SMS.
    pub sms_enabled: bool,
    pub default_quiet: QuietWindow,
    pub now: DateTime<Utc>,
}

impl Timing {
    fn not_before(&self, channel: &str, officer: &recipient::Model) -> DateTime<Utc> {
        if self.urgent || channel != SMS {
            return self.now;
        }
        let window = match (officer.quiet_start, officer.quiet_end) {
            (Some(start), Some(end)) => QuietWindow::from_minutes(start, end).unwrap_or(self.default_quiet),
            _ => self.default_quiet,
        };
        window.next_allowed(self.now)
    }
}

pub fn ids(event: &EventEnvelope) -> Result<(Uuid, Uuid), HandlerError> {
    let event_id = Uuid::parse_str(&event.event_id).map_err(|e| HandlerError::Permanent(format!("event_id: {e}")))?;
    let complaint_id =
        Uuid::parse_str(&event.complaint_id).map_err(|e| HandlerError::Permanent(format!("complaint_id: {e}")))?;
    Ok((event_id, complaint_id))
}

/// Writes the PENDING deliveries of `kind` for `officers`, one per channel each prefers.
pub async fn plan_for_officers(
    txn: &impl ConnectionTrait,
    event: &EventEnvelope,
    kind: Kind,
    skpd_code: &str,
    officers: &[recipient::Model],
    timing: &Timing,
    context_for: impl Fn(&recipient::Model) -> MessageContext,
) -> Result<usize, HandlerError> {
    let (event_id, complaint_id) = ids(event)?;
    let mut rows = Vec::new();
    for officer in officers {
        let context = serde_json::to_value(context_for(officer)).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let lang = Lang::parse(&officer.lang).unwrap_or_default();
        for channel in channels_for(officer, timing.sms_enabled) {
            rows.push(NewDelivery {
                event_id,
                complaint_id,
                recipient_id: officer.id.clone(),
                channel,
                address: if channel == EMAIL {
                    officer.email.clone()
                } else {
                    officer.phone.clone()
                },
                tracking_id: event.tracking_id.clone(),
                skpd_code: skpd_code.to_owned(),
                kind,
                lang,
                context: context.clone(),
                not_before: timing.not_before(channel, officer),
                fallback_for: None,
            });
        }
    }
    let planned = rows.len();
    insert(txn, rows).await?;
    Ok(planned)
}

/// The recipient id of every message to a complaint's reporter; their address is looked up
/// from intake when sent and never stored here.
pub const REPORTER: &str = "reporter";

/// Whose reporter a message goes to: the event's own complaint, or a duplicate merged
/// into it (its own tracking id, its own delivery row for the same event).
pub struct ReporterOf {
    pub complaint_id: Uuid,
    pub tracking_id: String,
    pub recipient_id: String,
    pub merged: bool,
}

impl ReporterOf {
    pub fn own(event: &EventEnvelope) -> Result<Self, HandlerError> {
        Ok(Self {
            complaint_id: ids(event)?.1,
            tracking_id: event.tracking_id.clone(),
            recipient_id: REPORTER.to_owned(),
            merged: false,
        })
    }

    pub fn merged(complaint_id: &str, tracking_id: &str) -> Result<Self, HandlerError> {
        Ok(Self {
            complaint_id: Uuid::parse_str(complaint_id)
                .map_err(|e| HandlerError::Permanent(format!("merged complaint_id: {e}")))?,
            tracking_id: tracking_id.to_owned(),
            recipient_id: format!("{REPORTER}:{tracking_id}"),
            merged: true,
        })
    }
}

/// Writes the PENDING deliveries of `kind` to the reporter, on each channel they gave.
#[allow(clippy::too_many_arguments)]
pub async fn plan_for_reporter(
    txn: &impl ConnectionTrait,
    event: &EventEnvelope,
    reporter: &ReporterOf,
    kind: Kind,
    skpd_code: &str,
    channels: &[&'static str],
    timing: &Timing,
    context: &MessageContext,
) -> Result<(), HandlerError> {
    let (event_id, _) = ids(event)?;
    let context = serde_json::to_value(context).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    let rows = channels
        .iter()
        .map(|channel| NewDelivery {
            event_id,
            complaint_id: reporter.complaint_id,
            recipient_id: reporter.recipient_id.clone(),
            channel,
            address: String::new(),
            tracking_id: reporter.tracking_id.clone(),
            skpd_code: skpd_code.to_owned(),
            kind,
            lang: Lang::default(),
            context: context.clone(),
            not_before: if timing.urgent || *channel != SMS {
                timing.now
            } else {
                timing.default_quiet.next_allowed(timing.now)
            },
            fallback_for: None,
        })
        .collect();
    insert(txn, rows).await?;
    Ok(())
}

pub struct NewDelivery {
    pub event_id: Uuid,
    pub complaint_id: Uuid,
    pub recipient_id: String,
    pub channel: &'static str,
    pub address: String,
    pub tracking_id: String,
    pub skpd_code: String,
    pub kind: Kind,
    pub lang: Lang,
    pub context: serde_json::Value,
    pub not_before: DateTime<Utc>,
    pub fallback_for: Option<Uuid>,
}

/// Inserts rows, skipping any (event, recipient, channel) already planned; how many were new.
pub async fn insert(db: &impl ConnectionTrait, rows: Vec<NewDelivery>) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    // Planned inside the consumer's span: the send later continues the complaint's trace.
    let trace_headers =
        serde_json::to_value(lapor_messaging::propagation::capture_current()).unwrap_or_else(|_| serde_json::json!({}));
    let models = rows.into_iter().map(|row| delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(row.event_id),
        complaint_id: Set(row.complaint_id),
        recipient_id: Set(row.recipient_id),
        channel: Set(row.channel.to_owned()),
        address: Set(row.address),
        tracking_id: Set(row.tracking_id),
        skpd_code: Set(row.skpd_code),
        kind: Set(row.kind.as_str().to_owned()),
        lang: Set(row.lang.as_str().to_owned()),
        context: Set(row.context),
        subject: Set(String::new()),
        body: Set(String::new()),
        html: Set(None),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        provider_ids: Set(Vec::new()),
        claim_id: Set(None),
        lease_until: Set(None),
        next_attempt_at: Set(row.not_before),
        created_at: Set(now),
        sent_at: Set(None),
        delivered_at: Set(None),
        retry_from: Set(now),
        fallback_for: Set(row.fallback_for),
        trace_headers: Set(trace_headers.clone()),
    });
    delivery::Entity::insert_many(models)
        .on_conflict(
            OnConflict::columns([
                delivery::Column::EventId,
                delivery::Column::RecipientId,
                delivery::Column::Channel,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
}

/// After a permanent SMS failure: the same message by e-mail, if the person has an
/// address and has not been e-mailed about this event already; true when one was planned.
/// Reporters have no `recipients` row: they get e-mail anyway when they gave an address.
pub async fn fall_back_to_email(db: &impl ConnectionTrait, failed_sms: &delivery::Model) -> Result<bool, DbErr> {
    let Some(officer) = recipient::Entity::find_by_id(failed_sms.recipient_id.clone())
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    if officer.email.trim().is_empty() {
        return Ok(false);
    }
    let Some(kind) = Kind::parse(&failed_sms.kind) else {
        return Ok(false);
    };
    let planned = insert(
        db,
        vec![NewDelivery {
            event_id: failed_sms.event_id,
            complaint_id: failed_sms.complaint_id,
            recipient_id: failed_sms.recipient_id.clone(),
            channel: EMAIL,
            address: officer.email,
            tracking_id: failed_sms.tracking_id.clone(),
            skpd_code: failed_sms.skpd_code.clone(),
            kind,
            lang: Lang::parse(&failed_sms.lang).unwrap_or_default(),
            context: failed_sms.context.clone(),
            not_before: Utc::now(),
            fallback_for: Some(failed_sms.id),
        }],
    )
    .await?;
    Ok(planned == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn officer(channels: &str, email: &str, phone: &str) -> recipient::Model {
        recipient::Model {
            id: "x".into(),
            name: "X".into(),
            skpd_code: "dinkes".into(),
            role: "penghubung".into(),
            email: email.into(),
            phone: phone.into(),
            sub_unit: None,
            channels: channels.into(),
            lang: "id".into(),
            quiet_start: None,
            quiet_end: None,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn preferences_limited_to_known_contacts() {
        assert_eq!(channels_for(&officer("both", "a@b.id", "+62812"), true), [EMAIL, SMS]);
        assert_eq!(channels_for(&officer("sms", "a@b.id", "+62812"), true), [SMS]);
        assert_eq!(channels_for(&officer("email", "a@b.id", "+62812"), true), [EMAIL]);
        assert_eq!(channels_for(&officer("both", "a@b.id", ""), true), [EMAIL]);
        assert_eq!(
            channels_for(&officer("sms", "a@b.id", " "), true),
            [EMAIL],
            "no phone: e-mail instead"
        );
        assert_eq!(
            channels_for(&officer("sms", "a@b.id", "+62812"), false),
            [EMAIL],
            "no sms transport"
        );
        assert!(channels_for(&officer("both", "", ""), true).is_empty());
    }

    #[test]
    fn quiet_hours_hold_only_non_urgent_sms() {
        use chrono::TimeZone;
        // 23:00 WITA.
        let night = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).single().expect("valid");
        let quiet = QuietWindow::parse("21:00", "06:00").expect("valid");
        let timing = Timing {
            urgent: false,
            sms_enabled: true,
            default_quiet: quiet,
            now: night,
        };
        let person = officer("both", "a@b.id", "+62812");
        assert_eq!(timing.not_before(EMAIL, &person), night);
        assert_eq!(
            timing.not_before(SMS, &person),
            Utc.with_ymd_and_hms(2026, 11, 30, 22, 0, 0).single().expect("valid")
        );
        let mut own = person.clone();
        own.quiet_start = Some(0);
        own.quiet_end = Some(0);
        assert_eq!(timing.not_before(SMS, &own), night, "own empty window overrides");
        let urgent = Timing { urgent: true, ..timing };
        assert_eq!(urgent.not_before(SMS, &person), night);
    }
}
