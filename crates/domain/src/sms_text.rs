//! What a citizen texts to the 1708 short code, read into a request:
//!
//! - `STATUS <tracking id>` (or `CEK <tracking id>`): the status of their report;
//! - `LAPOR#<kategori>#<lokasi>#<isi>`: a complaint in the keyword form;
//! - anything else: a complaint in free text, for the verification desk to categorise.
//!
//! Phones are small keyboards: keywords are case-insensitive and spaces around `#` are
//! forgiven. An unknown kategori does not refuse the report (the verifier corrects it); the
//! kabupaten/kota is recognised from its name in the location or text when it is there.

use crate::reference::Directory;
use crate::submission::{BODY_MAX_CHARS, LOCATION_MAX_CHARS, TITLE_MAX_CHARS};
use crate::tracking_id;

/// The category of reports nobody categorised, verified by hand.
pub const UNSORTED_CATEGORY: &str = "lainnya";
/// Longest title taken from the start of an SMS.
const SMS_TITLE_CHARS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsRequest {
    Status { tracking_id: String },
    Complaint(SmsComplaint),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsComplaint {
    pub title: String,
    pub body: String,
    pub category_code: String,
    /// `None` when no kabupaten/kota name appears.
    pub kabupaten_code: Option<String>,
    pub location: String,
}

/// Why an SMS cannot be taken; the reason names what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    #[error("empty message")]
    Empty,
    #[error("STATUS needs a tracking id, e.g. STATUS K7QXM3PA9D")]
    BadTrackingId,
    #[error("LAPOR#kategori#lokasi#isi needs the complaint text after the third #")]
    MissingText,
    #[error("message longer than {BODY_MAX_CHARS} characters")]
    TooLong,
}

pub fn parse(text: &str, directory: &Directory) -> Result<SmsRequest, SmsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SmsError::Empty);
    }
    if text.chars().count() > BODY_MAX_CHARS {
        return Err(SmsError::TooLong);
    }
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or_default().to_uppercase();
    if first == "STATUS" || first == "CEK" {
        let id = words.next().ok_or(SmsError::BadTrackingId)?;
        return tracking_id::normalize(id)
            .map(|tracking_id| SmsRequest::Status { tracking_id })
            .ok_or(SmsError::BadTrackingId);
    }
    let keyword = text
        .split_once('#')
        .filter(|(head, _)| head.trim().eq_ignore_ascii_case("LAPOR"));
    let complaint = match keyword {
        Some((_, rest)) => {
            let mut parts = rest.splitn(3, '#').map(str::trim);
            let category = parts.next().unwrap_or_default();
            let location = parts.next().unwrap_or_default();
            let body = parts.next().unwrap_or_default();
            if body.is_empty() {
                return Err(SmsError::MissingText);
            }
            SmsComplaint {
                title: title_of(body),
                body: body.to_owned(),
                category_code: category_code(category, directory),
                kabupaten_code: kabupaten_in(location, directory).or_else(|| kabupaten_in(body, directory)),
                location: location.chars().take(LOCATION_MAX_CHARS).collect(),
            }
        }
        None => SmsComplaint {
            title: title_of(text),
            body: text.to_owned(),
            category_code: UNSORTED_CATEGORY.to_owned(),
            kabupaten_code: kabupaten_in(text, directory),
            location: String::new(),
        },
    };
    Ok(SmsRequest::Complaint(complaint))
}

/// The first words of the text, cut at a word boundary.
fn title_of(body: &str) -> String {
    let limit = SMS_TITLE_CHARS.min(TITLE_MAX_CHARS);
    let first_line = body.lines().next().unwrap_or(body).trim();
    if first_line.chars().count() <= limit {
        return first_line.to_owned();
    }
    let cut: String = first_line.chars().take(limit).collect();
    let at_word = cut
        .rfind(' ')
        .filter(|i| *i > limit / 2)
        .map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}...", at_word.trim_end())
}

/// A category by code, by name, or by the last part of its code (`puskesmas`), else the
/// unsorted category.
fn category_code(given: &str, directory: &Directory) -> String {
    let wanted = given.trim().to_lowercase().replace(' ', "-");
    if wanted.is_empty() {
        return UNSORTED_CATEGORY.to_owned();
    }
    directory
        .categories
        .iter()
        .find(|c| c.code == wanted)
        .or_else(|| {
            directory
                .categories
                .iter()
                .find(|c| c.name.to_lowercase() == given.trim().to_lowercase())
        })
        .or_else(|| {
            directory
                .categories
                .iter()
                .find(|c| c.code.rsplit('.').next() == Some(wanted.as_str()))
        })
        .map_or_else(|| UNSORTED_CATEGORY.to_owned(), |c| c.code.clone())
}

