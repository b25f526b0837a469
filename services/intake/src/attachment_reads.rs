//! `lapor.intake.v1.Attachments`: routing reads an attachment's bytes for an officer it has
//! authorised. Intake owns the files (DESIGN §3) and trusts only the internal service token
//! here; which officer may see which case is routing's decision.

use crate::attachments::AttachmentStore;
use crate::entity::attachment;
use futures::StreamExt;
use futures::stream::BoxStream;
use lapor_platform::grpc::{database_unavailable as unavailable, invalid_argument};
use lapor_proto::intake::v1::attachments_server::Attachments;
use lapor_proto::intake::v1::{AttachmentChunk, ReadAttachmentRequest};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Largest piece of a file in one message, well under gRPC's 4 MiB default.
pub const CHUNK_BYTES: usize = 256 * 1024;

pub struct AttachmentReads {
    pub db: DatabaseConnection,
    pub store: Arc<AttachmentStore>,
}

fn parse_id(raw: &str, field: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(raw.trim()).map_err(|_| invalid_argument(field, "is not an id"))
}

#[tonic::async_trait]
impl Attachments for AttachmentReads {
    type ReadAttachmentStream = BoxStream<'static, Result<AttachmentChunk, Status>>;

    #[tracing::instrument(name = "ReadAttachment", skip_all)]
    async fn read_attachment(
        &self,
        request: Request<ReadAttachmentRequest>,
    ) -> Result<Response<Self::ReadAttachmentStream>, Status> {
        let request = request.into_inner();
        let complaint_id = parse_id(&request.complaint_id, "complaint_id")?;
        let attachment_id = parse_id(&request.attachment_id, "attachment_id")?;
        let found = attachment::Entity::find_by_id(attachment_id)
            .filter(attachment::Column::ComplaintId.eq(complaint_id))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("no such attachment on this complaint"))?;
        let bytes = self.store.read(complaint_id, attachment_id).await.map_err(|error| {
            tracing::error!(%error, attachment = %attachment_id, "recorded attachment unreadable");
            Status::unavailable("attachment store unavailable")
        })?;
        let mut first = Some(AttachmentChunk {
            data: Vec::new(),
            content_type: found.content_type,
            filename: found.filename,
            size_bytes: found.size_bytes,
        });
        let chunks = bytes
            .flat_map(|piece| {
                let pieces: Vec<Result<Vec<u8>, Status>> = match piece {
                    Ok(bytes) => bytes.chunks(CHUNK_BYTES).map(|c| Ok(c.to_vec())).collect(),
                    Err(error) => {
                        tracing::error!(%error, "attachment read failed midway");
                        vec![Err(Status::unavailable("attachment store failed while reading"))]
                    }
                };
                futures::stream::iter(pieces)
            })
            .map(move |piece| {
                piece.map(|data| match first.take() {
                    Some(head) => AttachmentChunk { data, ..head },
                    None => AttachmentChunk {
                        data,
                        ..AttachmentChunk::default()
                    },
                })
            });
        Ok(Response::new(chunks.boxed()))
    }
}
