//! `lapor.intake.v1.IntakeService`.

use crate::attachments::{self, Upload};
use crate::entity::complaint;
use crate::submit::{Submission, SubmitError, SubmitService};
use lapor_domain::{SubmissionDraft, tracking_id};
use lapor_messaging::envelope::to_timestamp;
use lapor_platform::grpc::invalid_argument;
use lapor_proto::events::v1::{Channel, ComplaintKind};
use lapor_proto::intake::v1::intake_service_server::IntakeService;
use lapor_proto::intake::v1::{
    ComplaintStatus, GetComplaintStatusRequest, SubmitComplaintRequest, SubmitComplaintResponse,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Over a limit: RESOURCE_EXHAUSTED, with the wait in `retry-after` metadata (seconds).
pub fn resource_exhausted(limited: &crate::limits::Limited) -> Status {
    let mut status = Status::resource_exhausted(limited.to_string());
    if let Ok(value) = limited.retry_after_seconds().to_string().parse() {
        status.metadata_mut().insert("retry-after", value);
    }
    status
}

pub struct IntakeGrpc {
    pub submit: Arc<SubmitService>,
    /// The reporter's later actions (JSON API only for now).
    pub actions: Arc<crate::reporter_actions::ReporterActions>,
}

impl From<SubmitError> for Status {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Invalid(field) => invalid_argument(field.field, &field.message),
            SubmitError::KeyReused => Status::already_exists(error.to_string()),
            SubmitError::Limited(limited) => resource_exhausted(&limited),
            SubmitError::Vault(_) | SubmitError::Db(_) | SubmitError::Store(_) => {
                tracing::error!(%error, "submission failed");
                Status::unavailable("submission could not be stored, retry with the same idempotency key")
            }
        }
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeGrpc {
    #[tracing::instrument(name = "SubmitComplaint", skip_all)]
    async fn submit_complaint(
        &self,
        request: Request<SubmitComplaintRequest>,
    ) -> Result<Response<SubmitComplaintResponse>, Status> {
        if let Some(peer) = request.remote_addr() {
            let forwarded = request.metadata().get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let client = self.submit.limits.client_ip(peer.ip(), forwarded);
            self.submit
                .limits
                .check_ip(client)
                .map_err(|l| resource_exhausted(&l))?;
        }
        let request = request.into_inner();
        let kind =
            ComplaintKind::try_from(request.kind).map_err(|_| invalid_argument("kind", "unknown complaint kind"))?;
        let channel = match Channel::try_from(request.channel) {
            Ok(Channel::Unspecified) => Channel::Grpc,
            Ok(channel) => channel,
            Err(_) => return Err(invalid_argument("channel", "unknown channel")),
        };
        let reporter = request.reporter.unwrap_or_default();
        let uploads = request
            .attachments
            .into_iter()
            .map(|upload| Upload {
                filename: upload.filename,
                data: upload.data.into(),
            })
            .collect();
        let metadata = attachments::Metadata::for_report(request.anonim);
        let attachments = attachments::check(&self.submit.attachments.settings, uploads, metadata)
            .map_err(|(error, index)| invalid_argument(&error.field(index), &error.to_string()))?;
        let submission = Submission {
            draft: SubmissionDraft {
                title: request.title,
                body: request.body,
                category_code: request.category_code,
                kabupaten_code: request.kabupaten_code,
                location: request.location,
                reporter_name: reporter.name,
                reporter_phone: reporter.phone,
                reporter_email: reporter.email,
                reporter_nik: reporter.nik,
                idempotency_key: request.idempotency_key,
            },
            kind,
            channel,
            anonim: request.anonim,
            rahasia: request.rahasia,
            point: None,
            media_url: None,
            attachments,
        };
        let accepted = self.submit.submit(submission).await?;
        Ok(Response::new(SubmitComplaintResponse {
            tracking_id: accepted.tracking_id,
            complaint_id: accepted.complaint_id.to_string(),
            replayed: accepted.replayed,
            submitted_at: Some(to_timestamp(accepted.submitted_at)),
            access_code: accepted.access_code,
        }))
    }

    #[tracing::instrument(name = "GetComplaintStatus", skip_all)]
    async fn get_complaint_status(
        &self,
        request: Request<GetComplaintStatusRequest>,
    ) -> Result<Response<ComplaintStatus>, Status> {
        let request = request.into_inner();
        let id = tracking_id::normalize(&request.tracking_id)
            .ok_or_else(|| invalid_argument("tracking_id", "is not a LAPOR tracking id"))?;
        let not_found = || Status::not_found(format!("no complaint with tracking id {id}"));
        let found = complaint::Entity::find()
            .filter(complaint::Column::TrackingId.eq(id.as_str()))
            .one(&self.submit.db)
            .await
            .map_err(|e| Status::unavailable(format!("database: {e}")))?
            .ok_or_else(not_found)?;
        // A rahasia report answers only its reporter; to anyone else it does not exist.
        if found.rahasia {
            if request.access_code.trim().is_empty() {
                return Err(not_found());
            }
            let submit = &self.submit;
            let right = submit
                .access
                .check(&submit.limits, found.id, &found.tracking_id, &request.access_code)
                .map_err(|limited| resource_exhausted(&limited))?;
            if !right {
                return Err(not_found());
            }
        }
        let progress = crate::public_view::progress(&self.submit.db, &found)
            .await
            .map_err(|e| Status::unavailable(format!("database: {e}")))?;
        Ok(Response::new(ComplaintStatus {
            tracking_id: found.tracking_id,
            title: found.title,
            category_code: found.category_code,
            kabupaten_code: found.kabupaten_code,
            state: progress.state,
            submitted_at: Some(to_timestamp(found.submitted_at)),
            expected_at: progress.expected_at.map(to_timestamp),
            rahasia: found.rahasia,
            merged_into: progress.merged_into.unwrap_or_default(),
        }))
    }
}
