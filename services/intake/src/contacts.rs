//! `lapor.intake.v1.ReporterContacts`: the notification service reads a reporter's contact
//! from the vault at the moment it sends, so the contact is never copied into events or
//! another service's tables. Guarded by the internal service token.

use crate::entity::{complaint, reporter};
use crate::vault::{Sealed, Vault};
use lapor_platform::grpc::{database_unavailable as unavailable, invalid_argument};
use lapor_proto::intake::v1::reporter_contacts_server::ReporterContacts;
use lapor_proto::intake::v1::{GetReporterContactRequest, ReporterContact};
use sea_orm::{DatabaseConnection, EntityTrait};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct ContactsGrpc {
    pub db: DatabaseConnection,
    pub vault: Arc<Vault>,
}

#[tonic::async_trait]
impl ReporterContacts for ContactsGrpc {
    #[tracing::instrument(name = "GetReporterContact", skip_all)]
    async fn get_reporter_contact(
        &self,
        request: Request<GetReporterContactRequest>,
    ) -> Result<Response<ReporterContact>, Status> {
        let id = Uuid::parse_str(request.get_ref().complaint_id.trim())
            .map_err(|_| invalid_argument("complaint_id", "is not a complaint id"))?;
        let complaint = complaint::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("no such complaint"))?;
        let mut contact = ReporterContact {
            anonim: complaint.anonim,
            tracking_id: complaint.tracking_id.clone(),
            channel: complaint.channel.clone(),
            ..ReporterContact::default()
        };
        let Some(reporter_id) = complaint.reporter_id else {
            return Ok(Response::new(contact));
        };
        let sealed = reporter::Entity::find_by_id(reporter_id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::internal("reporter record missing"))?;
        let identity = self
            .vault
            .open(&Sealed {
                key_id: sealed.key_id,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
            })
            .map_err(|error| {
                tracing::error!(%error, "cannot open a vault record");
                Status::internal("reporter record unreadable")
            })?;
        contact.phone = identity.phone.unwrap_or_default();
        contact.email = identity.email.unwrap_or_default();
        Ok(Response::new(contact))
    }
}
