//! An SMSC simulator: a real SMPP 3.4 peer on TCP for tests and local runs.
//!
//! It accepts `bind_transmitter`/`bind_receiver`/`bind_transceiver` (checking
//! `system_id` and password), answers `submit_sm` with message ids, reassembles
//! concatenated messages (UDH IEI 0x00/0x08 or SAR TLVs), records each complete
//! message once, sends delivery receipts when `registered_delivery` asks,
//! deduplicates submits that carry the same idempotency key (like an SMS
//! aggregator would), delivers mobile-originated messages with
//! [`Smsc::deliver_mo`], and injects faults ([`Faults`]).
//!
//! # Idempotency keys
//!
//! With `idempotency_tlv` set, a `submit_sm` whose TLV value was seen before
//! is answered with the original message id and nothing new is recorded (and
//! no second receipt is sent). Keys are per PDU; [`crate::client`] sends
//! `<key>#<n>` for part *n* of a concatenated message, and
//! [`ReceivedSms::idempotency_key`] reports the key without that suffix.
//!
//! # Faults
//!
//! Fault counters count every `submit_sm` from a bound transmitter (across
//! sessions, duplicates included). A dropped connection discards the submit
//! by default; [`Smsc::set_drop_accepts`] makes the simulator accept and
//! record it first (a lost `submit_sm_resp`: the case idempotency keys exist for).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, TlvValue};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessageState};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::client::BindMode;
use crate::pdu::{self, describe_status, is_response, normalise_address};
use crate::text::{self, ConcatInfo, Encoding};

const SMSC_SYSTEM_ID: &str = "LAPORSIM";
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Smsc::deliver_mo`] waits for each `deliver_sm_resp`.
pub const MO_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const PARTIAL_TIMEOUT: Duration = Duration::from_secs(600);

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// The `system_id` ESMEs must bind with.
    pub system_id: String,
    /// The password ESMEs must bind with.
    pub password: String,
    /// Initial faults (change later with [`Smsc::set_faults`]).
    pub faults: Faults,
    /// Vendor TLV tag carrying an idempotency key; `None` = no deduplication.
    pub idempotency_tlv: Option<u16>,
}

impl Default for SmscConfig {
    /// `lapor`/`lapor`, no faults, idempotency TLV [`crate::DEFAULT_IDEMPOTENCY_TLV`].
    fn default() -> Self {
        Self {
            system_id: "lapor".into(),
            password: "lapor".into(),
            faults: Faults::default(),
            idempotency_tlv: Some(crate::DEFAULT_IDEMPOTENCY_TLV),
        }
    }
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every Nth `submit_sm` is answered `ESME_RTHROTTLED`.
    pub throttle_every: Option<u32>,
    /// Every Nth `submit_sm`: close the TCP connection without answering.
    pub drop_connection_every: Option<u32>,
    /// Destinations starting with this (compared without `+`) get `ESME_RINVDSTADR`.
    pub reject_destination_prefix: Option<String>,
}

/// A complete message the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSms {
    /// Sender (`+<digits>` when sent TON international).
    pub source: String,
    /// Recipient (`+<digits>` when sent TON international).
    pub destination: String,
    /// Full text after reassembly.
    pub text: String,
    /// Encoding of the (first) part.
    pub encoding: Encoding,
    /// Number of parts.
    pub segments: usize,
    /// Message id of the first part.
    pub message_id: String,
    /// Message ids of all parts, in part order.
    pub message_ids: Vec<String>,
    /// The idempotency key (without the `#<n>` part suffix).
    pub idempotency_key: Option<String>,
}

impl ReceivedSms {
    /// One JSON object, as the `lapor-smsc-sim` binary prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "event": "submit",
            "source": self.source,
            "destination": self.destination,
            "text": self.text,
            "encoding": self.encoding.as_str(),
            "segments": self.segments,
            "message_id": self.message_id,
            "message_ids": self.message_ids,
            "idempotency_key": self.idempotency_key,
        })
    }
}

