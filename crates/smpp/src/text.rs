//! SMS text handling: GSM 03.38 default alphabet and UCS-2, segmentation with
//! concatenation UDHs, decoding of incoming short messages, and reassembly of
//! concatenated (multi-part) messages.
//!
//! # GSM 7-bit is sent *unpacked*
//!
//! With `data_coding = 0x00` (SMSC default alphabet) SMPP carries GSM 03.38
//! text one septet per octet, the way SMSCs and aggregators expect it (the
//! SMSC packs septets for the air interface itself). [`segments`] therefore
//! produces one byte per septet, and an extension-table character (`€ [ ] {
//! } ~ ^ \ |` and form feed) as the two bytes `0x1B xx`. The 160/153 septet
//! limits are the air-interface limits; 153 leaves room for the 6-octet
//! concatenation UDH (7 septets once packed).
//!
//! # UCS-2
//!
//! `data_coding = 0x08` carries UTF-16 big-endian. Characters outside the
//! BMP (emoji) are sent as surrogate pairs (strictly UTF-16 rather than
//! UCS-2, as every current handset and SMSC does) and a pair is never split
//! across parts. Grapheme clusters (e.g. emoji joined with ZWJ) may be split
//! between parts; handsets join them again on display.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// SMPP `data_coding` for the GSM 03.38 default alphabet (SMSC default).
pub const DATA_CODING_GSM7: u8 = 0x00;
/// SMPP `data_coding` for Latin-1 (ISO-8859-1).
pub const DATA_CODING_LATIN1: u8 = 0x03;
/// SMPP `data_coding` for UCS-2 (UTF-16 big-endian).
pub const DATA_CODING_UCS2: u8 = 0x08;
/// `esm_class` bit saying that the short message starts with a UDH.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// Septets in a single (non-concatenated) GSM 7-bit message.
pub const GSM7_SINGLE_MAX: usize = 160;
/// Septets per part of a concatenated GSM 7-bit message.
pub const GSM7_PART_MAX: usize = 153;
/// UTF-16 code units in a single UCS-2 message.
pub const UCS2_SINGLE_MAX: usize = 70;
/// UTF-16 code units per part of a concatenated UCS-2 message.
pub const UCS2_PART_MAX: usize = 67;
/// Most parts a concatenated message can have (the UDH counts them in one octet).
pub const MAX_PARTS: usize = 255;

const ESC: u8 = 0x1B;

/// The GSM 03.38 default alphabet, indexed by septet. `0x1B` is the escape
/// to the extension table and never maps a character.
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The GSM 03.38 extension table (reached with `0x1B`): (septet, character).
const GSM_EXT: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How a message's text is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 default alphabet (+ extension table), `data_coding = 0x00`, unpacked.
    Gsm7,
    /// UCS-2 / UTF-16BE, `data_coding = 0x08`.
    Ucs2,
}

impl Encoding {
    /// The SMPP `data_coding` value for this encoding.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => DATA_CODING_GSM7,
            Encoding::Ucs2 => DATA_CODING_UCS2,
        }
    }

    /// Lower-case name, for logs and JSON (`"gsm7"`, `"ucs2"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Concatenation information from (or for) a UDH: which part of which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConcatInfo {
    /// Message reference shared by all parts (8-bit in UDHs this crate writes).
    pub reference: u16,
    /// Number of parts, 1..=255.
    pub total: u8,
    /// This part's number, 1..=total.
    pub seq: u8,
}

/// One short message (part) ready for a `submit_sm` / `deliver_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Encoding of the text (and hence `data_coding`).
    pub encoding: Encoding,
    /// The bytes for the PDU's `short_message` field: the 6-octet
    /// concatenation UDH (when `udh` is `Some`) followed by the encoded text
    /// (GSM 7-bit unpacked, one septet per byte; or UTF-16BE).
    pub short_message: Vec<u8>,
    /// The concatenation UDH (IEI 0x00, 8-bit reference) of this part, if the
    /// message needed more than one part. Set `esm_class` to [`Segment::esm_class`].
    pub udh: Option<ConcatInfo>,
    /// The text carried by this part.
    pub text: String,
}

