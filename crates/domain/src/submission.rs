//! Validation of a citizen's submission, shared by every intake channel.

use crate::reference::Directory;

pub const TITLE_MAX_CHARS: usize = 150;
pub const BODY_MAX_CHARS: usize = 4000;
pub const LOCATION_MAX_CHARS: usize = 200;
pub const NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 128;

/// A rejected field: `field` names it as the client sent it, `message` says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl FieldError {
    /// The message in Bahasa Indonesia, for the citizen's pages. Kept beside the English
    /// messages of this module; a test checks that every one of them has a translation.
    pub fn message_id(&self) -> String {
        in_indonesian(&self.message).unwrap_or_else(|| self.message.clone())
    }
}

fn in_indonesian(message: &str) -> Option<String> {
    let fixed = match message {
        "must not be empty" => "wajib diisi",
        "must be 16 digits" => "harus 16 angka",
        "has no kabupaten/kota or kecamatan code" => "tidak memuat kode kabupaten/kota atau kecamatan",
        "does not hold a valid birth date (DDMMYY)" => "tidak memuat tanggal lahir yang sah (DDMMYY)",
        "ends in serial 0000" => "berakhiran nomor urut 0000",
        "must be an Indonesian number starting with 0, 62 or +62" => {
            "harus nomor Indonesia yang diawali 0, 62 atau +62"
        }
        "must contain only digits, spaces and dashes" => "hanya boleh berisi angka, spasi dan tanda hubung",
        "is not a valid Indonesian phone number" => "bukan nomor HP Indonesia yang sah",
        "must contain '@'" => "harus memuat '@'",
        "is not a valid e-mail address" => "bukan alamat e-mail yang sah",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_owned());
    }
    let number = |text: &str| text.chars().filter(char::is_ascii_digit).collect::<String>();
    if let Some(rest) = message.strip_prefix("must be at most ") {
        let (limit, got) = rest.split_once(" characters").unwrap_or((rest, ""));
        return Some(match got.strip_prefix(", got ") {
            Some(got) => format!("paling banyak {limit} karakter, terisi {got}"),
            None if got.is_empty() => format!("paling banyak {limit} karakter"),
            None => format!("paling banyak {} karakter ASCII tanpa spasi", number(limit)),
        });
    }
    if let Some(got) = message.strip_prefix("must be 1 to 5, got ") {
        return Some(format!("harus 1 sampai 5, terisi {got}"));
    }
    if let Some(code) = message.strip_prefix("must not contain control character ") {
        return Some(format!("tidak boleh memuat karakter kendali {code}"));
    }
    if let Some(province) = message.strip_prefix("starts with ") {
        return Some(format!("diawali {}, yang bukan kode provinsi", number(province)));
    }
    if let Some(code) = message.strip_prefix("unknown category ") {
        return Some(format!("kategori {code} tidak dikenal"));
    }
    if let Some(code) = message.strip_prefix("unknown kabupaten/kota ") {
        return Some(format!("kabupaten/kota {code} tidak dikenal"));
    }
    None
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// What a channel received, before validation.
#[derive(Debug, Clone, Default)]
pub struct SubmissionDraft {
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub kabupaten_code: String,
    pub location: String,
    pub reporter_name: String,
    pub reporter_phone: String,
    pub reporter_email: String,
    /// Nomor Induk Kependudukan, 16 digits; optional, kept only in intake's vault.
    pub reporter_nik: String,
    pub idempotency_key: String,
}

/// A submission every rule accepted; text is trimmed and the phone is in E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubmission {
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub kabupaten_code: String,
    pub location: String,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub reporter_email: Option<String>,
    pub reporter_nik: Option<String>,
    pub idempotency_key: Option<String>,
}

impl ValidSubmission {
    pub fn has_identity(&self) -> bool {
        self.reporter_name.is_some()
            || self.reporter_phone.is_some()
            || self.reporter_email.is_some()
            || self.reporter_nik.is_some()
    }
}

