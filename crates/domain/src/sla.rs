//! SLA stages, SLA policy and the escalation ladder (DESIGN §2). Pure: routing stores the
//! policy and the planned timers, this module decides which clock a case runs and when each
//! step of its ladder falls due.
//!
//! - A case runs at most one clock at a time, chosen by its state: **verification** while
//!   the verification desk must act (submitted, returned as not-our-authority), **follow-up**
//!   while the SKPD must act (verified/assigned/in progress), the reporter's **reply window**
//!   after a follow-up. On hold (waiting for the reporter), closed and archived cases run none.
//! - A clock restarts when the stage changes or the case moves to another SKPD; edits,
//!   sub-unit dispositions and "work started" keep it running.
//! - Working days per stage: the complexity tier chosen at disposition (follow-up only), else
//!   the category's rule, else the SKPD's, else the default (3 / 5 / 10).

use crate::calendar::{CalendarError, MAX_SLA_WORKING_DAYS, WorkingCalendar};
use crate::reference::OfficerRole;
use crate::state::CaseState;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlaStage {
    Verification,
    FollowUp,
    ReplyWindow,
}

impl SlaStage {
    pub const ALL: [SlaStage; 3] = [SlaStage::Verification, SlaStage::FollowUp, SlaStage::ReplyWindow];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaStage::Verification => "verification",
            SlaStage::FollowUp => "follow_up",
            SlaStage::ReplyWindow => "reply_window",
        }
    }

    pub fn parse(text: &str) -> Result<Self, SlaError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| SlaError::UnknownStage(text.to_owned()))
    }

    /// The clock a case in `state` runs, if any.
    pub fn for_state(state: CaseState) -> Option<Self> {
        match state {
            CaseState::Submitted | CaseState::RejectedNotAuthority => Some(SlaStage::Verification),
            CaseState::Verified | CaseState::Assigned | CaseState::InProgress => Some(SlaStage::FollowUp),
            CaseState::FollowedUp => Some(SlaStage::ReplyWindow),
            CaseState::OnHold | CaseState::Closed | CaseState::Archived => None,
        }
    }

    pub fn default_working_days(self) -> u32 {
        match self {
            SlaStage::Verification => 3,
            SlaStage::FollowUp => 5,
            SlaStage::ReplyWindow => 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("unknown SLA stage {0:?}: expected verification, follow_up or reply_window")]
    UnknownStage(String),
    #[error("invalid SLA scope {0:?}: expected \"default\", \"category:<code>\" or \"skpd:<code>\"")]
    BadScope(String),
    #[error("working days must be 1..={max}, got {0}", max = MAX_SLA_WORKING_DAYS)]
    AbsurdDays(i64),
    #[error("invalid complexity tier code {0:?}: 1-32 characters of a-z, 0-9 and _")]
    BadTierCode(String),
    #[error("unknown complexity tier {0:?}")]
    UnknownTier(String),
    #[error("the default rule of a stage cannot be removed")]
    DefaultRequired,
    #[error("invalid escalation ladder: {0}")]
    BadLadder(String),
}

/// Which cases an SLA rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlaScope {
    Default,
    Category(String),
    Skpd(String),
}

impl SlaScope {
    pub fn parse(text: &str) -> Result<Self, SlaError> {
        let bad = || SlaError::BadScope(text.to_owned());
        if text == "default" {
            return Ok(SlaScope::Default);
        }
        let (kind, code) = text.split_once(':').ok_or_else(bad)?;
        let code_ok = !code.is_empty()
            && code.len() <= 64
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.' || b == b'-');
        if !code_ok {
            return Err(bad());
        }
        match kind {
            "category" => Ok(SlaScope::Category(code.to_owned())),
            "skpd" => Ok(SlaScope::Skpd(code.to_owned())),
            _ => Err(bad()),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            SlaScope::Default => "default".to_owned(),
            SlaScope::Category(code) => format!("category:{code}"),
            SlaScope::Skpd(code) => format!("skpd:{code}"),
        }
    }
}

