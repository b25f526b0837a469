//! An ESME (SMPP client) session: bind, submit with a window and a rate cap,
//! delivery receipts and mobile-originated messages, enquire_link keep-alive,
//! and reconnection with back-off.
//!
//! One background task owns the TCP connection; [`SmppClient`] handles talk
//! to it over a channel. The task connects and binds at start, and again
//! (after a back-off) whenever the connection drops. Submits made while it
//! is reconnecting wait for the bind, up to `response_timeout`; when the next
//! attempt is further away than that, they fail at once as
//! [`SubmitError::Transient`] carrying the last connect/bind error.
//!
//! # Idempotency keys on the wire
//!
//! With `idempotency_tlv` set, each `submit_sm` carries the caller's key in
//! that vendor TLV (UTF-8 octets). A single-part message carries the key as
//! is; part *n* of a concatenated message carries `<key>#<n>`, so that an
//! SMSC deduplicating per PDU treats each part separately. The concatenation
//! reference is derived from the key too, so a retried message has the same
//! UDHs as the first attempt.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

pub use crate::pdu::ReceiptState;
use crate::pdu::{self, FrameError, describe_status, is_response, is_transient_status, normalise_address};
use crate::text::{self, ConcatInfo, Encoding, MAX_PARTS, Reassembler, ReassemblyKey};

/// How long an incomplete concatenated MO message is kept.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(300);
/// Capacity of the [`Inbound`] channel. When it is full, `deliver_sm` is
/// answered `ESME_RX_T_APPN` so that the SMSC redelivers later.
pub const INBOUND_CAPACITY: usize = 1024;
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// A session that stayed up this long reconnects at once when it drops.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// How the client binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// `bind_transmitter`: submit only.
    Transmitter,
    /// `bind_receiver`: receipts and MO messages only.
    Receiver,
    /// `bind_transceiver`: both.
    Transceiver,
}

impl BindMode {
    fn can_submit(self) -> bool {
        !matches!(self, BindMode::Receiver)
    }
}

/// Settings of an [`SmppClient`].
#[derive(Clone)]
pub struct ClientConfig {
    /// SMSC `host:port`.
    pub addr: String,
    /// `system_id` (≤15 characters).
    pub system_id: String,
    /// `password` (≤8 characters).
    pub password: String,
    /// `system_type` (≤12 characters, often empty).
    pub system_type: String,
    /// Bind mode.
    pub bind: BindMode,
    /// Sender address: `+<digits>` (international), digits (a short code such
    /// as `1708`, sent TON unknown/NPI ISDN) or an alphanumeric sender id.
    pub source_addr: String,
    /// Most `submit_sm` awaiting a response at once (at least 1).
    pub window: usize,
    /// Most `submit_sm` per second (evenly spaced); 0 means no cap.
    pub max_per_second: u32,
    /// Idle time after which an `enquire_link` is sent.
    pub enquire_link_interval: Duration,
    /// Longest wait for any response, for connecting, and for a bind.
    pub response_timeout: Duration,
    /// Vendor TLV tag (0x1400..=0x3FFF) for the caller's idempotency key; `None` = not sent.
    pub idempotency_tlv: Option<u16>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("bind", &self.bind)
            .field("source_addr", &self.source_addr)
            .field("window", &self.window)
            .field("max_per_second", &self.max_per_second)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("response_timeout", &self.response_timeout)
            .field("idempotency_tlv", &self.idempotency_tlv)
            .finish()
    }
}

impl Default for ClientConfig {
    /// Matches the defaults of the `lapor-smsc-sim` binary.
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:2775".into(),
            system_id: "lapor".into(),
            password: "lapor".into(),
            system_type: String::new(),
            bind: BindMode::Transceiver,
            source_addr: "1708".into(),
            window: 10,
            max_per_second: 50,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            idempotency_tlv: Some(crate::DEFAULT_IDEMPOTENCY_TLV),
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// E.164 with `+` (`+628123456789`): sent as TON international/NPI ISDN
    /// without the `+`. Plain digits are sent as TON unknown/NPI ISDN.
    pub destination: String,
    /// The text; split and encoded by [`crate::text::segments`].
    pub text: String,
    /// Ask the SMSC for a delivery receipt (`registered_delivery = 1`).
    pub request_receipt: bool,
    /// Sent in the configured vendor TLV, if any.
    pub idempotency_key: Option<String>,
}

/// What the SMSC accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// One SMSC message id per part, in part order (receipts refer to these).
    pub message_ids: Vec<String>,
    /// The encoding used.
    pub encoding: Encoding,
}

/// Why a submit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Worth retrying later: throttling, full queue, SMSC system error,
    /// connection lost, bind failed, response timeout.
    #[error("transient SMS failure: {0}")]
    Transient(String),
    /// Retrying will not help: bad destination, bad length, invalid input.
    #[error("permanent SMS failure: {reason}")]
    Permanent {
        /// The SMPP `command_status` (or the one an SMSC would have answered,
        /// for input rejected before sending).
        status: u32,
        /// What went wrong, with the `ESME_*` name.
        reason: String,
    },
}

