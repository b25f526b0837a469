//! Reporters' attachments for officers. Routing decides who may read a case; intake holds the
//! bytes and hands them over through its internal `Attachments` RPC, which takes only the
//! shared service token — so the files never leave intake except to an authorised officer.

use futures::StreamExt;
use futures::stream::BoxStream;
use lapor_platform::config::InternalPeerSettings;
use lapor_proto::intake::v1::ReadAttachmentRequest;
use lapor_proto::intake::v1::attachments_client::AttachmentsClient;
use lapor_proto::routing::v1::AttachmentChunk;
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
    token: Option<MetadataValue<Ascii>>,
}

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
            token,
        })
    }

    /// The file's bytes from intake, as routing's chunks (the first carries its description).
    pub async fn read(&self, complaint_id: Uuid, attachment_id: Uuid) -> Result<ChunkStream, Status> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| Status::unavailable("attachments cannot be opened: no intake service token configured"))?;
        let mut request = tonic::Request::new(ReadAttachmentRequest {
            complaint_id: complaint_id.to_string(),
            attachment_id: attachment_id.to_string(),
        });
        request
            .metadata_mut()
            .insert(lapor_platform::auth::SERVICE_TOKEN_HEADER, token);
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
