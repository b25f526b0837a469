//! Operators' view of `<queue>.dead`: list what a queue gave up on without removing it, and
//! replay chosen events (or all) to their work queue. Replay publishes a copy with
//! publisher confirms before acknowledging the dead letter, so a crash mid-replay leaves a
//! duplicate at worst — which the consumer's inbox turns into a no-op — never a loss.

use crate::publisher::{self, Message, PublishError};
use crate::topology;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapor_proto::events::v1::EventEnvelope;
use prost::Message as _;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterInfo {
    pub queue: String,
    pub event_id: String,
    pub event_type: String,
    pub tracking_id: String,
    /// The broker's reason (`rejected`, `delivery_limit`, ...).
    pub reason: String,
    /// How often the message died in its work queue (the `x-death` count).
    pub deliveries: u64,
    pub body_bytes: usize,
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> Option<&'a AMQPValue> {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(name))
}

fn text_of(value: Option<&AMQPValue>) -> String {
    match value {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        Some(AMQPValue::ShortString(s)) => s.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn number_of(value: Option<&AMQPValue>) -> u64 {
    match value {
        Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u64::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => u64::from(*n),
        Some(AMQPValue::ShortInt(n)) => u64::try_from(*n).unwrap_or(0),
        Some(AMQPValue::ShortUInt(n)) => u64::from(*n),
        _ => 0,
    }
}

/// The `count` of the first `x-death` record. Not `x-delivery-count`, which would count
/// how often the dead-letter queue itself was listed.
fn death_count(delivery: &Delivery) -> u64 {
    match header(delivery, "x-death") {
        Some(AMQPValue::FieldArray(deaths)) => deaths
            .as_slice()
            .first()
            .and_then(|death| match death {
                AMQPValue::FieldTable(table) => table.inner().get("count"),
                _ => None,
            })
            .map_or(0, |count| number_of(Some(count))),
        _ => 0,
    }
}

fn describe(queue: &str, delivery: &Delivery) -> DeadLetterInfo {
    let envelope = EventEnvelope::decode(delivery.data.as_slice()).ok();
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let (event_id, event_type, tracking_id) = match envelope {
        Some(e) => (e.event_id, e.event_type, e.tracking_id),
        None => (message_id, "(undecodable)".to_owned(), String::new()),
    };
    DeadLetterInfo {
        queue: queue.to_owned(),
        event_id,
        event_type,
        tracking_id,
        reason: text_of(header(delivery, "x-first-death-reason")),
        deliveries: death_count(delivery),
        body_bytes: delivery.data.len(),
    }
}

/// Up to `limit` dead letters of work queue `queue`, oldest first; all stay in place.
pub async fn list(channel: &Channel, queue: &str, limit: usize) -> lapin::Result<Vec<DeadLetterInfo>> {
    let dead = topology::dead_queue(queue);
    let mut taken = Vec::new();
    while taken.len() < limit {
        let Some(message) = channel
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        taken.push(message.delivery);
        if message.message_count == 0 {
            break;
        }
    }
    let infos = taken.iter().map(|d| describe(queue, d)).collect();
    for delivery in taken {
        delivery
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await?;
    }
    Ok(infos)
}

/// Moves the dead letters of `queue` whose event id is in `event_ids` (all when empty) back
/// to `queue`; returns how many. `channel` must have publisher confirms enabled.
pub async fn replay(channel: &Channel, queue: &str, event_ids: &[String]) -> Result<u32, PublishError> {
    let dead = topology::dead_queue(queue);
    let mut kept = Vec::new();
    let mut replayed = 0;
    // Bounded by what was there at the start, so kept messages are not fetched again.
    let mut remaining = None::<u32>;
    loop {
        if remaining == Some(0) {
            break;
        }
        let Some(message) = channel
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        remaining = Some(remaining.unwrap_or(message.message_count + 1).saturating_sub(1));
        let delivery = message.delivery;
        let info = describe(queue, &delivery);
        if !event_ids.is_empty() && !event_ids.contains(&info.event_id) {
            kept.push(delivery);
            continue;
        }
        let headers: BTreeMap<String, String> = BTreeMap::new();
        let mut extra = FieldTable::default();
        // Trace context and other string headers travel on; the broker's death records
        // and our retry counter do not, so the replayed copy starts afresh.
        if let Some(original) = delivery.properties.headers() {
            for (key, value) in original.inner() {
                let name = key.as_str();
                if !name.starts_with("x-death")
                    && !name.starts_with("x-first-death")
                    && !name.starts_with("x-last-death")
                    && name != "x-lapor-retries"
                    && name != "x-delivery-count"
                {
                    extra.insert(key.clone(), value.clone());
                }
            }
        }
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_else(|| info.event_id.clone());
        let event_type = delivery
            .properties
            .kind()
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| info.event_type.clone());
        publisher::publish(
            channel,
            &Message {
                exchange: "",
                routing_key: queue,
                message_id: &message_id,
                event_type: &event_type,
                payload: &delivery.data,
                headers: &headers,
                extra_headers: extra,
            },
        )
        .await?;
        delivery.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    for delivery in kept {
        delivery
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await?;
    }
    Ok(replayed)
}
