//! One row per SKPD holding complaints of the period, ranked worst first.

use super::summary::{
    FOLLOW_UP_COMPLIANCE, RATING_COLUMNS, compliance, duration, duration_columns, facts_cte, ratings,
};
use super::{Period, count, rows};
use chrono::{DateTime, Utc};
use lapor_messaging::envelope::to_timestamp;
use lapor_proto::analytics::v1::{SkpdScore, SkpdScorecard};
use sea_orm::{ConnectionTrait, DbErr};
use std::cmp::Ordering;

pub async fn scorecard(
    db: &impl ConnectionTrait,
    period: &Period,
    as_of: DateTime<Utc>,
) -> Result<SkpdScorecard, DbErr> {
    let sql = format!(
        "{cte} SELECT f.skpd_code, coalesce(max(n.name), f.skpd_code) AS skpd_name,
            count(*) AS received,
            count(*) FILTER (WHERE open) AS open,
            count(*) FILTER (WHERE followed_up_at IS NOT NULL) AS followed_up,
            count(*) FILTER (WHERE closed_at IS NOT NULL) AS closed,
            count(*) FILTER (WHERE reopen_count > 0) AS reopened,
            {FOLLOW_UP_COMPLIANCE},
            {follow_up},
            {RATING_COLUMNS},
            (SELECT count(*) FROM escalation_facts e JOIN f g USING (complaint_id)
              WHERE e.skpd_code = f.skpd_code) AS escalations
         FROM f LEFT JOIN skpd_names n ON n.skpd_code = f.skpd_code
         WHERE f.skpd_code IS NOT NULL
         GROUP BY f.skpd_code",
        cte = facts_cte(period),
        follow_up = duration_columns("(followed_up_at - assigned_at)", "follow_up"),
    );
    let mut values = period.values();
    values.push(as_of.into());
    let mut skpds = rows(db, &sql, values)
        .await?
        .iter()
        .map(|row| {
            let follow_up = compliance(row, "fu_")?;
            Ok(SkpdScore {
                skpd_code: row.try_get("", "skpd_code")?,
                skpd_name: row.try_get("", "skpd_name")?,
                received: count(row, "received")?,
                open: count(row, "open")?,
                overdue_open: follow_up.overdue_open,
                followed_up: count(row, "followed_up")?,
                closed: count(row, "closed")?,
                follow_up: Some(follow_up),
                time_to_follow_up: Some(duration(row, "follow_up")?),
                escalations: count(row, "escalations")?,
                reopened: count(row, "reopened")?,
                ratings: Some(ratings(row)?),
                rank: 0,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    skpds.sort_by(worst_first);
    for (i, skpd) in skpds.iter_mut().enumerate() {
        skpd.rank = i as u32 + 1;
    }
    Ok(SkpdScorecard {
        skpds,
        as_of: Some(to_timestamp(as_of)),
    })
}

/// Lowest follow-up compliance first; SKPDs with nothing measured yet after all measured
/// ones; then most overdue, then by code so the order is total.
fn worst_first(a: &SkpdScore, b: &SkpdScore) -> Ordering {
    let percent = |s: &SkpdScore| s.follow_up.as_ref().and_then(|c| c.percent);
    match (percent(a), percent(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then(b.overdue_open.cmp(&a.overdue_open))
    .then(a.skpd_code.cmp(&b.skpd_code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::analytics::v1::Compliance;

    fn score(code: &str, percent: Option<f64>, overdue: u64) -> SkpdScore {
        SkpdScore {
            skpd_code: code.into(),
            overdue_open: overdue,
            follow_up: Some(Compliance {
                percent,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ranks_lowest_compliance_first_and_unmeasured_last() {
        let mut skpds = [
            score("a", None, 0),
            score("b", Some(90.0), 0),
            score("c", Some(40.0), 1),
            score("d", Some(40.0), 3),
        ];
        skpds.sort_by(worst_first);
        let order: Vec<_> = skpds.iter().map(|s| s.skpd_code.as_str()).collect();
        assert_eq!(order, ["d", "c", "b", "a"]);
    }
}