/// Why [`Smsc::deliver_mo`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No ESME is bound as receiver or transceiver.
    #[error("no receiver or transceiver is bound")]
    NoReceiver,
    /// An address does not fit SMPP.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The text needs more than 255 parts.
    #[error("text too long")]
    TooLong,
    /// The ESME answered `deliver_sm` with an error.
    #[error("ESME rejected deliver_sm: {reason}")]
    Rejected {
        /// `command_status` of the `deliver_sm_resp`.
        status: u32,
        /// Its `ESME_*` name.
        reason: String,
    },
    /// No `deliver_sm_resp` in time.
    #[error("no deliver_sm_resp within {0:?}")]
    Timeout(Duration),
    /// The session closed before answering.
    #[error("the ESME session closed")]
    Disconnected,
}

struct ReceiptJob {
    system_id: String,
    pdu: DeliverSm,
}

enum SessionCmd {
    SubmitResp {
        resp: Box<Command>,
        receipt: Option<Box<ReceiptJob>>,
    },
    Request {
        pdu: Box<Pdu>,
        reply: Option<oneshot::Sender<u32>>,
    },
}

struct SessionHandle {
    mode: Option<BindMode>,
    system_id: String,
    tx: mpsc::Sender<SessionCmd>,
}

struct PartialMsg {
    started: Instant,
    parts: Vec<Option<PartRec>>,
}

struct PartRec {
    data_coding: u8,
    payload: Vec<u8>,
    message_id: String,
    key: Option<String>,
}

#[derive(Default)]
struct Store {
    received: Vec<ReceivedSms>,
    partial: HashMap<(String, String, u16, u8), PartialMsg>,
    dedup: HashMap<String, String>,
    /// Submits folded into an earlier one by their idempotency key.
    folded: u32,
    waiting_receipts: VecDeque<ReceiptJob>,
}

struct SimShared {
    system_id: String,
    password: String,
    idempotency_tlv: Option<u16>,
    faults: Mutex<Faults>,
    response_delay: Mutex<Option<Duration>>,
    drop_accepts: AtomicBool,
    submits: AtomicU32,
    next_id: AtomicU64,
    next_session: AtomicU64,
    store: Mutex<Store>,
    sessions: Mutex<BTreeMap<u64, SessionHandle>>,
    max_outstanding: AtomicUsize,
    received_count: watch::Sender<usize>,
    events: broadcast::Sender<ReceivedSms>,
    cancel: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn can_receive(mode: Option<BindMode>) -> bool {
    matches!(mode, Some(BindMode::Receiver | BindMode::Transceiver))
}

fn can_transmit(mode: Option<BindMode>) -> bool {
    matches!(mode, Some(BindMode::Transmitter | BindMode::Transceiver))
}

fn every(n: u32, k: Option<u32>) -> bool {
    k.is_some_and(|k| k > 0 && n.is_multiple_of(k))
}

/// A running SMSC simulator. Dropping it stops the listener and closes every session.
pub struct Smsc {
    shared: Arc<SimShared>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Smsc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smsc").field("local_addr", &self.local_addr).finish()
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl Smsc {
    /// Listens on `addr` (`127.0.0.1:0` for an ephemeral port) and serves sessions.
    pub async fn start(addr: &str, config: SmscConfig) -> std::io::Result<Smsc> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (received_count, _) = watch::channel(0);
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(SimShared {
            system_id: config.system_id,
            password: config.password,
            idempotency_tlv: config.idempotency_tlv,
            faults: Mutex::new(config.faults),
            response_delay: Mutex::new(None),
            drop_accepts: AtomicBool::new(false),
            submits: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            store: Mutex::new(Store::default()),
            sessions: Mutex::new(BTreeMap::new()),
            max_outstanding: AtomicUsize::new(0),
            received_count,
            events,
            cancel: CancellationToken::new(),
        });
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = accept_shared.cancel.cancelled() => break,
                    res = listener.accept() => match res {
                        Ok((stream, peer)) => {
                            let id = accept_shared.next_session.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, session = id, "SMSC simulator: connection");
                            tokio::spawn(run_session(accept_shared.clone(), stream, id));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "SMSC simulator: accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                }
            }
        });
        tracing::info!(%local_addr, "SMSC simulator listening");
        Ok(Smsc { shared, local_addr })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Complete messages accepted so far, in arrival order (each once).
    pub fn received(&self) -> Vec<ReceivedSms> {
        lock(&self.shared.store).received.clone()
    }

