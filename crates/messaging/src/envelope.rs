//! Building event envelopes (DESIGN §4) and converting times to protobuf.

use chrono::{DateTime, Utc};
use lapor_proto::events::v1::{Channel, ComplaintKind, EventEnvelope, event_envelope::Payload};
use prost_types::Timestamp;
use uuid::Uuid;

/// The payload schema version this code writes and reads (`EventEnvelope.schema_version`).
/// Consumers dead-letter a newer one: a field they do not know could change its meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The event type (and routing key) of a directory change.
pub const DIRECTORY_CHANGED: &str = "directory.changed";

/// Whether a consumer built from this code may read an envelope; 0 predates versions.
pub fn is_known_schema(envelope: &EventEnvelope) -> bool {
    envelope.schema_version <= SCHEMA_VERSION
}

pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_timestamp(at: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

/// The dotted event type of a payload with exactly one type: the single place that names
/// them. `CaseUpdated` serves every other workflow step and `ComplaintEscalated` every
/// ladder level, so their type is the caller's.
pub fn event_type_of(payload: &Payload) -> Option<&'static str> {
    match payload {
        Payload::ComplaintSubmitted(_) => Some("complaint.submitted"),
        Payload::ComplaintAssigned(_) => Some("complaint.assigned"),
        Payload::NotificationSent(_) => Some("notification.sent"),
        Payload::StatusRequested(_) => Some("complaint.status_requested"),
        Payload::DigestReady(_) => Some("analytics.digest"),
        Payload::ReporterActed(_) => Some("complaint.reporter_acted"),
        Payload::DirectoryChanged(_) => Some(DIRECTORY_CHANGED),
        Payload::CaseUpdated(_) | Payload::ComplaintEscalated(_) => None,
    }
}

/// A new envelope with a UUIDv7 event id (time-ordered, so outbox rows sort by creation).
/// Panics in debug builds when given a `CaseUpdated` payload: use [`new_typed_envelope`].
pub fn new_envelope(producer: &str, complaint_id: Uuid, tracking_id: &str, payload: Payload) -> EventEnvelope {
    let event_type = event_type_of(&payload);
    debug_assert!(event_type.is_some(), "payload needs an explicit event type");
    new_typed_envelope(
        producer,
        event_type.unwrap_or("complaint.updated"),
        complaint_id,
        tracking_id,
        payload,
    )
}

/// A new envelope whose event type the caller names (workflow steps).
pub fn new_typed_envelope(
    producer: &str,
    event_type: &str,
    complaint_id: Uuid,
    tracking_id: &str,
    payload: Payload,
) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: event_type.to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
        complaint_id: complaint_id.to_string(),
        tracking_id: tracking_id.to_owned(),
        producer: producer.to_owned(),
        schema_version: SCHEMA_VERSION,
        payload: Some(payload),
    }
}

/// An event ready for the outbox: the envelope and where it goes.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    pub envelope: EventEnvelope,
    pub routing_key: String,
}

impl OutgoingEvent {
    /// Routes as `<event_type>[.<skpd>]` on `lapor.events`.
    pub fn new(envelope: EventEnvelope, skpd_code: Option<&str>) -> Self {
        let routing_key = crate::topology::routing_key(&envelope.event_type, skpd_code);
        Self { envelope, routing_key }
    }
}

/// Stable lowercase name of a submission channel, as stored and reported.
pub fn channel_name(channel: i32) -> &'static str {
    match Channel::try_from(channel).unwrap_or(Channel::Unspecified) {
        Channel::Web => "web",
        Channel::Api => "api",
        Channel::Open311 => "open311",
        Channel::Sms => "sms",
        Channel::Grpc | Channel::Unspecified => "grpc",
    }
}

/// Stable lowercase name of a complaint kind; unspecified counts as an aduan.
pub fn kind_name(kind: i32) -> &'static str {
    match ComplaintKind::try_from(kind).unwrap_or(ComplaintKind::Unspecified) {
        ComplaintKind::Aspirasi => "aspirasi",
        ComplaintKind::PermintaanInformasi => "permintaan_informasi",
        ComplaintKind::Aduan | ComplaintKind::Unspecified => "aduan",
    }
}

/// The body the history stream keeps of an encoded envelope: the same event without the
/// free text a reporter or officer wrote (title, body, location), which may name people
/// and must stay erasable (UU 27/2022) — the history keeps events for years and read
/// models never need the text. `None` when `payload` is not an envelope.
pub fn history_body(payload: &[u8]) -> Option<Vec<u8>> {
    use prost::Message as _;
    let mut envelope = EventEnvelope::decode(payload).ok()?;
    match envelope.payload.as_mut() {
        Some(Payload::ComplaintSubmitted(submitted)) => {
            submitted.title.clear();
            submitted.body.clear();
            submitted.location.clear();
        }
        Some(Payload::ComplaintAssigned(assigned)) => assigned.title.clear(),
        Some(Payload::ComplaintEscalated(escalated)) => escalated.title.clear(),
        Some(Payload::ReporterActed(acted)) => acted.text.clear(),
        // Officers' names and contacts: the version is history enough.
        Some(Payload::DirectoryChanged(changed)) => changed.directory_json.clear(),
        _ => {}
    }
    Some(envelope.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::events::v1::ComplaintSubmitted;
    use prost::Message as _;

    #[test]
    fn history_keeps_no_free_text() {
        let envelope = new_envelope(
            "intake",
            Uuid::new_v4(),
            "AB3DEF7H9K",
            Payload::ComplaintSubmitted(ComplaintSubmitted {
                title: "Pak Budi di loket 3 minta uang".into(),
                body: "Nama saya Siti, NIK 6371...".into(),
                location: "Rumah saya di Jl. Sutoyo 12".into(),
                category_code: "lainnya".into(),
                ..Default::default()
            }),
        );
        let body = history_body(&envelope.encode_to_vec()).expect("an envelope");
        let kept = EventEnvelope::decode(body.as_slice()).expect("decodes");
        let Some(Payload::ComplaintSubmitted(submitted)) = kept.payload else {
            panic!("payload kept");
        };
        assert_eq!(
            (submitted.title, submitted.body, submitted.location),
            Default::default()
        );
        assert_eq!(submitted.category_code, "lainnya");
        assert_eq!(kept.event_id, envelope.event_id);
        assert_eq!(history_body(b"not protobuf at all \xff"), None);
    }

    #[test]
    fn history_keeps_no_officer_contacts() {
        let envelope = new_envelope(
            "routing",
            Uuid::nil(),
            "",
            Payload::DirectoryChanged(lapor_proto::events::v1::DirectoryChanged {
                version: 7,
                directory_json: r#"{"officers":[{"email":"rina@example.id"}]}"#.into(),
            }),
        );
        let body = history_body(&envelope.encode_to_vec()).expect("an envelope");
        let kept = EventEnvelope::decode(body.as_slice()).expect("decodes");
        let Some(Payload::DirectoryChanged(changed)) = kept.payload else {
            panic!("payload kept");
        };
        assert_eq!((changed.version, changed.directory_json.as_str()), (7, ""));
        assert_eq!(kept.event_type, DIRECTORY_CHANGED);
    }
}
