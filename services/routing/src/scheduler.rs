//! The deadline scheduler. Every routing replica runs one; they share the work through the
//! database: each tick claims due timers with `FOR UPDATE SKIP LOCKED` and fires them in
//! the same transaction that marks them fired, so a timer fires once however many replicas
//! run and whichever of them dies. "Due" is decided by PostgreSQL's `now()`, never by the
//! replica's clock, so a replica whose clock runs ahead fires nothing early.
//!
//! Firing a ladder step writes `complaint.escalated.<level>.<skpd>` to the outbox (the
//! notification service reaches the officers); firing `auto_close` closes the case through
//! the workflow, which stops its clock.

use crate::case_store::{self, AuditActor, CaseWriter, Change};
use crate::entity::case;
use chrono::{DateTime, Utc};
use lapor_domain::CaseState;
use lapor_domain::sla::AUTO_CLOSE_STEP;
use lapor_domain::workflow::{self, Action, Actor, Context};
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::{OutgoingEvent, new_typed_envelope};
use lapor_proto::events::v1::{ComplaintEscalated, event_envelope::Payload};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryResult, QuerySelect,
    Statement, TransactionTrait,
};
use serde::Deserialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    pub enabled: bool,
    /// How often an idle scheduler looks for due timers; bounds the firing delay.
    pub poll_interval_ms: u64,
    /// Timers fired per transaction.
    pub batch_size: u32,
}

pub struct Scheduler {
    pub db: DatabaseConnection,
    pub writer: CaseWriter,
    pub settings: SchedulerSettings,
    /// Recorded in `deadlines.fired_by`: which replica fired a timer.
    pub replica: String,
}

/// A due timer with what its event needs from the case.
struct DueTimer {
    id: i64,
    complaint_id: Uuid,
    tracking_id: String,
    stage: String,
    step: String,
    skpd_code: String,
    skpd_name: String,
    notify_roles: String,
    due_at: DateTime<Utc>,
    working_days: i32,
    case_version: i64,
    title: String,
    category_code: String,
    rahasia: bool,
    deadline_at: Option<DateTime<Utc>>,
}

impl DueTimer {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(DueTimer {
            id: row.try_get("", "id")?,
            complaint_id: row.try_get("", "complaint_id")?,
            tracking_id: row.try_get("", "tracking_id")?,
            stage: row.try_get("", "stage")?,
            step: row.try_get("", "step")?,
            skpd_code: row.try_get("", "skpd_code")?,
            skpd_name: row.try_get::<Option<String>>("", "skpd_name")?.unwrap_or_default(),
            notify_roles: row.try_get("", "notify_roles")?,
            due_at: row.try_get("", "due_at")?,
            working_days: row.try_get("", "working_days")?,
            case_version: row.try_get("", "case_version")?,
            title: row.try_get("", "title")?,
            category_code: row.try_get("", "category_code")?,
            rahasia: row.try_get("", "rahasia")?,
            deadline_at: row.try_get("", "sla_due_at")?,
        })
    }
}

enum Fired {
    Done,
    /// The case row is locked by an officer right now; try again next tick.
    Busy,
}

