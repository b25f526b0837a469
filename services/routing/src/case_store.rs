//! Mapping between the `cases` table and the workflow's [`Case`], and the transaction that
//! stores one accepted transition: the case under optimistic concurrency, its text, the
//! audit entry and the outbox events, all or nothing.

use crate::clock::{self, ClockRules};
use crate::entity::{case, skpd};
use chrono::{DateTime, Utc};
use lapor_domain::CaseState;
use lapor_domain::workflow::{ArchiveReason, Case, Event, Transition};
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope, new_typed_envelope};
use lapor_proto::events::v1::{AttachmentRef, CaseUpdated, ComplaintAssigned, MergedReport, event_envelope::Payload};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Who did it, as the audit log records it.
#[derive(Debug, Clone)]
pub struct AuditActor {
    /// `officer:<subject>`, `system` or `reporter`.
    pub actor: String,
    pub role: String,
}

impl AuditActor {
    pub fn system() -> Self {
        Self {
            actor: "system".into(),
            role: "system".into(),
        }
    }
}

pub fn to_workflow(model: &case::Model) -> Case {
    Case {
        tracking_id: model.tracking_id.clone(),
        reporter_ref: model.reporter_ref.clone(),
        state: CaseState::parse(&model.state).unwrap_or(CaseState::Submitted),
        skpd: model.skpd_code.clone(),
        sub_unit: model.sub_unit.clone(),
        title: model.title.clone(),
        category: model.category_code.clone(),
        anonim: model.anonim,
        rahasia: model.rahasia,
        referred_to: model.referred_to.clone(),
        archive_reason: model.archive_reason.as_deref().and_then(ArchiveReason::parse),
        duplicate_of: model.duplicate_of.clone(),
        rated: model.rated,
        version: model.version.max(0) as u64,
    }
}

fn snapshot(case: &Case) -> serde_json::Value {
    json!({
        "state": case.state.as_str(),
        "skpd": case.skpd,
        "sub_unit": case.sub_unit,
        "title": case.title,
        "category": case.category,
        "anonim": case.anonim,
        "rahasia": case.rahasia,
        "referred_to": case.referred_to,
        "archive_reason": case.archive_reason.map(ArchiveReason::as_str),
        "duplicate_of": case.duplicate_of,
        "rated": case.rated,
    })
}

/// The audit's "after" with the files the action added, when it added any.
fn with_attached(mut after: serde_json::Value, attached: &[AttachmentRef]) -> serde_json::Value {
    if !attached.is_empty() {
        after["attachments"] = attached
            .iter()
            .map(|file| json!({"id": file.id, "filename": file.filename, "content_type": file.content_type}))
            .collect();
    }
    after
}

/// Writes accepted transitions: the case row, its SLA clock, text, audit entry and events.
#[derive(Clone)]
pub struct CaseWriter {
    pub outbox: Outbox,
    pub rules: Arc<ClockRules>,
}

/// What an officer (or the system) did, for the audit log, and the complexity tier chosen
/// at a disposition.
pub struct Change<'a> {
    pub action: &'a str,
    pub who: &'a AuditActor,
    pub tier: Option<&'a str>,
    /// Files the action added to the case (a follow-up's), named in its audit entry.
    pub attached: &'a [AttachmentRef],
}

impl CaseWriter {
    /// Stores `transition` of the case that was at `before`; fails with `Ok(false)` when
    /// another writer changed the case since it was read (the version moved on).
    pub async fn store(
        &self,
        txn: &DatabaseTransaction,
        complaint_id: Uuid,
        before: &Case,
        transition: &Transition,
        change: &Change<'_>,
    ) -> Result<bool, DbErr> {
        let writer = self;
        let Change {
            action,
            who,
            tier,
            attached,
        } = *change;
        let after = &transition.case;
        let updated = case::Entity::update_many()
            .col_expr(case::Column::State, Expr::value(after.state.as_str()))
            .col_expr(case::Column::SkpdCode, Expr::value(after.skpd.clone()))
            .col_expr(case::Column::SubUnit, Expr::value(after.sub_unit.clone()))
            .col_expr(case::Column::Title, Expr::value(after.title.clone()))
            .col_expr(case::Column::CategoryCode, Expr::value(after.category.clone()))
            .col_expr(case::Column::Anonim, Expr::value(after.anonim))
            .col_expr(case::Column::Rahasia, Expr::value(after.rahasia))
            .col_expr(case::Column::ReferredTo, Expr::value(after.referred_to.clone()))
            .col_expr(
                case::Column::ArchiveReason,
                Expr::value(after.archive_reason.map(|r| r.as_str().to_owned())),
            )
            .col_expr(case::Column::DuplicateOf, Expr::value(after.duplicate_of.clone()))
            .col_expr(case::Column::Rated, Expr::value(after.rated))
            .col_expr(case::Column::Version, Expr::value(after.version as i64))
            .col_expr(case::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(case::Column::ComplaintId.eq(complaint_id))
            .filter(case::Column::Version.eq(before.version as i64))
            .exec(txn)
            .await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        if let Some(tier) = tier {
            case::Entity::update_many()
                .col_expr(case::Column::ComplexityTier, Expr::value(tier))
                .filter(case::Column::ComplaintId.eq(complaint_id))
                .exec(txn)
                .await?;
        }
        let sla_due_at = clock::on_transition(txn, &writer.rules, complaint_id, Some(before), after).await?;
        if let Some(text) = &transition.text {
            crate::entity::case_text::ActiveModel {
                id: Set(Uuid::now_v7()),
                complaint_id: Set(complaint_id),
                action: Set(action.to_owned()),
                author: Set(who.actor.clone()),
                body: Set(text.clone()),
                created_at: Set(Utc::now()),
            }
            .insert(txn)
            .await?;
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_log (complaint_id, actor, actor_role, action, state_before, state_after, before_json, \
         after_json, version_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                complaint_id.into(),
                who.actor.clone().into(),
                who.role.clone().into(),
                action.into(),
                before.state.as_str().into(),
                after.state.as_str().into(),
                snapshot(before).into(),
                with_attached(snapshot(after), attached).into(),
                (after.version as i64).into(),
            ],
        ))
        .await?;
        for event in &transition.events {
            let outgoing = integration_event(txn, complaint_id, after, event, &who.role, sla_due_at).await?;
            writer.outbox.enqueue(txn, &outgoing).await?;
        }
        Ok(true)
    }
}

