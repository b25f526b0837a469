//! SMS over SMPP 3.4 for LAPOR.
//!
//! * [`text`]: GSM 03.38 / UCS-2 encoding choice, segmentation with
//!   concatenation UDHs, decoding, and reassembly of multi-part messages.
//! * [`client`]: an ESME session ([`SmppClient`]) for the notification
//!   service (submit, delivery receipts) and the intake service (MO messages).
//! * [`sim`]: an SMSC simulator ([`Smsc`]), a real SMPP peer on TCP used by
//!   the tests and by `make run` (binary `lapor-smsc-sim`).
//!
//! # PDU codec
//!
//! PDUs are encoded and decoded with the [`rusmpp`] crate (pure Rust, no TLS,
//! no runtime of its own; it implements SMPP 5.0, which is a superset of 3.4
//! for every PDU used here, and binds are sent with `interface_version`
//! 0x34). Framing is done by this crate ([`pdu::take_frame`]): exactly
//! `command_length` octets are handed to `rusmpp`, because its streaming
//! decoder can read past the end of a malformed PDU. The session logic
//! (windowing, rate cap, enquire_link, reconnection, receipts, reassembly)
//! is this crate's own, on tokio.

pub mod client;
pub mod pdu;
pub mod sim;
pub mod text;

/// The vendor TLV tag the simulator binary and [`client::ClientConfig::default`]
/// use for idempotency keys.
pub const DEFAULT_IDEMPOTENCY_TLV: u16 = 0x1400;

pub use client::{BindMode, ClientConfig, Inbound, OutgoingSms, ReceiptState, SmppClient, SubmitError, Submitted};
pub use sim::{Faults, ReceivedSms, SimError, Smsc, SmscConfig};
pub use text::{
    ConcatInfo, Encoding, Reassembler, Segment, TextError, choose_encoding, decode, segment_count, segments,
};