/// Checks a working-day count from an admin or a configuration file.
pub fn check_working_days(days: i64) -> Result<u32, SlaError> {
    if (1..=i64::from(MAX_SLA_WORKING_DAYS)).contains(&days) {
        Ok(days as u32)
    } else {
        Err(SlaError::AbsurdDays(days))
    }
}

pub fn check_tier_code(code: &str) -> Result<(), SlaError> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SlaError::BadTierCode(code.to_owned()))
    }
}

/// The SLA rules in force: working days per (scope, stage), and the complexity tiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaPolicy {
    pub rules: BTreeMap<(SlaScope, SlaStage), u32>,
    pub tiers: BTreeMap<String, u32>,
}

impl SlaPolicy {
    /// Working days of `stage` for a case of `category` held by `skpd`, under `tier` when one
    /// was chosen at disposition (it only governs the follow-up).
    pub fn working_days(&self, stage: SlaStage, category: &str, skpd: &str, tier: Option<&str>) -> u32 {
        if stage == SlaStage::FollowUp
            && let Some(days) = tier.and_then(|t| self.tiers.get(t))
        {
            return *days;
        }
        [
            SlaScope::Category(category.to_owned()),
            SlaScope::Skpd(skpd.to_owned()),
            SlaScope::Default,
        ]
        .into_iter()
        .find_map(|scope| self.rules.get(&(scope, stage)).copied())
        .unwrap_or_else(|| stage.default_working_days())
    }

    /// Checks a tier chosen at disposition against the tiers in force.
    pub fn check_tier(&self, tier: &str) -> Result<(), SlaError> {
        if self.tiers.contains_key(tier) {
            Ok(())
        } else {
            Err(SlaError::UnknownTier(tier.to_owned()))
        }
    }
}

/// When a ladder step falls due.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// This fraction of the SLA's working time has passed (1.0 = the deadline).
    AtFraction(f64),
    /// This many working days after the deadline.
    WorkingDaysAfterDeadline(u32),
}

/// One rung of the escalation ladder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LadderStep {
    /// The level in `complaint.escalated.<level>.<skpd>`.
    pub level: String,
    #[serde(flatten)]
    pub trigger: Trigger,
    /// Who hears of it: officers of the SKPD holding the case (penghubung, koordinator,
    /// kepala) or provincial ones (admin, pimpinan).
    pub notify: Vec<OfficerRole>,
}

/// The escalation ladder, from configuration (routing's `[[escalation.ladder]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    steps: Vec<LadderStep>,
}

/// The step name of the timer that closes a case when the reply window ends.
pub const AUTO_CLOSE_STEP: &str = "auto_close";

impl Ladder {
    pub fn new(steps: Vec<LadderStep>) -> Result<Self, SlaError> {
        if steps.is_empty() {
            return Err(SlaError::BadLadder("at least one step is needed".into()));
        }
        for (i, step) in steps.iter().enumerate() {
            let name_ok = !step.level.is_empty()
                && step.level.len() <= 32
                && step.level.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && step.level != AUTO_CLOSE_STEP;
            if !name_ok {
                return Err(SlaError::BadLadder(format!(
                    "level {:?} must be 1-32 characters of a-z and _ (and not {AUTO_CLOSE_STEP})",
                    step.level
                )));
            }
            if steps[..i].iter().any(|s| s.level == step.level) {
                return Err(SlaError::BadLadder(format!("level {:?} appears twice", step.level)));
            }
            match step.trigger {
                Trigger::AtFraction(f) if !(f.is_finite() && f > 0.0 && f <= 1.0) => {
                    return Err(SlaError::BadLadder(format!(
                        "{}: at_fraction must be in (0, 1], got {f}",
                        step.level
                    )));
                }
                Trigger::WorkingDaysAfterDeadline(n) if n == 0 || n > MAX_SLA_WORKING_DAYS => {
                    return Err(SlaError::BadLadder(format!(
                        "{}: working_days_after_deadline must be 1..={MAX_SLA_WORKING_DAYS}, got {n}",
                        step.level
                    )));
                }
                _ => {}
            }
            if step.notify.is_empty() {
                return Err(SlaError::BadLadder(format!("{}: nobody to notify", step.level)));
            }
        }
        Ok(Ladder { steps })
    }

