//! Reporters' addresses. They live only in intake's PII vault and are never carried in
//! events or stored here: the worker asks for one at the moment it sends.

use crate::channels::SendError;
use uuid::Uuid;

#[async_trait::async_trait]
pub trait ContactBook: Send + Sync {
    /// The reporter's address on `channel` (E.164 phone or e-mail).
    async fn address(&self, complaint_id: Uuid, channel: &str) -> Result<String, SendError>;
}

/// For deployments without reporter messages.
pub struct NoContacts;

#[async_trait::async_trait]
impl ContactBook for NoContacts {
    async fn address(&self, _complaint_id: Uuid, _channel: &str) -> Result<String, SendError> {
        Err(SendError::Permanent("reporter contacts are not available".into()))
    }
}

/// Where and how to ask intake for contacts; the secret is `LAPOR__INTAKE__SERVICE_TOKEN`
/// (empty: no reporter messages).
pub type IntakeSettings = lapor_platform::config::InternalPeerSettings;

/// A reporter's contact as intake holds it.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub phone: String,
    pub email: String,
}

/// Asks intake's `ReporterContacts` over gRPC (lazily connected, so notification starts
/// without intake).
pub struct IntakeContacts {
    client: lapor_proto::intake::v1::reporter_contacts_client::ReporterContactsClient<tonic::transport::Channel>,
    token: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl IntakeContacts {
    pub fn new(settings: &IntakeSettings) -> anyhow::Result<IntakeContacts> {
        Ok(IntakeContacts {
            client: lapor_proto::intake::v1::reporter_contacts_client::ReporterContactsClient::new(
                settings.lazy_channel()?,
            ),
            token: settings.token()?,
        })
    }

    /// The reporter's contact; a failure to reach intake is transient.
    pub async fn contact(&self, complaint_id: Uuid) -> Result<Contact, SendError> {
        let mut request = tonic::Request::new(lapor_proto::intake::v1::GetReporterContactRequest {
            complaint_id: complaint_id.to_string(),
        });
        request
            .metadata_mut()
            .insert(lapor_platform::auth::SERVICE_TOKEN_HEADER, self.token.clone());
        match self.client.clone().get_reporter_contact(request).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                Ok(Contact {
                    phone: answer.phone,
                    email: answer.email,
                })
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                Err(SendError::Permanent("intake knows no such complaint".into()))
            }
            Err(status) => Err(SendError::Transient(format!(
                "intake contact lookup: {:?} {}",
                status.code(),
                status.message()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl ContactBook for IntakeContacts {
    async fn address(&self, complaint_id: Uuid, channel: &str) -> Result<String, SendError> {
        let contact = self.contact(complaint_id).await?;
        let address = if channel == crate::channels::EMAIL {
            contact.email
        } else {
            contact.phone
        };
        if address.is_empty() {
            Err(SendError::Permanent(format!("the reporter left no {channel} contact")))
        } else {
            Ok(address)
        }
    }
}
