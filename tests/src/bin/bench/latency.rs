//! Latency at a fixed offered load (100 complaints/s, and 10/s for comparison below
//! saturation): complaint n is due
//! at start + n/rate and is sent at that moment from a task of its own, whatever happened
//! to the ones before (open loop), and every latency is measured from the due time, so a
//! stall shows in the figures instead of delaying the sends that would reveal it
//! (coordinated omission).
//!
//! A quorum queue of the bench's own is bound to `lapor.events` with
//! `complaint.submitted` and `complaint.assigned.pupr` (the key `skpd.pupr` is bound
//! with), so each event arrives there when it arrives in the real queues; its receipt is
//! timestamped. The officers' notification is read from the deliveries' `sent_at`.

use crate::db;
use crate::pipeline::{SKPD, STALL, officer_mails_sent, officers};
use crate::report::Percentiles;
use anyhow::Context as _;
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ConnectionProperties};
use lapor_e2e::load::bridge_complaint;
use lapor_e2e::process_stack::ProcessStack;
use lapor_messaging::topology::EVENTS_EXCHANGE;
use lapor_proto::events::v1::EventEnvelope;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use prost::Message as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

const COPY_QUEUE: &str = "bench.latency";
const SUBMITTED: &str = "complaint.submitted";
const ASSIGNED: &str = "complaint.assigned";

#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyFigures {
    pub rate: u64,
    pub seconds: f64,
    pub complaints: usize,
    /// How far behind its due time the bench itself sent a complaint, at worst: large
    /// values mean the load generator, not the system, was short of CPU.
    pub max_send_delay_ms: f64,
    /// Due time → intake's gRPC answer (the complaint is stored).
    pub answered: Percentiles,
    /// Due time → `complaint.submitted` delivered from a queue (intake's outbox relay).
    pub on_broker: Percentiles,
    /// Due time → `complaint.assigned.pupr` delivered from a queue bound like `skpd.pupr`.
    pub skpd_queue: Percentiles,
    /// Due time → the last of the SKPD's liaison officers' e-mails marked SENT.
    pub officers_notified: Percentiles,
}

/// First receipt of each (tracking id, event type) in the copy queue.
type Receipts = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// Offers `rate` complaints per second for `duration` and measures each stage's latency.
pub async fn measure(stack: &ProcessStack, rate: u64, duration: Duration) -> anyhow::Result<LatencyFigures> {
    let connection = Connection::connect(&stack.amqp_url(), ConnectionProperties::default()).await?;
    let receipts: Receipts = Arc::default();
    let stop = CancellationToken::new();
    let listener = listen(&connection, receipts.clone(), stop.clone()).await?;
    let outcome = offer(stack, rate, duration, &receipts).await;
    stop.cancel();
    let _ = listener.await;
    let _ = connection.close(200, "latency measured".into()).await;
    outcome
}

