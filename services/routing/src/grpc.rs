//! `lapor.routing.v1.RoutingService`: the officer and admin API. The interceptor has verified
//! the caller's JWT; every handler scopes reads and actions to the caller's SKPD.

use crate::case_store::{self, AuditActor, CaseWriter, Change};
use crate::clock::db_now;
use crate::entity::{case, case_attachment, case_text, skpd};
use crate::policy_store::sla_policy;
use lapor_domain::reference::OfficerRole;
use lapor_domain::workflow::{self, Action, Actor, Context, DetailsEdit, WorkflowError};
use lapor_domain::{CaseState, tracking_id};
use lapor_messaging::envelope::to_timestamp;
use lapor_platform::auth::{Principal, principal};
use lapor_platform::grpc::invalid_argument;
use lapor_proto::routing::v1::routing_service_server::RoutingService;
use lapor_proto::routing::v1::*;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct RoutingGrpc {
    pub db: DatabaseConnection,
    pub writer: CaseWriter,
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    /// Reporters' attachments, read from intake for officers who may see the case.
    pub files: Arc<crate::attachments::IntakeFiles>,
}

pub(crate) use lapor_platform::grpc::database_unavailable as unavailable;

/// The caller, when an admin; `refusal` says what only an admin does.
pub(crate) fn require_admin<T>(request: &Request<T>, refusal: &str) -> Result<Principal, Status> {
    let principal = principal(request)?;
    if principal.role == OfficerRole::Admin {
        Ok(principal)
    } else {
        Err(Status::permission_denied(refusal))
    }
}

impl RoutingGrpc {
    /// The sub-unit as the directory spells it, when the caller's SKPD lists its sub-units;
    /// an SKPD that lists none takes any name.
    fn listed_sub_unit(&self, principal: &Principal, asked: &str) -> Result<String, Status> {
        let directory = self.directory.get();
        let Some(skpd) = principal.skpd.as_deref().and_then(|code| directory.skpd(code)) else {
            return Ok(asked.to_owned());
        };
        if skpd.sub_units.is_empty() || asked.trim().is_empty() {
            return Ok(asked.to_owned());
        }
        skpd.sub_units
            .iter()
            .find(|listed| listed.eq_ignore_ascii_case(asked.trim()))
            .cloned()
            .ok_or_else(|| {
                invalid_argument(
                    "sub_unit",
                    &format!(
                        "{asked:?} is not a sub-unit of {}: {}",
                        skpd.code,
                        skpd.sub_units.join(", ")
                    ),
                )
            })
    }
}

fn is_provincial(principal: &Principal) -> bool {
    matches!(principal.role, OfficerRole::Admin | OfficerRole::Pimpinan)
}

fn actor_of(principal: &Principal) -> Actor {
    Actor::officer(principal.role, principal.skpd.clone().unwrap_or_default())
}

fn audit_actor(principal: &Principal) -> AuditActor {
    AuditActor {
        actor: format!("officer:{}", principal.subject),
        role: principal.role.as_str().to_owned(),
    }
}

/// Provincial roles read every case; SKPD roles only their SKPD's.
fn may_read(principal: &Principal, model: &case::Model) -> bool {
    is_provincial(principal) || (model.skpd_code.is_some() && model.skpd_code == principal.skpd)
}

fn workflow_status(error: WorkflowError) -> Status {
    match error {
        WorkflowError::Forbidden { reason } => Status::permission_denied(reason),
        WorkflowError::NotAllowed { .. } => Status::failed_precondition(error.to_string()),
        WorkflowError::Invalid { field, message } => invalid_argument(field, &message),
    }
}

fn normalized(raw: &str, field: &str) -> Result<String, Status> {
    tracking_id::normalize(raw).ok_or_else(|| invalid_argument(field, "is not a LAPOR tracking id"))
}