impl Segment {
    /// `data_coding` for this part.
    pub fn data_coding(&self) -> u8 {
        self.encoding.data_coding()
    }

    /// `esm_class` for this part: `0x40` (UDHI) when a UDH is present, else `0`.
    pub fn esm_class(&self) -> u8 {
        if self.udh.is_some() { ESM_CLASS_UDHI } else { 0 }
    }

    /// The encoded text without the UDH.
    pub fn payload(&self) -> &[u8] {
        let skip = if self.udh.is_some() { 6 } else { 0 };
        self.short_message.get(skip..).unwrap_or_default()
    }
}

/// Errors decoding an incoming short message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The `data_coding` names an alphabet this crate does not decode (binary, JIS, ...).
    #[error("unsupported data_coding 0x{0:02X}")]
    UnsupportedDataCoding(u8),
    /// A GSM 7-bit (unpacked) message holds a byte above 0x7F.
    #[error("invalid GSM 7-bit septet 0x{0:02X}")]
    InvalidGsm(u8),
    /// UCS-2 payload of odd length or with an unpaired surrogate.
    #[error("invalid UCS-2 payload: {0}")]
    InvalidUcs2(String),
    /// The UDH length runs past the end of the message or an element is truncated.
    #[error("malformed user data header: {0}")]
    BadUdh(String),
}

fn gsm_code(c: char) -> Option<(u8, Option<u8>)> {
    if c == '\u{1B}' {
        return None;
    }
    if let Some(pos) = GSM_BASIC.iter().position(|&g| g == c) {
        return u8::try_from(pos).ok().map(|b| (b, None));
    }
    GSM_EXT
        .iter()
        .find(|(_, g)| *g == c)
        .map(|(code, _)| (ESC, Some(*code)))
}

/// Septets `c` takes in GSM 7-bit, or `None` when it is not in the alphabet.
fn gsm_septets(c: char) -> Option<usize> {
    gsm_code(c).map(|(_, ext)| if ext.is_some() { 2 } else { 1 })
}

/// `Gsm7` when every character is in the GSM 03.38 default alphabet or its
/// extension table, else `Ucs2`.
pub fn choose_encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm_code(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Encodes `text` as unpacked GSM 7-bit (one septet per byte), or `None` if a
/// character is outside the alphabet.
pub fn encode_gsm7(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (b, ext) = gsm_code(c)?;
        out.push(b);
        if let Some(e) = ext {
            out.push(e);
        }
    }
    Some(out)
}

/// Encodes `text` as UTF-16 big-endian.
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// GSM septets (GSM 7-bit) or UTF-16 code units (UCS-2) the text takes.
pub fn text_units(text: &str) -> (Encoding, usize) {
    match choose_encoding(text) {
        Encoding::Gsm7 => (Encoding::Gsm7, text.chars().filter_map(gsm_septets).sum()),
        Encoding::Ucs2 => (Encoding::Ucs2, text.encode_utf16().count()),
    }
}

static NEXT_REFERENCE: AtomicU32 = AtomicU32::new(1);

/// A process-wide rolling 8-bit concatenation reference.
pub fn next_reference() -> u8 {
    (NEXT_REFERENCE.fetch_add(1, Ordering::Relaxed) & 0xFF) as u8
}

/// Splits `text` into short messages, picking the encoding with
/// [`choose_encoding`] and a fresh concatenation reference from
/// [`next_reference`]. See [`segments_with_reference`].
pub fn segments(text: &str) -> Vec<Segment> {
    let (enc, units) = text_units(text);
    let single = match enc {
        Encoding::Gsm7 => GSM7_SINGLE_MAX,
        Encoding::Ucs2 => UCS2_SINGLE_MAX,
    };
    let reference = if units > single { next_reference() } else { 0 };
    segments_with_reference(text, reference)
}

