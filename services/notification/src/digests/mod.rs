//! The leadership digest: analytics publishes a `DigestReady` (`analytics.digest.daily` or
//! `analytics.digest.weekly`) once per period, and every officer with the role `pimpinan`
//! gets it by e-mail, in their language.
//!
//! The digest has its own queue, `notification.digests`, rather than a binding on an existing
//! one: an `skpd.<code>` queue's depth is that SKPD's unhandled case work (and what
//! notification is scaled on), and `notification.reporters` exists only when intake's token
//! is configured. A queue of its own keeps a stuck digest's retries
//! and dead letters apart from case mail, and visible to `laporctl dead-letters` by name.
//!
//! Exactly once per event × leader: the consumer's inbox skips a redelivered event, and the
//! deliveries' unique key (event, recipient, channel) adds nothing if one still got through.
//! Digests are e-mail only (there is no SMS template), whatever channel a leader prefers for
//! case alerts, and are never held for quiet hours (those hold SMS only). Notification keeps
//! no opt-out per kind of message: the `List-Unsubscribe` header (see [`DigestSettings`])
//! reaches a mailbox where a request is handled by hand.

pub mod figures;
pub mod period;

use crate::channels::EMAIL;
use crate::entity::recipient;
use crate::escalations::{self, Audience};
use crate::messages::{Kind, Lang, MessageContext};
use crate::outbound::{self, NewDelivery};
use chrono::{NaiveDate, Utc};
use lapor_domain::reference::OfficerRole;
use lapor_messaging::envelope::from_timestamp;
use lapor_messaging::{ConsumerSpec, DeliveryContext, EventHandler, HandlerError};
use lapor_proto::events::v1::{DigestReady, EventEnvelope, event_envelope::Payload};
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use std::sync::Arc;

pub const QUEUE: &str = "notification.digests";

/// Every digest period analytics publishes (`daily`, `weekly`, and any added later).
pub const BINDING: &str = "analytics.digest.#";

pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(QUEUE, vec![BINDING.to_owned()])
}

/// The `[digests]` table of notification's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct DigestSettings {
    /// The `List-Unsubscribe` header of digest e-mails: a `mailto:` (or `https:`) URL where
    /// a leader asks to stop the digest; empty sends no header.
    pub list_unsubscribe: String,
}

impl DigestSettings {
    /// The header target, checked: printed raw into a header, so no spaces or angle brackets.
    pub fn list_unsubscribe(&self) -> Result<Option<String>, String> {
        let target = self.list_unsubscribe.trim();
        if target.is_empty() {
            return Ok(None);
        }
        let scheme_ok = target.starts_with("mailto:") || target.starts_with("https://");
        let printable = target.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
        if scheme_ok && printable {
            Ok(Some(target.to_owned()))
        } else {
            Err(format!(
                "list_unsubscribe {target:?} must be a mailto: or https:// URL without spaces or <>"
            ))
        }
    }
}

pub struct Digests {
    /// For category names in the rising-categories lines.
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    /// Wakes the delivery worker once new rows are committed.
    pub sender_wake: Arc<tokio::sync::Notify>,
}

impl Digests {
    fn category_name(&self, code: &str) -> String {
        self.directory
            .get()
            .categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_owned(), |c| c.name.clone())
    }

    /// What the templates print for `officer`: figures and period in their language.
    fn context(
        &self,
        digest: &DigestReady,
        days: (NaiveDate, NaiveDate),
        officer: &recipient::Model,
    ) -> MessageContext {
        let lang = Lang::parse(&officer.lang).unwrap_or_default();
        MessageContext {
            recipient_name: officer.name.clone(),
            period: period::label(days.0, days.1, lang),
            figures: figures::lines(digest, lang, |code| self.category_name(code)),
            link: digest.dashboard_url.trim().to_owned(),
            ..MessageContext::default()
        }
    }
}

/// The WITA days the digest covers; an event without a usable period is refused.
fn period_days(digest: &DigestReady) -> Result<(NaiveDate, NaiveDate), HandlerError> {
    let from = from_timestamp(digest.period_from.as_ref());
    let to = from_timestamp(digest.period_to.as_ref());
    match (from, to) {
        (Some(from), Some(to)) => period::days(from, to)
            .ok_or_else(|| HandlerError::Permanent(format!("digest period ends ({to}) before it starts ({from})"))),
        _ => Err(HandlerError::Permanent("digest has no period_from or period_to".into())),
    }
}

