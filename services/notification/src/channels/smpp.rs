//! SMS over an SMPP 3.4 session to the operator's SMSC (transmitter or transceiver), through
//! `lapor-smpp`. The session splits long texts with UDH and picks GSM-7 or UCS-2 per
//! message; receipts arriving on the session are matched to deliveries in
//! [`crate::receipts`].

use super::{Accepted, Channel, Outgoing, SendError};
use lapor_smpp::client::{BindMode, ClientConfig, Inbound, OutgoingSms, SmppClient, SubmitError};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Deserialize)]
pub struct SmppSettings {
    pub addr: String,
    pub system_id: String,
    /// Secret: `LAPOR__SMS__PASSWORD`.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    /// `transceiver` (receipts on the same session) or `transmitter`.
    #[serde(default = "default_bind")]
    pub bind: String,
    pub source_addr: String,
    /// Outstanding submits without an answer, as agreed with the SMSC.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Throughput agreed with the SMSC.
    #[serde(default = "default_rate")]
    pub max_per_second: u32,
    #[serde(default = "default_enquire_link")]
    pub enquire_link_seconds: u64,
    #[serde(default = "default_response_timeout")]
    pub response_timeout_ms: u64,
    /// Vendor TLV carrying the delivery id, for SMSCs that fold repeated submits.
    #[serde(default)]
    pub idempotency_tlv: Option<u16>,
    /// Longer texts are refused rather than sent as a wall of parts.
    #[serde(default = "default_max_segments")]
    pub max_segments: usize,
}

fn default_bind() -> String {
    "transceiver".into()
}
fn default_window() -> usize {
    10
}
fn default_rate() -> u32 {
    50
}
fn default_enquire_link() -> u64 {
    30
}
fn default_response_timeout() -> u64 {
    10_000
}
pub fn default_max_segments() -> usize {
    6
}

pub struct SmppSms {
    client: SmppClient,
    max_segments: usize,
}

impl SmppSms {
    pub fn start(settings: &SmppSettings) -> anyhow::Result<(SmppSms, mpsc::Receiver<Inbound>)> {
        let bind = match settings.bind.as_str() {
            "transceiver" => BindMode::Transceiver,
            "transmitter" => BindMode::Transmitter,
            other => anyhow::bail!("sms.bind must be transceiver or transmitter, not {other:?}"),
        };
        let (client, inbound) = SmppClient::start(ClientConfig {
            addr: settings.addr.clone(),
            system_id: settings.system_id.clone(),
            password: settings.password.clone(),
            system_type: settings.system_type.clone(),
            bind,
            source_addr: settings.source_addr.clone(),
            window: settings.window,
            max_per_second: settings.max_per_second,
            enquire_link_interval: Duration::from_secs(settings.enquire_link_seconds),
            response_timeout: Duration::from_millis(settings.response_timeout_ms),
            idempotency_tlv: settings.idempotency_tlv,
        });
        Ok((
            SmppSms {
                client,
                max_segments: settings.max_segments,
            },
            inbound,
        ))
    }

    pub async fn shutdown(&self) {
        self.client.shutdown().await;
    }
}

/// Refuses texts an SMS cannot carry sensibly.
pub fn check_length(text: &str, max_segments: usize) -> Result<(), SendError> {
    if text.trim().is_empty() {
        return Err(SendError::Permanent("empty sms text".into()));
    }
    let parts = lapor_smpp::text::segment_count(text);
    if parts > max_segments {
        return Err(SendError::Permanent(format!(
            "sms too long: {parts} parts, at most {max_segments}"
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Channel for SmppSms {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Accepted, SendError> {
        super::check_phone(message.address)?;
        check_length(message.text, self.max_segments)?;
        let sms = OutgoingSms {
            destination: message.address.to_owned(),
            text: message.text.to_owned(),
            request_receipt: true,
            idempotency_key: Some(message.idempotency_key()),
        };
        match self.client.submit(&sms).await {
            Ok(submitted) => Ok(Accepted {
                provider_ids: submitted.message_ids,
            }),
            Err(SubmitError::Transient(reason)) => Err(SendError::Transient(format!("smpp: {reason}"))),
            Err(SubmitError::Permanent { reason, .. }) => Err(SendError::Permanent(format!("smpp: {reason}"))),
        }
    }
}
