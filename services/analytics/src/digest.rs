//! The daily and weekly leadership digests. Every replica checks once a minute, on the
//! database clock, whether a period has ended (and it is past the send hour in WITA); the
//! `digests` row and the outbox event are written in one transaction, so each period's
//! digest goes out exactly once whichever replica gets there first. Notification e-mails
//! it to the pimpinan.

use crate::figures::{self, Period, WITA, wita_midnight};
use chrono::{DateTime, Datelike, Days, Timelike, Utc};
use lapor_messaging::envelope::{new_envelope, to_timestamp};
use lapor_messaging::{Outbox, OutgoingEvent};
use lapor_proto::events::v1::{DigestCategory, DigestReady, DigestSkpd, event_envelope::Payload};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use serde::Deserialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize)]
pub struct DigestSettings {
    pub enabled: bool,
    /// Hour of the day (WITA, 0–23) from which the previous day's and week's digests go out.
    pub send_hour: u32,
    pub poll_seconds: u64,
    /// Link in the e-mail; empty for none.
    pub dashboard_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Daily,
    Weekly,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Daily => "daily",
            PeriodKind::Weekly => "weekly",
        }
    }
}

/// The last complete day and ISO week before `now` (WITA), once past `send_hour`.
pub fn due_periods(now: DateTime<Utc>, send_hour: u32) -> Vec<(PeriodKind, DateTime<Utc>, DateTime<Utc>)> {
    let local = now.with_timezone(&WITA);
    if local.hour() < send_hour {
        return Vec::new();
    }
    let today = local.date_naive();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    vec![
        (
            PeriodKind::Daily,
            wita_midnight(today - Days::new(1)),
            wita_midnight(today),
        ),
        (
            PeriodKind::Weekly,
            wita_midnight(monday - Days::new(7)),
            wita_midnight(monday),
        ),
    ]
}

async fn count(txn: &DatabaseTransaction, sql: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<u64, DbErr> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [from.into(), to.into()],
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0)
        .max(0) as u64)
}

/// The digest of one period, as of `now`.
pub async fn compose(
    txn: &DatabaseTransaction,
    kind: PeriodKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    dashboard_url: &str,
) -> Result<DigestReady, DbErr> {
    let period = Period {
        from: Some(from),
        to: Some(to),
        public: false,
    };
    let summary = figures::summary(txn, &period, now).await?;
    let everything = figures::summary(txn, &Period::default(), now).await?;
    let scorecard = figures::scorecard(txn, &Period::default(), now).await?;
    let mut most_overdue: Vec<_> = scorecard.skpds.iter().filter(|s| s.overdue_open > 0).collect();
    most_overdue.sort_by(|a, b| b.overdue_open.cmp(&a.overdue_open).then(a.skpd_code.cmp(&b.skpd_code)));
    let days = if kind == PeriodKind::Daily { 1 } else { 7 };
    let rising = figures::rising_categories(txn, to, days, 5).await?;
    let percent = |c: &Option<lapor_proto::analytics::v1::Compliance>| c.as_ref().and_then(|c| c.percent);
    Ok(DigestReady {
        period_kind: kind.as_str().into(),
        period_from: Some(to_timestamp(from)),
        period_to: Some(to_timestamp(to)),
        received: summary.complaints_total,
        closed: count(
            txn,
            "SELECT count(*) AS n FROM complaint_facts WHERE closed_at >= $1 AND closed_at < $2",
            from,
            to,
        )
        .await?,
        open_backlog: everything.open_backlog,
        overdue_open: everything.follow_up.as_ref().map_or(0, |c| c.overdue_open),
        verification_compliance_pct: percent(&summary.verification),
        follow_up_compliance_pct: percent(&summary.follow_up),
        escalations: count(
            txn,
            "SELECT count(*) AS n FROM escalation_facts WHERE due_at >= $1 AND due_at < $2",
            from,
            to,
        )
        .await?,
        most_overdue: most_overdue
            .into_iter()
            .take(5)
            .map(|s| DigestSkpd {
                skpd_code: s.skpd_code.clone(),
                skpd_name: s.skpd_name.clone(),
                overdue_open: s.overdue_open,
                follow_up_compliance_pct: percent(&s.follow_up),
            })
            .collect(),
        rising_categories: rising
            .into_iter()
            .map(|r| DigestCategory {
                category_code: r.category_code,
                this_period: r.this_week,
                previous_period: r.last_week,
            })
            .collect(),
        dashboard_url: dashboard_url.to_owned(),
    })
}