#[async_trait::async_trait]
impl EventHandler for Digests {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        _context: &DeliveryContext,
    ) -> Result<(), HandlerError> {
        let Some(Payload::DigestReady(digest)) = &event.payload else {
            tracing::debug!(event_type = %event.event_type, "ignoring event on digest queue");
            return Ok(());
        };
        let days = period_days(digest)?;
        let (event_id, period_id) = outbound::ids(event)?;
        // The provincial leaders wherever their record sits, each person (and mailbox) once.
        let leaders = escalations::recipients(txn, &[Audience::Provincial(OfficerRole::Pimpinan)], "").await?;
        let (reachable, unreachable): (Vec<_>, Vec<_>) =
            leaders.into_iter().partition(|leader| !leader.email.trim().is_empty());
        for leader in &unreachable {
            tracing::warn!(recipient = %leader.id, "pimpinan has no e-mail address: no digest");
        }
        if reachable.is_empty() {
            tracing::warn!(period = %digest.period_kind, "no pimpinan to send the digest to");
        }
        let mut rows = Vec::with_capacity(reachable.len());
        for leader in &reachable {
            let context = serde_json::to_value(self.context(digest, days, leader))
                .map_err(|e| HandlerError::Permanent(e.to_string()))?;
            rows.push(NewDelivery {
                event_id,
                // The period's id: deliveries are keyed by event, and a digest is no complaint.
                complaint_id: period_id,
                recipient_id: leader.id.clone(),
                channel: EMAIL,
                address: leader.email.clone(),
                tracking_id: String::new(),
                // Province-wide: listed to provincial officers only, never to an SKPD.
                skpd_code: String::new(),
                kind: Kind::Digest,
                lang: Lang::parse(&leader.lang).unwrap_or_default(),
                context,
                not_before: Utc::now(),
                fallback_for: None,
            });
        }
        let planned = outbound::insert(txn, rows).await?;
        tracing::info!(period = %digest.period_kind, planned, "digest planned");
        Ok(())
    }

    fn after_commit(&self) {
        self.sender_wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(target: &str) -> DigestSettings {
        DigestSettings {
            list_unsubscribe: target.into(),
        }
    }

    #[test]
    fn list_unsubscribe_is_a_mailto_or_https_url() {
        assert_eq!(settings("").list_unsubscribe(), Ok(None));
        assert_eq!(
            settings(" mailto:admin@example.id?subject=stop ").list_unsubscribe(),
            Ok(Some("mailto:admin@example.id?subject=stop".into()))
        );
        assert!(
            settings("https://lapor.example.id/unsubscribe")
                .list_unsubscribe()
                .is_ok()
        );
        for bad in ["admin@example.id", "mailto:a b@example.id", "mailto:a@b>", "http://x"] {
            assert!(settings(bad).list_unsubscribe().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_digest_needs_a_period() {
        use lapor_messaging::envelope::to_timestamp;
        let from = chrono::DateTime::parse_from_rfc3339("2026-11-26T16:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let mut digest = DigestReady {
            period_from: Some(to_timestamp(from)),
            period_to: Some(to_timestamp(from + chrono::TimeDelta::days(1))),
            ..DigestReady::default()
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid");
        assert!(matches!(period_days(&digest), Ok(days) if days == (day, day)));
        digest.period_to = Some(to_timestamp(from));
        assert!(matches!(period_days(&digest), Err(HandlerError::Permanent(_))));
        digest.period_to = None;
        assert!(matches!(period_days(&digest), Err(HandlerError::Permanent(_))));
    }

    /// The real templates and seed, through the context each leader gets.
    #[test]
    fn each_leader_reads_the_digest_in_their_language() {
        use lapor_proto::events::v1::DigestCategory;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let templates = crate::messages::Templates::load(&root.join("deploy/templates")).expect("templates");
        let digests = Digests {
            directory: lapor_platform::directory_sync::LiveDirectory::new(
                0,
                lapor_domain::Directory::load(&root.join("deploy/seed")).expect("seed"),
            ),
            sender_wake: Arc::default(),
        };
        let digest = DigestReady {
            received: 120,
            verification_compliance_pct: Some(87.5),
            rising_categories: vec![DigestCategory {
                category_code: "kesehatan.rumah-sakit".into(),
                this_period: 14,
                previous_period: 9,
            }],
            dashboard_url: "https://lapor.example.id/dasbor".into(),
            ..DigestReady::default()
        };
        let days = (
            NaiveDate::from_ymd_opt(2026, 11, 30).expect("valid"),
            NaiveDate::from_ymd_opt(2026, 12, 6).expect("valid"),
        );
        let mut leader = recipient::Model {
            id: "prov-sekda".into(),
            name: "Sekda Contoh".into(),
            skpd_code: "diskominfo".into(),
            role: "pimpinan".into(),
            email: "sekda@kalselprov.example.id".into(),
            phone: String::new(),
            sub_unit: None,
            channels: "both".into(),
            lang: "id".into(),
            quiet_start: None,
            quiet_end: None,
            updated_at: Utc::now(),
        };
        let mail = templates
            .email(Kind::Digest, Lang::Id, &digests.context(&digest, days, &leader))
            .expect("render");
        assert_eq!(
            mail.subject,
            "[LAPOR] Ringkasan pengaduan 30 November – 6 Desember 2026"
        );
        assert!(mail.text.starts_with("Yth. Sekda Contoh,\n"), "{}", mail.text);
        for line in [
            "- Aduan masuk: 120\n",
            "- Kepatuhan SLA verifikasi: 87,5%\n",
            "- Kepatuhan SLA tindak lanjut: –\n",
            "- Kategori meningkat – Layanan Rumah Sakit: 14 aduan (periode sebelumnya 9)\n",
            "https://lapor.example.id/dasbor\n",
        ] {
            assert!(mail.text.contains(line), "{line:?} missing from\n{}", mail.text);
        }
        leader.lang = "en".into();
        let mail = templates
            .email(Kind::Digest, Lang::En, &digests.context(&digest, days, &leader))
            .expect("render");
        assert_eq!(mail.subject, "[LAPOR] Complaint digest 30 November – 6 December 2026");
        assert!(
            mail.text.contains("- Verification SLA compliance: 87.5%\n"),
            "{}",
            mail.text
        );
        assert!(mail.html.contains(">Complaints received</td>"), "{}", mail.html);
    }

    #[test]
    fn binds_every_digest_period() {
        let spec = consumer_spec();
        assert_eq!(spec.queue, "notification.digests");
        assert_eq!(spec.binding_keys, ["analytics.digest.#"]);
    }
}
