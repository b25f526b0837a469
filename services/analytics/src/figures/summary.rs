//! The province-wide summary.

use super::{IS_OPEN, Period, count, percent, rows};
use crate::projection::{EVENTS_CONSUMED, NOTIFICATIONS_SENT};
use chrono::{DateTime, Utc};
use lapor_messaging::envelope::to_timestamp;
use lapor_proto::analytics::v1::{
    AgeBucket, Compliance, Duration, KeyCount, Ratings, RisingCategory, SkpdCount, StateCount, Summary,
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

/// Verification is done once the case was disposed, archived or returned as not the
/// province's authority; it was late when an escalation step fell due at its deadline.
pub(super) const VERIFICATION_COMPLIANCE: &str = "
    count(*) FILTER (WHERE verified AND NOT verification_breach) AS on_time,
    count(*) FILTER (WHERE verified AND verification_breach) AS late,
    count(*) FILTER (WHERE NOT verified AND verification_breach AND open) AS overdue_open";

/// The follow-up SLA runs from the (latest) disposition to its deadline.
pub(super) const FOLLOW_UP_COMPLIANCE: &str = "
    count(*) FILTER (WHERE followed_up_at <= follow_up_due_at) AS fu_on_time,
    count(*) FILTER (WHERE followed_up_at > follow_up_due_at) AS fu_late,
    count(*) FILTER (WHERE followed_up_at IS NULL AND open AND follow_up_due_at < $3) AS fu_overdue_open";

/// `f`: the facts of the period, with the flags the compliance and backlog figures need.
/// Parameters: $1 from, $2 to, $3 as of.
pub(super) fn facts_cte(period: &Period) -> String {
    let in_period = period.filter();
    format!(
        "WITH f AS (
            SELECT c.*,
                   {IS_OPEN} AS open,
                   (c.assigned_at IS NOT NULL OR c.finished_at IS NOT NULL) AS verified,
                   EXISTS (SELECT 1 FROM escalation_facts e WHERE e.complaint_id = c.complaint_id
                           AND e.stage = 'verification' AND e.breach) AS verification_breach
            FROM complaint_facts c WHERE {in_period} AND $3::timestamptz IS NOT NULL)"
    )
}

pub(super) fn compliance(row: &QueryResult, prefix: &str) -> Result<Compliance, DbErr> {
    let on_time = count(row, &format!("{prefix}on_time"))?;
    let late = count(row, &format!("{prefix}late"))?;
    let overdue_open = count(row, &format!("{prefix}overdue_open"))?;
    Ok(Compliance {
        on_time,
        late,
        overdue_open,
        percent: percent(on_time, late, overdue_open),
    })
}

/// Median and p90, in hours, of `expression` (an interval) over the rows where it is set.
pub(super) fn duration_columns(expression: &str, name: &str) -> String {
    format!(
        "count({expression}) AS {name}_n,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM {expression}) / 3600.0) AS {name}_p50,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM {expression}) / 3600.0) AS {name}_p90"
    )
}

pub(super) fn duration(row: &QueryResult, name: &str) -> Result<Duration, DbErr> {
    Ok(Duration {
        count: count(row, &format!("{name}_n"))?,
        median_hours: row.try_get::<Option<f64>>("", &format!("{name}_p50"))?,
        p90_hours: row.try_get::<Option<f64>>("", &format!("{name}_p90"))?,
    })
}

pub(super) const RATING_COLUMNS: &str = "
    count(stars) AS stars_n, avg(stars)::float8 AS stars_avg,
    count(*) FILTER (WHERE stars = 1) AS stars_1, count(*) FILTER (WHERE stars = 2) AS stars_2,
    count(*) FILTER (WHERE stars = 3) AS stars_3, count(*) FILTER (WHERE stars = 4) AS stars_4,
    count(*) FILTER (WHERE stars = 5) AS stars_5";

pub(super) fn ratings(row: &QueryResult) -> Result<Ratings, DbErr> {
    Ok(Ratings {
        count: count(row, "stars_n")?,
        average: row.try_get::<Option<f64>>("", "stars_avg")?,
        by_stars: (1..=5)
            .map(|stars| count(row, &format!("stars_{stars}")))
            .collect::<Result<_, _>>()?,
    })
}

fn values(period: &Period, as_of: DateTime<Utc>) -> Vec<Value> {
    let mut values = period.values();
    values.push(as_of.into());
    values
}

async fn key_counts(
    db: &impl ConnectionTrait,
    column: &str,
    period: &Period,
    as_of: DateTime<Utc>,
) -> Result<Vec<KeyCount>, DbErr> {
    let sql = format!(
        "{} SELECT coalesce({column}, '-') AS key, count(*) AS n FROM f GROUP BY 1 ORDER BY n DESC, key",
        facts_cte(period)
    );
    rows(db, &sql, values(period, as_of))
        .await?
        .iter()
        .map(|row| {
            Ok(KeyCount {
                key: row.try_get("", "key")?,
                count: count(row, "n")?,
            })
        })
        .collect()
}

async fn counter(db: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    let found = rows(db, "SELECT value AS n FROM counters WHERE name = $1", vec![name.into()]).await?;
    found.first().map_or(Ok(0), |row| count(row, "n"))
}