/// Splits `text` into short messages with the given 8-bit concatenation reference.
///
/// A text that fits one message (≤160 GSM septets, ≤70 UTF-16 units) gives one
/// segment without UDH. Longer texts give parts of ≤153 septets / ≤67 units,
/// each with a concatenation UDH; an escape pair or a surrogate pair is never
/// split. More than [`MAX_PARTS`] parts cannot be numbered by the UDH: callers
/// should reject such texts (the client does, with `ESME_RINVMSGLEN`).
pub fn segments_with_reference(text: &str, reference: u8) -> Vec<Segment> {
    let encoding = choose_encoding(text);
    // Each character as its encoded unit group, with its unit count.
    let mut groups: Vec<(char, Vec<u8>, usize)> = Vec::with_capacity(text.len());
    for c in text.chars() {
        match encoding {
            Encoding::Gsm7 => {
                if let Some((b, ext)) = gsm_code(c) {
                    let mut bytes = vec![b];
                    bytes.extend(ext);
                    let n = bytes.len();
                    groups.push((c, bytes, n));
                }
            }
            Encoding::Ucs2 => {
                let mut buf = [0u16; 2];
                let units = c.encode_utf16(&mut buf);
                let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
                groups.push((c, bytes, units.len()));
            }
        }
    }
    let total_units: usize = groups.iter().map(|g| g.2).sum();
    let (single, part) = match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE_MAX, GSM7_PART_MAX),
        Encoding::Ucs2 => (UCS2_SINGLE_MAX, UCS2_PART_MAX),
    };
    if total_units <= single {
        let short_message = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
        return vec![Segment {
            encoding,
            short_message,
            udh: None,
            text: text.to_owned(),
        }];
    }
    // Greedy split, never inside a group.
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut cur_text = String::new();
    let mut cur_bytes = Vec::new();
    let mut cur_units = 0;
    for (c, bytes, n) in groups {
        if cur_units + n > part {
            parts.push((std::mem::take(&mut cur_text), std::mem::take(&mut cur_bytes)));
            cur_units = 0;
        }
        cur_text.push(c);
        cur_bytes.extend_from_slice(&bytes);
        cur_units += n;
    }
    if cur_units > 0 {
        parts.push((cur_text, cur_bytes));
    }
    let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (text, bytes))| {
            let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
            let mut short_message = vec![0x05, 0x00, 0x03, reference, total, seq];
            short_message.extend_from_slice(&bytes);
            Segment {
                encoding,
                short_message,
                udh: Some(ConcatInfo {
                    reference: u16::from(reference),
                    total,
                    seq,
                }),
                text,
            }
        })
        .collect()
}

/// Number of short messages `text` is sent as.
pub fn segment_count(text: &str) -> usize {
    let (enc, units) = text_units(text);
    let (single, part) = match enc {
        Encoding::Gsm7 => (GSM7_SINGLE_MAX, GSM7_PART_MAX),
        Encoding::Ucs2 => (UCS2_SINGLE_MAX, UCS2_PART_MAX),
    };
    if units <= single {
        1
    } else {
        // Exact count honours "never split a pair", which can add a part.
        segments_with_reference(text, 0).len().max(units.div_ceil(part))
    }
}