/// Declares and binds the copy queue and timestamps what arrives in it.
async fn listen(
    connection: &Connection,
    receipts: Receipts,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let channel = connection.create_channel().await?;
    let mut args = FieldTable::default();
    // A quorum queue like the SKPD queues: a message is delivered once it is committed.
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel.queue_declare(COPY_QUEUE.into(), durable, args).await?;
    for key in [SUBMITTED.to_owned(), format!("{ASSIGNED}.{SKPD}")] {
        channel
            .queue_bind(
                COPY_QUEUE.into(),
                EVENTS_EXCHANGE.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(COPY_QUEUE.into(), "bench-latency".into(), no_ack, FieldTable::default())
        .await?;
    Ok(tokio::spawn(async move {
        loop {
            let delivery = tokio::select! {
                next = consumer.next() => next,
                _ = stop.cancelled() => None,
            };
            let Some(Ok(delivery)) = delivery else {
                return;
            };
            let received = Instant::now();
            if let Ok(envelope) = EventEnvelope::decode(delivery.data.as_slice())
                && let Ok(mut receipts) = receipts.lock()
            {
                receipts
                    .entry((envelope.tracking_id, envelope.event_type))
                    .or_insert(received);
            }
        }
    }))
}

/// A due time as seconds since the epoch, for comparing with database timestamps.
struct Clock {
    origin: Instant,
    origin_epoch: f64,
}

impl Clock {
    fn now() -> Self {
        Clock {
            origin: Instant::now(),
            origin_epoch: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    fn epoch(&self, at: Instant) -> f64 {
        self.origin_epoch + at.duration_since(self.origin).as_secs_f64()
    }
}

struct Sent {
    due: Instant,
    tracking_id: String,
    answered: Instant,
}

async fn offer(
    stack: &ProcessStack,
    rate: u64,
    duration: Duration,
    receipts: &Receipts,
) -> anyhow::Result<LatencyFigures> {
    let officers = officers()?.len();
    let notification = stack.db("notification").await?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", stack.grpc_port("intake")))?
        .connect()
        .await
        .context("intake gRPC")?;
    let run = format!("bench-{}-latency-{rate}", std::process::id());
    let count = (rate * duration.as_secs()) as usize;
    let period = Duration::from_secs(1) / rate.max(1) as u32;
    let clock = Clock::now();
    let since = db::timestamp(chrono::Utc::now());
    let start = Instant::now() + Duration::from_millis(100);
    let mut max_send_delay = Duration::ZERO;
    let mut sends = Vec::with_capacity(count);
    for n in 0..count {
        let due = start + period * n as u32;
        tokio::time::sleep_until(due.into()).await;
        max_send_delay = max_send_delay.max(Instant::now().saturating_duration_since(due));
        let (mut client, request) = (IntakeServiceClient::new(channel.clone()), bridge_complaint(&run, n));
        sends.push(tokio::spawn(async move {
            let response = client.submit_complaint(request).await;
            let answered = Instant::now();
            response
                .map(|r| Sent {
                    due,
                    tracking_id: r.into_inner().tracking_id,
                    answered,
                })
                .map_err(|status| anyhow::anyhow!("complaint #{n}: {:?} {}", status.code(), status.message()))
        }));
    }
    let mut sent = Vec::with_capacity(count);
    for send in sends {
        sent.push(send.await??);
    }
    let seconds = start.elapsed().as_secs_f64();

    // Offered above what the pipeline sustains, the backlog takes a while to clear: wait as
    // long as it moves.
    wait_until("every event in the copy queue", 2 * count as i64, || async {
        Ok(receipts.lock().map(|r| r.len()).unwrap_or(0) as i64)
    })
    .await?;
    let mails_sql = officer_mails_sent(Some(&since));
    wait_until("every officer e-mail sent", (count * officers) as i64, || {
        db::int(&notification, &mails_sql)
    })
    .await?;
    let sent_at = last_officer_mail(&notification, &since).await?;
    let _ = notification.close().await;

    let receipts = receipts.lock().map(|r| r.clone()).unwrap_or_default();
    let (mut answered, mut on_broker, mut skpd_queue, mut notified) =
        (histogram()?, histogram()?, histogram()?, histogram()?);
    let micros = |d: Duration| (d.as_micros() as u64).max(1);
    for s in &sent {
        answered.saturating_record(micros(s.answered.duration_since(s.due)));
        let receipt = |event: &str| {
            receipts
                .get(&(s.tracking_id.clone(), event.to_owned()))
                .copied()
                .with_context(|| format!("{event} of {} never reached the copy queue", s.tracking_id))
        };
        on_broker.saturating_record(micros(receipt(SUBMITTED)?.duration_since(s.due)));
        skpd_queue.saturating_record(micros(receipt(ASSIGNED)?.duration_since(s.due)));
        let mailed = sent_at
            .get(&s.tracking_id)
            .with_context(|| format!("no officer e-mail sent for {}", s.tracking_id))?;
        let late = (mailed - clock.epoch(s.due)).max(0.0);
        notified.saturating_record(micros(Duration::from_secs_f64(late)));
    }
    Ok(LatencyFigures {
        rate,
        seconds,
        complaints: count,
        max_send_delay_ms: max_send_delay.as_secs_f64() * 1000.0,
        answered: Percentiles::of(&answered),
        on_broker: Percentiles::of(&on_broker),
        skpd_queue: Percentiles::of(&skpd_queue),
        officers_notified: Percentiles::of(&notified),
    })
}

/// Microseconds from 1 µs to 10 minutes, three significant digits.
fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Per tracking id, when the last of its officers' e-mails was marked SENT (epoch seconds).
async fn last_officer_mail(
    notification: &sea_orm::DatabaseConnection,
    since: &str,
) -> anyhow::Result<HashMap<String, f64>> {
    let rows = db::rows(
        notification,
        &format!(
            "SELECT d.tracking_id, extract(epoch FROM max(d.sent_at))::float8 FROM deliveries d \
             JOIN recipients r ON r.id = d.recipient_id \
             WHERE d.channel = 'email' AND d.state IN ('SENT', 'DELIVERED') AND r.role = 'penghubung' \
             AND r.skpd_code = '{SKPD}' AND d.created_at >= {since} GROUP BY d.tracking_id"
        ),
    )
    .await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<f64>(1)?)))
        .collect()
}

/// Polls `count` every 100 ms until it reaches `target`; fails when it stops moving.
async fn wait_until<F, Fut>(what: &str, target: i64, mut count: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<i64>>,
{
    let mut moved = (-1, Instant::now());
    loop {
        let now = count().await?;
        if now >= target {
            return Ok(());
        }
        if now != moved.0 {
            moved = (now, Instant::now());
        }
        anyhow::ensure!(
            moved.1.elapsed() < STALL,
            "waiting for {what}: stuck at {now} of {target} for {STALL:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
