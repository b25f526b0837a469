//! The 1708 short code: an SMPP receiver session to the operator's SMSC. Each text becomes
//! a complaint (keyword form or free text, see `lapor_domain::sms_text`) from the sending
//! phone, or answers "STATUS <tracking id>" from the phone that reported it. The reporter
//! hears back by SMS through the notification path (the tracking id on receipt, the state on
//! request); intake never sends SMS itself.
//!
//! The SMSC may deliver the same text again when an answer was lost; the idempotency key
//! `sms:<hash of phone and text>` makes that one complaint.

use crate::entity::{complaint, reporter};
use crate::submit::{Submission, SubmitError, SubmitService};
use crate::vault::{Sealed, Vault};
use lapor_domain::SubmissionDraft;
use lapor_domain::sms_text::{self, SmsComplaint, SmsRequest};
use lapor_domain::submission::normalize_phone;
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{Channel, ComplaintKind, StatusRequested, event_envelope::Payload};
use lapor_smpp::client::{BindMode, ClientConfig, Inbound, SmppClient};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Deserialize)]
pub struct SmsSettings {
    /// The SMPP receiver: off unless an SMSC is configured.
    #[serde(default)]
    pub enabled: bool,
    /// Shared secret an SMS aggregator presents to `POST /api/v1/sms/inbound` in
    /// `X-Lapor-Webhook-Token`; empty disables the webhook. Secret:
    /// `LAPOR__SMS__WEBHOOK_TOKEN`.
    #[serde(default)]
    pub webhook_token: String,
    #[serde(default)]
    pub addr: String,
    #[serde(default)]
    pub system_id: String,
    /// Secret: `LAPOR__SMS__PASSWORD`.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    /// Where a text names no kabupaten/kota; the verification desk corrects it.
    pub default_kabupaten: String,
}

pub struct SmsChannel {
    pub db: DatabaseConnection,
    pub submit: Arc<SubmitService>,
    pub vault: Arc<Vault>,
    pub outbox: Outbox,
}

/// What became of one text, for logs and metrics.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Complaint {
        tracking_id: String,
        replayed: bool,
    },
    StatusRequested {
        tracking_id: String,
    },
    /// The text cannot be taken as it is.
    Refused(String),
    /// Storing failed (database or vault): worth delivering again later.
    Unavailable(String),
    /// Over the per-phone limit.
    Limited(crate::limits::Limited),
}

impl Handled {
    pub fn label(&self) -> &'static str {
        match self {
            Handled::Complaint { .. } => "complaint",
            Handled::StatusRequested { .. } => "status",
            Handled::Refused(_) => "refused",
            Handled::Unavailable(_) => "unavailable",
            Handled::Limited(_) => "limited",
        }
    }
}

impl SmsChannel {
    pub async fn run(self: Arc<Self>, settings: SmsSettings, stop: CancellationToken) {
        let (client, mut inbound) = SmppClient::start(ClientConfig {
            addr: settings.addr.clone(),
            system_id: settings.system_id.clone(),
            password: settings.password.clone(),
            system_type: settings.system_type.clone(),
            bind: BindMode::Receiver,
            source_addr: String::new(),
            window: 1,
            max_per_second: 1,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            idempotency_tlv: None,
        });
        loop {
            let message = tokio::select! {
                message = inbound.recv() => message,
                _ = stop.cancelled() => None,
            };
            let (source, text, ack) = match message {
                None => break,
                Some(Inbound::Message { source, text, ack, .. }) => (source, text, ack),
                // A receiver session gets no receipts worth anything here.
                Some(Inbound::Receipt { .. }) => continue,
            };
            let outcome = self.handle(&source, &text, &settings.default_kabupaten).await;
            metrics::counter!("lapor_sms_received_total", "outcome" => outcome.label(), "via" => "smpp").increment(1);
            // The SMSC keeps a text until it hears ESME_ROK: only once it is stored (or
            // refused for good) does it get one; a text that could not be stored comes again.
            if matches!(outcome, Handled::Unavailable(_)) {
                ack.retry_later();
            } else {
                ack.accept();
            }
            match outcome {
                Handled::Refused(reason) => tracing::warn!(%reason, "sms not taken"),
                Handled::Unavailable(reason) => {
                    tracing::error!(%reason, "sms could not be stored, the SMSC will deliver it again")
                }
                Handled::Limited(limited) => tracing::warn!(%limited, "sms over the per-phone limit"),
                other => tracing::info!(outcome = ?other, "sms taken"),
            }
        }
        client.shutdown().await;
        tracing::info!("sms receiver stopped");
    }

