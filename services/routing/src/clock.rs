//! Case clocks in the database: every stored transition starts, keeps or stops the case's SLA
//! clock (`lapor_domain::sla::clock_change`) in the transition's own transaction, so a case
//! that is resolved can never fire a timer afterwards. Times come from the database clock
//! (`now()`), never the replica's.

use crate::policy_store::{Calendars, sla_policy};
use chrono::{DateTime, Utc};
use lapor_domain::sla::{self, ClockChange, Ladder, SlaStage, Trigger};
use lapor_domain::workflow::Case;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};
use std::collections::HashMap;
use uuid::Uuid;

/// Advisory lock key: calendar edits take it exclusively, clock starts shared.
pub const CALENDAR_LOCK: &str = "lapor.calendar";

/// Locks every case with a running clock, in one order, then takes the calendar lock
/// exclusively: the same order a transition follows (its case row, then the shared calendar
/// lock), so an edit and a transition never wait on each other in a cycle.
pub async fn lock_for_calendar_edit(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT complaint_id FROM cases WHERE sla_stage IS NOT NULL ORDER BY complaint_id FOR UPDATE",
    ))
    .await?;
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock(hashtext('{CALENDAR_LOCK}'))"),
    ))
    .await?;
    Ok(())
}

/// What planning a clock needs besides the database: the ladder from configuration and the
/// verification desk, whose calendar the verification stage runs on.
#[derive(Debug, Clone)]
pub struct ClockRules {
    pub ladder: Ladder,
    pub verification_desk: String,
}

impl ClockRules {
    /// The SKPD whose calendar and officers a stage belongs to.
    fn holder<'a>(&'a self, stage: SlaStage, skpd: Option<&'a str>) -> &'a str {
        match (stage, skpd) {
            (SlaStage::FollowUp | SlaStage::ReplyWindow, Some(skpd)) => skpd,
            _ => &self.verification_desk,
        }
    }
}

fn calendar_error(error: lapor_domain::calendar::CalendarError) -> DbErr {
    DbErr::Custom(format!("cannot plan the SLA clock: {error}"))
}

/// The reporter's reply window is open while its clock runs, by the database clock.
pub fn reply_window_open(model: &crate::entity::case::Model, now: DateTime<Utc>) -> bool {
    model.sla_stage.as_deref() == Some(lapor_domain::sla::SlaStage::ReplyWindow.as_str())
        && model.sla_due_at.is_some_and(|due| now < due)
}

pub async fn db_now(conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT now() AS now"))
        .await?
        .ok_or_else(|| DbErr::Custom("SELECT now() returned nothing".into()))?;
    row.try_get("", "now")
}

async fn cancel_pending(txn: &DatabaseTransaction, complaint_id: Uuid) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE deadlines SET cancelled_at = now() \
         WHERE complaint_id = $1 AND fired_at IS NULL AND cancelled_at IS NULL",
        [complaint_id.into()],
    ))
    .await?;
    Ok(())
}

/// Applies the clock change of one transition (`before` is None for a new case) and returns
/// the deadline of the stage the case is now in, if a clock runs.
pub async fn on_transition(
    txn: &DatabaseTransaction,
    rules: &ClockRules,
    complaint_id: Uuid,
    before: Option<&Case>,
    after: &Case,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let change = sla::clock_change(
        before.map(|c| (c.state, c.skpd.as_deref())),
        (after.state, after.skpd.as_deref()),
    );
    match change {
        ClockChange::Keep => {
            let due: Option<DateTime<Utc>> = match txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT sla_due_at FROM cases WHERE complaint_id = $1",
                    [complaint_id.into()],
                ))
                .await?
            {
                Some(row) => row.try_get("", "sla_due_at")?,
                None => None,
            };
            match (due, SlaStage::for_state(after.state)) {
                // A case from before clocks existed: its clock starts with its next step.
                (None, Some(stage)) => {
                    let now = db_now(txn).await?;
                    start(txn, rules, complaint_id, stage, after, now).await.map(Some)
                }
                (due, _) => Ok(due),
            }
        }
        ClockChange::Stop => {
            cancel_pending(txn, complaint_id).await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE cases SET sla_stage = NULL, sla_started_at = NULL, sla_working_days = NULL, \
                 sla_due_at = NULL WHERE complaint_id = $1",
                [complaint_id.into()],
            ))
            .await?;
            Ok(None)
        }
        ClockChange::Start(stage) => {
            let now = db_now(txn).await?;
            start(txn, rules, complaint_id, stage, after, now).await.map(Some)
        }
    }
}

/// Starts the clock of a case just created from a submission, counted from `submitted_at`
/// (a backlog in routing's queue does not give the desk extra time).
pub async fn start_new_case(
    txn: &DatabaseTransaction,
    rules: &ClockRules,
    complaint_id: Uuid,
    case: &Case,
    submitted_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    match SlaStage::for_state(case.state) {
        Some(stage) => start(txn, rules, complaint_id, stage, case, submitted_at)
            .await
            .map(Some),
        None => Ok(None),
    }
}

