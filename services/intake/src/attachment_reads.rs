//! `lapor.intake.v1.Attachments`: routing reads an attachment's bytes for an officer it has
//! authorised, and stores the files an officer attaches to a follow-up. Intake owns the
//! files (DESIGN §3) and trusts only the internal service token here; which officer may see
//! or add to which case is routing's decision.

use crate::attachments::{self, AttachmentStore, Checked, Metadata, Upload};
use crate::entity::{attachment, complaint};
use futures::StreamExt;
use futures::stream::BoxStream;
use lapor_platform::grpc::{database_unavailable as unavailable, invalid_argument};
use lapor_proto::events::v1::AttachmentRef;
use lapor_proto::intake::v1::attachments_server::Attachments;
use lapor_proto::intake::v1::{AddAttachmentsRequest, AddAttachmentsResponse, AttachmentChunk, ReadAttachmentRequest};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
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

impl AttachmentReads {
    /// Rows for `files` after the complaint's existing ones, in one transaction that holds
    /// the complaint's row so two additions never take the same positions.
    async fn record(&self, complaint_id: Uuid, files: &[Checked]) -> Result<Vec<AttachmentRef>, DbErr> {
        let txn = self.db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM complaints WHERE id = $1 FOR UPDATE",
            [complaint_id.into()],
        ))
        .await?;
        let next: i32 = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT coalesce(max(position) + 1, 0)::int AS next FROM attachments WHERE complaint_id = $1",
                [complaint_id.into()],
            ))
            .await?
            .map(|row| row.try_get("", "next"))
            .transpose()?
            .unwrap_or(0);
        let refs = attachments::record(&txn, complaint_id, next.max(0) as usize, files, chrono::Utc::now()).await?;
        txn.commit().await?;
        Ok(refs)
    }
}

#[tonic::async_trait]
impl Attachments for AttachmentReads {
    #[tracing::instrument(name = "AddAttachments", skip_all)]
    async fn add_attachments(
        &self,
        request: Request<AddAttachmentsRequest>,
    ) -> Result<Response<AddAttachmentsResponse>, Status> {
        let request = request.into_inner();
        let complaint_id = parse_id(&request.complaint_id, "complaint_id")?;
        if request.attachments.is_empty() {
            return Err(invalid_argument("attachments", "at least one file is required"));
        }
        // The same budget as reporters' uploads: the files stay in memory until answered.
        let _slot = self
            .store
            .upload_slot()
            .await
            .ok_or_else(|| Status::unavailable("too many uploads at once, retry in a moment"))?;
        complaint::Entity::find_by_id(complaint_id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("no such complaint"))?;
        let uploads = request
            .attachments
            .into_iter()
            .map(|upload| Upload {
                filename: upload.filename,
                data: upload.data.into(),
            })
            .collect();
        // Officers' photos are shown to the reporter: where they were taken is not part of it.
        let files = attachments::check(&self.store.settings, uploads, Metadata::Strip)
            .map_err(|(error, index)| invalid_argument(&error.field(index), &error.to_string()))?;
        self.store.put_all(complaint_id, &files).await.map_err(|error| {
            tracing::error!(%error, "attachment store refused an officer's files");
            Status::unavailable("attachment store unavailable")
        })?;
        match self.record(complaint_id, &files).await {
            Ok(attachments) => Ok(Response::new(AddAttachmentsResponse { attachments })),
            // The objects stay: without rows they are never listed, and a COMMIT lost on the
            // wire may have kept the rows that need them.
            Err(error) => Err(unavailable(error)),
        }
    }

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
