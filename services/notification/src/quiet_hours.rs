//! Quiet hours: a non-urgent SMS that would reach a phone at night waits until the window
//! ends. Windows are WITA wall-clock minutes (Kalsel's zone) and may wrap midnight
//! (21:00–06:00). E-mail is never held: it waits in the mailbox by itself.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use lapor_domain::calendar::Zone;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietWindow {
    /// Minutes after local midnight.
    pub start: u16,
    pub end: u16,
}

impl QuietWindow {
    /// "21:00" and "06:00"; equal ends mean no quiet hours.
    pub fn parse(start: &str, end: &str) -> Result<QuietWindow, String> {
        Ok(QuietWindow {
            start: minutes(start)?,
            end: minutes(end)?,
        })
    }

    pub fn from_minutes(start: i16, end: i16) -> Option<QuietWindow> {
        let valid = |m: i16| u16::try_from(m).ok().filter(|m| *m < 24 * 60);
        Some(QuietWindow {
            start: valid(start)?,
            end: valid(end)?,
        })
    }

    fn contains(self, minute: u16) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// `now` if it is outside the window, else the window's end.
    pub fn next_allowed(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&Zone::Wita.offset());
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
        if !self.contains(minute) {
            return now;
        }
        let end_time =
            NaiveTime::from_hms_opt(u32::from(self.end / 60), u32::from(self.end % 60), 0).unwrap_or(NaiveTime::MIN);
        let mut end_date = local.date_naive();
        if minute >= self.end {
            end_date += Duration::days(1);
        }
        end_date
            .and_time(end_time)
            .and_local_timezone(Zone::Wita.offset())
            .single()
            .map_or(now, |end| end.with_timezone(&Utc))
    }
}

fn minutes(clock: &str) -> Result<u16, String> {
    let time = NaiveTime::parse_from_str(clock.trim(), "%H:%M").map_err(|_| format!("{clock:?} is not HH:MM"))?;
    Ok(u16::try_from(time.hour() * 60 + time.minute()).unwrap_or(0))
}

#[derive(Debug, Clone, Deserialize)]
pub struct QuietHoursSettings {
    /// Default window for people without their own, "HH:MM" WITA.
    pub start: String,
    pub end: String,
    /// Escalation levels whose SMS goes out at any hour.
    #[serde(default)]
    pub urgent_levels: Vec<String>,
}

impl QuietHoursSettings {
    pub fn default_window(&self) -> Result<QuietWindow, String> {
        QuietWindow::parse(&self.start, &self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn wita(h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-30 in WITA = UTC+8.
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).single().expect("valid")
            + Duration::hours(i64::from(h) - 8)
            + Duration::minutes(i64::from(m))
    }

    #[test]
    fn a_night_window_wraps_midnight() {
        let night = QuietWindow::parse("21:00", "06:00").expect("valid");
        assert_eq!(night.next_allowed(wita(14, 0)), wita(14, 0));
        assert_eq!(
            night.next_allowed(wita(21, 0)),
            wita(30, 0),
            "held until 06:00 next day"
        );
        assert_eq!(night.next_allowed(wita(23, 59)), wita(30, 0));
        assert_eq!(
            night.next_allowed(wita(2, 15)),
            wita(6, 0),
            "after midnight: 06:00 the same day"
        );
        assert_eq!(night.next_allowed(wita(6, 0)), wita(6, 0));
    }

    #[test]
    fn a_daytime_window_and_an_empty_one() {
        let lunch = QuietWindow::parse("12:00", "13:00").expect("valid");
        assert_eq!(lunch.next_allowed(wita(12, 30)), wita(13, 0));
        assert_eq!(lunch.next_allowed(wita(13, 0)), wita(13, 0));
        let none = QuietWindow::parse("00:00", "00:00").expect("valid");
        assert_eq!(none.next_allowed(wita(3, 0)), wita(3, 0));
    }

    #[test]
    fn bad_clocks_are_refused() {
        assert!(QuietWindow::parse("25:00", "06:00").is_err());
        assert!(QuietWindow::parse("21.00", "06:00").is_err());
        assert!(QuietWindow::from_minutes(-1, 60).is_none());
        assert!(QuietWindow::from_minutes(0, 1440).is_none());
    }
}