/// Splits a `short_message` into its concatenation info (from a UDH with IEI
/// 0x00 or 0x08) and the payload after the UDH. Other information elements
/// are skipped. Without `has_udh` the whole message is payload.
pub fn split_udh(short_message: &[u8], has_udh: bool) -> Result<(Option<ConcatInfo>, &[u8]), TextError> {
    if !has_udh {
        return Ok((None, short_message));
    }
    let Some((&udhl, rest)) = short_message.split_first() else {
        return Err(TextError::BadUdh("UDHI set on an empty message".into()));
    };
    let udhl = usize::from(udhl);
    if rest.len() < udhl {
        return Err(TextError::BadUdh(format!(
            "UDH length {udhl} exceeds message length {}",
            rest.len()
        )));
    }
    let (mut ies, payload) = rest.split_at(udhl);
    let mut concat = None;
    while !ies.is_empty() {
        let [iei, len, tail @ ..] = ies else {
            return Err(TextError::BadUdh("truncated information element".into()));
        };
        let len = usize::from(*len);
        if tail.len() < len {
            return Err(TextError::BadUdh(format!("information element 0x{iei:02X} truncated")));
        }
        let (data, next) = tail.split_at(len);
        match (*iei, data) {
            (0x00, [r, total, seq]) => concat = valid_concat(u16::from(*r), *total, *seq).or(concat),
            (0x08, [r1, r2, total, seq]) => {
                concat = valid_concat(u16::from_be_bytes([*r1, *r2]), *total, *seq).or(concat)
            }
            _ => {}
        }
        ies = next;
    }
    Ok((concat, payload))
}

fn valid_concat(reference: u16, total: u8, seq: u8) -> Option<ConcatInfo> {
    (total >= 1 && seq >= 1 && seq <= total).then_some(ConcatInfo { reference, total, seq })
}

/// Decodes unpacked GSM 7-bit (one septet per byte). An escape followed by a
/// code the extension table does not define yields the default-table
/// character, as 03.38 asks; a trailing lone escape is dropped.
pub fn decode_gsm7(bytes: &[u8]) -> Result<String, TextError> {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        if b > 0x7F {
            return Err(TextError::InvalidGsm(b));
        }
        if b == ESC {
            let Some(next) = iter.next() else { break };
            if next > 0x7F {
                return Err(TextError::InvalidGsm(next));
            }
            match GSM_EXT.iter().find(|(code, _)| *code == next) {
                Some((_, c)) => out.push(*c),
                None if next == ESC => out.push(' '),
                None => out.push(GSM_BASIC[usize::from(next)]),
            }
        } else {
            out.push(GSM_BASIC[usize::from(b)]);
        }
    }
    Ok(out)
}

/// Decodes UTF-16BE (UCS-2 with surrogate pairs).
pub fn decode_ucs2(bytes: &[u8]) -> Result<String, TextError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(TextError::InvalidUcs2(format!("odd length {}", bytes.len())));
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|e| TextError::InvalidUcs2(e.to_string()))
}

/// Decodes a payload (UDH already removed) given its `data_coding`:
/// 0x00 GSM 7-bit unpacked, 0x01 IA5/ASCII, 0x03 Latin-1, 0x08 UCS-2, and the
/// GSM 03.38 DCS groups `00xx` (uncompressed) and `1111` that name those alphabets.
pub fn decode_payload(data_coding: u8, payload: &[u8]) -> Result<String, TextError> {
    match data_coding {
        0x00 => decode_gsm7(payload),
        0x01 | 0x03 => Ok(payload.iter().map(|&b| char::from(b)).collect()),
        0x08 => decode_ucs2(payload),
        // GSM 03.38 general data coding group with message class, uncompressed.
        dc if (0x10..=0x1F).contains(&dc) => match (dc >> 2) & 0x03 {
            0 => decode_gsm7(payload),
            2 => decode_ucs2(payload),
            _ => Err(TextError::UnsupportedDataCoding(dc)),
        },
        // Data coding / message class group: bit 2 selects GSM 7-bit or 8-bit data.
        dc if dc >= 0xF0 && dc & 0x04 == 0 => decode_gsm7(payload),
        dc => Err(TextError::UnsupportedDataCoding(dc)),
    }
}

/// Decodes a `short_message`: strips and parses the UDH when `has_udh`
/// (esm_class bit 0x40), then decodes the rest per `data_coding`.
pub fn decode(data_coding: u8, short_message: &[u8], has_udh: bool) -> Result<(Option<ConcatInfo>, String), TextError> {
    let (concat, payload) = split_udh(short_message, has_udh)?;
    Ok((concat, decode_payload(data_coding, payload)?))
}