impl SubmitError {
    /// `true` for [`SubmitError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, SubmitError::Transient(_))
    }

    /// Classifies a non-zero `command_status`.
    pub fn from_status(status: u32, context: &str) -> SubmitError {
        let reason = format!("{context}: {}", describe_status(status));
        if status == 0 || is_transient_status(status) {
            SubmitError::Transient(reason)
        } else {
            SubmitError::Permanent { status, reason }
        }
    }

    fn local(status: u32, what: String) -> SubmitError {
        SubmitError::Permanent {
            status,
            reason: format!("rejected before sending: {what} ({})", describe_status(status)),
        }
    }
}

/// Something the SMSC sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A delivery receipt (`deliver_sm` with a receipt `esm_class`).
    Receipt {
        /// The SMSC message id (from `receipted_message_id`, else the `id:` text).
        message_id: String,
        /// Final (or reported) state.
        state: ReceiptState,
        /// The `err:` code when not zero, or the `network_error_code` TLV.
        error: Option<String>,
    },
    /// A mobile-originated message, reassembled and decoded.
    Message {
        /// Sender; `+<digits>` when the SMSC marks it international.
        source: String,
        /// The number it was sent to (e.g. the short code).
        destination: String,
        /// Full text.
        text: String,
        /// The `deliver_sm_resp` of the message's last part waits for this: the SMSC keeps
        /// the message until the application has taken it.
        ack: MoAck,
    },
}

/// `ESME_RX_T_APPN`: the application cannot take the message now; the SMSC delivers it again.
pub const RETRY_LATER: u32 = 0x64;

/// The answer to a mobile-originated message, given once the application has stored it
/// (`accept`) or could not (`retry_later`). Dropped unanswered, it answers `retry_later`, so
/// a message is never acknowledged that nothing took. If the session is gone by then the
/// SMSC, having no answer, delivers the message again on the next bind.
#[derive(Clone)]
pub struct MoAck(std::sync::Arc<AckSlot>);

pub struct AckSlot(std::sync::Mutex<Option<(u32, Option<ReassemblyKey>, AckSender)>>);

/// An answer to a `deliver_sm`: sequence number, `command_status`, and the concatenated
/// message whose kept parts can go once it was taken.
type AckAnswer = (u32, u32, Option<ReassemblyKey>);
/// Where a session takes the answers.
type AckSender = mpsc::UnboundedSender<AckAnswer>;

impl MoAck {
    fn new(seq: u32, parts: Option<ReassemblyKey>, session: AckSender) -> MoAck {
        MoAck(std::sync::Arc::new(AckSlot(std::sync::Mutex::new(Some((
            seq, parts, session,
        ))))))
    }

    /// An answer already given (earlier parts of a concatenated message, tests).
    pub fn answered() -> MoAck {
        MoAck(std::sync::Arc::new(AckSlot(std::sync::Mutex::new(None))))
    }

    /// Stored: `ESME_ROK`.
    pub fn accept(&self) {
        self.0.answer(0);
    }

    /// Not stored: `ESME_RX_T_APPN`, delivered again later.
    pub fn retry_later(&self) {
        self.0.answer(RETRY_LATER);
    }
}

impl AckSlot {
    fn answer(&self, status: u32) {
        let taken = self.0.lock().map(|mut slot| slot.take()).unwrap_or(None);
        if let Some((seq, parts, session)) = taken {
            // A closed session cannot answer; the SMSC redelivers what it never heard about.
            let _ = session.send((seq, status, parts));
        }
    }
}

impl Drop for AckSlot {
    fn drop(&mut self) {
        self.answer(RETRY_LATER);
    }
}

impl std::fmt::Debug for MoAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MoAck")
    }
}

/// Every answer is the same for comparing messages.
impl PartialEq for MoAck {
    fn eq(&self, _other: &MoAck) -> bool {
        true
    }
}

impl Eq for MoAck {}

struct SubmitJob {
    sm: SubmitSm,
    permit: OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<String, SubmitError>>,
    deadline: Instant,
}

enum DriverCmd {
    Submit(Box<SubmitJob>),
    Shutdown(oneshot::Sender<()>),
}

struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(max_per_second: u32) -> Self {
        let interval = (max_per_second > 0).then(|| Duration::from_secs(1) / max_per_second);
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    async fn acquire(&self) {
        let Some(interval) = self.interval else { return };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

struct Shared {
    config: ClientConfig,
    cmd_tx: mpsc::Sender<DriverCmd>,
    window: Arc<Semaphore>,
    rate: RateLimiter,
    source: (Ton, Npi, String),
    bound: watch::Receiver<bool>,
}

/// A cheap-to-clone handle on one SMPP session task.
#[derive(Clone)]
pub struct SmppClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SmppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppClient")
            .field("addr", &self.shared.config.addr)
            .field("bind", &self.shared.config.bind)
            .field("bound", &*self.shared.bound.borrow())
            .finish()
    }
}

