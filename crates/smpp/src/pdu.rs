//! PDU plumbing shared by the client and the simulator: exact framing on top
//! of `rusmpp`'s command codec, `command_status` names and retry classes,
//! address conventions, and delivery-receipt text.

use bytes::{Buf, BytesMut};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::COctetString;
use rusmpp::values::{Npi, Ton};
use rusmpp::{Command, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// Largest PDU accepted (a `message_payload` TLV may carry up to 64 KiB).
pub const MAX_PDU_LEN: usize = 70 * 1024;
/// `command_id` bit set on every response PDU.
pub const RESPONSE_BIT: u32 = 0x8000_0000;

/// Why a PDU stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// `command_length` below the 16-octet header or above [`MAX_PDU_LEN`].
    #[error("invalid command_length {0}")]
    BadLength(u32),
    /// The PDU body could not be decoded.
    #[error("malformed PDU (command_id 0x{command_id:08X}): {reason}")]
    Malformed {
        /// The `command_id` from the header.
        command_id: u32,
        /// What the decoder said.
        reason: String,
    },
}

/// Takes one complete PDU off the front of `buf`, if there is one.
///
/// Framing is done here, from `command_length`, and only that many octets
/// are given to `rusmpp`: its streaming decoder can consume more or fewer
/// octets than `command_length` says on malformed input, which would desync
/// the stream. Trailing octets inside a frame are ignored.
pub fn take_frame(buf: &mut BytesMut) -> Result<Option<Command>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let Ok(len_usize) = usize::try_from(len) else {
        return Err(FrameError::BadLength(len));
    };
    if !(16..=MAX_PDU_LEN).contains(&len_usize) {
        return Err(FrameError::BadLength(len));
    }
    if buf.len() < len_usize {
        buf.reserve(len_usize - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(len_usize);
    let command_id = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let mut codec = CommandCodec::new().with_max_length(MAX_PDU_LEN);
    match codec.decode(&mut frame) {
        Ok(Some(cmd)) => {
            if frame.has_remaining() {
                tracing::debug!(command_id, extra = frame.remaining(), "ignoring trailing octets in PDU");
            }
            Ok(Some(cmd))
        }
        Ok(None) => Err(FrameError::Malformed {
            command_id,
            reason: "truncated body".into(),
        }),
        Err(e) => Err(FrameError::Malformed {
            command_id,
            reason: e.to_string(),
        }),
    }
}

/// Appends the encoded `cmd` to `dst`.
pub fn put_command(cmd: &Command, dst: &mut BytesMut) {
    let mut codec = CommandCodec::new().without_max_length();
    // Encoding into memory cannot fail (the only error variant is I/O).
    if let Err(e) = codec.encode(cmd, dst) {
        tracing::error!(error = %e, "encoding a PDU failed");
    }
}

/// Encodes `cmd` into a fresh buffer.
pub fn encode_command(cmd: &Command) -> BytesMut {
    let mut b = BytesMut::new();
    put_command(cmd, &mut b);
    b
}

/// `true` when `command_id` is a response.
pub fn is_response(command_id: u32) -> bool {
    command_id & RESPONSE_BIT != 0
}

/// The SMPP name of a `command_status` (`ESME_RTHROTTLED`), or `None` when unknown.
pub fn status_name(status: u32) -> Option<&'static str> {
    Some(match status {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x0F => "ESME_RINVSYSID",
        0x11 => "ESME_RCANCELFAIL",
        0x13 => "ESME_RREPLACEFAIL",
        0x14 => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        0x34 => "ESME_RINVDLNAME",
        0x40 => "ESME_RINVDESTFLAG",
        0x42 => "ESME_RINVSUBREP",
        0x43 => "ESME_RINVESMCLASS",
        0x44 => "ESME_RCNTSUBDL",
        0x45 => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        0x50 => "ESME_RINVDSTTON",
        0x51 => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        0x54 => "ESME_RINVREPFLAG",
        0x55 => "ESME_RINVNUMMSGS",
        0x58 => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        0x62 => "ESME_RINVEXPIRY",
        0x63 => "ESME_RINVDFTMSGID",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        0x67 => "ESME_RQUERYFAIL",
        0xC0 => "ESME_RINVOPTPARSTREAM",
        0xC1 => "ESME_ROPTPARNOTALLWD",
        0xC2 => "ESME_RINVPARLEN",
        0xC3 => "ESME_RMISSINGOPTPARAM",
        0xC4 => "ESME_RINVOPTPARAMVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        0xFF => "ESME_RUNKNOWNERR",
        0x100 => "ESME_RSERTYPUNAUTH",
        0x101 => "ESME_RPROHIBITED",
        0x102 => "ESME_RSERTYPUNAVAIL",
        0x103 => "ESME_RSERTYPDENIED",
        0x104 => "ESME_RINVDCS",
        0x105 => "ESME_RINVSRCADDRSUBUNIT",
        0x106 => "ESME_RINVDSTADDRSUBUNIT",
        _ => return None,
    })
}