    /// Waits until at least `count` messages were received or `timeout`
    /// passed, and returns what was received.
    pub async fn wait_for_received(&self, count: usize, timeout: Duration) -> Vec<ReceivedSms> {
        let mut rx = self.shared.received_count.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n >= count)).await;
        self.received()
    }

    /// A stream of messages as they complete.
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedSms> {
        self.shared.events.subscribe()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Delays every `submit_sm_resp` (the session keeps reading meanwhile),
    /// so that a client's window fills up.
    pub fn set_response_delay(&self, delay: Option<Duration>) {
        *lock(&self.shared.response_delay) = delay;
    }

    /// When `true`, a submit picked by `drop_connection_every` is accepted and
    /// recorded before the connection is closed (the response is lost).
    pub fn set_drop_accepts(&self, accept: bool) {
        self.shared.drop_accepts.store(accept, Ordering::Relaxed);
    }

    /// `submit_sm` PDUs seen from bound transmitters so far.
    pub fn submit_count(&self) -> u32 {
        self.shared.submits.load(Ordering::Relaxed)
    }

    /// Submits (parts) folded into an earlier one because they repeated its idempotency key:
    /// what a provider without such keys would have delivered twice.
    pub fn folded_duplicates(&self) -> u32 {
        lock(&self.shared.store).folded
    }

    /// Most `submit_sm` seen on one session without a response sent yet.
    pub fn max_outstanding_submits(&self) -> usize {
        self.shared.max_outstanding.load(Ordering::Relaxed)
    }

    /// Sessions currently bound.
    pub fn bound_sessions(&self) -> usize {
        lock(&self.shared.sessions)
            .values()
            .filter(|s| s.mode.is_some())
            .count()
    }

    /// Sends a mobile-originated message to a bound receiver (preferred: the short code's
    /// inbound session, as an SMSC routes MO by configuration), else a transceiver:
    /// split and encoded like an MT message (UDH for long texts), one
    /// `deliver_sm` per part, each awaiting its `deliver_sm_resp`.
    pub async fn deliver_mo(&self, source: &str, destination: &str, text: &str) -> Result<(), SimError> {
        let target = {
            let sessions = lock(&self.shared.sessions);
            sessions
                .values()
                .find(|s| s.mode == Some(BindMode::Receiver))
                .or_else(|| sessions.values().find(|s| can_receive(s.mode)))
                .map(|s| s.tx.clone())
        };
        let Some(target) = target else {
            return Err(SimError::NoReceiver);
        };
        let (src_ton, src_npi, src) = pdu::address(source);
        let (dst_ton, dst_npi, dst) = pdu::address(destination);
        let source_addr = pdu::c_string::<1, 21>("source", &src).map_err(SimError::InvalidAddress)?;
        let destination_addr = pdu::c_string::<1, 21>("destination", &dst).map_err(SimError::InvalidAddress)?;
        let segments = text::segments(text);
        if segments.len() > text::MAX_PARTS {
            return Err(SimError::TooLong);
        }
        for seg in segments {
            let short_message = OctetString::<0, 255>::from_slice(&seg.short_message).map_err(|_| SimError::TooLong)?;
            let dsm = DeliverSm::builder()
                .source_addr_ton(src_ton)
                .source_addr_npi(src_npi)
                .source_addr(source_addr.clone())
                .dest_addr_ton(dst_ton)
                .dest_addr_npi(dst_npi)
                .destination_addr(destination_addr.clone())
                .esm_class(EsmClass::from(seg.esm_class()))
                .data_coding(DataCoding::from(seg.data_coding()))
                .short_message(short_message)
                .build();
            let (reply, rx) = oneshot::channel();
            target
                .send(SessionCmd::Request {
                    pdu: Box::new(Pdu::DeliverSm(dsm)),
                    reply: Some(reply),
                })
                .await
                .map_err(|_| SimError::Disconnected)?;
            match tokio::time::timeout(MO_RESPONSE_TIMEOUT, rx).await {
                Err(_) => return Err(SimError::Timeout(MO_RESPONSE_TIMEOUT)),
                Ok(Err(_)) => return Err(SimError::Disconnected),
                Ok(Ok(0)) => {}
                Ok(Ok(status)) => {
                    return Err(SimError::Rejected {
                        status,
                        reason: describe_status(status),
                    });
                }
            }
        }
        Ok(())
    }

    /// Stops listening and closes every session (as dropping does).
    pub fn stop(&self) {
        self.shared.cancel.cancel();
    }
}

enum Flow {
    Continue,
    Close,
}