impl SmppClient {
    /// Spawns the session task (call inside a tokio runtime) and returns the
    /// handle and the stream of receipts and MO messages. The task connects
    /// and binds at once and keeps the session up until [`SmppClient::shutdown`]
    /// or until every handle is dropped. Dropping the receiver is fine:
    /// inbound PDUs are then acknowledged and discarded.
    pub fn start(config: ClientConfig) -> (SmppClient, mpsc::Receiver<Inbound>) {
        let mut config = config;
        config.window = config.window.max(1);
        if let Some(tag) = config.idempotency_tlv
            && !(0x1400..=0x3FFF).contains(&tag)
        {
            tracing::warn!(
                tag = format_args!("0x{tag:04X}"),
                "idempotency TLV tag outside the vendor range 0x1400..=0x3FFF"
            );
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
        let (bound_tx, bound_rx) = watch::channel(false);
        let source = pdu::address(&config.source_addr);
        let shared = Arc::new(Shared {
            cmd_tx,
            window: Arc::new(Semaphore::new(config.window)),
            rate: RateLimiter::new(config.max_per_second),
            source,
            bound: bound_rx,
            config: config.clone(),
        });
        let driver = Driver {
            seed: seed_from(&config.addr),
            cfg: config,
            cmd_rx,
            inbound_tx,
            bound_tx,
            reasm: Reassembler::new(REASSEMBLY_TIMEOUT),
            acks: None,
            queue: VecDeque::new(),
            last_error: None,
            backoff: RECONNECT_MIN,
            waiters: Vec::new(),
        };
        tokio::spawn(driver.run());
        (SmppClient { shared }, inbound_rx)
    }

    /// `true` while the session is bound.
    pub fn is_bound(&self) -> bool {
        *self.shared.bound.borrow()
    }

    /// Waits until the session is bound; `false` on timeout or after shutdown.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.bound.clone();
        matches!(tokio::time::timeout(timeout, rx.wait_for(|b| *b)).await, Ok(Ok(_)))
    }

    /// Sends one message: splits it into parts, submits every part (at most
    /// `window` awaiting a response, at most `max_per_second`), and returns
    /// the SMSC message ids. If a part fails, the error of the first
    /// permanently failed part (else the first failed part) is returned and
    /// parts not yet sent are not sent; parts already accepted stay accepted,
    /// so a retry should carry the same idempotency key.
    pub async fn submit(&self, sms: &OutgoingSms) -> Result<Submitted, SubmitError> {
        let cfg = &self.shared.config;
        if !cfg.bind.can_submit() {
            return Err(SubmitError::local(0x04, "the client is bound as a receiver".into()));
        }
        let (dest_ton, dest_npi, dest) = destination(&sms.destination)?;
        let encoding = text::choose_encoding(&sms.text);
        let reference = match &sms.idempotency_key {
            Some(key) => fnv1a(key.as_bytes()) as u8,
            None => text::next_reference(),
        };
        let segments = text::segments_with_reference(&sms.text, reference);
        if segments.len() > MAX_PARTS {
            return Err(SubmitError::local(
                0x01,
                format!("text needs {} parts (max {MAX_PARTS})", segments.len()),
            ));
        }
        let (src_ton, src_npi, src) = &self.shared.source;
        let source_addr = pdu::c_string::<1, 21>("source_addr", src).map_err(|e| SubmitError::local(0x0A, e))?;
        let destination_addr = pdu::c_string::<1, 21>("destination", &dest).map_err(|e| SubmitError::local(0x0B, e))?;
        let many = segments.len() > 1;
        let mut pdus = Vec::with_capacity(segments.len());
        for seg in &segments {
            let short_message = OctetString::<0, 255>::from_slice(&seg.short_message)
                .map_err(|e| SubmitError::local(0x01, format!("short_message: {e}")))?;
            let mut sm = SubmitSm::builder()
                .source_addr_ton(*src_ton)
                .source_addr_npi(*src_npi)
                .source_addr(source_addr.clone())
                .dest_addr_ton(dest_ton)
                .dest_addr_npi(dest_npi)
                .destination_addr(destination_addr.clone())
                .esm_class(EsmClass::from(seg.esm_class()))
                .registered_delivery(RegisteredDelivery::from(u8::from(sms.request_receipt)))
                .data_coding(DataCoding::from(seg.data_coding()))
                .short_message(short_message)
                .build();
            if let (Some(tag), Some(key)) = (cfg.idempotency_tlv, &sms.idempotency_key) {
                let value = match seg.udh {
                    Some(ConcatInfo { seq, .. }) if many => format!("{key}#{seq}"),
                    _ => key.clone(),
                };
                if value.len() > usize::from(u16::MAX) {
                    return Err(SubmitError::local(0xC4, "idempotency key too long".into()));
                }
                sm.push_tlv(MessageSubmissionRequestTlvValue::Other {
                    tag: TlvTag::Other(tag),
                    value: AnyOctetString::from_slice(value.as_bytes()),
                });
            }
            pdus.push(sm);
        }

        enum Slot {
            Waiting(oneshot::Receiver<Result<String, SubmitError>>),
            Done(Result<String, SubmitError>),
        }
        fn poll_early(slots: &mut [Slot]) -> bool {
            let mut failed = false;
            for slot in slots.iter_mut() {
                if let Slot::Waiting(rx) = slot {
                    match rx.try_recv() {
                        Ok(res) => *slot = Slot::Done(res),
                        Err(oneshot::error::TryRecvError::Empty) => {}
                        Err(oneshot::error::TryRecvError::Closed) => {
                            *slot = Slot::Done(Err(SubmitError::Transient("session dropped the request".into())))
                        }
                    }
                }
                failed |= matches!(slot, Slot::Done(Err(_)));
            }
            failed
        }

        let shut = || SubmitError::Transient("SMPP client is shut down".into());
        let mut slots: Vec<Slot> = Vec::with_capacity(pdus.len());
        for sm in pdus {
            if poll_early(&mut slots) {
                break;
            }
            let permit = self.shared.window.clone().acquire_owned().await.map_err(|_| shut())?;
            self.shared.rate.acquire().await;
            let (reply, rx) = oneshot::channel();
            let job = SubmitJob {
                sm,
                permit,
                reply,
                deadline: Instant::now() + cfg.response_timeout,
            };
            self.shared
                .cmd_tx
                .send(DriverCmd::Submit(Box::new(job)))
                .await
                .map_err(|_| shut())?;
            slots.push(Slot::Waiting(rx));
        }
        let sent = slots.len();
        let guard = cfg.response_timeout * 3;
        let mut results = Vec::with_capacity(sent);
        for slot in slots {
            let res = match slot {
                Slot::Done(res) => res,
                Slot::Waiting(rx) => match tokio::time::timeout(guard, rx).await {
                    Ok(Ok(res)) => res,
                    Ok(Err(_)) => Err(SubmitError::Transient("session dropped the request".into())),
                    Err(_) => Err(SubmitError::Transient(format!("no response within {guard:?}"))),
                },
            };
            results.push(res);
        }
        let mut ids = Vec::with_capacity(sent);
        let mut first_transient = None;
        for res in results {
            match res {
                Ok(id) => ids.push(id),
                Err(e @ SubmitError::Permanent { .. }) => return Err(e),
                Err(e) => {
                    first_transient.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_transient {
            return Err(e);
        }
        if ids.len() < segments.len() {
            return Err(SubmitError::Transient("not all parts were sent".into()));
        }
        Ok(Submitted {
            message_ids: ids,
            encoding,
        })
    }

    /// Waits (up to `response_timeout`) for outstanding submits, unbinds
    /// politely and stops the session task. Later submits fail as transient.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.cmd_tx.send(DriverCmd::Shutdown(tx)).await.is_ok() {
            let _ = tokio::time::timeout(self.shared.config.response_timeout * 3, rx).await;
        }
        self.shared.window.close();
    }
}

fn destination(dest: &str) -> Result<(Ton, Npi, String), SubmitError> {
    let trimmed = dest.trim();
    let (ton, digits) = match trimmed.strip_prefix('+') {
        Some(d) => (Ton::International, d),
        None => (Ton::Unknown, trimmed),
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SubmitError::local(
            0x0B,
            format!("destination {dest:?} is not an E.164 number"),
        ));
    }
    Ok((ton, Npi::Isdn, digits.to_owned()))
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0x811C_9DC5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn seed_from(s: &str) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    u64::from(fnv1a(s.as_bytes())) ^ (t as u64) | 1
}