/// `ESME_RTHROTTLED (0x00000058)`; unknown codes read `ESME_0x00000400 (vendor-specific)` etc.
pub fn describe_status(status: u32) -> String {
    match status_name(status) {
        Some(name) => format!("{name} (0x{status:08X})"),
        None if (0x400..=0x4FF).contains(&status) => format!("ESME_0x{status:08X} (vendor-specific)"),
        None => format!("ESME_0x{status:08X} (unknown)"),
    }
}

/// Whether a failed `command_status` is worth retrying later: throttling,
/// full queues, system errors and session-state problems are; everything
/// else (bad address, bad length, bad parameters) is not.
pub fn is_transient_status(status: u32) -> bool {
    matches!(
        status,
        0x04 // ESME_RINVBNDSTS: session state; a new bind fixes it
        | 0x05 // ESME_RALYBND
        | 0x08 // ESME_RSYSERR
        | 0x0D // ESME_RBINDFAIL
        | 0x14 // ESME_RMSGQFUL
        | 0x45 // ESME_RSUBMITFAIL
        | 0x58 // ESME_RTHROTTLED
        | 0x64 // ESME_RX_T_APPN
        | 0xFE // ESME_RDELIVERYFAILURE
        | 0xFF // ESME_RUNKNOWNERR
    )
}

/// `command_status` as a number.
pub fn status_u32(status: CommandStatus) -> u32 {
    u32::from(status)
}

/// An address split into TON/NPI and digits, per this crate's conventions:
/// `+<digits>` is international/ISDN (sent without `+`), plain digits are
/// unknown/ISDN, anything else (an alphanumeric sender id) is alphanumeric/unknown.
pub fn address(addr: &str) -> (Ton, Npi, String) {
    if let Some(digits) = addr.strip_prefix('+') {
        (Ton::International, Npi::Isdn, digits.to_owned())
    } else if !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_digit()) {
        (Ton::Unknown, Npi::Isdn, addr.to_owned())
    } else {
        (Ton::Alphanumeric, Npi::Unknown, addr.to_owned())
    }
}

/// Renders a received address: international numbers get a leading `+`.
pub fn normalise_address(ton: Ton, addr: &str) -> String {
    if ton == Ton::International && !addr.starts_with('+') && !addr.is_empty() {
        format!("+{addr}")
    } else {
        addr.to_owned()
    }
}

/// A C-octet string field, or a description of why the value does not fit.
pub fn c_string<const MIN: usize, const MAX: usize>(
    field: &str,
    value: &str,
) -> Result<COctetString<MIN, MAX>, String> {
    COctetString::from_string(value.to_owned()).map_err(|e| format!("{field} {value:?} does not fit SMPP: {e}"))
}