    pub async fn handle(&self, source: &str, text: &str, default_kabupaten: &str) -> Handled {
        let phone = match normalize_phone(source) {
            Ok(phone) => phone,
            Err(reason) => return Handled::Refused(format!("sender number: {reason}")),
        };
        match sms_text::parse(text, &self.submit.directory.get()) {
            Ok(SmsRequest::Complaint(complaint)) => self.complaint(&phone, text, complaint, default_kabupaten).await,
            Ok(SmsRequest::Status { tracking_id }) => self.status(&phone, &tracking_id).await,
            Err(error) => Handled::Refused(error.to_string()),
        }
    }

    async fn complaint(&self, phone: &str, text: &str, sms: SmsComplaint, default_kabupaten: &str) -> Handled {
        let key = {
            let mut hasher = Sha256::new();
            hasher.update(phone.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            format!("sms:{}", &hex::encode(hasher.finalize())[..40])
        };
        let submission = Submission {
            draft: SubmissionDraft {
                title: sms.title,
                body: sms.body,
                category_code: sms.category_code,
                kabupaten_code: sms.kabupaten_code.unwrap_or_else(|| default_kabupaten.to_owned()),
                location: sms.location,
                reporter_name: String::new(),
                reporter_phone: phone.to_owned(),
                reporter_email: String::new(),
                reporter_nik: String::new(),
                idempotency_key: key,
            },
            kind: ComplaintKind::Aduan,
            channel: Channel::Sms,
            anonim: false,
            rahasia: false,
            point: None,
            media_url: None,
            attachments: Vec::new(),
        };
        match self.submit.submit(submission).await {
            Ok(accepted) => Handled::Complaint {
                tracking_id: accepted.tracking_id,
                replayed: accepted.replayed,
            },
            Err(SubmitError::Invalid(field)) => Handled::Refused(field.to_string()),
            Err(SubmitError::KeyReused) => Handled::Refused("idempotency key reused".into()),
            Err(SubmitError::Limited(limited)) => Handled::Limited(limited),
            Err(error) => Handled::Unavailable(error.to_string()),
        }
    }

    /// Asks notification to tell the reporter the state, but only when the text came from
    /// the phone the report was made with: the status of someone else's report is theirs.
    async fn status(&self, phone: &str, tracking_id: &str) -> Handled {
        let found = complaint::Entity::find()
            .filter(complaint::Column::TrackingId.eq(tracking_id))
            .one(&self.db)
            .await;
        let complaint = match found {
            Ok(Some(complaint)) => complaint,
            Ok(None) => return Handled::Refused(format!("no report {tracking_id}")),
            Err(error) => return Handled::Unavailable(format!("database: {error}")),
        };
        if !self.reported_from(&complaint, phone).await {
            return Handled::Refused(format!("{tracking_id} was not reported from this phone"));
        }
        let payload = Payload::StatusRequested(StatusRequested {
            public_state: complaint.public_state.clone(),
            skpd_name: complaint.skpd_name.clone().unwrap_or_default(),
            expected_at: complaint.expected_at.map(to_timestamp),
        });
        let event = OutgoingEvent::new(
            new_envelope("intake", complaint.id, &complaint.tracking_id, payload),
            None,
        );
        let written = async {
            let txn = self.db.begin().await?;
            self.outbox.enqueue(&txn, &event).await?;
            txn.commit().await
        }
        .await;
        match written {
            Ok(()) => {
                self.outbox.notify_committed();
                Handled::StatusRequested {
                    tracking_id: complaint.tracking_id,
                }
            }
            Err(error) => Handled::Unavailable(format!("database: {error}")),
        }
    }

    async fn reported_from(&self, complaint: &complaint::Model, phone: &str) -> bool {
        let Some(reporter_id) = complaint.reporter_id else {
            return false;
        };
        let Ok(Some(sealed)) = reporter::Entity::find_by_id(reporter_id).one(&self.db).await else {
            return false;
        };
        self.vault
            .open(&Sealed {
                key_id: sealed.key_id,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
            })
            .ok()
            .and_then(|identity| identity.phone)
            .is_some_and(|reported| reported == phone)
    }
}
