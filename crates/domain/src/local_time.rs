//! Instants as Kalsel officers read them: WITA (UTC+8) wall-clock time in Bahasa Indonesia.
//! SLA deadlines are local midnights (the end of the last working day, see [`crate::calendar`]),
//! so midnight is written as 24:00 of the day before: "Senin, 30 November 2026 24:00 WITA".
//! E-mails and the officer console share these words. The `_en` functions give the same
//! instants and stage names in English for recipients who chose English; the zone is still WITA.

use crate::calendar::Zone;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};

const DAYS: [&str; 7] = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"];
/// Month names as Kalsel reads them (Bahasa Indonesia), January first.
pub const MONTHS_ID: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

const DAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// Month names in English, January first.
pub const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The WITA date and time, with local midnight as 24:00 of the previous day.
fn wita(at: DateTime<Utc>) -> Option<(NaiveDate, u32, u32)> {
    let local = at.with_timezone(&Zone::Wita.offset());
    let (date, time) = (local.date_naive(), local.time());
    if time == NaiveTime::MIN {
        Some((date.checked_sub_signed(TimeDelta::days(1))?, 24, 0))
    } else {
        Some((date, time.hour(), time.minute()))
    }
}

/// "Senin, 30 November 2026 24:00 WITA".
pub fn long_time(at: DateTime<Utc>) -> String {
    match wita(at) {
        Some((date, hour, minute)) => format!(
            "{}, {} {} {} {hour:02}:{minute:02} WITA",
            DAYS[date.weekday().num_days_from_monday() as usize],
            date.day(),
            MONTHS_ID[date.month0() as usize],
            date.year(),
        ),
        None => "-".to_owned(),
    }
}

/// "30-11-2026 24:00 WITA".
pub fn short_time(at: DateTime<Utc>) -> String {
    match wita(at) {
        Some((date, hour, minute)) => format!("{} {hour:02}:{minute:02} WITA", date.format("%d-%m-%Y")),
        None => "-".to_owned(),
    }
}

/// An SLA stage name (`verification`, `follow_up`, `reply_window`) in words.
pub fn stage_words(stage: &str) -> &str {
    match stage {
        "verification" => "verifikasi",
        "follow_up" => "tindak lanjut",
        "reply_window" => "tanggapan pelapor",
        other => other,
    }
}

/// "Monday, 30 November 2026 24:00 WITA": [`long_time`] in English.
pub fn long_time_en(at: DateTime<Utc>) -> String {
    match wita(at) {
        Some((date, hour, minute)) => format!(
            "{}, {} {} {} {hour:02}:{minute:02} WITA",
            DAYS_EN[date.weekday().num_days_from_monday() as usize],
            date.day(),
            MONTHS_EN[date.month0() as usize],
            date.year(),
        ),
        None => "-".to_owned(),
    }
}

/// "30 Nov 2026 24:00 WITA": [`short_time`] in English, with the month as a word because
/// English readers may take "30-11" and "11-30" either way round.
pub fn short_time_en(at: DateTime<Utc>) -> String {
    match wita(at) {
        Some((date, hour, minute)) => format!(
            "{} {} {} {hour:02}:{minute:02} WITA",
            date.day(),
            &MONTHS_EN[date.month0() as usize][..3],
            date.year(),
        ),
        None => "-".to_owned(),
    }
}

/// [`stage_words`] in English.
pub fn stage_words_en(stage: &str) -> &str {
    match stage {
        "verification" => "verification",
        "follow_up" => "follow-up",
        "reply_window" => "reporter response",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn midnight_is_24_00_of_the_day_before() {
        let midnight = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).single().expect("valid");
        assert_eq!(long_time(midnight), "Senin, 30 November 2026 24:00 WITA");
        assert_eq!(short_time(midnight), "30-11-2026 24:00 WITA");
        let morning = Utc.with_ymd_and_hms(2026, 11, 30, 1, 30, 0).single().expect("valid");
        assert_eq!(long_time(morning), "Senin, 30 November 2026 09:30 WITA");
    }

    #[test]
    fn english_words_for_the_same_instants() {
        let midnight = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).single().expect("valid");
        assert_eq!(long_time_en(midnight), "Monday, 30 November 2026 24:00 WITA");
        assert_eq!(short_time_en(midnight), "30 Nov 2026 24:00 WITA");
        let morning = Utc.with_ymd_and_hms(2026, 11, 30, 1, 30, 0).single().expect("valid");
        assert_eq!(long_time_en(morning), "Monday, 30 November 2026 09:30 WITA");
        // New Year's Eve midnight stays in the old year; a Sunday-to-Monday midnight is Sunday.
        let new_year = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).single().expect("valid");
        assert_eq!(long_time_en(new_year), "Thursday, 31 December 2026 24:00 WITA");
        assert_eq!(long_time(new_year), "Kamis, 31 Desember 2026 24:00 WITA");
        assert_eq!(short_time_en(new_year), "31 Dec 2026 24:00 WITA");
        assert_eq!(stage_words_en("follow_up"), "follow-up");
        assert_eq!(stage_words_en("reply_window"), "reporter response");
        assert_eq!(stage_words_en("custom_stage"), "custom_stage");
    }
}