/// Final states of a delivery receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    /// `DELIVRD` / message_state 2.
    Delivered,
    /// `EXPIRED` / 3.
    Expired,
    /// `DELETED` / 4.
    Deleted,
    /// `UNDELIV` / 5.
    Undeliverable,
    /// `ACCEPTD` / 6.
    Accepted,
    /// `UNKNOWN` / 7, and intermediate states (`ENROUTE`, scheduled, skipped).
    Unknown,
    /// `REJECTD` / 8.
    Rejected,
}

impl ReceiptState {
    /// From a receipt's `stat:` word (case-insensitive).
    pub fn from_stat(stat: &str) -> ReceiptState {
        match stat.to_ascii_uppercase().as_str() {
            "DELIVRD" | "DELIVERED" => ReceiptState::Delivered,
            "EXPIRED" => ReceiptState::Expired,
            "DELETED" => ReceiptState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => ReceiptState::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => ReceiptState::Accepted,
            "REJECTD" | "REJECTED" => ReceiptState::Rejected,
            _ => ReceiptState::Unknown,
        }
    }

    /// From the `message_state` TLV value.
    pub fn from_message_state(state: u8) -> ReceiptState {
        match state {
            2 => ReceiptState::Delivered,
            3 => ReceiptState::Expired,
            4 => ReceiptState::Deleted,
            5 => ReceiptState::Undeliverable,
            6 => ReceiptState::Accepted,
            8 => ReceiptState::Rejected,
            _ => ReceiptState::Unknown,
        }
    }

    /// The receipt `stat:` word.
    pub fn stat(self) -> &'static str {
        match self {
            ReceiptState::Delivered => "DELIVRD",
            ReceiptState::Expired => "EXPIRED",
            ReceiptState::Deleted => "DELETED",
            ReceiptState::Undeliverable => "UNDELIV",
            ReceiptState::Accepted => "ACCEPTD",
            ReceiptState::Unknown => "UNKNOWN",
            ReceiptState::Rejected => "REJECTD",
        }
    }

    /// The `message_state` TLV value.
    pub fn message_state(self) -> u8 {
        match self {
            ReceiptState::Delivered => 2,
            ReceiptState::Expired => 3,
            ReceiptState::Deleted => 4,
            ReceiptState::Undeliverable => 5,
            ReceiptState::Accepted => 6,
            ReceiptState::Unknown => 7,
            ReceiptState::Rejected => 8,
        }
    }
}

/// The fields of a receipt text (`id:... sub:... dlvrd:... submit date:...
/// done date:... stat:... err:... text:...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptText {
    /// `id:`
    pub id: Option<String>,
    /// `stat:`
    pub stat: Option<String>,
    /// `err:`
    pub err: Option<String>,
}

/// Parses the de-facto standard receipt text (keys are case-insensitive; the
/// free `text:` field ends the parse).
pub fn parse_receipt_text(text: &str) -> ReceiptText {
    let mut out = ReceiptText::default();
    let lower = text.to_ascii_lowercase();
    let find = |key: &str| -> Option<String> {
        let mut from = 0;
        while let Some(pos) = lower.get(from..)?.find(key) {
            let at = from + pos;
            let boundary = at == 0 || lower.as_bytes().get(at - 1).is_some_and(|b| b.is_ascii_whitespace());
            let text_start = lower.find("text:").unwrap_or(usize::MAX);
            if boundary && at < text_start {
                let start = at + key.len();
                let rest = text.get(start..)?;
                let value: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return Some(value);
            }
            from = at + key.len();
        }
        None
    };
    out.id = find("id:").filter(|s| !s.is_empty());
    out.stat = find("stat:").filter(|s| !s.is_empty());
    out.err = find("err:").filter(|s| !s.is_empty());
    out
}