/// The duplicates merged into the case `tracking_id`.
async fn merged_into(txn: &DatabaseTransaction, tracking_id: &str) -> Result<Vec<MergedReport>, DbErr> {
    Ok(case::Entity::find()
        .filter(case::Column::DuplicateOf.eq(tracking_id))
        .order_by_asc(case::Column::TrackingId)
        .all(txn)
        .await?
        .into_iter()
        .map(|child| MergedReport {
            complaint_id: child.complaint_id.to_string(),
            tracking_id: child.tracking_id,
        })
        .collect())
}

/// Turns a workflow event into the integration event on `lapor.events`. An assignment keeps
/// the `ComplaintAssigned` payload the SKPD queues and notification expect.
async fn integration_event(
    txn: &DatabaseTransaction,
    complaint_id: Uuid,
    case: &Case,
    event: &Event,
    actor_role: &str,
    sla_due_at: Option<DateTime<Utc>>,
) -> Result<OutgoingEvent, DbErr> {
    let now = Utc::now();
    // A rahasia case is its own reporter's alone: a duplicate merged into it shows its own
    // state (intake's public view) and its reporter hears nothing of this case.
    let merged_reports = if case.rahasia {
        Vec::new()
    } else {
        merged_into(txn, &case.tracking_id).await?
    };
    let envelope = match event {
        Event::Assigned { skpd, via } => {
            let skpd_name = skpd::Entity::find_by_id(skpd.clone())
                .one(txn)
                .await?
                .map(|s| s.name)
                .unwrap_or_default();
            let kabupaten = case::Entity::find_by_id(complaint_id)
                .one(txn)
                .await?
                .map(|c| c.kabupaten_code)
                .unwrap_or_default();
            let payload = Payload::ComplaintAssigned(ComplaintAssigned {
                skpd_code: skpd.clone(),
                skpd_name,
                category_code: case.category.clone(),
                kabupaten_code: kabupaten,
                title: case.title.clone(),
                reason: via.as_str().to_owned(),
                rahasia: case.rahasia,
                assigned_at: Some(to_timestamp(now)),
                version: case.version as i64,
                sla_due_at: sla_due_at.map(to_timestamp),
                merged_reports,
            });
            new_envelope("routing", complaint_id, &case.tracking_id, payload)
        }
        other => {
            let mut update = CaseUpdated {
                state: case.state.as_str().to_owned(),
                version: case.version as i64,
                skpd_code: case.skpd.clone().unwrap_or_default(),
                sub_unit: case.sub_unit.clone().unwrap_or_default(),
                referred_to: case.referred_to.clone().unwrap_or_default(),
                archive_reason: case.archive_reason.map(|r| r.as_str().to_owned()).unwrap_or_default(),
                duplicate_of: case.duplicate_of.clone().unwrap_or_default(),
                category_code: case.category.clone(),
                title: case.title.clone(),
                anonim: case.anonim,
                rahasia: case.rahasia,
                actor_role: actor_role.to_owned(),
                at: Some(to_timestamp(now)),
                sla_due_at: sla_due_at.map(to_timestamp),
                merged_reports,
                ..Default::default()
            };
            match other {
                Event::ReturnedToAdmin { skpd } => update.skpd_code = skpd.clone(),
                Event::Reopened { skpd, objection } => {
                    update.skpd_code = skpd.clone();
                    update.objection = *objection;
                }
                Event::Closed { skpd, auto } => {
                    update.skpd_code = skpd.clone();
                    update.automatic = *auto;
                }
                Event::Rated { skpd, stars } => {
                    update.skpd_code = skpd.clone();
                    update.stars = u32::from(*stars);
                }
                _ => {}
            }
            new_typed_envelope(
                "routing",
                other.event_type(),
                complaint_id,
                &case.tracking_id,
                Payload::CaseUpdated(update),
            )
        }
    };
    Ok(OutgoingEvent::new(envelope, event.skpd_scope()))
}