enum PendingKind {
    Submit {
        reply: oneshot::Sender<Result<String, SubmitError>>,
        _permit: OwnedSemaphorePermit,
    },
    EnquireLink,
    Unbind,
}

struct Pending {
    kind: PendingKind,
    deadline: Instant,
}

struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    seq: u32,
}

impl Conn {
    fn next_seq(&mut self) -> u32 {
        self.seq = if self.seq >= 0x7FFF_FFFF { 1 } else { self.seq + 1 };
        self.seq
    }

    async fn write(&mut self, cmd: &Command, timeout: Duration) -> Result<(), String> {
        let buf = pdu::encode_command(cmd);
        match tokio::time::timeout(timeout, self.stream.write_all(&buf)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err(format!("write timed out after {timeout:?}")),
        }
    }
}

enum SessionEnd {
    Lost(String),
    Exit,
}

enum Closing {
    Draining { until: Instant },
    Unbinding,
}

struct Driver {
    cfg: ClientConfig,
    cmd_rx: mpsc::Receiver<DriverCmd>,
    inbound_tx: mpsc::Sender<Inbound>,
    bound_tx: watch::Sender<bool>,
    reasm: Reassembler,
    /// Where the current session takes the application's answers to `deliver_sm`.
    acks: Option<AckSender>,
    queue: VecDeque<Box<SubmitJob>>,
    last_error: Option<String>,
    backoff: Duration,
    seed: u64,
    waiters: Vec<oneshot::Sender<()>>,
}

enum Flow {
    Continue,
    Exit,
}