    pub fn steps(&self) -> &[LadderStep] {
        &self.steps
    }
}

impl Default for Ladder {
    /// 75% → penghubung; breach → kepala SKPD and koordinator; breach + 2 working days →
    /// provincial admin and pimpinan.
    fn default() -> Self {
        Ladder {
            steps: vec![
                LadderStep {
                    level: "reminder".into(),
                    trigger: Trigger::AtFraction(0.75),
                    notify: vec![OfficerRole::Penghubung],
                },
                LadderStep {
                    level: "breach".into(),
                    trigger: Trigger::AtFraction(1.0),
                    notify: vec![OfficerRole::Kepala, OfficerRole::Koordinator],
                },
                LadderStep {
                    level: "provincial".into(),
                    trigger: Trigger::WorkingDaysAfterDeadline(2),
                    notify: vec![OfficerRole::Admin, OfficerRole::Pimpinan],
                },
            ],
        }
    }
}

/// One timer to store: a ladder step, or the auto-close at the end of the reply window.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTimer {
    pub step: String,
    pub trigger: Trigger,
    pub notify: Vec<OfficerRole>,
    pub due_at: DateTime<Utc>,
}

/// A stage's clock: its deadline and the timers to arm.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub deadline: DateTime<Utc>,
    pub timers: Vec<PlannedTimer>,
}

/// Plans the clock of `stage` started at `started_at` for `working_days`.
pub fn plan(
    stage: SlaStage,
    started_at: DateTime<Utc>,
    working_days: u32,
    calendar: &WorkingCalendar,
    ladder: &Ladder,
) -> Result<Clock, CalendarError> {
    let deadline = calendar.deadline(started_at, working_days)?;
    let timers = match stage {
        SlaStage::ReplyWindow => vec![PlannedTimer {
            step: AUTO_CLOSE_STEP.to_owned(),
            trigger: Trigger::AtFraction(1.0),
            notify: Vec::new(),
            due_at: deadline,
        }],
        SlaStage::Verification | SlaStage::FollowUp => ladder
            .steps()
            .iter()
            .map(|step| {
                Ok(PlannedTimer {
                    step: step.level.clone(),
                    trigger: step.trigger,
                    notify: step.notify.clone(),
                    due_at: due_at(step.trigger, started_at, working_days, calendar)?,
                })
            })
            .collect::<Result<_, CalendarError>>()?,
    };
    Ok(Clock { deadline, timers })
}

/// When a step with `trigger` falls due on a clock; also used to recompute stored timers
/// after a calendar change.
pub fn due_at(
    trigger: Trigger,
    started_at: DateTime<Utc>,
    working_days: u32,
    calendar: &WorkingCalendar,
) -> Result<DateTime<Utc>, CalendarError> {
    match trigger {
        Trigger::AtFraction(f) if f >= 1.0 => calendar.deadline(started_at, working_days),
        Trigger::AtFraction(f) => calendar.reminder_at(started_at, working_days, f),
        Trigger::WorkingDaysAfterDeadline(n) => {
            calendar.working_days_after_deadline(calendar.deadline(started_at, working_days)?, n)
        }
    }
}

/// What a transition does to a case's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChange {
    /// Same stage, same SKPD: the running clock goes on.
    Keep,
    /// No clock in the new state: cancel the running one.
    Stop,
    /// Cancel any running clock and start this stage's now.
    Start(SlaStage),
}

