//! The period a figure covers, checked once for every caller.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use prost_types::Timestamp;

/// Kalimantan Selatan's time zone (UTC+8, no daylight saving): days and weeks start at
/// midnight here.
pub const WITA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The instant a WITA calendar day starts, where every day, week and digest period begins.
pub fn wita_midnight(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    WITA.from_local_datetime(&midnight)
        .single()
        .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc))
}

/// The longest period a figure may cover.
pub const MAX_DAYS: i64 = 731;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    /// Inclusive; `None` = since the first complaint.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive; `None` = until now.
    pub to: Option<DateTime<Utc>>,
    /// Figures for the public: rahasia complaints are left out altogether, so no small
    /// count can point at one.
    pub public: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("{field}: not a valid timestamp")]
    Malformed { field: &'static str },
    #[error("to must be after from")]
    Reversed,
    #[error("the period may cover at most {MAX_DAYS} days")]
    TooLong,
}

impl PeriodError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            PeriodError::Malformed { field } => field,
            PeriodError::Reversed | PeriodError::TooLong => "to",
        }
    }
}

fn instant(at: Option<&Timestamp>, field: &'static str) -> Result<Option<DateTime<Utc>>, PeriodError> {
    let Some(at) = at else { return Ok(None) };
    // Years 2000..2200: anything else is a client bug, not a complaint period.
    if !(946_684_800..=7_258_118_400).contains(&at.seconds) || !(0..1_000_000_000).contains(&at.nanos) {
        return Err(PeriodError::Malformed { field });
    }
    DateTime::from_timestamp(at.seconds, at.nanos as u32)
        .map(Some)
        .ok_or(PeriodError::Malformed { field })
}

impl Period {
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, PeriodError> {
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                return Err(PeriodError::Reversed);
            }
            if (to - from).num_days() > MAX_DAYS {
                return Err(PeriodError::TooLong);
            }
        }
        Ok(Period {
            from,
            to,
            public: false,
        })
    }

    pub fn from_proto(from: Option<&Timestamp>, to: Option<&Timestamp>) -> Result<Self, PeriodError> {
        Period::new(instant(from, "from")?, instant(to, "to")?)
    }

    /// The same period for the public page.
    pub fn public(self) -> Self {
        Period { public: true, ..self }
    }

    /// The submission filter every figure applies, on parameters `$1` (from) and `$2` (to).
    pub(crate) fn filter(&self) -> String {
        let bounds =
            "($1::timestamptz IS NULL OR submitted_at >= $1) AND ($2::timestamptz IS NULL OR submitted_at < $2)";
        if self.public {
            format!("{bounds} AND NOT rahasia")
        } else {
            bounds.to_owned()
        }
    }

    /// Both ends, for SQL: `($1::timestamptz IS NULL OR submitted_at >= $1) AND ...`.
    pub(crate) fn values(&self) -> Vec<sea_orm::Value> {
        vec![self.from.into(), self.to.into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn checks_order_length_and_range() {
        let day = 86_400;
        let start = 1_790_000_000;
        assert!(Period::from_proto(Some(&ts(start)), Some(&ts(start + day))).is_ok());
        assert_eq!(
            Period::from_proto(Some(&ts(start)), Some(&ts(start))),
            Err(PeriodError::Reversed)
        );
        assert_eq!(
            Period::from_proto(Some(&ts(start)), Some(&ts(start + 800 * day))),
            Err(PeriodError::TooLong)
        );
        assert_eq!(
            Period::from_proto(Some(&ts(-5)), None),
            Err(PeriodError::Malformed { field: "from" })
        );
        let bad_nanos = Timestamp {
            seconds: start,
            nanos: -1,
        };
        assert_eq!(
            Period::from_proto(None, Some(&bad_nanos)),
            Err(PeriodError::Malformed { field: "to" })
        );
        assert_eq!(Period::from_proto(None, None), Ok(Period::default()));
    }
}