/// Emits the digests that are due and not yet emitted; returns how many it emitted.
pub async fn emit_due(db: &DatabaseConnection, outbox: &Outbox, settings: &DigestSettings) -> Result<usize, DbErr> {
    let now: DateTime<Utc> = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT now() AS now"))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("now()".into()))?
        .try_get("", "now")?;
    let mut emitted = 0;
    for (kind, from, to) in due_periods(now, settings.send_hour) {
        // Cheap check first: composing runs the summary queries.
        let sent = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS one FROM digests WHERE period_kind = $1 AND period_from = $2",
                [kind.as_str().into(), from.into()],
            ))
            .await?;
        if sent.is_some() {
            continue;
        }
        let txn = db.begin().await?;
        let digest_id = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("lapor:digest:{}:{}", kind.as_str(), from.to_rfc3339()).as_bytes(),
        );
        let envelope = new_envelope(
            "analytics",
            digest_id,
            "",
            Payload::DigestReady(compose(&txn, kind, from, to, now, &settings.dashboard_url).await?),
        );
        let inserted = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO digests (period_kind, period_from, period_to, event_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                [
                    kind.as_str().into(),
                    from.into(),
                    to.into(),
                    Uuid::parse_str(&envelope.event_id).unwrap_or(digest_id).into(),
                ],
            ))
            .await?
            .rows_affected();
        if inserted == 0 {
            txn.rollback().await?;
            continue;
        }
        outbox
            .enqueue(&txn, &OutgoingEvent::new(envelope, Some(kind.as_str())))
            .await?;
        txn.commit().await?;
        outbox.notify_committed();
        tracing::info!(kind = kind.as_str(), %from, %to, "leadership digest emitted");
        emitted += 1;
    }
    Ok(emitted)
}

pub async fn run(db: DatabaseConnection, outbox: Outbox, settings: DigestSettings, stop: CancellationToken) {
    if !settings.enabled {
        return;
    }
    while !stop.is_cancelled() {
        if let Err(error) = emit_due(&db, &outbox, &settings).await {
            tracing::warn!(%error, "leadership digest check failed; retrying at the next poll");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(settings.poll_seconds.max(1))) => {}
            _ = stop.cancelled() => {}
        }
    }
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
    fn periods_are_the_last_wita_day_and_iso_week_after_the_send_hour() {
        // Saturday 28 Nov 2026, 06:59 WITA: too early.
        assert!(due_periods(at("2026-11-28T06:59:00+08:00"), 7).is_empty());
        let due = due_periods(at("2026-11-28T07:00:00+08:00"), 7);
        assert_eq!(
            due[0],
            (
                PeriodKind::Daily,
                at("2026-11-27T00:00:00+08:00"),
                at("2026-11-28T00:00:00+08:00")
            )
        );
        assert_eq!(
            due[1],
            (
                PeriodKind::Weekly,
                at("2026-11-16T00:00:00+08:00"),
                at("2026-11-23T00:00:00+08:00")
            )
        );
        // Just after midnight UTC is already 08:00 WITA on the same day.
        let early_utc = due_periods(at("2026-11-30T00:30:00Z"), 7);
        assert_eq!(early_utc[1].2, at("2026-11-30T00:00:00+08:00"));
    }
}
