//! Publishing with publisher confirms and `mandatory`: a message counts as sent only when
//! the broker acked it and did not return it as unroutable.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker returned the message as unroutable: {0}")]
    Unroutable(String),
    #[error("broker nacked the message")]
    Nacked,
    #[error("publisher confirms were not enabled on the channel")]
    NotConfirmed,
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

/// A message to publish with its AMQP properties (DESIGN §4).
pub struct Message<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a [u8],
    pub headers: &'a BTreeMap<String, String>,
    pub extra_headers: FieldTable,
}

pub async fn enable_confirms(channel: &Channel) -> lapin::Result<()> {
    channel.confirm_select(ConfirmSelectOptions::default()).await
}

fn properties(message: &Message<'_>) -> BasicProperties {
    let mut headers = message.extra_headers.clone();
    for (key, value) in message.headers {
        headers.insert(
            ShortString::from(key.as_str()),
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    BasicProperties::default()
        .with_message_id(message.message_id.into())
        .with_type(message.event_type.into())
        .with_content_type("application/x-protobuf".into())
        .with_delivery_mode(2)
        .with_headers(headers)
}

/// Sends the message; await the returned confirm with [`confirmed`]. Splitting the two lets
/// a caller pipeline a batch and wait for all confirms together.
pub async fn start_publish(channel: &Channel, message: &Message<'_>) -> lapin::Result<PublisherConfirm> {
    channel
        .basic_publish(
            message.exchange.into(),
            message.routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            message.payload,
            properties(message),
        )
        .await
}

pub async fn confirmed(confirm: PublisherConfirm) -> Result<(), PublishError> {
    match confirm.await? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => Err(PublishError::Unroutable(
            format!("{} {}", returned.reply_code, returned.reply_text),
        )),
        Confirmation::Nack(None) => Err(PublishError::Nacked),
        Confirmation::NotRequested => Err(PublishError::NotConfirmed),
    }
}

pub async fn publish(channel: &Channel, message: &Message<'_>) -> Result<(), PublishError> {
    confirmed(start_publish(channel, message).await?).await
}