/// Province codes (the NIK's first two digits) Dukcapil has issued: Sumatra 11–19 and 21,
/// Java 31–36, Bali and Nusa Tenggara 51–53, Kalimantan 61–65, Sulawesi 71–76, Maluku
/// 81–82, Papua 91–97 (including the provinces formed in 2022).
const NIK_PROVINCES: [std::ops::RangeInclusive<u8>; 8] =
    [11..=19, 21..=21, 31..=36, 51..=53, 61..=65, 71..=76, 81..=82, 91..=97];

/// A NIK: 16 digits — province, kabupaten/kota, kecamatan, birth date (day + 40 for
/// women) as DDMMYY, and a serial that is never 0000. Spaces and dots people type
/// between groups are dropped.
pub fn check_nik(input: &str) -> Result<String, String> {
    let nik: String = input.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect();
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be 16 digits".into());
    }
    let part = |from: usize| -> u8 { nik[from..from + 2].parse().unwrap_or(0) };
    let province = part(0);
    if !NIK_PROVINCES.iter().any(|codes| codes.contains(&province)) {
        return Err(format!("starts with {province:02}, which is no province code"));
    }
    if part(2) == 0 || part(4) == 0 {
        return Err("has no kabupaten/kota or kecamatan code".into());
    }
    let day = part(6);
    let day = if day > 40 { day - 40 } else { day };
    if !(1..=31).contains(&day) || !(1..=12).contains(&part(8)) {
        return Err("does not hold a valid birth date (DDMMYY)".into());
    }
    if &nik[12..] == "0000" {
        return Err("ends in serial 0000".into());
    }
    Ok(nik)
}

/// What a reporter may attach, by the type its content shows: photos and PDFs.
pub const ATTACHMENT_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"];

/// Unicode bidi embeddings, overrides and isolates: they can make text shown to officers
/// read differently from what it is (`foto<U+202E>gpj.exe`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Rejects control characters other than line breaks and tabs (when `multiline`), and
/// Unicode bidi overrides that could disguise text shown to officers.
pub fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    required: bool,
    multiline: bool,
) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        ));
    }
    let forbidden = trimmed.chars().find(|&c| {
        let allowed_whitespace = multiline && matches!(c, '\n' | '\r' | '\t');
        (c.is_control() && !allowed_whitespace) || is_bidi_control(c)
    });
    if let Some(c) = forbidden {
        return Err(FieldError::new(
            field,
            format!("must not contain control character U+{:04X}", c as u32),
        ));
    }
    Ok(trimmed.to_owned())
}

fn optional(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// Normalises Indonesian phone numbers to E.164: `0812…`, `62812…`, `+62 812-…` → `+62812…`.
pub fn normalize_phone(input: &str) -> Result<String, String> {
    let compact: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+62") {
        rest
    } else if let Some(rest) = compact.strip_prefix("62") {
        rest
    } else if let Some(rest) = compact.strip_prefix('0') {
        rest
    } else {
        return Err("must be an Indonesian number starting with 0, 62 or +62".into());
    };
    if !national.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must contain only digits, spaces and dashes".into());
    }
    // Indonesian national significant numbers are 8 to 12 digits and never start with 0.
    if !(8..=12).contains(&national.len()) || national.starts_with('0') {
        return Err("is not a valid Indonesian phone number".into());
    }
    Ok(format!("+62{national}"))
}

/// A deliberately plain check: one `@`, a non-empty local part, a dotted domain of
/// letters, digits and hyphens. Deliverability is proven by sending, not by regex.
pub fn check_email(input: &str) -> Result<String, String> {
    let email = input.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must contain '@'".into());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !local_ok || !domain_ok {
        return Err("is not a valid e-mail address".into());
    }
    Ok(email.to_ascii_lowercase())
}

