//! Attachments of a case: the reporter's, and those an officer adds to a follow-up. Routing
//! decides who may read or add to a case; intake holds the bytes and hands them over (or
//! takes them) through its internal `Attachments` RPC, which takes only the shared service
//! token — so the files never leave intake except to an authorised officer.

use crate::entity::case_attachment;
use futures::StreamExt;
use futures::stream::BoxStream;
use lapor_platform::config::InternalPeerSettings;
use lapor_proto::events::v1::AttachmentRef;
use lapor_proto::intake::v1::attachments_client::AttachmentsClient;
use lapor_proto::intake::v1::{AddAttachmentsRequest, AttachmentUpload, ReadAttachmentRequest};
use lapor_proto::routing::v1::{AttachmentChunk, FileUpload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, Set, Statement};
use std::sync::Arc;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use uuid::Uuid;

/// Where intake is; the secret is `LAPOR__INTAKE__SERVICE_TOKEN` (empty: attachments are
/// listed on cases but cannot be opened).
pub type IntakeSettings = InternalPeerSettings;

pub type ChunkStream = BoxStream<'static, Result<AttachmentChunk, Status>>;

pub struct IntakeFiles {
    client: AttachmentsClient<Channel>,
    /// Uploads take longer than reads' first answer: their own channel and deadline.
    uploads: AttachmentsClient<Channel>,
    token: Option<MetadataValue<Ascii>>,
    /// Follow-ups with files held in memory at once by this replica (each up to ~10 MiB,
    /// in a pod limited to 128 MiB).
    upload_slots: Arc<tokio::sync::Semaphore>,
}

/// How many follow-ups with files a replica holds at once; more wait, then get UNAVAILABLE.
const UPLOAD_SLOTS: usize = 2;
const UPLOAD_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl IntakeFiles {
    pub fn new(settings: &IntakeSettings) -> anyhow::Result<IntakeFiles> {
        let token = if settings.service_token.is_empty() {
            tracing::warn!("no intake service token: attachments cannot be opened");
            None
        } else {
            Some(settings.token()?)
        };
        Ok(IntakeFiles {
            client: AttachmentsClient::new(settings.lazy_channel()?),
            uploads: AttachmentsClient::new(settings.lazy_channel_with_timeout(UPLOAD_TIMEOUT)?)
                .max_encoding_message_size(usize::MAX),
            token,
            upload_slots: Arc::new(tokio::sync::Semaphore::new(UPLOAD_SLOTS)),
        })
    }

    /// A slot to hold one follow-up's files in; UNAVAILABLE when all stay busy a while.
    pub async fn upload_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        tokio::time::timeout(UPLOAD_SLOT_WAIT, self.upload_slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| Status::unavailable("too many uploads at once, retry in a moment"))
    }

    fn authorized<T>(&self, message: T) -> Result<tonic::Request<T>, Status> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| Status::unavailable("attachments are off: no intake service token configured"))?;
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert(lapor_platform::auth::SERVICE_TOKEN_HEADER, token);
        Ok(request)
    }

    /// Hands an officer's files to intake, which checks and keeps them; their references.
    pub async fn add(&self, complaint_id: Uuid, files: Vec<FileUpload>) -> Result<Vec<AttachmentRef>, Status> {
        let request = self.authorized(AddAttachmentsRequest {
            complaint_id: complaint_id.to_string(),
            attachments: files
                .into_iter()
                .map(|f| AttachmentUpload {
                    filename: f.filename,
                    data: f.data,
                })
                .collect(),
        })?;
        let added = self.uploads.clone().add_attachments(request).await.map_err(|status| {
            match status.code() {
                // What is wrong with a file is the officer's to fix: intake's words, which
                // name the file (`attachments[1]: "x.zip" is not a photo ...`).
                tonic::Code::InvalidArgument => Status::invalid_argument(status.message()),
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
                    Status::invalid_argument(format!("attachments: too large for intake ({})", status.message()))
                }
                code => {
                    tracing::error!(?code, message = status.message(), "intake refused an officer's files");
                    Status::unavailable("attachments cannot be stored at the moment")
                }
            }
        })?;
        Ok(added.into_inner().attachments)
    }

    /// The file's bytes from intake, as routing's chunks (the first carries its description).
    pub async fn read(&self, complaint_id: Uuid, attachment_id: Uuid) -> Result<ChunkStream, Status> {
        let request = self.authorized(ReadAttachmentRequest {
            complaint_id: complaint_id.to_string(),
            attachment_id: attachment_id.to_string(),
        })?;
        let stream = self
            .client
            .clone()
            .read_attachment(request)
            .await
            .map_err(from_intake)?
            .into_inner();
        Ok(stream
            .map(|chunk| {
                chunk.map_err(from_intake).map(|c| AttachmentChunk {
                    data: c.data,
                    content_type: c.content_type,
                    filename: c.filename,
                    size_bytes: c.size_bytes,
                })
            })
            .boxed())
    }
}

/// What the officer is told when intake refuses or fails: only "not found" is theirs to
/// know; anything else is an outage (a wrong token is our configuration, not their access).
fn from_intake(status: Status) -> Status {
    match status.code() {
        tonic::Code::NotFound => Status::not_found("the attachment is not in intake's store"),
        code => {
            tracing::error!(?code, message = status.message(), "intake refused an attachment read");
            Status::unavailable("attachments are unavailable at the moment")
        }
    }
}

/// Lists `files` on the case after the ones already there (the reporter's come first).
pub async fn record(txn: &DatabaseTransaction, complaint_id: Uuid, files: &[AttachmentRef]) -> Result<(), DbErr> {
    let next: i32 = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(max(position) + 1, 0)::int AS next FROM case_attachments WHERE complaint_id = $1",
            [complaint_id.into()],
        ))
        .await?
        .map(|row| row.try_get("", "next"))
        .transpose()?
        .unwrap_or(0);
    for (offset, file) in files.iter().enumerate() {
        let id = Uuid::parse_str(&file.id).map_err(|e| DbErr::Custom(format!("attachment id {:?}: {e}", file.id)))?;
        let position = i16::try_from(next as usize + offset)
            .map_err(|_| DbErr::Custom("too many attachments on one case".into()))?;
        case_attachment::Entity::insert(case_attachment::ActiveModel {
            id: Set(id),
            complaint_id: Set(complaint_id),
            position: Set(position),
            filename: Set(file.filename.clone()),
            content_type: Set(file.content_type.clone()),
            size_bytes: Set(file.size_bytes),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}