impl Driver {
    fn tick_period(&self) -> Duration {
        (self.cfg.response_timeout.min(self.cfg.enquire_link_interval) / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250))
    }

    fn next_backoff(&mut self) -> Duration {
        let base = self.backoff;
        self.backoff = (self.backoff * 2).min(RECONNECT_MAX);
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        // 50%..100% of the base delay.
        let frac = 0.5 + (self.seed % 1000) as f64 / 2000.0;
        base.mul_f64(frac)
    }

    async fn run(mut self) {
        let mut delay = Duration::ZERO;
        loop {
            if !delay.is_zero() {
                let wake = Instant::now() + delay;
                if let Flow::Exit = self.wait_until(wake).await {
                    break;
                }
            }
            let attempt = match self.connect_phase().await {
                Some(r) => r,
                None => break,
            };
            match attempt {
                Ok(conn) => {
                    tracing::info!(addr = %self.cfg.addr, mode = ?self.cfg.bind, "SMPP session bound");
                    self.last_error = None;
                    let _ = self.bound_tx.send(true);
                    let started = Instant::now();
                    let end = self.session(conn).await;
                    let _ = self.bound_tx.send(false);
                    match end {
                        SessionEnd::Exit => break,
                        SessionEnd::Lost(reason) => {
                            tracing::warn!(addr = %self.cfg.addr, %reason, "SMPP session lost; reconnecting");
                            self.last_error = Some(reason);
                            delay = if started.elapsed() >= STABLE_SESSION {
                                self.backoff = RECONNECT_MIN;
                                Duration::ZERO
                            } else {
                                self.next_backoff()
                            };
                        }
                    }
                }
                Err(reason) => {
                    delay = self.next_backoff();
                    tracing::warn!(addr = %self.cfg.addr, %reason, retry_in = ?delay, "SMPP connect/bind failed");
                    for job in self.queue.drain(..) {
                        let _ = job.reply.send(Err(SubmitError::Transient(reason.clone())));
                    }
                    self.last_error = Some(reason);
                }
            }
        }
        for job in self.queue.drain(..) {
            let _ = job
                .reply
                .send(Err(SubmitError::Transient("SMPP client is shut down".into())));
        }
        let _ = self.bound_tx.send(false);
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            match cmd {
                DriverCmd::Submit(job) => {
                    let _ = job
                        .reply
                        .send(Err(SubmitError::Transient("SMPP client is shut down".into())));
                }
                DriverCmd::Shutdown(w) => self.waiters.push(w),
            }
        }
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
        tracing::info!(addr = %self.cfg.addr, "SMPP client stopped");
    }

    fn not_connected(&self) -> SubmitError {
        SubmitError::Transient(match &self.last_error {
            Some(e) => format!("not connected to the SMSC: {e}"),
            None => "not connected to the SMSC".into(),
        })
    }

    /// Handles a command while no session is up. `next_attempt` is when the
    /// next connect attempt will start (submits that cannot wait for it fail).
    fn offline_cmd(&mut self, cmd: Option<DriverCmd>, next_attempt: Instant) -> Flow {
        match cmd {
            None => Flow::Exit,
            Some(DriverCmd::Shutdown(w)) => {
                self.waiters.push(w);
                Flow::Exit
            }
            Some(DriverCmd::Submit(job)) => {
                if job.deadline <= next_attempt {
                    let _ = job.reply.send(Err(self.not_connected()));
                } else {
                    self.queue.push_back(job);
                }
                Flow::Continue
            }
        }
    }

    fn expire_queue(&mut self) {
        let now = Instant::now();
        while self.queue.front().is_some_and(|j| j.deadline <= now) {
            if let Some(job) = self.queue.pop_front() {
                let _ = job.reply.send(Err(self.not_connected()));
            }
        }
    }

    async fn wait_until(&mut self, wake: Instant) -> Flow {
        let mut tick = tokio::time::interval(self.tick_period());
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => return Flow::Continue,
                cmd = self.cmd_rx.recv() => {
                    if let Flow::Exit = self.offline_cmd(cmd, wake) {
                        return Flow::Exit;
                    }
                }
                _ = tick.tick() => self.expire_queue(),
            }
        }
    }

    /// Connects and binds; `None` when told to stop meanwhile.
    async fn connect_phase(&mut self) -> Option<Result<Conn, String>> {
        let cfg = self.cfg.clone();
        let attempt = connect_and_bind(&cfg);
        tokio::pin!(attempt);
        let mut tick = tokio::time::interval(self.tick_period());
        loop {
            tokio::select! {
                res = &mut attempt => return Some(res),
                cmd = self.cmd_rx.recv() => {
                    // An attempt is under way: submits wait for its outcome.
                    if let Flow::Exit = self.offline_cmd(cmd, Instant::now()) {
                        return None;
                    }
                }
                _ = tick.tick() => self.expire_queue(),
            }
        }
    }

    async fn session(&mut self, mut conn: Conn) -> SessionEnd {
        let rt = self.cfg.response_timeout;
        let mut pending: HashMap<u32, Pending> = HashMap::new();
        let mut last_rx = Instant::now();
        let mut closing: Option<Closing> = None;
        let mut handles_alive = true;
        // Answers to deliver_sm that waited for the application.
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<AckAnswer>();
        self.acks = Some(ack_tx);
        let end = 'session: {
            while let Some(job) = self.queue.pop_front() {
                if job.deadline <= Instant::now() {
                    let _ = job.reply.send(Err(self.not_connected()));
                    continue;
                }
                if let Err(e) = send_submit(&mut conn, &mut pending, job, rt).await {
                    break 'session SessionEnd::Lost(e);
                }
            }
            let mut tick = tokio::time::interval(self.tick_period());
            loop {
                tokio::select! {
                    r = conn.stream.read_buf(&mut conn.rbuf) => {
                        match r {
                            Ok(0) => break 'session SessionEnd::Lost("connection closed by the SMSC".into()),
                            Err(e) => break 'session SessionEnd::Lost(format!("read failed: {e}")),
                            Ok(_) => {}
                        }
                        last_rx = Instant::now();
                        loop {
                            match pdu::take_frame(&mut conn.rbuf) {
                                Ok(Some(cmd)) => {
                                    if let Some(end) = self.on_command(&mut conn, &mut pending, cmd, closing.is_some()).await {
                                        break 'session end;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!(error = %e, "malformed PDU from the SMSC; dropping the connection");
                                    break 'session SessionEnd::Lost(format!("malformed PDU from the SMSC: {e}"));
                                }
                            }
                        }
                    }
                    cmd = self.cmd_rx.recv(), if handles_alive => match cmd {
                        Some(DriverCmd::Submit(job)) => {
                            if closing.is_some() {
                                let _ = job.reply.send(Err(SubmitError::Transient("SMPP client is shutting down".into())));
                            } else if let Err(e) = send_submit(&mut conn, &mut pending, job, rt).await {
                                break 'session SessionEnd::Lost(e);
                            }
                        }
                        Some(DriverCmd::Shutdown(w)) => {
                            self.waiters.push(w);
                            closing.get_or_insert(Closing::Draining { until: Instant::now() + rt });
                        }
                        None => {
                            handles_alive = false;
                            closing.get_or_insert(Closing::Draining { until: Instant::now() + rt });
                        }
                    },
                    Some((seq, status, parts)) = ack_rx.recv() => {
                        // Taken: the parts go. Not taken: they stay, so the last part the
                        // SMSC delivers again completes the message again.
                        if let (0, Some(parts)) = (status, &parts) {
                            self.reasm.forget(parts);
                        }
                        let resp = Command::new(CommandStatus::from(status), seq, DeliverSmResp::builder().build());
                        if let Err(e) = conn.write(&resp, rt).await {
                            break 'session SessionEnd::Lost(e);
                        }
                    }
                    _ = tick.tick() => {
                        let now = Instant::now();
                        let expired: Vec<u32> = pending.iter().filter(|(_, p)| p.deadline <= now).map(|(s, _)| *s).collect();
                        for seq in expired {
                            let Some(p) = pending.remove(&seq) else { continue };
                            match p.kind {
                                PendingKind::Submit { reply, .. } => {
                                    let _ = reply.send(Err(SubmitError::Transient(format!("no submit_sm_resp within {rt:?}"))));
                                }
                                PendingKind::EnquireLink => {
                                    break 'session SessionEnd::Lost(format!("no enquire_link_resp within {rt:?}"));
                                }
                                PendingKind::Unbind => break 'session SessionEnd::Exit,
                            }
                        }
                        let enquiring = pending.values().any(|p| matches!(p.kind, PendingKind::EnquireLink));
                        if closing.is_none() && !enquiring && now.duration_since(last_rx) >= self.cfg.enquire_link_interval {
                            let seq = conn.next_seq();
                            if let Err(e) = conn.write(&Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink), rt).await {
                                break 'session SessionEnd::Lost(e);
                            }
                            pending.insert(seq, Pending { kind: PendingKind::EnquireLink, deadline: now + rt });
                        }
                        self.reasm.purge_expired();
                    }
                }
                if let Some(Closing::Draining { until }) = closing {
                    let busy = pending.values().any(|p| matches!(p.kind, PendingKind::Submit { .. }));
                    if !busy || Instant::now() >= until {
                        let seq = conn.next_seq();
                        if conn
                            .write(&Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind), rt)
                            .await
                            .is_err()
                        {
                            break 'session SessionEnd::Exit;
                        }
                        pending.insert(
                            seq,
                            Pending {
                                kind: PendingKind::Unbind,
                                deadline: Instant::now() + rt,
                            },
                        );
                        closing = Some(Closing::Unbinding);
                    }
                }
            }
        };
        let reason = match &end {
            SessionEnd::Lost(r) => format!("connection lost: {r}"),
            SessionEnd::Exit => "SMPP client is shut down".into(),
        };
        for (_, p) in pending.drain() {
            if let PendingKind::Submit { reply, .. } = p.kind {
                let _ = reply.send(Err(SubmitError::Transient(reason.clone())));
            }
        }
        let _ = conn.stream.shutdown().await;
        end
    }

    /// Handles one PDU from the SMSC; `Some` ends the session.
    async fn on_command(
        &mut self,
        conn: &mut Conn,
        pending: &mut HashMap<u32, Pending>,
        cmd: Command,
        closing: bool,
    ) -> Option<SessionEnd> {
        let rt = self.cfg.response_timeout;
        let id = u32::from(cmd.id());
        let seq = cmd.sequence_number;
        let status = u32::from(cmd.status);
        if is_response(id) {
            let Some(p) = pending.remove(&seq) else {
                tracing::debug!(
                    command_id = format_args!("0x{id:08X}"),
                    seq,
                    "response to no outstanding request"
                );
                return None;
            };
            match p.kind {
                PendingKind::Submit { reply, .. } => {
                    let res = match (cmd.id(), cmd.pdu()) {
                        (CommandId::GenericNack, _) => {
                            Err(SubmitError::from_status(status, "submit_sm answered with generic_nack"))
                        }
                        (CommandId::SubmitSmResp, pdu) if status == 0 => Ok(match pdu {
                            Some(Pdu::SubmitSmResp(r)) => r.message_id().as_str().to_owned(),
                            _ => String::new(),
                        }),
                        (CommandId::SubmitSmResp, _) => Err(SubmitError::from_status(status, "submit_sm rejected")),
                        (other, _) => Err(SubmitError::Transient(format!(
                            "unexpected {other:?} in answer to submit_sm"
                        ))),
                    };
                    let _ = reply.send(res);
                }
                PendingKind::EnquireLink => {
                    if cmd.id() == CommandId::GenericNack {
                        tracing::debug!(status = %describe_status(status), "enquire_link answered with generic_nack");
                    }
                }
                PendingKind::Unbind => return Some(SessionEnd::Exit),
            }
            return None;
        }
        let reply = match cmd.pdu() {
            // None: answered when the application has taken the message (`MoAck`).
            Some(Pdu::DeliverSm(d)) => self
                .on_deliver_sm(d, seq)
                .map(|st| Command::new(CommandStatus::from(st), seq, DeliverSmResp::builder().build())),
            Some(Pdu::EnquireLink) => Some(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp)),
            Some(Pdu::Unbind) => {
                let _ = conn
                    .write(&Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp), rt)
                    .await;
                return Some(if closing {
                    SessionEnd::Exit
                } else {
                    SessionEnd::Lost("the SMSC unbound the session".into())
                });
            }
            Some(Pdu::AlertNotification(_) | Pdu::Outbind(_)) => None,
            Some(_) => Some(Command::new(CommandStatus::EsmeRinvcmdid, seq, Pdu::GenericNack)),
            None => Some(Command::new(CommandStatus::EsmeRinvcmdlen, seq, Pdu::GenericNack)),
        };
        if let Some(reply) = reply
            && let Err(e) = conn.write(&reply, rt).await
        {
            return Some(SessionEnd::Lost(e));
        }
        None
    }

    /// Turns a `deliver_sm` into an [`Inbound`]; returns the status to answer now, or `None`
    /// when a complete message went to the application, which answers through its `MoAck`.
    fn on_deliver_sm(&mut self, d: &DeliverSm, seq: u32) -> Option<u32> {
        let mut deferred = false;
        let status = self.take_deliver_sm(d, seq, &mut deferred);
        (!deferred).then_some(status)
    }

    fn take_deliver_sm(&mut self, d: &DeliverSm, seq: u32, deferred: &mut bool) -> u32 {
        let wanted = !self.inbound_tx.is_closed();
        if !wanted {
            // Nobody reads inbound messages any more (the application is stopping): the
            // SMSC keeps them and delivers again, instead of this session dropping them.
            return 0x64; // ESME_RX_T_APPN
        }
        if self.inbound_tx.capacity() == 0 {
            tracing::warn!("inbound channel full; asking the SMSC to redeliver later");
            return 0x64; // ESME_RX_T_APPN
        }
        let esm = u8::from(d.esm_class);
        let dc = u8::from(d.data_coding);
        let mut receipted_id = None;
        let mut message_state = None;
        let mut network_error = None;
        let mut payload_tlv = None;
        let (mut sar_ref, mut sar_total, mut sar_seq) = (None, None, None);
        for tlv in d.tlvs() {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => receipted_id = Some(id.as_str().to_owned()),
                Some(TlvValue::MessageState(s)) => message_state = Some(u8::from(*s)),
                Some(TlvValue::NetworkErrorCode(n)) => {
                    network_error = Some(format!("network {:?} error {}", n.network_type, n.error_code))
                }
                Some(TlvValue::MessagePayload(p)) => payload_tlv = Some(p.value.to_vec()),
                Some(TlvValue::SarMsgRefNum(r)) => sar_ref = Some(*r),
                Some(TlvValue::SarTotalSegments(t)) => sar_total = Some(*t),
                Some(TlvValue::SarSegmentSeqnum(s)) => sar_seq = Some(*s),
                _ => {}
            }
        }
        let mut sm: &[u8] = d.short_message();
        if sm.is_empty()
            && let Some(p) = &payload_tlv
        {
            sm = p;
        }
        let has_udh = esm & text::ESM_CLASS_UDHI != 0;
        let (udh_concat, payload) = match text::split_udh(sm, has_udh) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable deliver_sm; rejecting it");
                return 0x65; // ESME_RX_P_APPN
            }
        };
        let inbound = if esm & 0x3C != 0 {
            let body = String::from_utf8_lossy(payload);
            let parsed = pdu::parse_receipt_text(&body);
            let Some(message_id) = receipted_id.or(parsed.id) else {
                tracing::warn!(text = %body, "delivery receipt without a message id; ignored");
                return 0;
            };
            let state = match message_state {
                Some(s) => ReceiptState::from_message_state(s),
                None => parsed
                    .stat
                    .as_deref()
                    .map(ReceiptState::from_stat)
                    .unwrap_or(ReceiptState::Unknown),
            };
            let error = parsed.err.filter(|e| !e.chars().all(|c| c == '0')).or(network_error);
            Inbound::Receipt {
                message_id,
                state,
                error,
            }
        } else {
            let source = normalise_address(d.source_addr_ton, d.source_addr.as_str());
            let destination = normalise_address(d.dest_addr_ton, d.destination_addr.as_str());
            let sar = match (sar_ref, sar_total, sar_seq) {
                (Some(reference), Some(total), Some(seq)) => Some(ConcatInfo { reference, total, seq }),
                _ => None,
            };
            match self.reasm.push_part(&source, udh_concat.or(sar), dc, payload) {
                Ok(Some(r)) => {
                    let ack = match &self.acks {
                        Some(session) => MoAck::new(seq, r.key.clone(), session.clone()),
                        None => MoAck::answered(),
                    };
                    Inbound::Message {
                        source,
                        destination,
                        text: r.text,
                        ack,
                    }
                }
                Ok(None) => return 0,
                Err(e) => {
                    tracing::warn!(error = %e, %source, "undecodable MO message; rejecting it");
                    return 0x65;
                }
            }
        };
        let is_message = matches!(inbound, Inbound::Message { .. });
        if let Err(e) = self.inbound_tx.try_send(inbound) {
            // Dropped with it, the message's MoAck answers retry-later.
            tracing::warn!(error = %e, "could not queue an inbound SMS");
        }
        *deferred = is_message;
        0
    }
}