impl RoutingGrpc {
    async fn skpd_names(&self) -> Result<HashMap<String, String>, Status> {
        Ok(skpd::Entity::find()
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|s| (s.code, s.name))
            .collect())
    }

    async fn find(&self, raw_tracking_id: &str) -> Result<case::Model, Status> {
        let id = normalized(raw_tracking_id, "tracking_id")?;
        case::Entity::find()
            .filter(case::Column::TrackingId.eq(id.as_str()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found(format!("no case with tracking id {id}")))
    }

    async fn latest_follow_up(&self, model: &case::Model) -> Result<String, Status> {
        Ok(case_text::Entity::find()
            .filter(case_text::Column::ComplaintId.eq(model.complaint_id))
            .filter(case_text::Column::Action.eq("follow_up"))
            .order_by_desc(case_text::Column::CreatedAt)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(|t| t.body)
            .unwrap_or_default())
    }

    /// The escalation ladder of a case: every timer armed, oldest first.
    async fn deadlines(&self, complaint_id: uuid::Uuid) -> Result<Vec<Deadline>, Status> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, stage, step, due_at, fired_at, cancelled_at, working_days FROM deadlines \
                 WHERE complaint_id = $1 ORDER BY id",
                [complaint_id.into()],
            ))
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| -> Result<Deadline, DbErr> {
                let at = |column: &str| -> Result<Option<prost_types::Timestamp>, DbErr> {
                    Ok(row
                        .try_get::<Option<chrono::DateTime<chrono::Utc>>>("", column)?
                        .map(to_timestamp))
                };
                Ok(Deadline {
                    id: row.try_get("", "id")?,
                    stage: row.try_get("", "stage")?,
                    step: row.try_get("", "step")?,
                    due_at: at("due_at")?,
                    fired_at: at("fired_at")?,
                    cancelled_at: at("cancelled_at")?,
                    working_days: row.try_get::<i32>("", "working_days")?.max(0) as u32,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(unavailable)
    }

    async fn view(&self, model: case::Model, principal: &Principal) -> Result<Case, Status> {
        let follow_up = self.latest_follow_up(&model).await?;
        let deadlines = self.deadlines(model.complaint_id).await?;
        let attachments = self.attachments(model.complaint_id).await?;
        let mut case = to_proto(model, &self.skpd_names().await?, Some(principal), follow_up);
        case.deadlines = deadlines;
        case.attachments = attachments;
        Ok(case)
    }

    /// The files the reporter attached, in the order sent.
    async fn attachments(&self, complaint_id: uuid::Uuid) -> Result<Vec<Attachment>, Status> {
        Ok(case_attachment::Entity::find()
            .filter(case_attachment::Column::ComplaintId.eq(complaint_id))
            .order_by_asc(case_attachment::Column::Position)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|a| Attachment {
                id: a.id.to_string(),
                filename: a.filename,
                content_type: a.content_type,
                size_bytes: a.size_bytes,
            })
            .collect())
    }

    /// Runs one workflow action: check the caller's scope, then lock the row, check version
    /// and state, and store the transition with its audit entry and events in one transaction.
    async fn act(&self, principal: &Principal, case_ref: Option<CaseRef>, action: Action) -> Result<Case, Status> {
        self.act_with(principal, case_ref, action, None, Vec::new()).await
    }

    /// A disposition may choose a complexity tier for the follow-up SLA; it must exist.
    async fn checked_tier(&self, raw: &str) -> Result<Option<String>, Status> {
        let tier = raw.trim();
        if tier.is_empty() {
            return Ok(None);
        }
        let policy = sla_policy(&self.db).await.map_err(unavailable)?;
        policy
            .check_tier(tier)
            .map_err(|e| invalid_argument("complexity_tier", &e.to_string()))?;
        Ok(Some(tier.to_owned()))
    }

    /// One action on a case, with the follow-up SLA tier a disposition chose and the files
    /// a follow-up carries (handed to intake and listed on the case while the case's row is
    /// held, so a refused action stores no file).
    async fn act_with(
        &self,
        principal: &Principal,
        case_ref: Option<CaseRef>,
        action: Action,
        tier: Option<String>,
        files: Vec<FileUpload>,
    ) -> Result<Case, Status> {
        let case_ref = case_ref.ok_or_else(|| invalid_argument("case", "is required"))?;
        let id = normalized(&case_ref.tracking_id, "case.tracking_id")?;
        // Scope first, on an unlocked read: an officer of another SKPD learns nothing, not even
        // that someone else is working on the case right now.
        let current = self.find(&id).await?;
        if let Err(WorkflowError::Forbidden { reason }) = workflow::apply(
            &case_store::to_workflow(&current),
            &actor_of(principal),
            &action,
            &Context::default(),
        ) {
            return Err(Status::permission_denied(reason));
        }
        self.check_references(&action, &id).await?;
        let txn = self.db.begin().await.map_err(unavailable)?;
        let outcome = self
            .act_locked(&txn, principal, &case_ref, &id, &action, tier.as_deref(), files)
            .await;
        // Release the row lock at once on failure; a dropped transaction rolls back later.
        match outcome {
            Ok(()) => txn.commit().await.map_err(unavailable)?,
            Err(status) => {
                let _ = txn.rollback().await;
                return Err(status);
            }
        }
        self.writer.outbox.notify_committed();
        tracing::info!(tracking_id = %id, action = action.kind().as_str(), actor = %principal.subject, "case action");
        let model = self.find(&id).await?;
        self.view(model, principal).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn act_locked(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        principal: &Principal,
        case_ref: &CaseRef,
        id: &str,
        action: &Action,
        tier: Option<&str>,
        files: Vec<FileUpload>,
    ) -> Result<(), Status> {
        let model = case::Entity::find()
            .filter(case::Column::TrackingId.eq(id))
            .lock_with_behavior(LockType::Update, LockBehavior::Nowait)
            .one(txn)
            .await
            .map_err(|e| {
                if e.to_string().contains("could not obtain lock") {
                    // Another officer holds the row right now: the same answer as a stale version.
                    Status::failed_precondition("case is being changed by someone else, reload and retry")
                } else {
                    unavailable(e)
                }
            })?
            .ok_or_else(|| Status::not_found(format!("no case with tracking id {id}")))?;
        let before = case_store::to_workflow(&model);
        let now = db_now(txn).await.map_err(unavailable)?;
        let context = Context {
            reply_window_open: crate::clock::reply_window_open(&model, now),
        };
        let outcome = workflow::apply(&before, &actor_of(principal), action, &context);
        if let Err(WorkflowError::Forbidden { reason }) = &outcome {
            return Err(Status::permission_denied(reason.clone()));
        }
        if case_ref.expected_version != model.version {
            return Err(Status::failed_precondition(format!(
                "case {id} is at version {} but the request expected {}: reload and retry",
                model.version, case_ref.expected_version
            )));
        }
        let transition = outcome.map_err(workflow_status)?;
        // Everything is checked and the row is held: only now do the files go to intake.
        // (A COMMIT that fails after this leaves them in intake, listed nowhere, never served.)
        let attached = match files.is_empty() {
            true => Vec::new(),
            false => self.files.add(model.complaint_id, files).await?,
        };
        let who = audit_actor(principal);
        let change = Change {
            action: action.kind().as_str(),
            who: &who,
            tier,
            attached: &attached,
        };
        let stored = self
            .writer
            .store(txn, model.complaint_id, &before, &transition, &change)
            .await
            .map_err(unavailable)?;
        if !stored {
            return Err(Status::failed_precondition(format!(
                "case {id} changed meanwhile: reload and retry"
            )));
        }
        crate::attachments::record(txn, model.complaint_id, &attached)
            .await
            .map_err(unavailable)
    }

    /// Things only the database knows: the named SKPD, category and parent case exist.
    async fn check_references(&self, action: &Action, own_id: &str) -> Result<(), Status> {
        match action {
            Action::Verify { skpd } | Action::Redispose { skpd } => {
                let exists = skpd::Entity::find_by_id(skpd.clone())
                    .one(&self.db)
                    .await
                    .map_err(unavailable)?
                    .is_some();
                if !exists {
                    return Err(invalid_argument("skpd_code", &format!("unknown skpd {skpd:?}")));
                }
            }
            Action::EditDetails(DetailsEdit {
                category: Some(category),
                ..
            }) if !self.directory.get().has_category(category) => {
                return Err(invalid_argument(
                    "category_code",
                    &format!("unknown category {category:?}"),
                ));
            }
            Action::MergeInto { parent } => {
                let parent_id = normalized(parent, "parent_tracking_id")?;
                if parent_id == own_id {
                    return Err(invalid_argument("parent_tracking_id", "a case cannot duplicate itself"));
                }
                let exists = case::Entity::find()
                    .filter(case::Column::TrackingId.eq(parent_id.as_str()))
                    .one(&self.db)
                    .await
                    .map_err(unavailable)?
                    .is_some();
                if !exists {
                    return Err(invalid_argument("parent_tracking_id", "no case with that tracking id"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn to_proto(
    model: case::Model,
    skpd_names: &HashMap<String, String>,
    viewer: Option<&Principal>,
    follow_up: String,
) -> Case {
    let workflow_case = case_store::to_workflow(&model);
    let available_actions = viewer
        .map(|p| {
            workflow::available_actions(&workflow_case, &actor_of(p))
                .into_iter()
                .map(|k| k.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let state = CaseState::parse(&model.state);
    let skpd_code = model.skpd_code.unwrap_or_default();
    Case {
        complaint_id: model.complaint_id.to_string(),
        tracking_id: model.tracking_id,
        title: model.title,
        category_code: model.category_code,
        kabupaten_code: model.kabupaten_code,
        skpd_name: skpd_names.get(&skpd_code).cloned().unwrap_or_default(),
        skpd_code,
        state_label: state.map(|s| s.public_label().to_owned()).unwrap_or_default(),
        state: model.state,
        version: model.version,
        // The identity lives only in intake's vault; anonim cases say so explicitly.
        reporter: if model.anonim { "Anonim".into() } else { String::new() },
        anonim: model.anonim,
        rahasia: model.rahasia,
        submitted_at: Some(to_timestamp(model.submitted_at)),
        updated_at: Some(to_timestamp(model.updated_at)),
        sub_unit: model.sub_unit.unwrap_or_default(),
        referred_to: model.referred_to.unwrap_or_default(),
        archive_reason: model.archive_reason.unwrap_or_default(),
        duplicate_of: model.duplicate_of.unwrap_or_default(),
        rated: model.rated,
        body: model.body,
        available_actions,
        follow_up,
        sla_due_at: model.sla_due_at.map(to_timestamp),
        sla_stage: model.sla_stage.unwrap_or_default(),
        complexity_tier: model.complexity_tier.unwrap_or_default(),
        deadlines: Vec::new(),
        attachments: Vec::new(),
    }
}

fn limit_of(limit: u32) -> Result<u64, Status> {
    match limit {
        0 => Ok(50),
        n @ 1..=500 => Ok(u64::from(n)),
        _ => Err(invalid_argument("limit", "must be between 1 and 500")),
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingGrpc {
    type ReadAttachmentStream = crate::attachments::ChunkStream;

    #[tracing::instrument(name = "ReadAttachment", skip_all)]
    async fn read_attachment(
        &self,
        request: Request<ReadAttachmentRequest>,
    ) -> Result<Response<Self::ReadAttachmentStream>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let model = self.find(&request.tracking_id).await?;
        if !may_read(&principal, &model) {
            return Err(Status::permission_denied("case belongs to another skpd"));
        }
        let not_found = || {
            Status::not_found(format!(
                "case {} has no attachment {:?}",
                model.tracking_id, request.attachment_id
            ))
        };
        let id = uuid::Uuid::parse_str(request.attachment_id.trim()).map_err(|_| not_found())?;
        case_attachment::Entity::find_by_id(id)
            .filter(case_attachment::Column::ComplaintId.eq(model.complaint_id))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(not_found)?;
        Ok(Response::new(self.files.read(model.complaint_id, id).await?))
    }

    #[tracing::instrument(name = "GetCase", skip_all)]
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let model = self.find(&request.into_inner().tracking_id).await?;
        if !may_read(&principal, &model) {
            return Err(Status::permission_denied("case belongs to another skpd"));
        }
        Ok(Response::new(self.view(model, &principal).await?))
    }

    #[tracing::instrument(name = "ListInbox", skip_all)]
    async fn list_inbox(&self, request: Request<ListInboxRequest>) -> Result<Response<ListInboxResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let limit = limit_of(request.limit)?;
        let names = self.skpd_names().await?;
        if !names.contains_key(&request.skpd_code) {
            return Err(Status::not_found(format!("unknown skpd {:?}", request.skpd_code)));
        }
        if !is_provincial(&principal) && principal.skpd.as_deref() != Some(request.skpd_code.as_str()) {
            return Err(Status::permission_denied("inbox of another skpd"));
        }
        let cases = case::Entity::find()
            .filter(case::Column::SkpdCode.eq(request.skpd_code.as_str()))
            .order_by_desc(case::Column::SubmittedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(ListInboxResponse {
            cases: cases
                .into_iter()
                .map(|c| to_proto(c, &names, Some(&principal), String::new()))
                .collect(),
        }))
    }

    #[tracing::instrument(name = "ListVerificationQueue", skip_all)]
    async fn list_verification_queue(
        &self,
        request: Request<ListVerificationQueueRequest>,
    ) -> Result<Response<ListInboxResponse>, Status> {
        let principal = principal(&request)?;
        if !is_provincial(&principal) {
            return Err(Status::permission_denied(
                "the verification queue is for provincial admins",
            ));
        }
        let limit = limit_of(request.into_inner().limit)?;
        let waiting = [
            CaseState::Submitted.as_str(),
            CaseState::OnHold.as_str(),
            CaseState::RejectedNotAuthority.as_str(),
        ];
        let cases = case::Entity::find()
            .filter(case::Column::State.is_in(waiting))
            .order_by_asc(case::Column::SubmittedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let names = self.skpd_names().await?;
        Ok(Response::new(ListInboxResponse {
            cases: cases
                .into_iter()
                .map(|c| to_proto(c, &names, Some(&principal), String::new()))
                .collect(),
        }))
    }

    #[tracing::instrument(name = "SuggestDuplicates", skip_all)]
    async fn suggest_duplicates(
        &self,
        request: Request<SuggestDuplicatesRequest>,
    ) -> Result<Response<SuggestDuplicatesResponse>, Status> {
        let principal = principal(&request)?;
        if principal.role != OfficerRole::Admin {
            return Err(Status::permission_denied(
                "only the verification desk looks for duplicates",
            ));
        }
        let model = self.find(&request.into_inner().tracking_id).await?;
        let suggestions = crate::duplicates::suggest(&self.db, model.complaint_id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|s| DuplicateSuggestion {
                tracking_id: s.tracking_id,
                title: s.title,
                state: s.state,
                similarity: s.similarity,
                submitted_at: Some(to_timestamp(s.submitted_at)),
            })
            .collect();
        Ok(Response::new(SuggestDuplicatesResponse { suggestions }))
    }

    #[tracing::instrument(name = "ListAuditLog", skip_all)]
    async fn list_audit_log(
        &self,
        request: Request<ListAuditLogRequest>,
    ) -> Result<Response<ListAuditLogResponse>, Status> {
        let principal = principal(&request)?;
        let model = self.find(&request.into_inner().tracking_id).await?;
        if !may_read(&principal, &model) {
            return Err(Status::permission_denied("case belongs to another skpd"));
        }
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT sequence, at, actor, actor_role, action, state_before, state_after, before_json::text AS b, \
                 after_json::text AS a, version_after FROM audit_log WHERE complaint_id = $1 ORDER BY sequence",
                [model.complaint_id.into()],
            ))
            .await
            .map_err(unavailable)?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let at: chrono::DateTime<chrono::Utc> = row.try_get("", "at").map_err(unavailable)?;
            entries.push(AuditEntry {
                sequence: row.try_get("", "sequence").map_err(unavailable)?,
                at: Some(to_timestamp(at)),
                actor: row.try_get("", "actor").map_err(unavailable)?,
                actor_role: row.try_get("", "actor_role").map_err(unavailable)?,
                action: row.try_get("", "action").map_err(unavailable)?,
                state_before: row.try_get("", "state_before").map_err(unavailable)?,
                state_after: row.try_get("", "state_after").map_err(unavailable)?,
                before_json: row.try_get("", "b").map_err(unavailable)?,
                after_json: row.try_get("", "a").map_err(unavailable)?,
                version_after: row.try_get("", "version_after").map_err(unavailable)?,
            });
        }
        Ok(Response::new(ListAuditLogResponse { entries }))
    }

    async fn verify_case(&self, request: Request<VerifyCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let tier = self.checked_tier(&r.complexity_tier).await?;
        let action = Action::Verify { skpd: r.skpd_code };
        Ok(Response::new(
            self.act_with(&principal, r.case, action, tier, Vec::new()).await?,
        ))
    }

    async fn hold_case(&self, request: Request<HoldCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::Hold { question: r.question };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn mark_not_authority(&self, request: Request<MarkNotAuthorityRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::NotAuthority { body: r.body };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn archive_case(&self, request: Request<ArchiveCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::Archive { reason: r.reason };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn merge_case(&self, request: Request<MergeCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::MergeInto {
            parent: r.parent_tracking_id,
        };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn edit_case(&self, request: Request<EditCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::EditDetails(DetailsEdit {
            title: r.title,
            category: r.category_code,
            anonim: r.anonim,
            rahasia: r.rahasia,
        });
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn redispose_case(&self, request: Request<RedisposeCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let tier = self.checked_tier(&r.complexity_tier).await?;
        let action = Action::Redispose { skpd: r.skpd_code };
        Ok(Response::new(
            self.act_with(&principal, r.case, action, tier, Vec::new()).await?,
        ))
    }

    async fn dispose_to_sub_unit(&self, request: Request<DisposeToSubUnitRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let sub_unit = self.listed_sub_unit(&principal, &r.sub_unit)?;
        let action = Action::DisposeSubUnit { sub_unit };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn return_to_admin(&self, request: Request<ReturnToAdminRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::ReturnToAdmin { reason: r.reason };
        Ok(Response::new(self.act(&principal, r.case, action).await?))
    }

    async fn start_progress(&self, request: Request<StartProgressRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.act(&principal, r.case, Action::StartProgress).await?,
        ))
    }

    async fn post_follow_up(&self, request: Request<PostFollowUpRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let action = Action::FollowUp { text: r.text };
        // Files stay in memory until intake has them: a bounded number at once.
        let _slot = match r.attachments.is_empty() {
            true => None,
            false => Some(self.files.upload_slot().await?),
        };
        Ok(Response::new(
            self.act_with(&principal, r.case, action, None, r.attachments).await?,
        ))
    }

    async fn close_case(&self, request: Request<CloseCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        Ok(Response::new(self.act(&principal, r.case, Action::Close).await?))
    }
}
