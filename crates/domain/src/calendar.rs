//! Working-day SLA calendar (DESIGN §2; domain reference (e)).
//!
//! LAPOR deadlines are counted in working days. A date is a working day when the SKPD's work
//! week includes its weekday and no applicable holiday falls on it. Holidays come from the
//! yearly SKB 3 Menteri (libur nasional, cuti bersama) and from regional decrees (libur daerah),
//! seeded from `deploy/seed/holidays/*.toml` and later maintained by an admin in the database.
//!
//! Conventions — every deadline in the system depends on them, so they are fixed here:
//! - **Local time.** Dates are read in the SKPD's zone: WIB (UTC+7), WITA (UTC+8, Kalsel) or
//!   WIT (UTC+9). Indonesia has no DST, so these are fixed offsets. A complaint received at
//!   23:30 WITA on Monday was received on Monday, although it is 15:30 UTC.
//! - **The day of receipt is not counted.** Counting starts with the next working day, also
//!   when the complaint arrives on a weekend or holiday.
//! - **A deadline is the end of the N-th working day**: local midnight at the start of the next
//!   calendar day, returned in UTC. The instant is exclusive; a case is breached once
//!   `now >= deadline`.
//! - **Working time is whole local days.** Office hours (jam kerja) are not modelled: a working
//!   day counts as 24 hours of SLA time, holidays and days outside the work week as none.
//!   Fractions of an SLA (the 75% reminder) interpolate linearly within that 24-hour day.
//! - **Validated inputs.** SLAs must be 1..=365 working days and receipts must fall in the years
//!   2000..=2100 (the range the holiday table may cover), so every loop below ends quickly.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Offset, TimeDelta, Utc, Weekday};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// First and last year a holiday (or a receipt) may fall in.
pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;
/// Longest SLA accepted; anything longer is a configuration mistake, not a policy.
pub const MAX_SLA_WORKING_DAYS: u32 = 365;

const MAX_NAME_LEN: usize = 200;
const MAX_DECREE_LEN: usize = 400;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("failed to read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("failed to parse holiday file {path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("no *.toml holiday files in {0}")]
    NoHolidayFiles(String),
    #[error("invalid holiday ({location}): {reason}")]
    InvalidHoliday { location: String, reason: String },
    #[error("duplicate holiday on {date} for scope {scope}: {first} and {second}")]
    DuplicateHoliday {
        date: NaiveDate,
        scope: String,
        first: String,
        second: String,
    },
    #[error("date {0} is outside the supported years {min}-{max}", min = MIN_YEAR, max = MAX_YEAR)]
    DateOutOfRange(NaiveDate),
    #[error(
        "unknown time zone {0:?}: expected WIB, WITA, WIT, Asia/Jakarta, Asia/Pontianak, Asia/Makassar or Asia/Jayapura"
    )]
    UnknownZone(String),
    #[error("absurd sla of {0} working days: must be between 1 and {max}", max = MAX_SLA_WORKING_DAYS)]
    AbsurdSla(u32),
    #[error("sla fraction {0} must be greater than 0 and at most 1")]
    BadFraction(f64),
}

// ---------------------------------------------------------------------------------------------
// Holidays
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HolidayKind {
    LiburNasional,
    CutiBersama,
    LiburDaerah,
}

