//! The figure lines of a digest e-mail, `(label, value)` as the digest templates print them,
//! in the recipient's language: the period's counts, the SLA compliance, then the SKPDs
//! with the most overdue complaints and the categories on the rise. Numbers are written as
//! a reader of that language expects ("1.234" and "87,5%" in Bahasa Indonesia, "1,234" and
//! "87.5%" in English); a compliance analytics could not measure is "–", not "0%".

use crate::messages::Lang;
use lapor_domain::numbers::{self, Notation};
use lapor_proto::events::v1::DigestReady;

/// Printed for a figure that has no value (nothing to measure in the period).
pub const NO_VALUE: &str = "–";

fn notation(lang: Lang) -> Notation {
    match lang {
        Lang::Id => Notation::Indonesian,
        Lang::En => Notation::English,
    }
}

/// A count with thousands grouped: "1.234.567" (id), "1,234,567" (en).
pub fn count(n: u64, lang: Lang) -> String {
    numbers::count(notation(lang), n)
}

/// A percentage with one decimal: "87,5%" (id), "87.5%" (en); [`NO_VALUE`] when unset or
/// not a number.
pub fn percent(value: Option<f64>, lang: Lang) -> String {
    value
        .and_then(|v| numbers::decimal(notation(lang), v, 1))
        .map_or_else(|| NO_VALUE.to_owned(), |text| format!("{text}%"))
}

/// The figure lines of `digest`; `category_name` turns a category code into the name the
/// directory gives it.
pub fn lines(digest: &DigestReady, lang: Lang, category_name: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let words = Words::of(lang);
    let mut lines = vec![
        (words.received.to_owned(), count(digest.received, lang)),
        (words.closed.to_owned(), count(digest.closed, lang)),
        (words.open_backlog.to_owned(), count(digest.open_backlog, lang)),
        (words.overdue_open.to_owned(), count(digest.overdue_open, lang)),
        (
            words.verification_compliance.to_owned(),
            percent(digest.verification_compliance_pct, lang),
        ),
        (
            words.follow_up_compliance.to_owned(),
            percent(digest.follow_up_compliance_pct, lang),
        ),
        (words.escalations.to_owned(), count(digest.escalations, lang)),
    ];
    for skpd in &digest.most_overdue {
        let name = if skpd.skpd_name.trim().is_empty() {
            skpd.skpd_code.clone()
        } else {
            skpd.skpd_name.clone()
        };
        let mut value = (words.overdue)(&count(skpd.overdue_open, lang), skpd.overdue_open);
        if skpd.follow_up_compliance_pct.is_some() {
            value = format!(
                "{value}; {} {}",
                words.skpd_follow_up_compliance,
                percent(skpd.follow_up_compliance_pct, lang)
            );
        }
        lines.push((format!("{} – {name}", words.most_overdue), value));
    }
    for category in &digest.rising_categories {
        lines.push((
            format!("{} – {}", words.rising, category_name(&category.category_code)),
            (words.rose)(
                &count(category.this_period, lang),
                &count(category.previous_period, lang),
            ),
        ));
    }
    lines
}

/// The words of the figure lines in one language.
struct Words {
    received: &'static str,
    closed: &'static str,
    open_backlog: &'static str,
    overdue_open: &'static str,
    verification_compliance: &'static str,
    follow_up_compliance: &'static str,
    escalations: &'static str,
    most_overdue: &'static str,
    /// "<n> past their deadline", given the formatted and the plain count (for the plural).
    overdue: fn(&str, u64) -> String,
    skpd_follow_up_compliance: &'static str,
    rising: &'static str,
    /// "<this period> (previously <previous>)".
    rose: fn(&str, &str) -> String,
}