struct SimSession {
    shared: Arc<SimShared>,
    id: u64,
    tx: mpsc::Sender<SessionCmd>,
    stream: TcpStream,
    seq: u32,
    mode: Option<BindMode>,
    system_id: String,
    pending: HashMap<u32, Option<oneshot::Sender<u32>>>,
    outstanding: usize,
}

async fn run_session(shared: Arc<SimShared>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let (tx, mut rx) = mpsc::channel(1024);
    lock(&shared.sessions).insert(
        id,
        SessionHandle {
            mode: None,
            system_id: String::new(),
            tx: tx.clone(),
        },
    );
    let mut s = SimSession {
        shared: shared.clone(),
        id,
        tx,
        stream,
        seq: 0,
        mode: None,
        system_id: String::new(),
        pending: HashMap::new(),
        outstanding: 0,
    };
    let mut rbuf = BytesMut::with_capacity(4096);
    let reason = loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => break "simulator stopped".to_owned(),
            r = s.stream.read_buf(&mut rbuf) => {
                match r {
                    Ok(0) => break "closed by the ESME".to_owned(),
                    Err(e) => break format!("read failed: {e}"),
                    Ok(_) => {}
                }
                let mut close = None;
                loop {
                    match pdu::take_frame(&mut rbuf) {
                        Ok(Some(cmd)) => match s.handle(cmd).await {
                            Ok(Flow::Continue) => {}
                            Ok(Flow::Close) => { close = Some("closed by the simulator".to_owned()); break; }
                            Err(e) => { close = Some(e); break; }
                        },
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(session = id, error = %e, "SMSC simulator: malformed PDU; dropping the connection");
                            close = Some(format!("malformed PDU: {e}"));
                            break;
                        }
                    }
                }
                if let Some(reason) = close { break reason; }
            }
            cmd = rx.recv() => {
                let res = match cmd {
                    Some(SessionCmd::SubmitResp { resp, receipt }) => s.finish_submit(*resp, receipt.map(|r| *r)).await,
                    Some(SessionCmd::Request { pdu, reply }) => s.request(*pdu, reply).await,
                    None => Ok(()),
                };
                if let Err(e) = res { break e; }
            }
        }
    };
    tracing::debug!(session = id, %reason, "SMSC simulator: session ended");
    lock(&shared.sessions).remove(&id);
    let _ = s.stream.shutdown().await;
}