/// `YYMMDDhhmm` (UTC) for receipt dates.
pub fn receipt_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        y.rem_euclid(100),
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::Pdu;

    #[test]
    fn framing_is_exact_even_when_rusmpp_would_overread() {
        // submit_sm_resp whose message_id lacks its NUL, followed by an enquire_link.
        let mut buf = BytesMut::from(&[0u8, 0, 0, 18, 0x80, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, b'a', b'b'][..]);
        buf.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert!(matches!(
            take_frame(&mut buf),
            Err(FrameError::Malformed {
                command_id: 0x8000_0004,
                ..
            })
        ));
        let next = take_frame(&mut buf).expect("aligned").expect("frame");
        assert_eq!(next.pdu(), Some(&Pdu::EnquireLink));
        assert_eq!(next.sequence_number, 2);

        // enquire_link with 4 junk octets, then a proper one.
        let mut buf = BytesMut::from(&[0u8, 0, 0, 20, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4][..]);
        buf.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 2]);
        let a = take_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!(a.sequence_number, 1);
        let b = take_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!(b.sequence_number, 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn framing_rejects_bad_lengths_and_waits_for_more() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 0][..]);
        assert_eq!(take_frame(&mut buf), Err(FrameError::BadLength(8)));
        let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(take_frame(&mut buf), Err(FrameError::BadLength(_))));
        let mut buf = BytesMut::from(&[0u8, 0, 0, 16, 0, 0, 0][..]);
        assert_eq!(take_frame(&mut buf), Ok(None));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed: u64 = 0xDEAD_BEEF_1234_5678;
        let ids = [
            0x8000_0004u32,
            4,
            5,
            0x8000_0005,
            9,
            0x8000_0009,
            0x15,
            0x8000_0000,
            6,
            2,
            1,
        ];
        for i in 0..30_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 16 + (seed % 80) as usize;
            let mut v: Vec<u8> = (0..len)
                .map(|k| (seed.rotate_left(k as u32 % 64) & 0xFF) as u8)
                .collect();
            v[..4].copy_from_slice(&(len as u32).to_be_bytes());
            let id = ids[(i as usize) % ids.len()];
            v[4..8].copy_from_slice(&id.to_be_bytes());
            let mut buf = BytesMut::from(&v[..]);
            while let Ok(Some(_)) = take_frame(&mut buf) {}
        }
    }

    #[test]
    fn status_names_and_classes() {
        assert_eq!(describe_status(0x58), "ESME_RTHROTTLED (0x00000058)");
        assert_eq!(describe_status(0x0B), "ESME_RINVDSTADR (0x0000000B)");
        assert!(describe_status(0x401).contains("vendor-specific"));
        for s in [0x58, 0x14, 0x08] {
            assert!(is_transient_status(s), "{s:#x}");
        }
        for s in [0x0B, 0x01, 0x0A, 0x43, 0xC4] {
            assert!(!is_transient_status(s), "{s:#x}");
        }
    }

    #[test]
    fn receipt_text_parsing() {
        let r = parse_receipt_text(
            "id:0A1B2C sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:id:fake stat:X",
        );
        assert_eq!(r.id.as_deref(), Some("0A1B2C"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        let r = parse_receipt_text("ID:77 STAT:undeliv ERR:034");
        assert_eq!(r.id.as_deref(), Some("77"));
        assert_eq!(
            ReceiptState::from_stat(r.stat.as_deref().unwrap_or_default()),
            ReceiptState::Undeliverable
        );
        assert_eq!(parse_receipt_text("hello"), ReceiptText::default());
    }

    #[test]
    fn dates_and_addresses() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_294_400); // 2024-03-01 12:00 UTC
        assert_eq!(receipt_date(t), "2403011200");
        assert_eq!(address("+628123"), (Ton::International, Npi::Isdn, "628123".into()));
        assert_eq!(address("1708"), (Ton::Unknown, Npi::Isdn, "1708".into()));
        assert_eq!(address("LAPOR").0, Ton::Alphanumeric);
        assert_eq!(normalise_address(Ton::International, "628"), "+628");
        assert_eq!(normalise_address(Ton::Unknown, "1708"), "1708");
    }
}