/// The kabupaten/kota whose name (without "Kabupaten"/"Kota") appears in `text`; the
/// longest name wins, so "Banjarmasin" is not read as "Banjar".
fn kabupaten_in(text: &str, directory: &Directory) -> Option<String> {
    let haystack = text.to_lowercase();
    directory
        .kabupaten
        .iter()
        .filter_map(|k| {
            let short = k
                .name
                .strip_prefix("Kabupaten ")
                .or_else(|| k.name.strip_prefix("Kota "))
                .unwrap_or(&k.name)
                .to_lowercase();
            contains_word(&haystack, &short).then_some((short.len(), k.code.clone()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, code)| code)
}

fn contains_word(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn directory() -> Directory {
        Directory::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed")).expect("seed")
    }

    fn complaint(text: &str) -> SmsComplaint {
        match parse(text, &directory()) {
            Ok(SmsRequest::Complaint(c)) => c,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn status_requests() {
        let d = directory();
        let id = tracking_id::generate();
        assert_eq!(
            parse(&format!("status {}", id.to_lowercase()), &d),
            Ok(SmsRequest::Status {
                tracking_id: id.clone()
            })
        );
        assert_eq!(
            parse(&format!("  CEK {id} "), &d),
            Ok(SmsRequest::Status { tracking_id: id })
        );
        assert_eq!(parse("STATUS", &d), Err(SmsError::BadTrackingId));
        assert_eq!(parse("STATUS 123", &d), Err(SmsError::BadTrackingId));
    }

    #[test]
    fn keyword_form() {
        let c = complaint("lapor # puskesmas # Jl. Ahmad Yani, Banjarmasin # Obat habis sejak minggu lalu");
        assert_eq!(c.category_code, "kesehatan.puskesmas");
        assert_eq!(c.kabupaten_code.as_deref(), Some("6371"));
        assert_eq!(c.location, "Jl. Ahmad Yani, Banjarmasin");
        assert_eq!(c.body, "Obat habis sejak minggu lalu");
        assert_eq!(c.title, "Obat habis sejak minggu lalu");
        let by_code = complaint("LAPOR#infrastruktur.jalan-jembatan#Martapura, Banjar#Jalan rusak # berlubang");
        assert_eq!(by_code.category_code, "infrastruktur.jalan-jembatan");
        assert_eq!(by_code.kabupaten_code.as_deref(), Some("6303"));
        assert_eq!(by_code.body, "Jalan rusak # berlubang", "a # in the text stays");
        assert_eq!(
            parse("LAPOR#kesehatan#Banjarbaru#  ", &directory()),
            Err(SmsError::MissingText)
        );
    }

    #[test]
    fn unknown_category_and_place_still_count() {
        let c = complaint("LAPOR#parkir liar#depan pasar#Parkir liar memenuhi jalan");
        assert_eq!(c.category_code, UNSORTED_CATEGORY);
        assert_eq!(c.kabupaten_code, None);
    }

    #[test]
    fn free_text() {
        let text =
            "Lampu jalan di Kota Banjarbaru mati sudah dua minggu, mohon segera diperbaiki karena rawan kejahatan";
        let c = complaint(text);
        assert_eq!(c.category_code, UNSORTED_CATEGORY);
        assert_eq!(c.kabupaten_code.as_deref(), Some("6372"));
        assert_eq!(c.body, text);
        assert!(c.title.ends_with("...") && c.title.chars().count() <= 63, "{}", c.title);
        assert!(text.starts_with(c.title.trim_end_matches("...")));
        assert_eq!(parse("   ", &directory()), Err(SmsError::Empty));
        assert_eq!(
            parse(&"a".repeat(BODY_MAX_CHARS + 1), &directory()),
            Err(SmsError::TooLong)
        );
    }

    #[test]
    fn longest_place_name_wins_and_words_must_be_whole() {
        let d = directory();
        assert_eq!(kabupaten_in("banjir di banjarmasin utara", &d).as_deref(), Some("6371"));
        assert_eq!(kabupaten_in("di kabupaten banjar", &d).as_deref(), Some("6303"));
        assert_eq!(
            kabupaten_in("Hulu Sungai Selatan, Kandangan", &d).as_deref(),
            Some("6306")
        );
        assert_eq!(kabupaten_in("banjaran", &d), None);
    }
}
