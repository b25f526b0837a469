//! Volumes over time by one dimension, in WITA days, ISO weeks or months.

use super::period::{Period, WITA, wita_midnight};
use super::{count, rows};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use lapor_messaging::envelope::to_timestamp;
use lapor_proto::analytics::v1::{Dimension, Granularity, TrendPoint, Trends};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;

/// More buckets than this is not a chart anyone can read, and not a query to run on demand.
pub const MAX_BUCKETS: usize = 400;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrendError {
    #[error("dimension: unknown value {0}")]
    Dimension(i32),
    #[error("granularity: unknown value {0}")]
    Granularity(i32),
    #[error("from: the period spans {0} buckets; at most {MAX_BUCKETS} are allowed")]
    TooManyBuckets(usize),
}

impl TrendError {
    pub fn field(&self) -> &'static str {
        match self {
            TrendError::Dimension(_) => "dimension",
            TrendError::Granularity(_) => "granularity",
            TrendError::TooManyBuckets(_) => "from",
        }
    }
}

/// A checked trend request: known dimension and granularity, buckets aligned and bounded.
#[derive(Debug, Clone)]
pub struct TrendQuery {
    pub dimension: Dimension,
    pub granularity: Granularity,
    /// Bucket starts in order; the last bucket ends at `to`.
    buckets: Vec<DateTime<Utc>>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Leave rahasia complaints out (the public page).
    pub public: bool,
}

fn truncate(granularity: Granularity, at: DateTime<Utc>) -> NaiveDate {
    let date = at.with_timezone(&WITA).date_naive();
    match granularity {
        Granularity::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Granularity::Month => date.with_day(1).unwrap_or(date),
        Granularity::Day | Granularity::Unspecified => date,
    }
}

fn step(granularity: Granularity, date: NaiveDate, n: u32) -> NaiveDate {
    let moved = match granularity {
        Granularity::Week => date.checked_add_days(Days::new(7 * u64::from(n))),
        Granularity::Month => date.checked_add_months(Months::new(n)),
        Granularity::Day | Granularity::Unspecified => date.checked_add_days(Days::new(u64::from(n))),
    };
    moved.unwrap_or(NaiveDate::MAX)
}

fn step_back(granularity: Granularity, date: NaiveDate, n: u32) -> NaiveDate {
    let moved = match granularity {
        Granularity::Week => date.checked_sub_days(Days::new(7 * u64::from(n))),
        Granularity::Month => date.checked_sub_months(Months::new(n)),
        Granularity::Day | Granularity::Unspecified => date.checked_sub_days(Days::new(u64::from(n))),
    };
    moved.unwrap_or(NaiveDate::MIN)
}

impl TrendQuery {
    /// Unset dimension = total, unset granularity = day; an unset start = the last 30 days,
    /// 12 weeks or 12 months up to `to` (default `as_of`).
    pub fn new(dimension: i32, granularity: i32, period: Period, as_of: DateTime<Utc>) -> Result<Self, TrendError> {
        let dimension = match Dimension::try_from(dimension).map_err(|_| TrendError::Dimension(dimension))? {
            Dimension::Unspecified => Dimension::Total,
            known => known,
        };
        let granularity = match Granularity::try_from(granularity).map_err(|_| TrendError::Granularity(granularity))? {
            Granularity::Unspecified => Granularity::Day,
            known => known,
        };
        let to = period.to.unwrap_or(as_of);
        let first = match period.from {
            Some(from) => truncate(granularity, from),
            None => {
                let default_buckets = if granularity == Granularity::Day { 29 } else { 11 };
                step_back(granularity, truncate(granularity, to), default_buckets)
            }
        };
        let mut buckets = Vec::new();
        let mut start = first;
        while wita_midnight(start) < to {
            if buckets.len() == MAX_BUCKETS {
                let mut more = buckets.len();
                while wita_midnight(start) < to && more < 100_000 {
                    more += 1;
                    start = step(granularity, start, 1);
                }
                return Err(TrendError::TooManyBuckets(more));
            }
            buckets.push(wita_midnight(start));
            start = step(granularity, start, 1);
        }
        let from = period.from.unwrap_or_else(|| wita_midnight(first));
        Ok(TrendQuery {
            dimension,
            granularity,
            buckets,
            from,
            to,
            public: period.public,
        })
    }