impl Words {
    fn of(lang: Lang) -> Words {
        match lang {
            Lang::Id => Words {
                received: "Aduan masuk",
                closed: "Aduan selesai",
                open_backlog: "Aduan belum selesai (saat ringkasan dibuat)",
                overdue_open: "Belum ditindaklanjuti, melewati batas waktu",
                verification_compliance: "Kepatuhan SLA verifikasi",
                follow_up_compliance: "Kepatuhan SLA tindak lanjut",
                escalations: "Eskalasi",
                most_overdue: "Terlambat terbanyak",
                overdue: |n, _| format!("{n} aduan melewati batas waktu"),
                skpd_follow_up_compliance: "kepatuhan SLA tindak lanjut",
                rising: "Kategori meningkat",
                rose: |now, before| format!("{now} aduan (periode sebelumnya {before})"),
            },
            Lang::En => Words {
                received: "Complaints received",
                closed: "Complaints closed",
                open_backlog: "Open complaints (when this digest was made)",
                overdue_open: "Awaiting follow-up past their deadline",
                verification_compliance: "Verification SLA compliance",
                follow_up_compliance: "Follow-up SLA compliance",
                escalations: "Escalations",
                most_overdue: "Most overdue",
                overdue: |n, plain| {
                    if plain == 1 {
                        format!("{n} complaint past its deadline")
                    } else {
                        format!("{n} complaints past their deadline")
                    }
                },
                skpd_follow_up_compliance: "follow-up SLA compliance",
                rising: "Rising category",
                rose: |now, before| format!("{now} complaints (previous period {before})"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::events::v1::{DigestCategory, DigestSkpd};

    fn digest() -> DigestReady {
        DigestReady {
            period_kind: "weekly".into(),
            received: 1234,
            closed: 98,
            open_backlog: 340,
            overdue_open: 27,
            verification_compliance_pct: Some(87.5),
            follow_up_compliance_pct: None,
            escalations: 12,
            most_overdue: vec![
                DigestSkpd {
                    skpd_code: "dinkes".into(),
                    skpd_name: "Dinas Kesehatan".into(),
                    overdue_open: 12,
                    follow_up_compliance_pct: Some(61.34),
                },
                DigestSkpd {
                    skpd_code: "pupr".into(),
                    skpd_name: String::new(),
                    overdue_open: 1,
                    follow_up_compliance_pct: None,
                },
            ],
            rising_categories: vec![DigestCategory {
                category_code: "kesehatan.rumah-sakit".into(),
                this_period: 14,
                previous_period: 9,
            }],
            ..DigestReady::default()
        }
    }

    fn named(code: &str) -> String {
        match code {
            "kesehatan.rumah-sakit" => "Layanan Rumah Sakit".into(),
            other => other.into(),
        }
    }

    fn pairs(lines: &[(String, String)]) -> Vec<(&str, &str)> {
        lines.iter().map(|(l, v)| (l.as_str(), v.as_str())).collect()
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0, Lang::Id), "0");
        assert_eq!(count(999, Lang::Id), "999");
        assert_eq!(count(1000, Lang::Id), "1.000");
        assert_eq!(count(1_234_567, Lang::Id), "1.234.567");
        assert_eq!(count(1_234_567, Lang::En), "1,234,567");
        assert_eq!(count(123_456, Lang::En), "123,456");
    }

    #[test]
    fn percentages_use_the_languages_decimal_mark() {
        assert_eq!(percent(Some(87.5), Lang::Id), "87,5%");
        assert_eq!(percent(Some(87.5), Lang::En), "87.5%");
        assert_eq!(percent(Some(100.0), Lang::Id), "100,0%");
        assert_eq!(percent(Some(0.0), Lang::En), "0.0%");
        assert_eq!(percent(Some(66.666), Lang::En), "66.7%");
        assert_eq!(percent(None, Lang::Id), "–");
        assert_eq!(percent(Some(f64::NAN), Lang::En), "–");
    }

    #[test]
    fn indonesian_lines() {
        let lines = lines(&digest(), Lang::Id, named);
        assert_eq!(
            pairs(&lines),
            [
                ("Aduan masuk", "1.234"),
                ("Aduan selesai", "98"),
                ("Aduan belum selesai (saat ringkasan dibuat)", "340"),
                ("Belum ditindaklanjuti, melewati batas waktu", "27"),
                ("Kepatuhan SLA verifikasi", "87,5%"),
                ("Kepatuhan SLA tindak lanjut", "–"),
                ("Eskalasi", "12"),
                (
                    "Terlambat terbanyak – Dinas Kesehatan",
                    "12 aduan melewati batas waktu; kepatuhan SLA tindak lanjut 61,3%"
                ),
                ("Terlambat terbanyak – pupr", "1 aduan melewati batas waktu"),
                (
                    "Kategori meningkat – Layanan Rumah Sakit",
                    "14 aduan (periode sebelumnya 9)"
                ),
            ]
        );
    }

    #[test]
    fn english_lines() {
        let lines = lines(&digest(), Lang::En, named);
        assert_eq!(
            pairs(&lines),
            [
                ("Complaints received", "1,234"),
                ("Complaints closed", "98"),
                ("Open complaints (when this digest was made)", "340"),
                ("Awaiting follow-up past their deadline", "27"),
                ("Verification SLA compliance", "87.5%"),
                ("Follow-up SLA compliance", "–"),
                ("Escalations", "12"),
                (
                    "Most overdue – Dinas Kesehatan",
                    "12 complaints past their deadline; follow-up SLA compliance 61.3%"
                ),
                ("Most overdue – pupr", "1 complaint past its deadline"),
                (
                    "Rising category – Layanan Rumah Sakit",
                    "14 complaints (previous period 9)"
                ),
            ]
        );
    }

    #[test]
    fn a_quiet_period_still_lists_the_counts() {
        let quiet = DigestReady::default();
        let lines = lines(&quiet, Lang::Id, named);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0], ("Aduan masuk".to_owned(), "0".to_owned()));
        assert_eq!(lines[4].1, "–");
    }
}