async fn start(
    txn: &DatabaseTransaction,
    rules: &ClockRules,
    complaint_id: Uuid,
    stage: SlaStage,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbErr> {
    cancel_pending(txn, complaint_id).await?;
    let tier: Option<String> = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT complexity_tier FROM cases WHERE complaint_id = $1",
            [complaint_id.into()],
        ))
        .await?
        .map(|row| row.try_get("", "complexity_tier"))
        .transpose()?
        .flatten();
    let holder = rules.holder(stage, case.skpd.as_deref());
    let working_days = sla_policy(txn)
        .await?
        .working_days(stage, &case.category, holder, tier.as_deref());
    // Shared with other clocks, exclusive against a calendar edit: a clock is planned either
    // before an edit (and recomputed by it) or after it (on the new calendar).
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock_shared(hashtext('{CALENDAR_LOCK}'))"),
    ))
    .await?;
    let calendar = Calendars::load(txn).await?.of(holder);
    let clock = sla::plan(stage, now, working_days, &calendar, &rules.ladder).map_err(calendar_error)?;
    for timer in &clock.timers {
        let (fraction, after_days) = trigger_columns(timer.trigger);
        let roles: Vec<&str> = timer.notify.iter().map(|r| r.as_str()).collect();
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO deadlines (complaint_id, stage, step, skpd_code, notify_roles, at_fraction, \
             days_after_deadline, started_at, working_days, due_at, case_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                complaint_id.into(),
                stage.as_str().into(),
                timer.step.clone().into(),
                holder.to_owned().into(),
                roles.join(",").into(),
                fraction.into(),
                after_days.into(),
                now.into(),
                (working_days as i32).into(),
                timer.due_at.into(),
                (case.version as i64).into(),
            ],
        ))
        .await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE cases SET sla_stage = $2, sla_started_at = $3, sla_working_days = $4, sla_due_at = $5 \
         WHERE complaint_id = $1",
        [
            complaint_id.into(),
            stage.as_str().into(),
            now.into(),
            (working_days as i32).into(),
            clock.deadline.into(),
        ],
    ))
    .await?;
    Ok(clock.deadline)
}

fn trigger_columns(trigger: Trigger) -> (Option<f64>, Option<i32>) {
    match trigger {
        Trigger::AtFraction(f) => (Some(f), None),
        Trigger::WorkingDaysAfterDeadline(n) => (None, Some(n as i32)),
    }
}

fn trigger_of(fraction: Option<f64>, after_days: Option<i32>) -> Option<Trigger> {
    match (fraction, after_days) {
        (Some(f), None) => Some(Trigger::AtFraction(f)),
        (None, Some(n)) => Some(Trigger::WorkingDaysAfterDeadline(n.max(0) as u32)),
        _ => None,
    }
}

/// After a calendar change: recomputes the due time of every pending timer and the
/// deadline of every running clock from their start and working days. Returns how many
/// pending timers moved. Runs in the change's transaction.
pub async fn recompute_pending(txn: &DatabaseTransaction, rules: &ClockRules) -> Result<u32, DbErr> {
    let calendars = Calendars::load(txn).await?;
    let mut by_skpd = HashMap::new();
    let mut calendar_of = |skpd: &str| {
        by_skpd
            .entry(skpd.to_owned())
            .or_insert_with(|| calendars.of(skpd))
            .clone()
    };
    // Lock order as in every transition: cases first, then their deadlines.
    let cases = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT complaint_id, sla_stage, skpd_code, sla_started_at, sla_working_days FROM cases \
             WHERE sla_stage IS NOT NULL FOR UPDATE",
        ))
        .await?;
    for row in cases {
        let stage: String = row.try_get("", "sla_stage")?;
        let Ok(stage) = SlaStage::parse(&stage) else { continue };
        let skpd: Option<String> = row.try_get("", "skpd_code")?;
        let started_at: Option<DateTime<Utc>> = row.try_get("", "sla_started_at")?;
        let working_days: Option<i32> = row.try_get("", "sla_working_days")?;
        let (Some(started_at), Some(working_days)) = (started_at, working_days) else {
            continue;
        };
        let calendar = calendar_of(rules.holder(stage, skpd.as_deref()));
        let deadline = calendar
            .deadline(started_at, working_days.max(1) as u32)
            .map_err(calendar_error)?;
        let complaint_id: Uuid = row.try_get("", "complaint_id")?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE cases SET sla_due_at = $2 WHERE complaint_id = $1 AND sla_due_at IS DISTINCT FROM $2",
            [complaint_id.into(), deadline.into()],
        ))
        .await?;
    }
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, skpd_code, at_fraction, days_after_deadline, started_at, working_days, due_at \
             FROM deadlines WHERE fired_at IS NULL AND cancelled_at IS NULL ORDER BY id FOR UPDATE",
        ))
        .await?;
    let mut moved = 0;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let skpd: String = row.try_get("", "skpd_code")?;
        let Some(trigger) = trigger_of(row.try_get("", "at_fraction")?, row.try_get("", "days_after_deadline")?) else {
            continue;
        };
        let started_at: DateTime<Utc> = row.try_get("", "started_at")?;
        let working_days: i32 = row.try_get("", "working_days")?;
        let due_at: DateTime<Utc> = row.try_get("", "due_at")?;
        let new_due = sla::due_at(trigger, started_at, working_days.max(1) as u32, &calendar_of(&skpd))
            .map_err(calendar_error)?;
        if new_due != due_at {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE deadlines SET due_at = $2 WHERE id = $1",
                [id.into(), new_due.into()],
            ))
            .await?;
            moved += 1;
        }
    }
    Ok(moved)
}
