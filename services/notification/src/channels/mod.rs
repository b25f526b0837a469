//! The ways a message reaches a person, behind one trait: e-mail over SMTP, SMS over SMPP
//! or an HTTP aggregator. The delivery worker only sees [`Channel`]; which SMS transport is
//! used is configuration.

pub mod email;
pub mod http_sms;
pub mod smpp;

use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

pub const EMAIL: &str = "email";
pub const SMS: &str = "sms";

/// One rendered message for one address.
pub struct Outgoing<'a> {
    pub delivery_id: Uuid,
    pub address: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    /// `List-Unsubscribe` target for digests; `None` for case mail.
    pub list_unsubscribe: Option<&'a str>,
}

impl Outgoing<'_> {
    /// The key a provider may use to fold a resend after a crash into the first send: the
    /// delivery id, stable across attempts.
    pub fn idempotency_key(&self) -> String {
        self.delivery_id.to_string()
    }
}

/// What the provider answered: its message ids, for matching delivery receipts.
#[derive(Debug, Default)]
pub struct Accepted {
    pub provider_ids: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: 4xx replies, throttling, dropped connections, timeouts.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will not succeed as it is: 5xx replies, a rejected address, an oversized message.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// An SMS address must be E.164 (`+62…`, 8 to 15 digits); anything else is refused
/// before it reaches the provider.
pub fn check_phone(address: &str) -> Result<(), SendError> {
    let digits = address.strip_prefix('+').unwrap_or("");
    let valid =
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(SendError::Permanent(format!(
            "malformed phone number {address:?}: E.164 (+62…) expected"
        )))
    }
}

#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Accepted, SendError>;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum SmsSettings {
    /// No SMS: SMS deliveries fail permanently and fall back to e-mail.
    None,
    Smpp(smpp::SmppSettings),
    Http(http_sms::HttpSmsSettings),
}

/// The configured channels.
#[derive(Clone)]
pub struct Channels {
    pub email: Arc<dyn Channel>,
    pub sms: Arc<dyn Channel>,
}

impl Channels {
    pub fn for_name(&self, channel: &str) -> Option<&Arc<dyn Channel>> {
        match channel {
            EMAIL => Some(&self.email),
            SMS => Some(&self.sms),
            _ => None,
        }
    }
}

/// The SMS channel when SMS is switched off.
pub struct NoSms;

#[async_trait::async_trait]
impl Channel for NoSms {
    async fn send(&self, _message: &Outgoing<'_>) -> Result<Accepted, SendError> {
        Err(SendError::Permanent("sms is not configured".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::{SmsSettings, check_phone};

    #[test]
    fn sms_can_be_switched_off_over_the_shipped_defaults() {
        // The defaults name an SMSC; LAPOR__SMS__TRANSPORT=none must still win.
        let settings: SmsSettings = toml::from_str(
            r#"transport = "none"
               addr = "127.0.0.1:2775"
               system_id = "lapor""#,
        )
        .expect("parses");
        assert!(matches!(settings, SmsSettings::None));
        let smpp: SmsSettings = toml::from_str(
            r#"transport = "smpp"
               addr = "127.0.0.1:2775"
               system_id = "lapor"
               source_addr = "1708""#,
        )
        .expect("parses");
        assert!(matches!(smpp, SmsSettings::Smpp(_)));
    }

    #[test]
    fn phones_must_be_e164() {
        assert!(check_phone("+6281200000001").is_ok());
        for bad in [
            "081200000001",
            "+62812abc0001",
            "12ab",
            "",
            "+0812000000",
            "+1234567",
            "+62812000000011234",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }
}