/// Categories with more submissions in the 7 days up to `as_of` than in the 7 before.
pub async fn rising_categories(
    db: &impl ConnectionTrait,
    as_of: DateTime<Utc>,
    days: i32,
    limit: i64,
) -> Result<Vec<RisingCategory>, DbErr> {
    rows(
        db,
        "SELECT * FROM (
            SELECT category_code,
                   count(*) FILTER (WHERE submitted_at >= $1 - make_interval(days => $2)) AS this_week,
                   count(*) FILTER (WHERE submitted_at < $1 - make_interval(days => $2)) AS last_week
            FROM complaint_facts
            WHERE submitted_at >= $1 - make_interval(days => 2 * $2) AND submitted_at < $1
                  AND category_code IS NOT NULL
            GROUP BY category_code) counts
         WHERE this_week > last_week
         ORDER BY this_week - last_week DESC, category_code
         LIMIT $3",
        vec![as_of.into(), days.into(), limit.into()],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(RisingCategory {
            category_code: row.try_get("", "category_code")?,
            this_week: count(row, "this_week")?,
            last_week: count(row, "last_week")?,
        })
    })
    .collect()
}

pub async fn summary(db: &impl ConnectionTrait, period: &Period, as_of: DateTime<Utc>) -> Result<Summary, DbErr> {
    let cte = facts_cte(period);
    let by_state = rows(
        db,
        &format!("{cte} SELECT state, count(*) AS n FROM f GROUP BY state ORDER BY state"),
        values(period, as_of),
    )
    .await?
    .iter()
    .map(|row| {
        Ok(StateCount {
            state: row.try_get("", "state")?,
            count: count(row, "n")?,
        })
    })
    .collect::<Result<Vec<_>, DbErr>>()?;
    let by_skpd = rows(
        db,
        &format!(
            "{cte} SELECT skpd_code, state, count(*) AS n FROM f WHERE skpd_code IS NOT NULL \
             GROUP BY skpd_code, state ORDER BY skpd_code, state"
        ),
        values(period, as_of),
    )
    .await?
    .iter()
    .map(|row| {
        Ok(SkpdCount {
            skpd_code: row.try_get("", "skpd_code")?,
            state: row.try_get("", "state")?,
            count: count(row, "n")?,
        })
    })
    .collect::<Result<Vec<_>, DbErr>>()?;

    let overall_sql = format!(
        "{cte} SELECT count(*) AS total,
            count(*) FILTER (WHERE open) AS open_backlog,
            count(*) FILTER (WHERE open AND $3 - submitted_at < interval '1 day') AS age_0,
            count(*) FILTER (WHERE open AND $3 - submitted_at >= interval '1 day' AND $3 - submitted_at < interval '3 days') AS age_1,
            count(*) FILTER (WHERE open AND $3 - submitted_at >= interval '3 days' AND $3 - submitted_at < interval '7 days') AS age_2,
            count(*) FILTER (WHERE open AND $3 - submitted_at >= interval '7 days' AND $3 - submitted_at < interval '14 days') AS age_3,
            count(*) FILTER (WHERE open AND ($3 - submitted_at >= interval '14 days' OR submitted_at IS NULL)) AS age_4,
            {VERIFICATION_COMPLIANCE},
            {FOLLOW_UP_COMPLIANCE},
            {verify}, {follow_up}, {close},
            count(*) FILTER (WHERE followed_up_at IS NOT NULL) AS followed_up,
            count(*) FILTER (WHERE reopen_count > 0) AS reopened,
            {RATING_COLUMNS}
         FROM f",
        verify = duration_columns("(assigned_at - submitted_at)", "verify"),
        follow_up = duration_columns("(followed_up_at - assigned_at)", "follow_up"),
        close = duration_columns("(closed_at - submitted_at)", "close"),
    );
    let overall = rows(db, &overall_sql, values(period, as_of)).await?;
    let row = overall
        .first()
        .ok_or_else(|| DbErr::RecordNotFound("summary row".into()))?;
    let backlog_by_age = ["0-1d", "1-3d", "3-7d", "7-14d", "14d+"]
        .iter()
        .enumerate()
        .map(|(i, label)| {
            Ok(AgeBucket {
                label: (*label).to_owned(),
                count: count(row, &format!("age_{i}"))?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let followed_up = count(row, "followed_up")?;
    let reopened = count(row, "reopened")?;

    let escalations_by_level = rows(
        db,
        &format!(
            "{cte} SELECT e.level, count(*) AS n FROM escalation_facts e JOIN f USING (complaint_id) GROUP BY e.level"
        ),
        values(period, as_of),
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get("", "level")?, count(row, "n")?)))
    .collect::<Result<_, DbErr>>()?;

    Ok(Summary {
        complaints_total: count(row, "total")?,
        by_state,
        by_skpd,
        notifications_sent: counter(db, NOTIFICATIONS_SENT).await?,
        events_consumed: counter(db, EVENTS_CONSUMED).await?,
        escalations_by_level,
        by_channel: key_counts(db, "channel", period, as_of).await?,
        by_kind: key_counts(db, "kind", period, as_of).await?,
        by_category: key_counts(db, "category_code", period, as_of).await?,
        by_kabupaten: key_counts(db, "kabupaten_code", period, as_of).await?,
        open_backlog: count(row, "open_backlog")?,
        backlog_by_age,
        verification: Some(compliance(row, "")?),
        follow_up: Some(compliance(row, "fu_")?),
        time_to_verify: Some(duration(row, "verify")?),
        time_to_follow_up: Some(duration(row, "follow_up")?),
        time_to_close: Some(duration(row, "close")?),
        followed_up,
        reopened,
        reopen_rate: (followed_up > 0).then(|| reopened as f64 / followed_up as f64),
        ratings: Some(ratings(row)?),
        rising_categories: rising_categories(db, as_of, 7, 10).await?,
        as_of: Some(to_timestamp(as_of)),
    })
}
