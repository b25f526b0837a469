//! SMTP over lettre with a pooled async transport. Plain SMTP is for a local sink only;
//! production uses STARTTLS or implicit TLS with credentials from the environment.

use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: String,
    /// Secret: `LAPOR__SMTP__PASSWORD`.
    #[serde(default)]
    pub password: String,
    pub from: String,
    /// Domain for Message-IDs.
    pub message_id_domain: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: 4xx replies, connection failures, timeouts.
    #[error("transient smtp failure: {0}")]
    Transient(String),
    /// Will not succeed: 5xx replies, an address that cannot be parsed.
    #[error("permanent smtp failure: {0}")]
    Permanent(String),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    message_id_domain: String,
}

pub struct Email<'a> {
    pub delivery_id: uuid::Uuid,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let builder = match settings.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str()),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(4));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(settings.username.clone(), settings.password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.parse()?,
            message_id_domain: settings.message_id_domain.clone(),
        })
    }

    pub async fn send(&self, email: &Email<'_>) -> Result<(), SendError> {
        let to = email
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        // Message-ID derives from the delivery id, so a resend after a crash carries the same
        // id and mail clients can fold the duplicate.
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(format!("<{}@{}>", email.delivery_id, self.message_id_domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.to_owned())
            .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }
}