/// Decides the clock change from the state and SKPD before (None for a new case) and after.
pub fn clock_change(before: Option<(CaseState, Option<&str>)>, after: (CaseState, Option<&str>)) -> ClockChange {
    let stage_before = before.and_then(|(state, _)| SlaStage::for_state(state));
    let Some(stage_after) = SlaStage::for_state(after.0) else {
        return ClockChange::Stop;
    };
    let moved_skpd = before.is_some_and(|(_, skpd)| skpd != after.1);
    if stage_before != Some(stage_after) || (stage_after == SlaStage::FollowUp && moved_skpd) {
        ClockChange::Start(stage_after)
    } else {
        ClockChange::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarPolicy, load_holidays};
    use chrono::TimeZone;
    use std::path::Path;

    fn kalsel() -> WorkingCalendar {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed/holidays");
        WorkingCalendar::new(&load_holidays(&dir).expect("seed"), CalendarPolicy::default(), None)
    }

    fn wita(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        crate::calendar::Zone::Wita
            .offset()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn stages_follow_states() {
        assert_eq!(SlaStage::for_state(CaseState::Submitted), Some(SlaStage::Verification));
        assert_eq!(SlaStage::for_state(CaseState::InProgress), Some(SlaStage::FollowUp));
        assert_eq!(SlaStage::for_state(CaseState::FollowedUp), Some(SlaStage::ReplyWindow));
        assert_eq!(SlaStage::for_state(CaseState::OnHold), None);
        assert_eq!(SlaStage::for_state(CaseState::Closed), None);
        for stage in SlaStage::ALL {
            assert_eq!(SlaStage::parse(stage.as_str()), Ok(stage));
        }
    }

    #[test]
    fn clock_changes() {
        use CaseState as S;
        assert_eq!(
            clock_change(None, (S::Submitted, None)),
            ClockChange::Start(SlaStage::Verification)
        );
        assert_eq!(
            clock_change(Some((S::Submitted, None)), (S::Verified, Some("dinkes"))),
            ClockChange::Start(SlaStage::FollowUp)
        );
        // Work started, sub-unit disposition: same SKPD, same clock.
        assert_eq!(
            clock_change(Some((S::Assigned, Some("dinkes"))), (S::InProgress, Some("dinkes"))),
            ClockChange::Keep
        );
        assert_eq!(
            clock_change(Some((S::Submitted, None)), (S::OnHold, None)),
            ClockChange::Stop
        );
        assert_eq!(
            clock_change(Some((S::FollowedUp, Some("dinkes"))), (S::Closed, Some("dinkes"))),
            ClockChange::Stop
        );
        // An objection reopens: a new follow-up clock.
        assert_eq!(
            clock_change(Some((S::FollowedUp, Some("dinkes"))), (S::InProgress, Some("dinkes"))),
            ClockChange::Start(SlaStage::FollowUp)
        );
        assert_eq!(
            clock_change(Some((S::Verified, Some("dinkes"))), (S::Verified, Some("dpupr"))),
            ClockChange::Start(SlaStage::FollowUp)
        );
        // Edits while waiting for verification keep the clock.
        assert_eq!(
            clock_change(Some((S::Submitted, None)), (S::Submitted, None)),
            ClockChange::Keep
        );
    }

    #[test]
    fn policy_precedence_is_tier_category_skpd_default() {
        let mut policy = SlaPolicy::default();
        assert_eq!(policy.working_days(SlaStage::FollowUp, "kesehatan", "dinkes", None), 5);
        policy.rules.insert((SlaScope::Default, SlaStage::FollowUp), 6);
        assert_eq!(policy.working_days(SlaStage::FollowUp, "kesehatan", "dinkes", None), 6);
        policy
            .rules
            .insert((SlaScope::Skpd("dinkes".into()), SlaStage::FollowUp), 7);
        assert_eq!(policy.working_days(SlaStage::FollowUp, "kesehatan", "dinkes", None), 7);
        policy
            .rules
            .insert((SlaScope::Category("kesehatan".into()), SlaStage::FollowUp), 2);
        assert_eq!(policy.working_days(SlaStage::FollowUp, "kesehatan", "dinkes", None), 2);
        policy.tiers.insert("kompleks".into(), 14);
        assert_eq!(
            policy.working_days(SlaStage::FollowUp, "kesehatan", "dinkes", Some("kompleks")),
            14
        );
        // A tier governs only the follow-up.
        assert_eq!(
            policy.working_days(SlaStage::Verification, "kesehatan", "dinkes", Some("kompleks")),
            3
        );
        assert!(policy.check_tier("kompleks").is_ok());
        assert_eq!(
            policy.check_tier("mustahil"),
            Err(SlaError::UnknownTier("mustahil".into()))
        );
    }

    #[test]
    fn bad_scopes_days_and_tiers_are_rejected() {
        assert_eq!(SlaScope::parse("default"), Ok(SlaScope::Default));
        assert_eq!(SlaScope::parse("skpd:dinkes"), Ok(SlaScope::Skpd("dinkes".into())));
        assert_eq!(
            SlaScope::parse("category:kesehatan.puskesmas"),
            Ok(SlaScope::Category("kesehatan.puskesmas".into()))
        );
        for bad in ["", "skpd:", "kabupaten:6371", "skpd:Dinkes", "category:a b", "defaults"] {
            assert!(SlaScope::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_working_days(1), Ok(1));
        assert_eq!(check_working_days(365), Ok(365));
        for bad in [0, -3, 366, 1_000_000] {
            assert_eq!(check_working_days(bad), Err(SlaError::AbsurdDays(bad)));
        }
        assert!(check_tier_code("sangat_kompleks").is_ok());
        assert!(check_tier_code("Kompleks").is_err());
        assert!(check_tier_code("").is_err());
    }

    #[test]
    fn ladder_validation() {
        assert!(Ladder::new(Ladder::default().steps().to_vec()).is_ok());
        assert!(Ladder::new(vec![]).is_err());
        let mut twice = Ladder::default().steps().to_vec();
        twice[1].level = "reminder".into();
        assert!(Ladder::new(twice).is_err());
        let mut fraction = Ladder::default().steps().to_vec();
        fraction[0].trigger = Trigger::AtFraction(1.5);
        assert!(Ladder::new(fraction).is_err());
        let mut after = Ladder::default().steps().to_vec();
        after[2].trigger = Trigger::WorkingDaysAfterDeadline(0);
        assert!(Ladder::new(after).is_err());
        let mut nobody = Ladder::default().steps().to_vec();
        nobody[0].notify.clear();
        assert!(Ladder::new(nobody).is_err());
    }

    /// A complaint assigned on Tuesday 17 March 2026, just before Nyepi and Idul Fitri 1447 H
    /// (19, 21–22 March libur nasional; 18, 20, 23, 24 March cuti bersama): the follow-up
    /// clock of 5 working days only starts counting on Wednesday 25 March.
    #[test]
    fn ladder_before_idul_fitri_2026() {
        let calendar = kalsel();
        let assigned = wita(2026, 3, 17, 10, 0);
        let clock = plan(SlaStage::FollowUp, assigned, 5, &calendar, &Ladder::default()).expect("plan");
        let working: Vec<_> = (18..=31)
            .filter_map(|d| chrono::NaiveDate::from_ymd_opt(2026, 3, d))
            .filter(|d| calendar.is_working_day(*d))
            .collect();
        // The deadline is the end of the 5th working day after the 17th.
        let fifth = working[4];
        assert_eq!(clock.deadline, calendar.deadline(assigned, 5).expect("deadline"));
        assert_eq!(calendar.local_date(clock.deadline), fifth.succ_opt().expect("next day"));
        let steps: Vec<_> = clock.timers.iter().map(|t| t.step.as_str()).collect();
        assert_eq!(steps, ["reminder", "breach", "provincial"]);
        assert!(clock.timers[0].due_at < clock.deadline);
        assert_eq!(clock.timers[1].due_at, clock.deadline);
        // Breach + 2 working days: the end of the 7th working day.
        assert_eq!(
            clock.timers[2].due_at,
            calendar.deadline(assigned, 7).expect("deadline + 2")
        );
        // The holidays really are in the way: five calendar days would end on 22 March.
        assert!(fifth > chrono::NaiveDate::from_ymd_opt(2026, 3, 24).expect("date"));
    }

    #[test]
    fn reply_window_plans_one_auto_close() {
        let calendar = kalsel();
        let followed_up = wita(2026, 11, 2, 9, 0);
        let clock = plan(SlaStage::ReplyWindow, followed_up, 10, &calendar, &Ladder::default()).expect("plan");
        assert_eq!(clock.timers.len(), 1);
        assert_eq!(clock.timers[0].step, AUTO_CLOSE_STEP);
        assert_eq!(clock.timers[0].due_at, clock.deadline);
    }
}
