//! The period a digest covers, as a reader in Kalsel names it: WITA (UTC+8) calendar days,
//! one day as "27 November 2026", several as "16–22 November 2026" (months and years only
//! repeated where they differ: "30 November – 6 Desember 2026"). Month names follow the
//! recipient's language.

use crate::messages::Lang;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use lapor_domain::calendar::Zone;
use lapor_domain::local_time::{MONTHS_EN, MONTHS_ID};

fn month(date: NaiveDate, lang: Lang) -> &'static str {
    let names = match lang {
        Lang::Id => &MONTHS_ID,
        Lang::En => &MONTHS_EN,
    };
    names[date.month0() as usize]
}

fn wita_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Zone::Wita.offset()).date_naive()
}

/// The WITA days from `from` (inclusive) to `to` (exclusive, as analytics sends periods:
/// a day ends at the next midnight), or `None` when `to` is not after `from`.
pub fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(NaiveDate, NaiveDate)> {
    if to <= from {
        return None;
    }
    let last_instant = to - TimeDelta::nanoseconds(1);
    Some((wita_date(from), wita_date(last_instant)))
}

/// "27 November 2026", "16–22 November 2026", "30 November – 6 Desember 2026",
/// "29 Desember 2026 – 4 Januari 2027".
pub fn label(first: NaiveDate, last: NaiveDate, lang: Lang) -> String {
    let full = |date: NaiveDate| format!("{} {} {}", date.day(), month(date, lang), date.year());
    if first == last {
        full(first)
    } else if first.year() != last.year() {
        format!("{} – {}", full(first), full(last))
    } else if first.month() != last.month() {
        format!("{} {} – {}", first.day(), month(first, lang), full(last))
    } else {
        format!("{}–{}", first.day(), full(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Midnight WITA at the start of `day`, as UTC (16:00 the day before).
    fn wita_midnight(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Zone::Wita
            .offset()
            .with_ymd_and_hms(year, month, day, 0, 0, 0)
            .single()
            .expect("valid date")
            .with_timezone(&Utc)
    }

    fn label_of(from: DateTime<Utc>, to: DateTime<Utc>, lang: Lang) -> String {
        let (first, last) = days(from, to).expect("a period");
        label(first, last, lang)
    }

    #[test]
    fn a_day_is_one_wita_date() {
        let from = wita_midnight(2026, 11, 27);
        assert_eq!(
            from,
            Utc.with_ymd_and_hms(2026, 11, 26, 16, 0, 0).single().expect("valid")
        );
        let to = wita_midnight(2026, 11, 28);
        assert_eq!(label_of(from, to, Lang::Id), "27 November 2026");
        assert_eq!(label_of(from, to, Lang::En), "27 November 2026");
        let august = wita_midnight(2026, 8, 17);
        assert_eq!(
            label_of(august, wita_midnight(2026, 8, 18), Lang::Id),
            "17 Agustus 2026"
        );
        assert_eq!(label_of(august, wita_midnight(2026, 8, 18), Lang::En), "17 August 2026");
    }

    #[test]
    fn a_week_names_its_first_and_last_day() {
        // Monday 16 to Sunday 22 November; `to` is the next Monday's midnight.
        assert_eq!(
            label_of(wita_midnight(2026, 11, 16), wita_midnight(2026, 11, 23), Lang::Id),
            "16–22 November 2026"
        );
        assert_eq!(
            label_of(wita_midnight(2026, 11, 30), wita_midnight(2026, 12, 7), Lang::Id),
            "30 November – 6 Desember 2026"
        );
        assert_eq!(
            label_of(wita_midnight(2026, 11, 30), wita_midnight(2026, 12, 7), Lang::En),
            "30 November – 6 December 2026"
        );
        assert_eq!(
            label_of(wita_midnight(2026, 12, 28), wita_midnight(2027, 1, 4), Lang::Id),
            "28 Desember 2026 – 3 Januari 2027"
        );
    }

    #[test]
    fn days_are_read_in_wita_not_utc() {
        // 23:30 WITA on the 27th is still the 27th, although it is 15:30 UTC.
        let late = wita_midnight(2026, 11, 27) + TimeDelta::minutes(23 * 60 + 30);
        let (first, last) = days(wita_midnight(2026, 11, 27), late).expect("a period");
        let the_27th = NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid");
        assert_eq!((first, last), (the_27th, the_27th));
    }

    #[test]
    fn an_empty_or_reversed_period_has_no_days() {
        let at = wita_midnight(2026, 11, 27);
        assert_eq!(days(at, at), None);
        assert_eq!(days(at, at - TimeDelta::days(1)), None);
    }
}
