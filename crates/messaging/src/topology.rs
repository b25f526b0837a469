//! Names and declarations of exchanges and queues. Every service declares what it consumes
//! through these functions, so arguments are identical everywhere (a queue redeclared with
//! different arguments closes the channel with 406 PRECONDITION_FAILED).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Topic exchange every integration event is published to.
pub const EVENTS_EXCHANGE: &str = "lapor.events";
/// Direct exchange receiving messages a queue gave up on; routing key = source queue name.
pub const DEAD_LETTER_EXCHANGE: &str = "lapor.dlx";
/// Every event the services published: a RabbitMQ stream the outbox relay copies each
/// published event to, without its free text (`envelope::history_body`). Reading it is
/// non-destructive, so a read model (analytics) can be rebuilt from the first event. Not
/// bound to the exchange: a catch-all binding would make every publish routable, and
/// `mandatory` would no longer catch an event no work queue is bound for yet (e.g. a new
/// SKPD's).
pub const HISTORY_STREAM: &str = "lapor.events.history";
/// How long the history keeps events: the longest period analytics reports on. Change it
/// with a RabbitMQ policy, not here (a redeclaration with other arguments is refused).
pub const HISTORY_MAX_AGE: &str = "731D";
/// Deliveries of one message before the broker dead-letters it (crashes, undecodable bodies).
pub const DELIVERY_LIMIT: i64 = 5;
/// Time a failed message waits in `<queue>.retry` before it returns to `<queue>`.
pub const RETRY_DELAY_MS: i64 = 2_000;

pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

pub fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The work queue of one SKPD: its depth is that SKPD's unhandled work.
pub fn skpd_queue(skpd_code: &str) -> String {
    format!("skpd.{skpd_code}")
}

/// Routing key of an event about one complaint, optionally scoped to an SKPD:
/// `complaint.assigned.dinkes`.
pub fn routing_key(event_type: &str, skpd_code: Option<&str>) -> String {
    match skpd_code {
        Some(skpd) => format!("{event_type}.{skpd}"),
        None => event_type.to_owned(),
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn quorum_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-queue-type"), text("quorum"));
    // At-least-once dead-lettering (quorum queues, RabbitMQ ≥ 3.10) needs reject-publish
    // overflow; the default at-most-once strategy may drop a dead letter.
    args.insert(ShortString::from("x-dead-letter-strategy"), text("at-least-once"));
    args.insert(ShortString::from("x-overflow"), text("reject-publish"));
    args
}

fn work_queue_arguments(queue: &str) -> FieldTable {
    let mut args = quorum_arguments();
    args.insert(ShortString::from("x-dead-letter-exchange"), text(DEAD_LETTER_EXCHANGE));
    args.insert(ShortString::from("x-dead-letter-routing-key"), text(queue));
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args
}

fn retry_queue_arguments(queue: &str) -> FieldTable {
    let mut args = quorum_arguments();
    // One fixed TTL per wait queue: quorum queues expire only at the head, so per-message
    // TTLs of different lengths would block each other.
    args.insert(
        ShortString::from("x-message-ttl"),
        AMQPValue::LongLongInt(RETRY_DELAY_MS),
    );
    // Expired messages go back to the work queue through the default exchange.
    args.insert(ShortString::from("x-dead-letter-exchange"), text(""));
    args.insert(ShortString::from("x-dead-letter-routing-key"), text(queue));
    args
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// The exchanges and the event history stream, before anything is published. Idempotent.
pub async fn declare_exchanges(channel: &Channel) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            EVENTS_EXCHANGE.into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            DEAD_LETTER_EXCHANGE.into(),
            ExchangeKind::Direct,
            options,
            FieldTable::default(),
        )
        .await?;
    declare_history(channel).await
}

async fn declare_history(channel: &Channel) -> lapin::Result<()> {
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-queue-type"), text("stream"));
    args.insert(ShortString::from("x-max-age"), text(HISTORY_MAX_AGE));
    channel
        .queue_declare(HISTORY_STREAM.into(), durable(), args)
        .await
        .map(|_| ())
}

/// Declares `queue` with its retry and dead-letter queues and binds it to `lapor.events`
/// with `binding_keys`. Idempotent.
pub async fn declare_work_queue(channel: &Channel, queue: &str, binding_keys: &[String]) -> lapin::Result<()> {
    declare_exchanges(channel).await?;
    channel
        .queue_declare(queue.into(), durable(), work_queue_arguments(queue))
        .await?;
    channel
        .queue_declare(
            retry_queue(queue).as_str().into(),
            durable(),
            retry_queue_arguments(queue),
        )
        .await?;
    let dead = dead_queue(queue);
    channel
        .queue_declare(dead.as_str().into(), durable(), quorum_arguments())
        .await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            DEAD_LETTER_EXCHANGE.into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for key in binding_keys {
        channel
            .queue_bind(
                queue.into(),
                EVENTS_EXCHANGE.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Binding keys of an SKPD work queue: every complaint event scoped to that SKPD
/// (`complaint.assigned.dinkes`, `complaint.escalated.breach.dinkes`, ...).
pub fn skpd_binding_keys(skpd_code: &str) -> Vec<String> {
    vec![format!("complaint.*.{skpd_code}"), format!("complaint.*.*.{skpd_code}")]
}

pub async fn declare_skpd_queue(channel: &Channel, skpd_code: &str) -> lapin::Result<()> {
    declare_work_queue(channel, &skpd_queue(skpd_code), &skpd_binding_keys(skpd_code)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(skpd_queue("dinkes"), "skpd.dinkes");
        assert_eq!(
            routing_key("complaint.assigned", Some("dinkes")),
            "complaint.assigned.dinkes"
        );
        assert_eq!(routing_key("complaint.submitted", None), "complaint.submitted");
        assert_eq!(retry_queue("routing.submissions"), "routing.submissions.retry");
        assert_eq!(dead_queue("routing.submissions"), "routing.submissions.dead");
    }

    #[test]
    fn work_queues_dead_letter_after_an_explicit_limit() {
        let args = work_queue_arguments("q");
        let inner = args.inner();
        assert_eq!(
            inner.get("x-delivery-limit"),
            Some(&AMQPValue::LongLongInt(DELIVERY_LIMIT))
        );
        assert_eq!(inner.get("x-dead-letter-exchange"), Some(&text(DEAD_LETTER_EXCHANGE)));
        assert_eq!(inner.get("x-queue-type"), Some(&text("quorum")));
    }
}
