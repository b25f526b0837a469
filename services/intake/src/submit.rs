//! Accepting a submission, whatever the channel: validate, then in one transaction store the
//! complaint, the sealed identity and the `complaint.submitted` outbox row.

use crate::attachments::{AttachmentStore, Checked};
use crate::entity::{complaint, reporter};
use crate::vault::{Identity, Vault, VaultError};
use chrono::Utc;
use lapor_domain::submission::{self, SubmissionDraft, ValidSubmission};
use lapor_domain::{FieldError, tracking_id};
use lapor_messaging::envelope::{channel_name, kind_name, to_timestamp};
use lapor_messaging::{Outbox, OutgoingEvent, new_envelope};
use lapor_proto::events::v1::{Channel, ComplaintKind, ComplaintSubmitted, event_envelope::Payload};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr, TransactionTrait,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid {0}")]
    Invalid(#[from] FieldError),
    #[error("idempotency key was already used for a different submission")]
    KeyReused,
    #[error("{0}")]
    Limited(crate::limits::Limited),
    #[error("attachment store: {0}")]
    Store(#[from] object_store::Error),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// A submission as received from a channel, before validation.
#[derive(Debug, Clone)]
pub struct Submission {
    pub draft: SubmissionDraft,
    pub kind: ComplaintKind,
    pub channel: Channel,
    pub anonim: bool,
    pub rahasia: bool,
    /// Where, when the channel knows the point (Open311 `lat`/`long`).
    pub point: Option<GeoPoint>,
    /// A photo the client hosts itself (Open311 `media_url`).
    pub media_url: Option<String>,
    /// Files sent with the submission, already checked.
    pub attachments: Vec<Checked>,
}

/// WGS84 decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub complaint_id: Uuid,
    pub tracking_id: String,
    pub replayed: bool,
    pub submitted_at: chrono::DateTime<Utc>,
    /// The reporter's proof of authorship (see `access`).
    pub access_code: String,
}

/// The pseudonymous reporter reference events carry: the vault record's id, or for a
/// report without any identity one derived from the complaint, so that its reporter (who
/// holds the access code) can still reply and rate.
pub fn reporter_ref(complaint_id: Uuid, reporter_id: Option<Uuid>) -> String {
    reporter_id.map_or_else(|| format!("anonymous:{complaint_id}"), |id| id.to_string())
}

pub struct SubmitService {
    pub db: DatabaseConnection,
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    pub vault: Arc<Vault>,
    pub outbox: Outbox,
    pub limits: Arc<crate::limits::Limits>,
    pub access: Arc<crate::access::AccessCodes>,
    pub attachments: Arc<AttachmentStore>,
}

/// Fingerprint of what was submitted, to tell a retry from a different request reusing a key.
fn request_hash(valid: &ValidSubmission, submission: &Submission) -> String {
    let mut hasher = Sha256::new();
    for part in [
        valid.title.as_str(),
        valid.body.as_str(),
        valid.category_code.as_str(),
        valid.kabupaten_code.as_str(),
        valid.location.as_str(),
        valid.reporter_name.as_deref().unwrap_or(""),
        valid.reporter_phone.as_deref().unwrap_or(""),
        valid.reporter_email.as_deref().unwrap_or(""),
        valid.reporter_nik.as_deref().unwrap_or(""),
        kind_name(submission.kind as i32),
        if submission.anonim { "anonim" } else { "" },
        if submission.rahasia { "rahasia" } else { "" },
        submission.media_url.as_deref().unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    for file in &submission.attachments {
        hasher.update(file.sha256.as_bytes());
        hasher.update([0u8]);
    }
    if let Some(point) = submission.point {
        hasher.update(point.latitude.to_be_bytes());
        hasher.update(point.longitude.to_be_bytes());
    }
    hex::encode(hasher.finalize())
}

impl SubmitService {
    pub async fn submit(&self, submission: Submission) -> Result<Accepted, SubmitError> {
        let valid = submission::validate(&submission.draft, &self.directory.get())?;
        let hash = request_hash(&valid, &submission);
        if let Some(key) = &valid.idempotency_key
            && let Some(existing) = self.find_by_key(key).await?
        {
            return self.replay(existing, &hash);
        }
        // A retry above replayed for free; a new submission counts against its contacts.
        for contact in [valid.reporter_phone.as_deref(), valid.reporter_email.as_deref()]
            .into_iter()
            .flatten()
        {
            self.limits.check_contact(contact).map_err(SubmitError::Limited)?;
        }
        match self.insert(&valid, &submission, &hash).await {
            Ok(accepted) => {
                self.outbox.notify_committed();
                Ok(accepted)
            }
            // Two concurrent calls with one key: the loser replays the winner's result.
            Err(SubmitError::Db(error)) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let key = valid.idempotency_key.as_deref().unwrap_or_default();
                match self.find_by_key(key).await? {
                    Some(existing) => self.replay(existing, &hash),
                    None => Err(SubmitError::Db(error)),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<complaint::Model>, DbErr> {
        complaint::Entity::find()
            .filter(complaint::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await
    }

    async fn insert(
        &self,
        valid: &ValidSubmission,
        submission: &Submission,
        hash: &str,
    ) -> Result<Accepted, SubmitError> {
        let complaint_id = Uuid::now_v7();
        // The files first: the transaction below is what makes them part of a complaint.
        self.attachments.put_all(complaint_id, &submission.attachments).await?;
        let stored = self.insert_rows(complaint_id, valid, submission, hash).await;
        // Only when the complaint is certainly not there: a connection lost during COMMIT may
        // still have committed, and then the files are its files. When in doubt they stay.
        if stored.is_err() && !submission.attachments.is_empty() {
            let exists = complaint::Entity::find_by_id(complaint_id).one(&self.db).await;
            if matches!(exists, Ok(None)) {
                self.attachments.delete_all(complaint_id, &submission.attachments).await;
            }
        }
        stored
    }

    async fn insert_rows(
        &self,
        complaint_id: Uuid,
        valid: &ValidSubmission,
        submission: &Submission,
        hash: &str,
    ) -> Result<Accepted, SubmitError> {
        let now = Utc::now();
        let tracking_id = tracking_id::generate();
        let txn = self.db.begin().await?;
        let reporter_id = if valid.has_identity() {
            let sealed = self.vault.seal(&Identity {
                name: valid.reporter_name.clone(),
                phone: valid.reporter_phone.clone(),
                email: valid.reporter_email.clone(),
                nik: valid.reporter_nik.clone(),
            })?;
            let id = Uuid::new_v4();
            reporter::ActiveModel {
                id: Set(id),
                key_id: Set(sealed.key_id),
                nonce: Set(sealed.nonce),
                ciphertext: Set(sealed.ciphertext),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
            Some(id)
        } else {
            None
        };
        complaint::ActiveModel {
            id: Set(complaint_id),
            tracking_id: Set(tracking_id.clone()),
            idempotency_key: Set(valid.idempotency_key.clone()),
            request_hash: Set(hash.to_owned()),
            title: Set(valid.title.clone()),
            body: Set(valid.body.clone()),
            category_code: Set(valid.category_code.clone()),
            kabupaten_code: Set(valid.kabupaten_code.clone()),
            location: Set(valid.location.clone()),
            kind: Set(kind_name(submission.kind as i32).to_owned()),
            channel: Set(channel_name(submission.channel as i32).to_owned()),
            anonim: Set(submission.anonim),
            rahasia: Set(submission.rahasia),
            reporter_id: Set(reporter_id),
            public_state: Set(lapor_domain::CaseState::Submitted.as_str().to_owned()),
            skpd_name: Set(None),
            case_version: Set(0),
            submitted_at: Set(now),
            updated_at: Set(now),
            expected_at: Set(None),
            latitude: Set(submission.point.map(|p| p.latitude)),
            longitude: Set(submission.point.map(|p| p.longitude)),
            media_url: Set(submission.media_url.clone()),
            rated_at: Set(None),
            merged_into: Set(None),
        }
        .insert(&txn)
        .await?;
        let refs = crate::attachments::record(&txn, complaint_id, 0, &submission.attachments, now).await?;
        let payload = Payload::ComplaintSubmitted(ComplaintSubmitted {
            title: valid.title.clone(),
            body: valid.body.clone(),
            category_code: valid.category_code.clone(),
            kabupaten_code: valid.kabupaten_code.clone(),
            location: valid.location.clone(),
            channel: submission.channel as i32,
            kind: submission.kind as i32,
            anonim: submission.anonim,
            rahasia: submission.rahasia,
            reporter_ref: reporter_ref(complaint_id, reporter_id),
            submitted_at: Some(to_timestamp(now)),
            attachments: refs,
        });
        let event = OutgoingEvent::new(new_envelope("intake", complaint_id, &tracking_id, payload), None);
        self.outbox.enqueue(&txn, &event).await?;
        txn.commit().await?;
        tracing::info!(%tracking_id, category = %valid.category_code, kabupaten = %valid.kabupaten_code, "complaint accepted");
        metrics::counter!("lapor_intake_accepted_total", "channel" => channel_name(submission.channel as i32))
            .increment(1);
        Ok(Accepted {
            complaint_id,
            tracking_id,
            replayed: false,
            submitted_at: now,
            access_code: self.access.code(complaint_id),
        })
    }

    fn replay(&self, existing: complaint::Model, hash: &str) -> Result<Accepted, SubmitError> {
        if existing.request_hash != hash {
            return Err(SubmitError::KeyReused);
        }
        Ok(Accepted {
            complaint_id: existing.id,
            tracking_id: existing.tracking_id,
            replayed: true,
            submitted_at: existing.submitted_at,
            access_code: self.access.code(existing.id),
        })
    }
}