/// A message put together by a [`Reassembler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// The full text.
    pub text: String,
    /// `data_coding` of the (first) part.
    pub data_coding: u8,
    /// How many parts it came in.
    pub parts: usize,
    /// For a concatenated message: its parts are kept under this key until
    /// [`Reassembler::forget`] (the application took it) or the timeout, so that a last part
    /// the SMSC delivers again completes the message again.
    pub key: Option<ReassemblyKey>,
}

/// Which concatenated message: sender, reference and part count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReassemblyKey(String, u16, u8);

struct Partial {
    started: Instant,
    parts: Vec<Option<(u8, Vec<u8>)>>,
    have: usize,
    /// The part that completed the message (its answer waits for the application).
    completed_by: Option<usize>,
}

/// Reassembles concatenated messages. Parts are keyed by (source address,
/// reference, total); when all parts of a set are in, the payloads are joined
/// in order and decoded together (so a surrogate or escape pair split by a
/// foreign SMSC still decodes). Sets still incomplete after `timeout` are
/// dropped. A repeated part replaces the earlier copy.
pub struct Reassembler {
    timeout: Duration,
    max_pending: usize,
    pending: HashMap<ReassemblyKey, Partial>,
}

impl std::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembler")
            .field("timeout", &self.timeout)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Reassembler {
    /// A reassembler that drops incomplete sets after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            max_pending: 10_000,
            pending: HashMap::new(),
        }
    }

    /// Caps the number of incomplete sets kept (the oldest is dropped beyond it).
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = max_pending.max(1);
        self
    }

    /// Incomplete sets currently held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one received `short_message`. Returns the full text when this
    /// completes a message (immediately for a message without concatenation UDH).
    pub fn push(
        &mut self,
        source: &str,
        data_coding: u8,
        short_message: &[u8],
        has_udh: bool,
    ) -> Result<Option<String>, TextError> {
        let (concat, payload) = split_udh(short_message, has_udh)?;
        let done = self.push_part_at(source, concat, data_coding, payload, Instant::now())?;
        if let Some(key) = done.as_ref().and_then(|r| r.key.as_ref()) {
            self.forget(key);
        }
        Ok(done.map(|r| r.text))
    }

    /// The application took the message: its parts go.
    pub fn forget(&mut self, key: &ReassemblyKey) {
        self.pending.remove(key);
    }

    /// Feeds one part whose concatenation info came from a UDH or the SAR TLVs.
    pub fn push_part(
        &mut self,
        source: &str,
        concat: Option<ConcatInfo>,
        data_coding: u8,
        payload: &[u8],
    ) -> Result<Option<Reassembled>, TextError> {
        self.push_part_at(source, concat, data_coding, payload, Instant::now())
    }

    /// [`Reassembler::push_part`] with an explicit clock, for tests.
    pub fn push_part_at(
        &mut self,
        source: &str,
        concat: Option<ConcatInfo>,
        data_coding: u8,
        payload: &[u8],
        now: Instant,
    ) -> Result<Option<Reassembled>, TextError> {
        self.purge_at(now);
        let Some(info) = concat.filter(|c| c.total > 1) else {
            let text = decode_payload(data_coding, payload)?;
            return Ok(Some(Reassembled {
                text,
                data_coding,
                parts: 1,
                key: None,
            }));
        };
        if info.seq == 0 || info.seq > info.total {
            return Err(TextError::BadUdh(format!("part {} of {}", info.seq, info.total)));
        }
        let key = ReassemblyKey(source.to_owned(), info.reference, info.total);
        if !self.pending.contains_key(&key)
            && self.pending.len() >= self.max_pending
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            self.pending.remove(&oldest);
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Partial {
            started: now,
            parts: vec![None; usize::from(info.total)],
            have: 0,
            completed_by: None,
        });
        let slot = usize::from(info.seq - 1);
        if entry.parts[slot].is_none() {
            entry.have += 1;
        }
        entry.parts[slot] = Some((data_coding, payload.to_vec()));
        if entry.have < entry.parts.len() {
            return Ok(None);
        }
        // Kept after completing: only the part whose answer waited (the one the SMSC
        // delivers again) completes it again; the others were answered already.
        match entry.completed_by {
            None => entry.completed_by = Some(slot),
            Some(completing) if completing != slot => return Ok(None),
            Some(_) => {}
        }
        // Complete: kept (its clock restarted) until the application has taken it.
        entry.started = now;
        let parts: Vec<(u8, Vec<u8>)> = entry.parts.iter().flatten().cloned().collect();
        let first_dc = parts.first().map(|p| p.0).unwrap_or(data_coding);
        let text = if parts.iter().all(|p| p.0 == first_dc) {
            let joined: Vec<u8> = parts.iter().flat_map(|p| p.1.iter().copied()).collect();
            decode_payload(first_dc, &joined)?
        } else {
            let mut s = String::new();
            for (dc, bytes) in &parts {
                s.push_str(&decode_payload(*dc, bytes)?);
            }
            s
        };
        Ok(Some(Reassembled {
            text,
            data_coding: first_dc,
            parts: parts.len(),
            key: Some(key),
        }))
    }

    /// Drops incomplete sets older than the timeout; returns how many were dropped.
    pub fn purge_expired(&mut self) -> usize {
        self.purge_at(Instant::now())
    }

    /// [`Reassembler::purge_expired`] with an explicit clock.
    pub fn purge_at(&mut self, now: Instant) -> usize {
        let before = self.pending.len();
        let timeout = self.timeout;
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.started) < timeout);
        before - self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let segs = segments(text);
        let mut r = Reassembler::new(Duration::from_secs(60));
        let mut out = None;
        for s in &segs {
            out = r
                .push("+62", s.data_coding(), &s.short_message, s.udh.is_some())
                .expect("decode");
        }
        out.expect("complete")
    }

    #[test]
    fn gsm_alphabet_is_complete_and_round_trips() {
        let all: String = GSM_BASIC
            .iter()
            .filter(|&&c| c != '\u{1B}')
            .chain(GSM_EXT.iter().map(|(_, c)| c))
            .collect();
        assert_eq!(choose_encoding(&all), Encoding::Gsm7);
        let bytes = encode_gsm7(&all).expect("encodable");
        assert_eq!(bytes.len(), 127 + 2 * 10);
        assert_eq!(decode_gsm7(&bytes).expect("decodes"), all);
        assert_eq!(roundtrip(&all), all);
    }

    #[test]
    fn extension_chars_count_two_septets() {
        assert_eq!(text_units("€[]{}~^\\|\u{0C}"), (Encoding::Gsm7, 20));
        assert_eq!(encode_gsm7("€").expect("gsm"), vec![0x1B, 0x65]);
        assert_eq!(encode_gsm7("@£").expect("gsm"), vec![0x00, 0x01]);
    }

    #[test]
    fn gsm_160_161_boundaries() {
        let s160 = "a".repeat(160);
        let segs = segments(&s160);
        assert_eq!(segs.len(), 1);
        assert!(segs[0].udh.is_none());
        assert_eq!(segs[0].short_message.len(), 160);
        assert_eq!(segs[0].esm_class(), 0);

        let s161 = "a".repeat(161);
        let segs = segments(&s161);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].payload().len(), 153);
        assert_eq!(segs[1].payload().len(), 8);
        assert_eq!(
            segs[0].short_message[..5],
            [0x05, 0x00, 0x03, segs[0].short_message[3], 2]
        );
        assert_eq!(segs[0].esm_class(), 0x40);
        assert_eq!(segment_count(&s160), 1);
        assert_eq!(segment_count(&s161), 2);
        assert_eq!(roundtrip(&s161), s161);

        // 159 septets + one extension char = 161 septets: two parts.
        let s = format!("{}€", "a".repeat(159));
        assert_eq!(segments(&s).len(), 2);
        // 158 + € = 160: still one.
        let s = format!("{}€", "a".repeat(158));
        assert_eq!(segments(&s).len(), 1);
    }

    #[test]
    fn escape_pair_is_never_split() {
        // 152 plain septets then '€' (2 septets) would straddle the 153 boundary.
        let text = format!("{}€{}", "b".repeat(152), "c".repeat(20));
        let segs = segments(&text);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].payload().len(), 152);
        assert_eq!(segs[1].payload()[..2], [0x1B, 0x65]);
        assert_eq!(roundtrip(&text), text);
    }

    #[test]
    fn ucs2_emoji_boundaries_and_surrogates() {
        let s70 = format!("{}ж", "ä".repeat(69));
        assert_eq!(choose_encoding(&s70), Encoding::Ucs2);
        assert_eq!(segments(&s70).len(), 1);
        let s71 = format!("{s70}ж");
        let segs = segments(&s71);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].payload().len(), 67 * 2);
        assert_eq!(roundtrip(&s71), s71);

        // 66 units then an emoji (2 units) must move the emoji to the next part.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        let segs = segments(&text);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].payload().len(), 66 * 2);
        assert_eq!(segs[1].text.chars().next(), Some('😀'));
        for s in &segs {
            decode_ucs2(s.payload()).expect("every part decodes on its own");
        }
        assert_eq!(roundtrip(&text), text);

        // 35 emoji = 70 units: fits one message; 36 do not.
        assert_eq!(segments(&"😀".repeat(35)).len(), 1);
        assert_eq!(segments(&"😀".repeat(36)).len(), 2);
        assert_eq!(segment_count(&"😀".repeat(36)), 2);
    }

    #[test]
    fn indonesian_text_encoding_choice() {
        assert_eq!(
            choose_encoding("Laporan Anda telah diterima. Terima kasih!"),
            Encoding::Gsm7
        );
        // 'é' is in the GSM default alphabet.
        assert_eq!(
            choose_encoding("Kafé di Banjarmasin sudah ditindaklanjuti"),
            Encoding::Gsm7
        );
        assert_eq!(choose_encoding("Terima kasih 🙏"), Encoding::Ucs2);
        // Typographic quotes and backtick are not GSM.
        assert_eq!(choose_encoding("“Jalan rusak”"), Encoding::Ucs2);
        assert_eq!(choose_encoding("a`b"), Encoding::Ucs2);
        assert_eq!(choose_encoding("Biaya €5 [promo]"), Encoding::Gsm7);
    }

    #[test]
    fn decode_handles_udh_variants_and_codings() {
        // 16-bit reference UDH.
        let mut sm = vec![0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x02];
        sm.extend(encode_ucs2("hé"));
        let (c, t) = decode(0x08, &sm, true).expect("decodes");
        assert_eq!(
            c,
            Some(ConcatInfo {
                reference: 0x1234,
                total: 3,
                seq: 2
            })
        );
        assert_eq!(t, "hé");
        // UDH with an extra port element before the concat element.
        let mut sm = vec![0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01];
        sm.extend(b"Hi");
        let (c, t) = decode(0x00, &sm, true).expect("decodes");
        assert_eq!(
            c,
            Some(ConcatInfo {
                reference: 7,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(t, "Hi");
        assert_eq!(
            decode(0x03, &[0x63, 0x61, 0x66, 0xE9], false).expect("latin1").1,
            "café"
        );
        assert!(matches!(
            decode(0x04, b"x", false),
            Err(TextError::UnsupportedDataCoding(4))
        ));
        assert!(matches!(
            decode(0x00, &[0x05, 0x00, 0x03], true),
            Err(TextError::BadUdh(_))
        ));
        assert!(matches!(decode(0x00, &[], true), Err(TextError::BadUdh(_))));
        assert!(matches!(decode(0x08, &[0x00], false), Err(TextError::InvalidUcs2(_))));
        assert!(matches!(
            decode(0x08, &[0xD8, 0x3D], false),
            Err(TextError::InvalidUcs2(_))
        ));
        assert!(matches!(decode(0x00, &[0x80], false), Err(TextError::InvalidGsm(0x80))));
        assert_eq!(decode(0xF0, b"ok", false).expect("class 0").1, "ok");
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let mut seed: u32 = 0x9E37_79B9;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed.rotate_left(i as u32) & 0xFF) as u8).collect();
            let dc = (seed >> 8) as u8;
            let _ = decode(dc, &bytes, seed & 1 == 0);
            let _ = decode(0x00, &bytes, true);
            let _ = decode(0x08, &bytes, true);
        }
    }

    #[test]
    fn reassembler_out_of_order_duplicates_and_timeout() {
        let text = "x".repeat(400);
        let segs = segments_with_reference(&text, 9);
        assert_eq!(segs.len(), 3);
        let mut r = Reassembler::new(Duration::from_secs(30));
        let t0 = Instant::now();
        let feed = |r: &mut Reassembler, s: &Segment, src: &str, at: Instant| {
            let (c, p) = split_udh(&s.short_message, true).expect("udh");
            r.push_part_at(src, c, s.data_coding(), p, at).expect("decode")
        };
        assert!(feed(&mut r, &segs[2], "a", t0).is_none());
        assert!(feed(&mut r, &segs[0], "a", t0).is_none());
        assert!(feed(&mut r, &segs[0], "a", t0).is_none()); // duplicate part
        // Same reference from another source is a different set.
        assert!(feed(&mut r, &segs[1], "b", t0).is_none());
        let done = feed(&mut r, &segs[1], "a", t0).expect("complete");
        assert_eq!(done.text, text);
        assert_eq!(done.parts, 3);
        // Not taken yet: the last part delivered again completes it again; taken, it goes.
        assert_eq!(feed(&mut r, &segs[1], "a", t0).expect("complete again").text, text);
        r.forget(&done.key.expect("a concatenated message has a key"));
        assert_eq!(r.pending(), 1);
        // The "b" set times out.
        assert!(feed(&mut r, &segs[0], "c", t0 + Duration::from_secs(31)).is_none());
        assert_eq!(r.pending(), 1);
        assert_eq!(r.purge_at(t0 + Duration::from_secs(62)), 1);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn reassembler_joins_split_surrogates_from_foreign_smsc() {
        let bytes = encode_ucs2("a😀b");
        let (p1, p2) = bytes.split_at(4); // cuts the surrogate pair
        let mut r = Reassembler::new(Duration::from_secs(5));
        let c1 = Some(ConcatInfo {
            reference: 1,
            total: 2,
            seq: 1,
        });
        let c2 = Some(ConcatInfo {
            reference: 1,
            total: 2,
            seq: 2,
        });
        assert!(r.push_part("s", c1, 8, p1).expect("ok").is_none());
        assert_eq!(r.push_part("s", c2, 8, p2).expect("ok").expect("done").text, "a😀b");
    }

    #[test]
    fn four_hundred_chars_split_in_three() {
        let text: String = "Laporan nomor 123 sudah diverifikasi. "
            .chars()
            .cycle()
            .take(400)
            .collect();
        assert_eq!(segment_count(&text), 3);
        let segs = segments(&text);
        assert!(segs.iter().all(|s| s.short_message.len() <= 159));
        assert_eq!(roundtrip(&text), text);
    }

    #[test]
    fn empty_text_is_one_empty_message() {
        let segs = segments("");
        assert_eq!(segs.len(), 1);
        assert!(segs[0].short_message.is_empty());
        assert_eq!(segment_count(""), 1);
    }
}