impl SimSession {
    async fn write(&mut self, cmd: &Command) -> Result<(), String> {
        let buf = pdu::encode_command(cmd);
        match tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(&buf)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    async fn request(&mut self, pdu: Pdu, reply: Option<oneshot::Sender<u32>>) -> Result<(), String> {
        self.seq = if self.seq >= 0x7FFF_FFFF { 1 } else { self.seq + 1 };
        let seq = self.seq;
        self.write(&Command::new(CommandStatus::EsmeRok, seq, pdu)).await?;
        self.pending.insert(seq, reply);
        Ok(())
    }

    async fn finish_submit(&mut self, resp: Command, receipt: Option<ReceiptJob>) -> Result<(), String> {
        self.write(&resp).await?;
        self.outstanding = self.outstanding.saturating_sub(1);
        if let Some(job) = receipt {
            self.dispatch_receipt(job).await?;
        }
        Ok(())
    }

    async fn dispatch_receipt(&mut self, job: ReceiptJob) -> Result<(), String> {
        if can_receive(self.mode) && self.system_id == job.system_id {
            return self.request(Pdu::DeliverSm(job.pdu), None).await;
        }
        let other = lock(&self.shared.sessions)
            .iter()
            .find(|(id, h)| **id != self.id && can_receive(h.mode) && h.system_id == job.system_id)
            .map(|(_, h)| h.tx.clone());
        let job = match other {
            Some(tx) => {
                let cmd = SessionCmd::Request {
                    pdu: Box::new(Pdu::DeliverSm(job.pdu)),
                    reply: None,
                };
                match tx.try_send(cmd) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::error::TrySendError::Full(cmd) | mpsc::error::TrySendError::Closed(cmd)) => match cmd {
                        SessionCmd::Request { pdu, .. } => match *pdu {
                            Pdu::DeliverSm(p) => ReceiptJob {
                                system_id: job.system_id,
                                pdu: p,
                            },
                            _ => return Ok(()),
                        },
                        SessionCmd::SubmitResp { .. } => return Ok(()),
                    },
                }
            }
            None => job,
        };
        lock(&self.shared.store).waiting_receipts.push_back(job);
        Ok(())
    }

    async fn handle(&mut self, cmd: Command) -> Result<Flow, String> {
        let id = u32::from(cmd.id());
        let seq = cmd.sequence_number;
        if is_response(id) {
            if let Some(Some(reply)) = self.pending.remove(&seq) {
                let _ = reply.send(u32::from(cmd.status));
            }
            return Ok(Flow::Continue);
        }
        let Some(body) = cmd.pdu() else {
            self.write(&Command::new(CommandStatus::EsmeRinvcmdlen, seq, Pdu::GenericNack))
                .await?;
            return Ok(Flow::Continue);
        };
        match body {
            Pdu::BindTransmitter(b) => {
                let st = self.bind(BindMode::Transmitter, b.system_id.as_str(), b.password.as_str());
                let resp = BindTransmitterResp::builder().system_id(sim_id()).build();
                self.write(&Command::new(st, seq, resp)).await?;
            }
            Pdu::BindReceiver(b) => {
                let st = self.bind(BindMode::Receiver, b.system_id.as_str(), b.password.as_str());
                let resp = BindReceiverResp::builder().system_id(sim_id()).build();
                self.write(&Command::new(st, seq, resp)).await?;
                self.flush_waiting_receipts().await?;
            }
            Pdu::BindTransceiver(b) => {
                let st = self.bind(BindMode::Transceiver, b.system_id.as_str(), b.password.as_str());
                let resp = BindTransceiverResp::builder().system_id(sim_id()).build();
                self.write(&Command::new(st, seq, resp)).await?;
                self.flush_waiting_receipts().await?;
            }
            Pdu::SubmitSm(sm) => return self.submit(seq, sm).await,
            Pdu::EnquireLink => {
                self.write(&Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp))
                    .await?
            }
            Pdu::Unbind => {
                self.write(&Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp))
                    .await?;
                return Ok(Flow::Close);
            }
            _ => {
                self.write(&Command::new(CommandStatus::EsmeRinvcmdid, seq, Pdu::GenericNack))
                    .await?
            }
        }
        Ok(Flow::Continue)
    }

    fn bind(&mut self, mode: BindMode, system_id: &str, password: &str) -> CommandStatus {
        let status = if self.mode.is_some() {
            CommandStatus::EsmeRalybnd
        } else if system_id != self.shared.system_id {
            CommandStatus::EsmeRinvsysid
        } else if password != self.shared.password {
            CommandStatus::EsmeRinvpaswd
        } else {
            CommandStatus::EsmeRok
        };
        if status == CommandStatus::EsmeRok {
            self.mode = Some(mode);
            self.system_id = system_id.to_owned();
            if let Some(h) = lock(&self.shared.sessions).get_mut(&self.id) {
                h.mode = Some(mode);
                h.system_id = system_id.to_owned();
            }
            tracing::info!(session = self.id, ?mode, system_id, "SMSC simulator: bound");
        } else {
            tracing::info!(session = self.id, system_id, status = %describe_status(u32::from(status)), "SMSC simulator: bind refused");
        }
        status
    }

    async fn flush_waiting_receipts(&mut self) -> Result<(), String> {
        if !can_receive(self.mode) {
            return Ok(());
        }
        let jobs: Vec<ReceiptJob> = {
            let mut store = lock(&self.shared.store);
            let (mine, rest): (VecDeque<_>, VecDeque<_>) = store
                .waiting_receipts
                .drain(..)
                .partition(|j| j.system_id == self.system_id);
            store.waiting_receipts = rest;
            mine.into_iter().collect()
        };
        for job in jobs {
            self.request(Pdu::DeliverSm(job.pdu), None).await?;
        }
        Ok(())
    }

    async fn submit(&mut self, seq: u32, sm: &SubmitSm) -> Result<Flow, String> {
        if !can_transmit(self.mode) {
            let resp = Command::new(CommandStatus::EsmeRinvbndsts, seq, SubmitSmResp::builder().build());
            self.write(&resp).await?;
            return Ok(Flow::Continue);
        }
        let n = self.shared.submits.fetch_add(1, Ordering::Relaxed) + 1;
        self.outstanding += 1;
        self.shared
            .max_outstanding
            .fetch_max(self.outstanding, Ordering::Relaxed);
        let faults = lock(&self.shared.faults).clone();
        if every(n, faults.drop_connection_every) {
            if self.shared.drop_accepts.load(Ordering::Relaxed) {
                let _ = self.accept(sm);
            }
            tracing::info!(
                session = self.id,
                submit = n,
                "SMSC simulator: fault: dropping the connection"
            );
            return Ok(Flow::Close);
        }
        let dest = sm.destination_addr.as_str();
        let rejected = faults
            .reject_destination_prefix
            .as_deref()
            .map(|p| p.trim_start_matches('+'))
            .is_some_and(|p| dest.trim_start_matches('+').starts_with(p));
        let outcome = if every(n, faults.throttle_every) {
            Err(CommandStatus::EsmeRthrottled)
        } else if rejected {
            Err(CommandStatus::EsmeRinvdstadr)
        } else {
            self.accept(sm)
        };
        let (resp, receipt) = match outcome {
            Ok((message_id, receipt)) => {
                let id = COctetString::<1, 65>::from_string(message_id).unwrap_or_default();
                (
                    Command::new(
                        CommandStatus::EsmeRok,
                        seq,
                        SubmitSmResp::builder().message_id(id).build(),
                    ),
                    receipt,
                )
            }
            Err(st) => (Command::new(st, seq, SubmitSmResp::builder().build()), None),
        };
        let delay = *lock(&self.shared.response_delay);
        match delay {
            Some(d) if !d.is_zero() => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = tx
                        .send(SessionCmd::SubmitResp {
                            resp: Box::new(resp),
                            receipt: receipt.map(Box::new),
                        })
                        .await;
                });
            }
            _ => self.finish_submit(resp, receipt).await?,
        }
        Ok(Flow::Continue)
    }

    /// Accepts a submit: dedup, record (reassembling parts), build the receipt.
    fn accept(&self, sm: &SubmitSm) -> Result<(String, Option<ReceiptJob>), CommandStatus> {
        let shared = &self.shared;
        let key = shared.idempotency_tlv.and_then(|tag| {
            sm.tlvs()
                .iter()
                .find(|t| u16::from(t.tag()) == tag)
                .map(|t| match t.value() {
                    Some(TlvValue::Other { value, .. }) => String::from_utf8_lossy(value).into_owned(),
                    other => format!("{other:?}"),
                })
        });
        let mut store = lock(&shared.store);
        if let Some(k) = &key
            && let Some(id) = store.dedup.get(k)
        {
            tracing::info!(key = %k, message_id = %id, "SMSC simulator: duplicate submit (idempotency key)");
            let id = id.clone();
            store.folded += 1;
            return Ok((id, None));
        }
        let esm = u8::from(sm.esm_class);
        let dc = u8::from(sm.data_coding);
        let mut payload_tlv = None;
        let (mut sar_ref, mut sar_total, mut sar_seq) = (None, None, None);
        for tlv in sm.tlvs() {
            match tlv.value() {
                Some(TlvValue::MessagePayload(p)) => payload_tlv = Some(p.value.to_vec()),
                Some(TlvValue::SarMsgRefNum(r)) => sar_ref = Some(*r),
                Some(TlvValue::SarTotalSegments(t)) => sar_total = Some(*t),
                Some(TlvValue::SarSegmentSeqnum(s)) => sar_seq = Some(*s),
                _ => {}
            }
        }
        let mut raw: &[u8] = sm.short_message();
        if raw.is_empty()
            && let Some(p) = &payload_tlv
        {
            raw = p;
        }
        let (udh, payload) =
            text::split_udh(raw, esm & text::ESM_CLASS_UDHI != 0).map_err(|_| CommandStatus::EsmeRinvesmclass)?;
        let sar = match (sar_ref, sar_total, sar_seq) {
            (Some(reference), Some(total), Some(seq)) if seq >= 1 && seq <= total => {
                Some(ConcatInfo { reference, total, seq })
            }
            _ => None,
        };
        let concat = udh.or(sar).filter(|c| c.total > 1);
        let message_id = format!("{:08X}", shared.next_id.fetch_add(1, Ordering::Relaxed));
        if let Some(k) = &key {
            store.dedup.insert(k.clone(), message_id.clone());
        }
        let source = normalise_address(sm.source_addr_ton, sm.source_addr.as_str());
        let destination = normalise_address(sm.dest_addr_ton, sm.destination_addr.as_str());
        let part_text = decode_lossy(dc, payload);
        let receipt = matches!(u8::from(sm.registered_delivery) & 0x03, 1 | 3).then(|| ReceiptJob {
            system_id: self.system_id.clone(),
            pdu: receipt_pdu(&message_id, sm, &part_text),
        });
        let part = PartRec {
            data_coding: dc,
            payload: payload.to_vec(),
            message_id: message_id.clone(),
            key,
        };
        let complete = match concat {
            None => Some(vec![part]),
            Some(c) => {
                let now = Instant::now();
                store
                    .partial
                    .retain(|_, p| now.duration_since(p.started) < PARTIAL_TIMEOUT);
                let k = (source.clone(), destination.clone(), c.reference, c.total);
                let entry = store.partial.entry(k.clone()).or_insert_with(|| PartialMsg {
                    started: now,
                    parts: (0..c.total).map(|_| None).collect(),
                });
                if let Some(slot) = entry.parts.get_mut(usize::from(c.seq) - 1) {
                    *slot = Some(part);
                }
                if entry.parts.iter().all(Option::is_some) {
                    store
                        .partial
                        .remove(&k)
                        .map(|p| p.parts.into_iter().flatten().collect())
                } else {
                    None
                }
            }
        };
        if let Some(parts) = complete {
            let first_dc = parts.first().map(|p| p.data_coding).unwrap_or(dc);
            let joined: Vec<u8> = parts.iter().flat_map(|p| p.payload.iter().copied()).collect();
            let text = decode_lossy(first_dc, &joined);
            let segments = parts.len();
            let idempotency_key = parts
                .first()
                .and_then(|p| p.key.clone())
                .map(|k| match k.strip_suffix("#1") {
                    Some(base) if segments > 1 => base.to_owned(),
                    _ => k,
                });
            let sms = ReceivedSms {
                source,
                destination,
                text,
                encoding: if first_dc == text::DATA_CODING_UCS2 {
                    Encoding::Ucs2
                } else {
                    Encoding::Gsm7
                },
                segments,
                message_id: parts.first().map(|p| p.message_id.clone()).unwrap_or_default(),
                message_ids: parts.iter().map(|p| p.message_id.clone()).collect(),
                idempotency_key,
            };
            tracing::info!(destination = %sms.destination, segments, message_id = %sms.message_id, "SMSC simulator: message received");
            store.received.push(sms.clone());
            let count = store.received.len();
            drop(store);
            let _ = shared.events.send(sms);
            shared.received_count.send_replace(count);
        }
        Ok((message_id, receipt))
    }
}