impl Scheduler {
    pub async fn run(self, stop: CancellationToken) {
        if !self.settings.enabled {
            tracing::info!("deadline scheduler disabled on this replica");
            return;
        }
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(50));
        tracing::info!(replica = %self.replica, ?poll, "deadline scheduler started");
        while !stop.is_cancelled() {
            let full_batch = match self.tick().await {
                Ok(fired) => fired >= self.settings.batch_size as usize,
                Err(error) => {
                    tracing::warn!(%error, "deadline scheduler tick failed");
                    false
                }
            };
            if full_batch {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.cancelled() => {}
            }
        }
    }

    /// Claims and fires one batch of due timers; returns how many fired (timers of cases an
    /// officer holds locked wait for a later tick and do not count, so the loop never spins).
    pub async fn tick(&self) -> Result<usize, DbErr> {
        let txn = self.db.begin().await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT d.id, d.complaint_id, d.stage, d.step, d.skpd_code, d.notify_roles, d.due_at, \
                 d.working_days, d.case_version, c.tracking_id, c.title, c.category_code, c.rahasia, \
                 c.sla_due_at, s.name AS skpd_name \
                 FROM deadlines d JOIN cases c ON c.complaint_id = d.complaint_id \
                 LEFT JOIN skpds s ON s.code = d.skpd_code \
                 WHERE d.fired_at IS NULL AND d.cancelled_at IS NULL AND d.due_at <= now() \
                 ORDER BY d.due_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED",
                [(self.settings.batch_size.max(1) as i64).into()],
            ))
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let mut fired_count = 0;
        let now = crate::clock::db_now(&txn).await?;
        for row in &rows {
            let timer = DueTimer::from_row(row)?;
            let fired = if timer.step == AUTO_CLOSE_STEP {
                self.auto_close(&txn, &timer).await?
            } else {
                self.escalate(&txn, &timer).await?;
                Fired::Done
            };
            if let Fired::Done = fired {
                fired_count += 1;
                let lag = (now - timer.due_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::histogram!("lapor_routing_deadline_fire_lag_seconds").record(lag);
                metrics::counter!("lapor_routing_deadlines_fired_total", "step" => timer.step.clone()).increment(1);
            }
        }
        txn.commit().await?;
        self.writer.outbox.notify_committed();
        Ok(fired_count)
    }

    async fn mark_fired(&self, txn: &DatabaseTransaction, id: i64) -> Result<(), DbErr> {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE deadlines SET fired_at = now(), fired_by = $2 WHERE id = $1",
            [id.into(), self.replica.clone().into()],
        ))
        .await?;
        Ok(())
    }

    async fn escalate(&self, txn: &DatabaseTransaction, timer: &DueTimer) -> Result<(), DbErr> {
        self.mark_fired(txn, timer.id).await?;
        let payload = Payload::ComplaintEscalated(ComplaintEscalated {
            level: timer.step.clone(),
            stage: timer.stage.clone(),
            skpd_code: timer.skpd_code.clone(),
            skpd_name: timer.skpd_name.clone(),
            notify_roles: timer
                .notify_roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            due_at: Some(to_timestamp(timer.due_at)),
            deadline_at: timer.deadline_at.map(to_timestamp),
            working_days: timer.working_days.max(0) as u32,
            title: timer.title.clone(),
            category_code: timer.category_code.clone(),
            rahasia: timer.rahasia,
            deadline_id: timer.id,
            case_version: timer.case_version,
        });
        let event_type = format!("complaint.escalated.{}", timer.step);
        let envelope = new_typed_envelope("routing", &event_type, timer.complaint_id, &timer.tracking_id, payload);
        self.writer
            .outbox
            .enqueue(txn, &OutgoingEvent::new(envelope, Some(&timer.skpd_code)))
            .await?;
        tracing::info!(tracking_id = %timer.tracking_id, level = %timer.step, skpd = %timer.skpd_code, "escalated");
        metrics::counter!("lapor_routing_escalations_total", "level" => timer.step.clone()).increment(1);
        Ok(())
    }

    /// The reply window passed without a reply: the system closes the case. The timer is
    /// marked fired first, so the close (which stops the clock) does not cancel it.
    async fn auto_close(&self, txn: &DatabaseTransaction, timer: &DueTimer) -> Result<Fired, DbErr> {
        // Never wait on an officer's row lock while holding claimed timers.
        let Some(model) = case::Entity::find_by_id(timer.complaint_id)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(txn)
            .await?
        else {
            return Ok(Fired::Busy);
        };
        self.mark_fired(txn, timer.id).await?;
        let before = case_store::to_workflow(&model);
        // Edits and ratings inside the window raise the version but keep the clock, so the
        // version is not compared: a transition that ends the window cancels this timer.
        if before.state != CaseState::FollowedUp {
            tracing::warn!(tracking_id = %timer.tracking_id, "auto-close timer of a case that moved on");
            return Ok(Fired::Done);
        }
        let now = crate::clock::db_now(txn).await?;
        let context = Context {
            reply_window_open: model.sla_due_at.is_some_and(|due| now < due),
        };
        let action = Action::AutoClose;
        let transition = match workflow::apply(&before, &Actor::System, &action, &context) {
            Ok(transition) => transition,
            Err(error) => {
                tracing::error!(%error, tracking_id = %timer.tracking_id, "auto-close refused by the workflow");
                return Ok(Fired::Done);
            }
        };
        let change = Change {
            action: action.kind().as_str(),
            who: &AuditActor::system(),
            tier: None,
            attached: &[],
        };
        self.writer
            .store(txn, timer.complaint_id, &before, &transition, &change)
            .await?;
        tracing::info!(tracking_id = %timer.tracking_id, "case closed automatically after the reply window");
        Ok(Fired::Done)
    }
}