pub fn validate(draft: &SubmissionDraft, directory: &Directory) -> Result<ValidSubmission, FieldError> {
    let title = check_text("title", &draft.title, TITLE_MAX_CHARS, true, false)?;
    let body = check_text("body", &draft.body, BODY_MAX_CHARS, true, true)?;
    let category_code = draft.category_code.trim().to_owned();
    if category_code.is_empty() {
        return Err(FieldError::new("category_code", "must not be empty"));
    }
    if !directory.has_category(&category_code) {
        return Err(FieldError::new(
            "category_code",
            format!("unknown category {category_code:?}"),
        ));
    }
    let kabupaten_code = draft.kabupaten_code.trim().to_owned();
    if kabupaten_code.is_empty() {
        return Err(FieldError::new("kabupaten_code", "must not be empty"));
    }
    if !directory.has_kabupaten(&kabupaten_code) {
        return Err(FieldError::new(
            "kabupaten_code",
            format!("unknown kabupaten/kota {kabupaten_code:?}"),
        ));
    }
    let location = check_text("location", &draft.location, LOCATION_MAX_CHARS, false, false)?;
    let reporter_name = optional(check_text(
        "reporter.name",
        &draft.reporter_name,
        NAME_MAX_CHARS,
        false,
        false,
    )?);
    let reporter_phone = match draft.reporter_phone.trim() {
        "" => None,
        phone => Some(normalize_phone(phone).map_err(|m| FieldError::new("reporter.phone", m))?),
    };
    let reporter_email = match draft.reporter_email.trim() {
        "" => None,
        email if email.chars().count() > EMAIL_MAX_CHARS => {
            return Err(FieldError::new(
                "reporter.email",
                format!("must be at most {EMAIL_MAX_CHARS} characters"),
            ));
        }
        email => Some(check_email(email).map_err(|m| FieldError::new("reporter.email", m))?),
    };
    let reporter_nik = match draft.reporter_nik.trim() {
        "" => None,
        nik => Some(check_nik(nik).map_err(|m| FieldError::new("reporter.nik", m))?),
    };
    let key = draft.idempotency_key.as_str();
    if key.len() > IDEMPOTENCY_KEY_MAX_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "idempotency_key",
            format!("must be at most {IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters without spaces"),
        ));
    }
    Ok(ValidSubmission {
        title,
        body,
        category_code,
        kabupaten_code,
        location,
        reporter_name,
        reporter_phone,
        reporter_email,
        reporter_nik,
        idempotency_key: optional(key.to_owned()),
    })
}

#[cfg(test)]
mod translation_tests {
    use super::*;

