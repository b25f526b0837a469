//! Reading the event history stream (`lapor.events.history`) from an offset to its end.
//! RabbitMQ streams keep no offsets for AMQP 0.9.1 consumers, so the caller stores the next
//! offset with its effects; reading again from there never applies an event twice.
//!
//! A stream has no "end" a consumer could see: the reader first appends a marker of its
//! own (through the default exchange, so it lands in the stream alone) and stops when it
//! reads that marker back. Everything published before the read began lies before it.

use crate::Broker;
use crate::consumer::decode;
use crate::publisher::{self, Message, PublishError};
use crate::topology::{self, HISTORY_STREAM};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapor_proto::events::v1::EventEnvelope;
use std::collections::BTreeMap;
use std::future::Future;
use uuid::Uuid;

/// AMQP `type` of the end-of-read markers; readers skip other readers' markers.
pub const MARKER_TYPE: &str = "lapor.history.marker";
/// Messages in flight from the stream; streams need a prefetch to deliver at all.
const PREFETCH: u16 = 500;

/// One entry of the history.
#[derive(Debug)]
pub enum Entry {
    Event(Box<EventEnvelope>),
    /// A message that is not an event envelope (it was dead-lettered when consumed live).
    Undecodable(String),
    /// Another reader's end marker.
    Marker,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError<E: std::error::Error + 'static> {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("could not place the end marker: {0}")]
    Marker(#[from] PublishError),
    #[error("the stream ended before the end marker")]
    Ended,
    #[error("applying offset {offset}: {source}")]
    Apply { offset: u64, source: E },
}

fn offset_of(delivery: &lapin::message::Delivery) -> Option<u64> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get("x-stream-offset")? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Reads the history from `start` (`None` = the first event still retained) up to the
/// moment of the call, calling `apply(offset, entry)` in order; an error from `apply`
/// stops the read. Returns how many entries were read.
pub async fn read<F, Fut, E>(broker: &Broker, start: Option<u64>, mut apply: F) -> Result<u64, HistoryError<E>>
where
    F: FnMut(u64, Entry) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let channel = broker.channel().await?;
    topology::declare_exchanges(&channel).await?;
    publisher::enable_confirms(&channel).await?;
    let marker = Uuid::now_v7().to_string();
    publisher::publish(
        &channel,
        &Message {
            exchange: "",
            routing_key: HISTORY_STREAM,
            message_id: &marker,
            event_type: MARKER_TYPE,
            payload: b"",
            headers: &BTreeMap::new(),
            extra_headers: FieldTable::default(),
        },
    )
    .await?;
    channel.basic_qos(PREFETCH, BasicQosOptions { global: false }).await?;
    let mut arguments = FieldTable::default();
    let offset = match start {
        Some(offset) => AMQPValue::LongLongInt(i64::try_from(offset).unwrap_or(i64::MAX)),
        None => AMQPValue::LongString(LongString::from("first")),
    };
    arguments.insert(ShortString::from("x-stream-offset"), offset);
    let mut consumer = channel
        .basic_consume(
            HISTORY_STREAM.into(),
            format!("history-reader.{marker}").as_str().into(),
            BasicConsumeOptions::default(),
            arguments,
        )
        .await?;
    let mut read = 0u64;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let offset = offset_of(&delivery).unwrap_or(0);
        let message_id = delivery.properties.message_id().as_ref().map(|id| id.to_string());
        let is_marker = delivery.properties.kind().as_ref().map(|t| t.as_str()) == Some(MARKER_TYPE);
        if is_marker && message_id.as_deref() == Some(marker.as_str()) {
            delivery.ack(BasicAckOptions::default()).await?;
            let _ = channel.close(200, "history read".into()).await;
            return Ok(read);
        }
        let entry = if is_marker {
            Entry::Marker
        } else {
            match decode(&delivery.data) {
                Ok(envelope) => Entry::Event(Box::new(envelope)),
                Err(reason) => Entry::Undecodable(reason),
            }
        };
        apply(offset, entry)
            .await
            .map_err(|source| HistoryError::Apply { offset, source })?;
        delivery.ack(BasicAckOptions::default()).await?;
        read += 1;
    }
    Err(HistoryError::Ended)
}