    fn column(&self) -> Option<&'static str> {
        match self.dimension {
            Dimension::Channel => Some("channel"),
            Dimension::Kind => Some("kind"),
            Dimension::Category => Some("category_code"),
            Dimension::Skpd => Some("skpd_code"),
            Dimension::Kabupaten => Some("kabupaten_code"),
            Dimension::Total | Dimension::Unspecified => None,
        }
    }

    fn unit(&self) -> &'static str {
        match self.granularity {
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Day | Granularity::Unspecified => "day",
        }
    }
}

pub async fn trends(db: &impl ConnectionTrait, query: &TrendQuery) -> Result<Trends, DbErr> {
    // `unit` and `column` come from the enums above, never from input.
    let key = query
        .column()
        .map_or("''".to_owned(), |c| format!("coalesce({c}, '-')"));
    let sql = format!(
        "SELECT date_trunc('{unit}', submitted_at AT TIME ZONE 'Asia/Makassar') AT TIME ZONE 'Asia/Makassar' AS bucket,
                {key} AS key, count(*) AS n
         FROM complaint_facts WHERE submitted_at >= $1 AND submitted_at < $2 {public}
         GROUP BY 1, 2 ORDER BY 1, 2",
        unit = query.unit(),
        public = if query.public { "AND NOT rahasia" } else { "" },
    );
    let found = rows(db, &sql, vec![query.from.into(), query.to.into()]).await?;
    let mut counts: HashMap<DateTime<Utc>, Vec<(String, u64)>> = HashMap::new();
    for row in &found {
        let bucket: DateTime<Utc> = row.try_get("", "bucket")?;
        counts
            .entry(bucket)
            .or_default()
            .push((row.try_get("", "key")?, count(row, "n")?));
    }
    let mut points = Vec::new();
    for bucket in &query.buckets {
        let in_bucket = counts.remove(bucket).unwrap_or_default();
        if query.dimension == Dimension::Total {
            points.push(TrendPoint {
                period_start: Some(to_timestamp(*bucket)),
                key: String::new(),
                count: in_bucket.iter().map(|(_, n)| n).sum(),
            });
        } else {
            points.extend(in_bucket.into_iter().map(|(key, count)| TrendPoint {
                period_start: Some(to_timestamp(*bucket)),
                key,
                count,
            }));
        }
    }
    Ok(Trends {
        dimension: query.dimension as i32,
        granularity: query.granularity as i32,
        from: Some(to_timestamp(query.from)),
        to: Some(to_timestamp(query.to)),
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test value")
            .with_timezone(&Utc)
    }

    #[test]
    fn default_day_buckets_are_thirty_wita_midnights() {
        let as_of = at("2026-11-28T01:30:00+08:00");
        let query = TrendQuery::new(0, 0, Period::default(), as_of).expect("test value");
        assert_eq!(query.dimension, Dimension::Total);
        assert_eq!(query.buckets.len(), 30);
        assert_eq!(query.buckets[29], at("2026-11-28T00:00:00+08:00"));
        assert_eq!(query.buckets[0], at("2026-10-30T00:00:00+08:00"));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let as_of = at("2026-11-28T12:00:00+08:00"); // a Saturday
        let weeks = TrendQuery::new(1, Granularity::Week as i32, Period::default(), as_of).expect("test value");
        assert_eq!(weeks.buckets.len(), 12);
        assert_eq!(weeks.buckets[11], at("2026-11-23T00:00:00+08:00"));
        let months = TrendQuery::new(1, Granularity::Month as i32, Period::default(), as_of).expect("test value");
        assert_eq!(months.buckets[11], at("2026-11-01T00:00:00+08:00"));
        assert_eq!(months.buckets[0], at("2025-12-01T00:00:00+08:00"));
    }

    #[test]
    fn rejects_unknown_enums_and_too_many_buckets() {
        let as_of = at("2026-11-28T12:00:00+08:00");
        assert_eq!(
            TrendQuery::new(42, 0, Period::default(), as_of).expect_err("test error"),
            TrendError::Dimension(42)
        );
        assert_eq!(
            TrendQuery::new(0, -1, Period::default(), as_of).expect_err("test error"),
            TrendError::Granularity(-1)
        );
        let long = Period::new(Some(at("2025-01-01T00:00:00+08:00")), Some(as_of)).expect("test value");
        assert!(matches!(
            TrendQuery::new(0, Granularity::Day as i32, long, as_of),
            Err(TrendError::TooManyBuckets(n)) if n > MAX_BUCKETS
        ));
        assert!(TrendQuery::new(0, Granularity::Week as i32, long, as_of).is_ok());
    }
}