fn sim_id() -> COctetString<1, 16> {
    COctetString::from_string(SMSC_SYSTEM_ID.to_owned()).unwrap_or_default()
}

fn decode_lossy(dc: u8, payload: &[u8]) -> String {
    text::decode_payload(dc, payload).unwrap_or_else(|_| String::from_utf8_lossy(payload).into_owned())
}

fn receipt_pdu(message_id: &str, sm: &SubmitSm, part_text: &str) -> DeliverSm {
    let date = pdu::receipt_date(SystemTime::now());
    let preview: String = part_text
        .chars()
        .take(20)
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .collect();
    let body = format!(
        "id:{message_id} sub:001 dlvrd:001 submit date:{date} done date:{date} stat:DELIVRD err:000 text:{preview}"
    );
    let mut dsm = DeliverSm::builder()
        .source_addr_ton(sm.dest_addr_ton)
        .source_addr_npi(sm.dest_addr_npi)
        .source_addr(sm.destination_addr.clone())
        .dest_addr_ton(sm.source_addr_ton)
        .dest_addr_npi(sm.source_addr_npi)
        .destination_addr(sm.source_addr.clone())
        .esm_class(EsmClass::from(0x04))
        .data_coding(DataCoding::from(0x00))
        .short_message(OctetString::from_slice(body.as_bytes()).unwrap_or_default())
        .build();
    if let Ok(id) = COctetString::<1, 65>::from_string(message_id.to_owned()) {
        dsm.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(id));
    }
    dsm.push_tlv(MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered));
    dsm
}