impl HolidayKind {
    pub const ALL: [HolidayKind; 3] = [
        HolidayKind::LiburNasional,
        HolidayKind::CutiBersama,
        HolidayKind::LiburDaerah,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HolidayKind::LiburNasional => "libur_nasional",
            HolidayKind::CutiBersama => "cuti_bersama",
            HolidayKind::LiburDaerah => "libur_daerah",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a holiday applies: the whole country, or one kabupaten/kota by its Kemendagri code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HolidayScope {
    National,
    Kabupaten(String),
}

impl HolidayScope {
    /// `"national"` or a four-digit kabupaten/kota code such as `"6371"` (Kota Banjarmasin).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "national" {
            Ok(HolidayScope::National)
        } else if is_kabupaten_code(text) {
            Ok(HolidayScope::Kabupaten(text.to_owned()))
        } else {
            Err(format!(
                "scope {text:?} must be \"national\" or a four-digit kabupaten/kota code"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            HolidayScope::National => "national",
            HolidayScope::Kabupaten(code) => code,
        }
    }

    fn applies_to(&self, kabupaten: Option<&str>) -> bool {
        match self {
            HolidayScope::National => true,
            HolidayScope::Kabupaten(code) => kabupaten == Some(code.as_str()),
        }
    }
}

impl fmt::Display for HolidayScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_kabupaten_code(text: &str) -> bool {
    text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub kind: HolidayKind,
    pub name: String,
    /// The decree that sets the day (SKB number, Keppres, bupati decree), or a
    /// `provisional: …` note naming the source when the decree is not out yet.
    pub decree: String,
    pub scope: HolidayScope,
}

/// Checks everything about one holiday except its date range and duplicates.
fn check_holiday_fields(holiday: &Holiday) -> Result<(), String> {
    check_text("name", &holiday.name, MAX_NAME_LEN)?;
    check_text("decree", &holiday.decree, MAX_DECREE_LEN)?;
    // Libur daerah exist only by a regional decree; SKB days are national by definition.
    match (holiday.kind, &holiday.scope) {
        (HolidayKind::LiburDaerah, HolidayScope::National) => {
            Err("libur_daerah needs a kabupaten/kota scope, not \"national\"".into())
        }
        (HolidayKind::LiburNasional | HolidayKind::CutiBersama, HolidayScope::Kabupaten(code)) => Err(format!(
            "{} must have scope \"national\", not {code:?}",
            holiday.kind.as_str()
        )),
        _ => Ok(()),
    }
}

fn check_text(field: &str, value: &str, max_len: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max_len {
        return Err(format!("{field} is longer than {max_len} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

fn check_year(date: NaiveDate) -> Result<(), CalendarError> {
    if (MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        Ok(())
    } else {
        Err(CalendarError::DateOutOfRange(date))
    }
}

/// Validates a holiday an admin wants to add: well-formed, within 2000–2100, and not on the
/// same date and scope as an existing one. Two events on one day (it happened: 13 May 2021 was
/// both Kenaikan Isa Almasih and Idul Fitri) belong in one row with a combined name.
pub fn validate_new_holiday(existing: &[Holiday], new: &Holiday) -> Result<(), CalendarError> {
    check_year(new.date)?;
    check_holiday_fields(new).map_err(|reason| CalendarError::InvalidHoliday {
        location: "new holiday".into(),
        reason,
    })?;
    match existing.iter().find(|h| h.date == new.date && h.scope == new.scope) {
        Some(clash) => Err(duplicate(new, &clash.name, &new.name)),
        None => Ok(()),
    }
}

fn duplicate(holiday: &Holiday, first: &str, second: &str) -> CalendarError {
    CalendarError::DuplicateHoliday {
        date: holiday.date,
        scope: holiday.scope.to_string(),
        first: first.to_owned(),
        second: second.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Seed files
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

/// Strings on purpose: converting by hand lets errors name the file and row.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: String,
    kind: String,
    name: String,
    decree: String,
    scope: String,
}

/// Reads every `*.toml` file in `dir` (e.g. `deploy/seed/holidays`), in name order, and
/// rejects malformed rows and duplicates (same date and scope, also across files). A file
/// named after a year (`2026.toml`) may only hold dates of that year. The result is sorted
/// by date, then scope.
pub fn load_holidays(dir: &Path) -> Result<Vec<Holiday>, CalendarError> {
    let files = holiday_files(dir)?;
    let mut loaded: Vec<(Holiday, String)> = Vec::new();
    for path in &files {
        loaded.extend(load_file(path)?);
    }
    check_no_duplicates(&loaded)?;
    let mut holidays: Vec<Holiday> = loaded.into_iter().map(|(holiday, _)| holiday).collect();
    holidays.sort_by(|a, b| (a.date, &a.scope).cmp(&(b.date, &b.scope)));
    Ok(holidays)
}

fn holiday_files(dir: &Path) -> Result<Vec<PathBuf>, CalendarError> {
    let io_error = |source| CalendarError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
    // An empty table would silently turn every holiday into a working day.
    if files.is_empty() {
        return Err(CalendarError::NoHolidayFiles(dir.display().to_string()));
    }
    files.sort();
    Ok(files)
}

/// One file's holidays, each with a `file row N` location for error messages.
fn load_file(path: &Path) -> Result<Vec<(Holiday, String)>, CalendarError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io {
        path: shown.clone(),
        source,
    })?;
    let file: HolidayFile = toml::from_str(&text).map_err(|source| CalendarError::Parse {
        path: shown.clone(),
        source: Box::new(source),
    })?;
    let file_year = year_of_file(path);
    let mut rows = Vec::with_capacity(file.holiday.len());
    for (index, raw) in file.holiday.into_iter().enumerate() {
        let location = format!("{shown} row {}", index + 1);
        let holiday = convert_row(raw, file_year).map_err(|reason| CalendarError::InvalidHoliday {
            location: location.clone(),
            reason,
        })?;
        rows.push((holiday, location));
    }
    Ok(rows)
}

fn year_of_file(path: &Path) -> Option<i32> {
    let stem = path.file_stem()?.to_str()?;
    if stem.len() == 4 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

fn convert_row(raw: RawHoliday, file_year: Option<i32>) -> Result<Holiday, String> {
    let date = NaiveDate::parse_from_str(&raw.date, "%Y-%m-%d")
        .map_err(|_| format!("date {:?} is not a valid YYYY-MM-DD date", raw.date))?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        return Err(format!(
            "date {date} is outside the supported years {MIN_YEAR}-{MAX_YEAR}"
        ));
    }
    if let Some(year) = file_year
        && date.year() != year
    {
        return Err(format!("date {date} does not belong in the file for {year}"));
    }
    let kind = HolidayKind::parse(&raw.kind).ok_or_else(|| {
        format!(
            "kind {:?} must be libur_nasional, cuti_bersama or libur_daerah",
            raw.kind
        )
    })?;
    let holiday = Holiday {
        date,
        kind,
        name: raw.name,
        decree: raw.decree,
        scope: HolidayScope::parse(&raw.scope)?,
    };
    check_holiday_fields(&holiday)?;
    Ok(holiday)
}

fn check_no_duplicates(loaded: &[(Holiday, String)]) -> Result<(), CalendarError> {
    let mut seen: HashMap<(NaiveDate, &HolidayScope), &str> = HashMap::new();
    for (holiday, location) in loaded {
        if let Some(first) = seen.insert((holiday.date, &holiday.scope), location) {
            return Err(duplicate(holiday, first, location));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkWeek {
    /// Monday to Friday.
    FiveDay,
    /// Monday to Saturday.
    SixDay,
}

impl WorkWeek {
    pub fn includes(self, weekday: Weekday) -> bool {
        match weekday {
            Weekday::Sun => false,
            Weekday::Sat => self == WorkWeek::SixDay,
            _ => true,
        }
    }
}

/// Indonesian time zones. Fixed offsets: Indonesia has no daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// Waktu Indonesia Barat, UTC+7.
    Wib,
    /// Waktu Indonesia Tengah, UTC+8 (Kalimantan Selatan).
    Wita,
    /// Waktu Indonesia Timur, UTC+9.
    Wit,
}

impl Zone {
    /// Accepts `WIB`/`WITA`/`WIT` (any case) and the IANA names Asia/Jakarta, Asia/Pontianak,
    /// Asia/Makassar and Asia/Jayapura; anything else is an error rather than a silent UTC.
    pub fn parse(text: &str) -> Result<Zone, CalendarError> {
        match text {
            "Asia/Jakarta" | "Asia/Pontianak" => Ok(Zone::Wib),
            "Asia/Makassar" => Ok(Zone::Wita),
            "Asia/Jayapura" => Ok(Zone::Wit),
            _ if text.eq_ignore_ascii_case("WIB") => Ok(Zone::Wib),
            _ if text.eq_ignore_ascii_case("WITA") => Ok(Zone::Wita),
            _ if text.eq_ignore_ascii_case("WIT") => Ok(Zone::Wit),
            _ => Err(CalendarError::UnknownZone(text.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Wib => "WIB",
            Zone::Wita => "WITA",
            Zone::Wit => "WIT",
        }
    }

    pub fn offset_seconds(self) -> i32 {
        match self {
            Zone::Wib => 7 * 3600,
            Zone::Wita => 8 * 3600,
            Zone::Wit => 9 * 3600,
        }
    }

    pub fn offset(self) -> FixedOffset {
        // The three offsets are valid constants; the fallback only satisfies the type.
        FixedOffset::east_opt(self.offset_seconds()).unwrap_or_else(|| Utc.fix())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarPolicy {
    /// Cuti bersama is leave, not a holiday, and frontline units may be staffed on those days;
    /// ordinary office SLAs pause on them, so the default is `true`.
    pub cuti_bersama_stops_clock: bool,
    pub work_week: WorkWeek,
    pub zone: Zone,
}

impl Default for CalendarPolicy {
    /// A Kalsel office: five-day week, WITA, cuti bersama stops the clock.
    fn default() -> Self {
        CalendarPolicy {
            cuti_bersama_stops_clock: true,
            work_week: WorkWeek::FiveDay,
            zone: Zone::Wita,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The calendar
// ---------------------------------------------------------------------------------------------

/// The working days of one SKPD: its policy plus the holidays that apply to it.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    policy: CalendarPolicy,
    days_off: HashSet<NaiveDate>,
}

impl WorkingCalendar {
    /// Applies national holidays always, cuti bersama when the policy says it stops the clock,
    /// and libur daerah only when `kabupaten` (the SKPD's kabupaten/kota code) matches their
    /// scope; a provincial SKPD passes `None` and gets no libur daerah.
    pub fn new(holidays: &[Holiday], policy: CalendarPolicy, kabupaten: Option<&str>) -> Self {
        let days_off = holidays
            .iter()
            .filter(|h| h.kind != HolidayKind::CutiBersama || policy.cuti_bersama_stops_clock)
            .filter(|h| h.scope.applies_to(kabupaten))
            .map(|h| h.date)
            .collect();
        WorkingCalendar { policy, days_off }
    }

    pub fn policy(&self) -> &CalendarPolicy {
        &self.policy
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.policy.work_week.includes(date.weekday()) && !self.days_off.contains(&date)
    }

    /// The calendar date of `at` in the SKPD's zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        (at.naive_utc() + self.offset()).date()
    }

    /// The `n`-th working day after `from` (`from` itself is never counted); `n = 0` gives
    /// `from`. Fallible because `from` must lie in 2000–2100 and `n` in 0..=365.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        check_year(from)?;
        if n > MAX_SLA_WORKING_DAYS {
            return Err(CalendarError::AbsurdSla(n));
        }
        self.nth_working_day_after(from, n)
    }

    /// End of the `working_days`-th working day after the local day of receipt, in UTC
    /// (see the module documentation for the conventions).
    pub fn deadline(&self, received_at: DateTime<Utc>, working_days: u32) -> Result<DateTime<Utc>, CalendarError> {
        check_sla(working_days)?;
        let received = self.receipt_date(received_at)?;
        let last_day = self.nth_working_day_after(received, working_days)?;
        Ok(self.end_of_day(last_day))
    }

    /// The instant when `fraction` of the SLA's working time has passed. Whole working days
    /// land on the end of a working day (75% of 4 days = end of the 3rd working day); the rest
    /// interpolates within the next working day (75% of 5 days = 3.75 days = 18:00 local on
    /// the 4th working day). `fraction = 1.0` gives the deadline itself.
    pub fn reminder_at(
        &self,
        received_at: DateTime<Utc>,
        working_days: u32,
        fraction: f64,
    ) -> Result<DateTime<Utc>, CalendarError> {
        check_sla(working_days)?;
        check_fraction(fraction)?;
        let received = self.receipt_date(received_at)?;
        // Round to whole milliseconds first so 0.6 × 5 lands exactly on a day boundary.
        let target_ms = (fraction * f64::from(working_days) * DAY_MS as f64).round() as i64;
        let whole_days = (target_ms / DAY_MS) as u32;
        let rest_ms = target_ms % DAY_MS;
        if rest_ms == 0 {
            let day = self.nth_working_day_after(received, whole_days)?;
            return Ok(self.end_of_day(day));
        }
        let day = self.nth_working_day_after(received, whole_days + 1)?;
        Ok(self.start_of_day(day) + TimeDelta::milliseconds(rest_ms))
    }

    /// The end of the `n`-th working day after the day a `deadline` (from [`Self::deadline`])
    /// closed: "breach + 2 working days" on the escalation ladder.
    pub fn working_days_after_deadline(&self, deadline: DateTime<Utc>, n: u32) -> Result<DateTime<Utc>, CalendarError> {
        check_sla(n)?;
        // A deadline is local midnight starting the day after its last working day.
        let last_day = self.local_date(deadline) - TimeDelta::days(1);
        check_year(last_day)?;
        Ok(self.end_of_day(self.nth_working_day_after(last_day, n)?))
    }

    /// How much of the SLA's working time has passed at `now`, from 0.0 (clock not started)
    /// to 1.0 (deadline reached or passed). Time on non-working days does not count.
    pub fn fraction_elapsed(
        &self,
        received_at: DateTime<Utc>,
        working_days: u32,
        now: DateTime<Utc>,
    ) -> Result<f64, CalendarError> {
        let deadline = self.deadline(received_at, working_days)?;
        if now >= deadline {
            return Ok(1.0);
        }
        let first_counted = self.receipt_date(received_at)? + TimeDelta::days(1);
        if now <= self.start_of_day(first_counted) {
            return Ok(0.0);
        }
        let elapsed_ms = self.working_ms_between(first_counted, now);
        Ok(elapsed_ms as f64 / (f64::from(working_days) * DAY_MS as f64))
    }

    /// Working milliseconds from the start of `first` until `now`; `now` is before the
    /// deadline, so the loop covers at most the SLA's span.
    fn working_ms_between(&self, first: NaiveDate, now: DateTime<Utc>) -> i64 {
        let today = self.local_date(now);
        let mut total = 0;
        let mut day = first;
        while day < today {
            if self.is_working_day(day) {
                total += DAY_MS;
            }
            day += TimeDelta::days(1);
        }
        if self.is_working_day(today) {
            total += (now - self.start_of_day(today)).num_milliseconds();
        }
        total
    }

    /// Steps forward day by day. Terminates: the holiday set is finite and every week has
    /// working days, and callers keep `from` within 2000–2100 and `n` at most 365.
    fn nth_working_day_after(&self, from: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().ok_or(CalendarError::DateOutOfRange(day))?;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        Ok(day)
    }

    fn receipt_date(&self, received_at: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        let date = self.local_date(received_at);
        check_year(date)?;
        Ok(date)
    }

    fn offset(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.policy.zone.offset_seconds()))
    }

    /// Local midnight at the start of `date`, in UTC.
    fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        (date.and_time(NaiveTime::MIN) - self.offset()).and_utc()
    }

    /// Local midnight at the start of the day after `date`, in UTC.
    fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.start_of_day(date) + TimeDelta::days(1)
    }
}

fn check_sla(working_days: u32) -> Result<(), CalendarError> {
    if working_days == 0 || working_days > MAX_SLA_WORKING_DAYS {
        return Err(CalendarError::AbsurdSla(working_days));
    }
    Ok(())
}

fn check_fraction(fraction: f64) -> Result<(), CalendarError> {
    if fraction.is_finite() && fraction > 0.0 && fraction <= 1.0 {
        Ok(())
    } else {
        Err(CalendarError::BadFraction(fraction))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn holiday_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed/holidays")
    }

    fn seed() -> Vec<Holiday> {
        load_holidays(&holiday_dir()).expect("holiday seed loads")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// A local wall-clock time in `zone`, as UTC.
    fn at(zone: Zone, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        zone.offset()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("unambiguous local time")
            .with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid utc time")
    }

    /// The instant a deadline "end of `d` local" must equal.
    fn end_of(zone: Zone, y: i32, m: u32, d: u32) -> DateTime<Utc> {
        at(zone, y, m, d, 0, 0) + TimeDelta::days(1)
    }

    fn calendar(cuti_stops_clock: bool, work_week: WorkWeek, zone: Zone) -> WorkingCalendar {
        let policy = CalendarPolicy {
            cuti_bersama_stops_clock: cuti_stops_clock,
            work_week,
            zone,
        };
        WorkingCalendar::new(&seed(), policy, Some("6371"))
    }

    fn kalsel() -> WorkingCalendar {
        WorkingCalendar::new(&seed(), CalendarPolicy::default(), Some("6371"))
    }

    // --- seed data ------------------------------------------------------------------------

    const SKB_2025: &str = "SKB Menag, Menaker, MenPANRB No. 1017 Tahun 2024, No. 2 Tahun 2024, No. 2 Tahun 2024";
    const SKB_2025_AMENDMENT: &str = "SKB Menag, Menaker, MenPANRB No. 933 Tahun 2025";
    const SKB_2026: &str = "SKB Menag, Menaker, MenPANRB No. 1497 Tahun 2025, No. 2 Tahun 2025, No. 5 Tahun 2025";

    fn count(holidays: &[Holiday], year: i32, kind: HolidayKind, decree_prefix: &str) -> usize {
        holidays
            .iter()
            .filter(|h| h.date.year() == year && h.kind == kind && h.decree.starts_with(decree_prefix))
            .count()
    }

    #[test]
    fn seed_counts_match_the_decrees() {
        let holidays = seed();
        // 2025: SKB 1017/2/2 of 2024 sets 17 + 10; its August 2025 amendment adds 18 August.
        assert_eq!(count(&holidays, 2025, HolidayKind::LiburNasional, SKB_2025), 17);
        assert_eq!(count(&holidays, 2025, HolidayKind::CutiBersama, SKB_2025), 10);
        assert_eq!(count(&holidays, 2025, HolidayKind::CutiBersama, SKB_2025_AMENDMENT), 1);
        assert_eq!(count(&holidays, 2025, HolidayKind::CutiBersama, ""), 11);
        assert_eq!(count(&holidays, 2025, HolidayKind::LiburNasional, ""), 17);
        // 2026: SKB 1497/2/5 of 2025 sets 17 + 8.
        assert_eq!(count(&holidays, 2026, HolidayKind::LiburNasional, SKB_2026), 17);
        assert_eq!(count(&holidays, 2026, HolidayKind::CutiBersama, SKB_2026), 8);
        assert_eq!(holidays.iter().filter(|h| h.date.year() == 2026).count(), 25);
        // 2027: no SKB yet, so every row is provisional and there is no cuti bersama.
        let rows_2027: Vec<_> = holidays.iter().filter(|h| h.date.year() == 2027).collect();
        assert!(!rows_2027.is_empty());
        assert!(rows_2027.iter().all(|h| h.decree.starts_with("provisional: ")));
        assert_eq!(count(&holidays, 2027, HolidayKind::CutiBersama, ""), 0);
        // Nothing regional was sourced, so the seed holds only national rows.
        assert!(holidays.iter().all(|h| h.scope == HolidayScope::National));
    }

    #[test]
    fn seed_has_the_idul_fitri_1447_dates_confirmed_by_the_sidang_isbat() {
        let holidays = seed();
        let kind_on = |d: NaiveDate| holidays.iter().find(|h| h.date == d).map(|h| h.kind);
        assert_eq!(kind_on(date(2026, 3, 21)), Some(HolidayKind::LiburNasional));
        assert_eq!(kind_on(date(2026, 3, 22)), Some(HolidayKind::LiburNasional));
        for d in [date(2026, 3, 20), date(2026, 3, 23), date(2026, 3, 24)] {
            assert_eq!(kind_on(d), Some(HolidayKind::CutiBersama), "{d}");
        }
        assert_eq!(kind_on(date(2025, 8, 18)), Some(HolidayKind::CutiBersama));
    }

    // --- deadlines on real dates ----------------------------------------------------------

    #[test]
    fn idul_fitri_2026_with_cuti_bersama_stopping_the_clock() {
        let cal = kalsel();
        // Tuesday 17 March 2026: then cuti Nyepi (18), Nyepi (19), cuti (20), Idul Fitri on the
        // weekend (21-22), cuti (23-24). The first working day is Wednesday 25 March.
        let received = at(Zone::Wita, 2026, 3, 17, 10, 0);
        for day in 18..=24 {
            assert!(!cal.is_working_day(date(2026, 3, day)), "march {day}");
        }
        assert!(cal.is_working_day(date(2026, 3, 25)));
        let deadline = cal.deadline(received, 3).expect("deadline");
        assert_eq!(deadline, end_of(Zone::Wita, 2026, 3, 27));
        assert_eq!(deadline, utc(2026, 3, 27, 16, 0));
        let five = cal.deadline(received, 5).expect("deadline");
        assert_eq!(five, end_of(Zone::Wita, 2026, 3, 31));
    }

    #[test]
    fn idul_fitri_2026_with_cuti_bersama_counted_as_working_days() {
        let cal = calendar(false, WorkWeek::FiveDay, Zone::Wita);
        let received = at(Zone::Wita, 2026, 3, 17, 10, 0);
        // 18 (cuti, now working), 19 Nyepi off, 20 (cuti, working), weekend, 23 (cuti, working).
        assert_eq!(
            cal.deadline(received, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 3, 23)
        );
        assert_eq!(
            cal.deadline(received, 5).expect("deadline"),
            end_of(Zone::Wita, 2026, 3, 25)
        );
    }

    #[test]
    fn five_day_and_six_day_weeks() {
        let five = calendar(true, WorkWeek::FiveDay, Zone::Wita);
        let six = calendar(true, WorkWeek::SixDay, Zone::Wita);
        assert!(!five.is_working_day(date(2026, 3, 28)));
        assert!(six.is_working_day(date(2026, 3, 28)));
        assert!(!six.is_working_day(date(2026, 3, 29)));
        // Friday 27 March 2026, three working days.
        let received = at(Zone::Wita, 2026, 3, 27, 14, 0);
        assert_eq!(
            five.deadline(received, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 1)
        );
        assert_eq!(
            six.deadline(received, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 3, 31)
        );
        // Around Easter: Good Friday 3 April is off for both, Saturday 4 April only for five.
        let before_easter = at(Zone::Wita, 2026, 4, 2, 9, 0);
        assert_eq!(
            five.deadline(before_easter, 2).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 7)
        );
        assert_eq!(
            six.deadline(before_easter, 2).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 6)
        );
    }

    #[test]
    fn receipt_is_read_at_local_midnight_wib_versus_wita() {
        let wib = calendar(true, WorkWeek::FiveDay, Zone::Wib);
        let wita = kalsel();
        // 16:30 UTC on 6 April 2026 is Monday 23:30 WIB but already Tuesday 00:30 WITA.
        let instant = utc(2026, 4, 6, 16, 30);
        assert_eq!(wib.local_date(instant), date(2026, 4, 6));
        assert_eq!(wita.local_date(instant), date(2026, 4, 7));
        assert_eq!(
            wib.deadline(instant, 3).expect("deadline"),
            end_of(Zone::Wib, 2026, 4, 9)
        );
        assert_eq!(wib.deadline(instant, 3).expect("deadline"), utc(2026, 4, 9, 17, 0));
        assert_eq!(
            wita.deadline(instant, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 10)
        );
        assert_eq!(wita.deadline(instant, 3).expect("deadline"), utc(2026, 4, 10, 16, 0));
    }

    #[test]
    fn a_complaint_at_2330_wita_on_monday_counts_as_monday() {
        let cal = kalsel();
        let late_monday = at(Zone::Wita, 2026, 4, 6, 23, 30);
        assert_eq!(late_monday, utc(2026, 4, 6, 15, 30));
        assert_eq!(cal.local_date(late_monday), date(2026, 4, 6));
        assert_eq!(
            cal.deadline(late_monday, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 9)
        );
        // Thirty minutes later it is Tuesday, and the deadline moves by a day.
        let tuesday = at(Zone::Wita, 2026, 4, 7, 0, 0);
        assert_eq!(
            cal.deadline(tuesday, 3).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 10)
        );
    }

    #[test]
    fn a_complaint_on_a_weekend_starts_counting_on_monday() {
        let cal = kalsel();
        let saturday = at(Zone::Wita, 2026, 4, 4, 11, 0);
        let sunday = at(Zone::Wita, 2026, 4, 5, 20, 0);
        assert_eq!(
            cal.deadline(saturday, 1).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 6)
        );
        assert_eq!(
            cal.deadline(sunday, 1).expect("deadline"),
            end_of(Zone::Wita, 2026, 4, 6)
        );
    }

    #[test]
    fn libur_daerah_applies_only_to_its_kabupaten() {
        let mut holidays = seed();
        // Test fixture only: no Kalsel libur daerah could be sourced for the seed.
        holidays.push(Holiday {
            date: date(2026, 9, 23),
            kind: HolidayKind::LiburDaerah,
            name: "fixture: libur daerah for tests only".into(),
            decree: "fixture".into(),
            scope: HolidayScope::Kabupaten("6371".into()),
        });
        let policy = CalendarPolicy::default();
        let banjarmasin = WorkingCalendar::new(&holidays, policy, Some("6371"));
        let banjar = WorkingCalendar::new(&holidays, policy, Some("6303"));
        let provincial = WorkingCalendar::new(&holidays, policy, None);
        let day = date(2026, 9, 23);
        assert!(!banjarmasin.is_working_day(day));
        assert!(banjar.is_working_day(day));
        assert!(provincial.is_working_day(day));
        let received = at(Zone::Wita, 2026, 9, 22, 10, 0);
        assert_eq!(
            banjarmasin.deadline(received, 1).expect("deadline"),
            end_of(Zone::Wita, 2026, 9, 24)
        );
        assert_eq!(
            banjar.deadline(received, 1).expect("deadline"),
            end_of(Zone::Wita, 2026, 9, 23)
        );
    }

    #[test]
    fn lapor_default_slas_of_3_5_and_10_working_days() {
        // Tuesday 12 May 2026. Off in the window: Kenaikan 14, cuti 15, Idul Adha 27, cuti 28,
        // Waisak on Sunday 31, Pancasila on Monday 1 June.
        let received = at(Zone::Wita, 2026, 5, 12, 9, 0);
        let cal = kalsel();
        let verification = cal.deadline(received, 3).expect("deadline");
        let follow_up = cal.deadline(received, 5).expect("deadline");
        let auto_close = cal.deadline(received, 10).expect("deadline");
        assert_eq!(verification, end_of(Zone::Wita, 2026, 5, 19));
        assert_eq!(follow_up, end_of(Zone::Wita, 2026, 5, 21));
        assert_eq!(auto_close, end_of(Zone::Wita, 2026, 6, 2));
        let without_cuti = calendar(false, WorkWeek::FiveDay, Zone::Wita);
        assert_eq!(
            without_cuti.deadline(received, 10).expect("deadline"),
            end_of(Zone::Wita, 2026, 5, 28)
        );
    }

    #[test]
    fn add_working_days_skips_holidays_and_never_counts_the_start() {
        let cal = kalsel();
        assert_eq!(
            cal.add_working_days(date(2026, 3, 17), 0).expect("ok"),
            date(2026, 3, 17)
        );
        assert_eq!(
            cal.add_working_days(date(2026, 3, 17), 1).expect("ok"),
            date(2026, 3, 25)
        );
        // Across the year boundary: 24 Dec cuti, 25 Dec Natal, weekend, 1 Jan 2027 Friday.
        assert_eq!(
            cal.add_working_days(date(2026, 12, 23), 1).expect("ok"),
            date(2026, 12, 28)
        );
        assert_eq!(
            cal.add_working_days(date(2026, 12, 31), 1).expect("ok"),
            date(2027, 1, 4)
        );
        assert!(matches!(
            cal.add_working_days(date(2026, 3, 17), 366),
            Err(CalendarError::AbsurdSla(366))
        ));
        assert!(matches!(
            cal.add_working_days(date(1999, 12, 31), 1),
            Err(CalendarError::DateOutOfRange(_))
        ));
    }

    // --- reminders ------------------------------------------------------------------------

    #[test]
    fn reminder_at_75_percent_counts_only_working_time() {
        let cal = kalsel();
        let received = at(Zone::Wita, 2026, 5, 12, 9, 0);
        // 75% of 4 = 3 whole working days: the end of the 3rd (19 May).
        assert_eq!(
            cal.reminder_at(received, 4, 0.75).expect("reminder"),
            end_of(Zone::Wita, 2026, 5, 19)
        );
        // 75% of 5 = 3.75: 18:00 local on the 4th working day (20 May).
        assert_eq!(
            cal.reminder_at(received, 5, 0.75).expect("reminder"),
            at(Zone::Wita, 2026, 5, 20, 18, 0)
        );
        // 75% of 10 = 7.5: noon on the 8th working day (26 May), past Kenaikan and its cuti.
        assert_eq!(
            cal.reminder_at(received, 10, 0.75).expect("reminder"),
            at(Zone::Wita, 2026, 5, 26, 12, 0)
        );
        // 60% of 5 is exactly 3 days despite 0.6 not being exact in binary.
        assert_eq!(
            cal.reminder_at(received, 5, 0.6).expect("reminder"),
            end_of(Zone::Wita, 2026, 5, 19)
        );
        for n in [3, 5, 10] {
            assert_eq!(
                cal.reminder_at(received, n, 1.0).expect("reminder"),
                cal.deadline(received, n).expect("deadline")
            );
        }
    }

    #[test]
    fn reminder_rejects_fractions_outside_zero_to_one() {
        let cal = kalsel();
        let received = at(Zone::Wita, 2026, 5, 12, 9, 0);
        for fraction in [0.0, -0.25, 1.01, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    cal.reminder_at(received, 5, fraction),
                    Err(CalendarError::BadFraction(_))
                ),
                "{fraction}"
            );
        }
        assert!(matches!(
            cal.reminder_at(received, 0, 0.75),
            Err(CalendarError::AbsurdSla(0))
        ));
    }

    #[test]
    fn fraction_elapsed_pauses_on_holidays() {
        let cal = kalsel();
        let received = at(Zone::Wita, 2026, 5, 12, 9, 0);
        let elapsed = |now| cal.fraction_elapsed(received, 10, now).expect("fraction");
        assert_eq!(elapsed(received), 0.0);
        assert_eq!(elapsed(at(Zone::Wita, 2026, 5, 13, 0, 0)), 0.0);
        assert!((elapsed(at(Zone::Wita, 2026, 5, 13, 12, 0)) - 0.05).abs() < 1e-9);
        // 13 May is the only working day before Kenaikan and its cuti: frozen at 10%.
        assert!((elapsed(at(Zone::Wita, 2026, 5, 14, 10, 0)) - 0.1).abs() < 1e-9);
        assert!((elapsed(at(Zone::Wita, 2026, 5, 17, 20, 0)) - 0.1).abs() < 1e-9);
        let reminder = cal.reminder_at(received, 10, 0.75).expect("reminder");
        assert!((elapsed(reminder) - 0.75).abs() < 1e-9);
        let deadline = cal.deadline(received, 10).expect("deadline");
        assert!(elapsed(deadline - TimeDelta::milliseconds(1)) < 1.0);
        assert_eq!(elapsed(deadline), 1.0);
        assert_eq!(elapsed(deadline + TimeDelta::days(30)), 1.0);
    }

    // --- bad input ------------------------------------------------------------------------

    #[test]
    fn zones_parse_from_names_and_iana_ids_only() {
        for (text, zone, hours) in [
            ("WIB", Zone::Wib, 7),
            ("wita", Zone::Wita, 8),
            ("WIT", Zone::Wit, 9),
            ("Asia/Jakarta", Zone::Wib, 7),
            ("Asia/Pontianak", Zone::Wib, 7),
            ("Asia/Makassar", Zone::Wita, 8),
            ("Asia/Jayapura", Zone::Wit, 9),
        ] {
            let parsed = Zone::parse(text).expect(text);
            assert_eq!(parsed, zone);
            assert_eq!(parsed.offset().local_minus_utc(), hours * 3600);
        }
        for text in ["", "UTC", "Asia/Singapore", "asia/makassar", " WITA", "WITA+1", "GMT+8"] {
            let err = Zone::parse(text).expect_err(text);
            assert!(matches!(err, CalendarError::UnknownZone(_)), "{text}");
            assert!(err.to_string().starts_with("unknown time zone"));
        }
    }

    #[test]
    fn absurd_slas_are_rejected() {
        let cal = kalsel();
        let received = at(Zone::Wita, 2026, 5, 12, 9, 0);
        for n in [0, 366, 10_000, u32::MAX] {
            let err = cal.deadline(received, n).expect_err("absurd");
            assert!(matches!(err, CalendarError::AbsurdSla(m) if m == n));
            assert!(err.to_string().starts_with("absurd sla"));
        }
        assert!(cal.deadline(received, 365).is_ok());
        let too_early = utc(1999, 6, 1, 0, 0);
        assert!(matches!(
            cal.deadline(too_early, 3),
            Err(CalendarError::DateOutOfRange(_))
        ));
    }

    fn national(d: NaiveDate, name: &str) -> Holiday {
        Holiday {
            date: d,
            kind: HolidayKind::LiburNasional,
            name: name.into(),
            decree: "test decree".into(),
            scope: HolidayScope::National,
        }
    }

    #[test]
    fn validate_new_holiday_rejects_overlaps_and_odd_dates() {
        let existing = seed();
        let clash = national(date(2026, 3, 21), "another holiday");
        let err = validate_new_holiday(&existing, &clash).expect_err("duplicate");
        assert!(matches!(err, CalendarError::DuplicateHoliday { .. }));
        assert!(
            err.to_string()
                .starts_with("duplicate holiday on 2026-03-21 for scope national")
        );
        // Same date in a kabupaten scope is a different row.
        let regional = Holiday {
            kind: HolidayKind::LiburDaerah,
            scope: HolidayScope::Kabupaten("6371".into()),
            ..clash.clone()
        };
        assert!(validate_new_holiday(&existing, &regional).is_ok());
        for d in [date(1999, 12, 31), date(2101, 1, 1)] {
            let err = validate_new_holiday(&existing, &national(d, "too far")).expect_err("range");
            assert!(matches!(err, CalendarError::DateOutOfRange(_)), "{d}");
        }
        assert!(validate_new_holiday(&existing, &national(date(2100, 12, 31), "last")).is_ok());
        assert!(validate_new_holiday(&existing, &national(date(2000, 1, 3), "first")).is_ok());
        let nameless = national(date(2027, 7, 1), "  ");
        assert!(matches!(
            validate_new_holiday(&existing, &nameless),
            Err(CalendarError::InvalidHoliday { .. })
        ));
        let national_daerah = Holiday {
            kind: HolidayKind::LiburDaerah,
            ..national(date(2027, 7, 1), "x")
        };
        assert!(matches!(
            validate_new_holiday(&existing, &national_daerah),
            Err(CalendarError::InvalidHoliday { .. })
        ));
    }

    /// A scratch directory holding the given files, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str, files: &[(&str, &str)]) -> Scratch {
            let dir = std::env::temp_dir().join(format!("lapor-calendar-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            for (name, text) in files {
                std::fs::write(dir.join(name), text).expect("write scratch file");
            }
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn row(date: &str, kind: &str, scope: &str) -> String {
        format!(
            "[[holiday]]\ndate = \"{date}\"\nkind = \"{kind}\"\nname = \"x\"\ndecree = \"d\"\nscope = \"{scope}\"\n"
        )
    }

    #[test]
    fn loader_rejects_duplicates_across_files() {
        let a = row("2026-08-17", "libur_nasional", "national");
        let b = row("2026-08-17", "cuti_bersama", "national");
        let scratch = Scratch::new("dup", &[("a.toml", &a), ("b.toml", &b), ("notes.txt", "ignored")]);
        let err = load_holidays(&scratch.0).expect_err("duplicate");
        let message = err.to_string();
        assert!(matches!(err, CalendarError::DuplicateHoliday { .. }));
        assert!(
            message.contains("a.toml row 1") && message.contains("b.toml row 1"),
            "{message}"
        );
    }

    #[test]
    fn loader_accepts_the_same_date_in_different_scopes() {
        let text = row("2026-09-23", "libur_daerah", "6371") + &row("2026-09-23", "libur_daerah", "6303");
        let scratch = Scratch::new("scopes", &[("2026.toml", &text)]);
        let holidays = load_holidays(&scratch.0).expect("loads");
        assert_eq!(holidays.len(), 2);
        assert_eq!(holidays[0].scope, HolidayScope::Kabupaten("6303".into()));
    }

    #[test]
    fn loader_rejects_malformed_rows_with_their_location() {
        let cases = [
            ("bad-kind", row("2026-01-01", "libur", "national"), "kind \"libur\""),
            (
                "bad-date",
                row("2026-02-30", "libur_nasional", "national"),
                "not a valid",
            ),
            (
                "bad-scope",
                row("2026-01-01", "libur_daerah", "banjarmasin"),
                "scope \"banjarmasin\"",
            ),
            (
                "daerah-national",
                row("2026-01-01", "libur_daerah", "national"),
                "needs a kabupaten",
            ),
            (
                "cuti-regional",
                row("2026-01-01", "cuti_bersama", "6371"),
                "must have scope",
            ),
            (
                "wrong-year",
                row("2025-01-01", "libur_nasional", "national"),
                "file for 2026",
            ),
            (
                "too-late",
                row("2101-01-01", "libur_nasional", "national"),
                "outside the supported",
            ),
        ];
        for (test, text, expected) in cases {
            let name = if test == "too-late" { "x.toml" } else { "2026.toml" };
            let scratch = Scratch::new(test, &[(name, &text)]);
            let err = load_holidays(&scratch.0).expect_err(test);
            let message = err.to_string();
            assert!(matches!(err, CalendarError::InvalidHoliday { .. }), "{test}: {message}");
            assert!(
                message.contains("row 1") && message.contains(expected),
                "{test}: {message}"
            );
        }
    }

    #[test]
    fn loader_rejects_unparseable_files_and_empty_directories() {
        let unknown_field = row("2026-01-01", "libur_nasional", "national") + "note = \"extra\"\n";
        let missing_decree =
            "[[holiday]]\ndate = \"2026-01-01\"\nkind = \"libur_nasional\"\nname = \"x\"\nscope = \"national\"\n";
        for (test, text) in [("unknown-field", unknown_field.as_str()), ("missing", missing_decree)] {
            let scratch = Scratch::new(test, &[("2026.toml", text)]);
            let err = load_holidays(&scratch.0).expect_err(test);
            assert!(matches!(err, CalendarError::Parse { .. }), "{test}: {err}");
        }
        let empty = Scratch::new("empty", &[("readme.md", "no holidays here")]);
        assert!(matches!(load_holidays(&empty.0), Err(CalendarError::NoHolidayFiles(_))));
        let missing_dir = empty.0.join("nope");
        assert!(matches!(load_holidays(&missing_dir), Err(CalendarError::Io { .. })));
    }
}