    /// Every refusal `validate` and its checks can give reads in Bahasa Indonesia.
    #[test]
    fn every_message_has_an_indonesian_form() {
        let directory = Directory::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/seed"
        )))
        .expect("seed");
        let good = SubmissionDraft {
            title: "Lampu jalan mati".into(),
            body: "Sudah dua minggu gelap di depan sekolah.".into(),
            category_code: "infrastruktur.jalan-jembatan".into(),
            kabupaten_code: "6371".into(),
            ..SubmissionDraft::default()
        };
        let variants: Vec<SubmissionDraft> = vec![
            SubmissionDraft {
                title: " ".into(),
                ..good.clone()
            },
            SubmissionDraft {
                title: "x".repeat(200),
                ..good.clone()
            },
            SubmissionDraft {
                title: "a\u{202e}b".into(),
                ..good.clone()
            },
            SubmissionDraft {
                category_code: String::new(),
                ..good.clone()
            },
            SubmissionDraft {
                category_code: "tidak.ada".into(),
                ..good.clone()
            },
            SubmissionDraft {
                kabupaten_code: "9999".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_phone: "12345".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_phone: "0812-abc-999".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_phone: "0812".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_email: "tanpa-at".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_email: "a@b".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_email: format!("{}@example.id", "a".repeat(300)),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_nik: "123".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_nik: "9903035708850001".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_nik: "6300005708850001".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_nik: "6371039913850001".into(),
                ..good.clone()
            },
            SubmissionDraft {
                reporter_nik: "6371035708850000".into(),
                ..good.clone()
            },
            SubmissionDraft {
                idempotency_key: "dua kata".into(),
                ..good.clone()
            },
        ];
        for draft in variants {
            let error = validate(&draft, &directory).expect_err("refused");
            assert!(
                in_indonesian(&error.message).is_some(),
                "no Indonesian for {:?}: {}",
                error.field,
                error.message
            );
        }
        assert_eq!(
            FieldError::new("title", "must be at most 150 characters, got 200").message_id(),
            "paling banyak 150 karakter, terisi 200"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed");
        Directory::load(&dir).expect("seed loads")
    }

    fn draft() -> SubmissionDraft {
        SubmissionDraft {
            title: "Jalan berlubang di Jl. A. Yani km 5".into(),
            body: "Lubang besar di lajur kiri,\nsudah dua minggu.".into(),
            category_code: "infrastruktur.jalan-jembatan".into(),
            kabupaten_code: "6371".into(),
            reporter_phone: "0812-3456-7890".into(),
            reporter_email: "Warga@Example.ID".into(),
            ..Default::default()
        }
    }

    fn field_of(d: SubmissionDraft) -> &'static str {
        validate(&d, &directory()).expect_err("must be rejected").field
    }

    #[test]
    fn accepts_and_normalises_a_good_submission() {
        let valid = validate(&draft(), &directory()).expect("valid");
        assert_eq!(valid.reporter_phone.as_deref(), Some("+6281234567890"));
        assert_eq!(valid.reporter_email.as_deref(), Some("warga@example.id"));
        assert!(valid.body.contains('\n'));
        assert!(valid.idempotency_key.is_none());
    }

    #[test]
    fn rejects_each_bad_field_by_name() {
        assert_eq!(
            field_of(SubmissionDraft {
                title: "   ".into(),
                ..draft()
            }),
            "title"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                title: "x".repeat(151),
                ..draft()
            }),
            "title"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                title: "a\u{0007}b".into(),
                ..draft()
            }),
            "title"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                title: "a\nb".into(),
                ..draft()
            }),
            "title"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                body: String::new(),
                ..draft()
            }),
            "body"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                body: "y".repeat(4001),
                ..draft()
            }),
            "body"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                body: "evil\u{202E}txt".into(),
                ..draft()
            }),
            "body"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                category_code: "jalan".into(),
                ..draft()
            }),
            "category_code"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                kabupaten_code: "3171".into(),
                ..draft()
            }),
            "kabupaten_code"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                reporter_phone: "12345".into(),
                ..draft()
            }),
            "reporter.phone"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                reporter_phone: "+1 202 555 0100".into(),
                ..draft()
            }),
            "reporter.phone"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                reporter_email: "a@b".into(),
                ..draft()
            }),
            "reporter.email"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                reporter_email: "not an email".into(),
                ..draft()
            }),
            "reporter.email"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                idempotency_key: "has space".into(),
                ..draft()
            }),
            "idempotency_key"
        );
        assert_eq!(
            field_of(SubmissionDraft {
                idempotency_key: "k".repeat(129),
                ..draft()
            }),
            "idempotency_key"
        );
    }

    #[test]
    fn multibyte_text_is_counted_in_characters() {
        let title = "é".repeat(150);
        assert!(validate(&SubmissionDraft { title, ..draft() }, &directory()).is_ok());
    }

    #[test]
    fn phone_forms() {
        assert_eq!(normalize_phone("+62 812 3456 7890").as_deref(), Ok("+6281234567890"));
        assert_eq!(normalize_phone("6281234567890").as_deref(), Ok("+6281234567890"));
        assert_eq!(normalize_phone("(0511) 335-1234").as_deref(), Ok("+625113351234"));
        assert!(normalize_phone("08123").is_err());
        assert!(normalize_phone("0812abc4567").is_err());
    }

    #[test]
    fn niks_are_checked_by_their_parts() {
        // Kota Banjarmasin (6371), kecamatan 03, a woman born 17 August 1985 (57 = 17 + 40).
        assert_eq!(check_nik("6371 0357 0885 0001").as_deref(), Ok("6371035708850001"));
        assert_eq!(check_nik("6371.03.170885.0002").as_deref(), Ok("6371031708850002"));
        for (bad, why) in [
            ("637103170885001", "16 digits"),
            ("63710317088500011", "16 digits"),
            ("637103170885000a", "16 digits"),
            ("0071031708850001", "no province code"),
            ("2271031708850001", "no province code"),
            ("6300031708850001", "kabupaten/kota"),
            ("6371001708850001", "kecamatan"),
            ("6371033208850001", "birth date"),
            ("6371031713850001", "birth date"),
            ("6371030008850001", "birth date"),
            ("6371031708850000", "serial 0000"),
        ] {
            let error = check_nik(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