async fn send_submit(
    conn: &mut Conn,
    pending: &mut HashMap<u32, Pending>,
    job: Box<SubmitJob>,
    rt: Duration,
) -> Result<(), String> {
    let seq = conn.next_seq();
    let cmd = Command::new(CommandStatus::EsmeRok, seq, job.sm);
    if let Err(e) = conn.write(&cmd, rt).await {
        let _ = job
            .reply
            .send(Err(SubmitError::Transient(format!("connection lost: {e}"))));
        return Err(e);
    }
    pending.insert(
        seq,
        Pending {
            kind: PendingKind::Submit {
                reply: job.reply,
                _permit: job.permit,
            },
            deadline: Instant::now() + rt,
        },
    );
    Ok(())
}

async fn connect_and_bind(cfg: &ClientConfig) -> Result<Conn, String> {
    let rt = cfg.response_timeout;
    let stream = match tokio::time::timeout(rt, TcpStream::connect(&cfg.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("connect to {} failed: {e}", cfg.addr)),
        Err(_) => return Err(format!("connect to {} timed out", cfg.addr)),
    };
    let _ = stream.set_nodelay(true);
    let system_id = pdu::c_string::<1, 16>("system_id", &cfg.system_id).map_err(|e| format!("bind failed: {e}"))?;
    let password = pdu::c_string::<1, 9>("password", &cfg.password)
        .map_err(|_| "bind failed: password longer than 8 characters".to_owned())?;
    let system_type =
        pdu::c_string::<1, 13>("system_type", &cfg.system_type).map_err(|e| format!("bind failed: {e}"))?;
    let v = InterfaceVersion::Smpp3_4;
    let body: Pdu = match cfg.bind {
        BindMode::Transmitter => BindTransmitter::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(v)
            .build()
            .into(),
        BindMode::Receiver => BindReceiver::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(v)
            .build()
            .into(),
        BindMode::Transceiver => BindTransceiver::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(v)
            .build()
            .into(),
    };
    let mut conn = Conn {
        stream,
        rbuf: BytesMut::with_capacity(4096),
        seq: 0,
    };
    let seq = conn.next_seq();
    conn.write(&Command::new(CommandStatus::EsmeRok, seq, body), rt)
        .await
        .map_err(|e| format!("bind failed: {e}"))?;
    let deadline = Instant::now() + rt;
    loop {
        loop {
            match pdu::take_frame(&mut conn.rbuf) {
                Ok(Some(cmd)) => {
                    let id = cmd.id();
                    let is_bind_resp = matches!(
                        id,
                        CommandId::BindTransmitterResp | CommandId::BindReceiverResp | CommandId::BindTransceiverResp
                    );
                    if cmd.sequence_number == seq && (is_bind_resp || id == CommandId::GenericNack) {
                        let status = u32::from(cmd.status);
                        if status != 0 {
                            return Err(format!("bind failed: {}", describe_status(status)));
                        }
                        if id == CommandId::GenericNack {
                            return Err("bind failed: answered with generic_nack".into());
                        }
                        return Ok(conn);
                    }
                    if cmd.id() == CommandId::EnquireLink {
                        let resp = Command::new(CommandStatus::EsmeRok, cmd.sequence_number, Pdu::EnquireLinkResp);
                        conn.write(&resp, rt).await.map_err(|e| format!("bind failed: {e}"))?;
                    }
                }
                Ok(None) => break,
                Err(e @ (FrameError::BadLength(_) | FrameError::Malformed { .. })) => {
                    return Err(format!("bind failed: {e}"));
                }
            }
        }
        match tokio::time::timeout_at(deadline, conn.stream.read_buf(&mut conn.rbuf)).await {
            Ok(Ok(0)) => return Err("bind failed: connection closed by the SMSC".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("bind failed: {e}")),
            Err(_) => return Err(format!("bind failed: no bind response within {rt:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(
            destination("+628123456789").ok(),
            Some((Ton::International, Npi::Isdn, "628123456789".into()))
        );
        assert_eq!(destination("0812").ok().map(|d| d.0), Some(Ton::Unknown));
        for bad in ["", "+", "+62-812", "abc", "+123456789012345678901"] {
            match destination(bad) {
                Err(SubmitError::Permanent { status: 0x0B, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn status_classification() {
        assert!(SubmitError::from_status(0x58, "x").is_transient());
        assert!(SubmitError::from_status(0x14, "x").is_transient());
        assert!(SubmitError::from_status(0x08, "x").is_transient());
        match SubmitError::from_status(0x0B, "submit_sm rejected") {
            SubmitError::Permanent { status, reason } => {
                assert_eq!(status, 0x0B);
                assert!(reason.contains("ESME_RINVDSTADR"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn rate_limiter_spaces_requests() {
        let rl = RateLimiter::new(50);
        let start = Instant::now();
        for _ in 0..6 {
            rl.acquire().await;
        }
        // 6 acquisitions at 50/s: the 6th at ≥ 100 ms.
        assert!(start.elapsed() >= Duration::from_millis(95), "{:?}", start.elapsed());
        let unlimited = RateLimiter::new(0);
        let start = Instant::now();
        for _ in 0..1000 {
            unlimited.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
