//! E-mail over SMTP with lettre's pooled async transport: plain text plus an HTML
//! alternative when the template has one. Plain SMTP is for a local sink only;
//! production uses STARTTLS or implicit TLS with credentials from the environment.

use super::{Accepted, Channel, Outgoing, SendError};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
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
    /// Open SMTP connections. Each message is a handful of round trips on one connection
    /// (lettre writes the body and its terminating dot separately, so Nagle's algorithm
    /// and the relay's delayed ACK cost ~40 ms per message), so throughput grows with the
    /// pool until the relay's own limit.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    16
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    message_id_domain: String,
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
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(settings.username.clone(), settings.password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.parse()?,
            message_id_domain: settings.message_id_domain.clone(),
        })
    }
}

#[async_trait::async_trait]
impl Channel for Mailer {
    async fn send(&self, email: &Outgoing<'_>) -> Result<Accepted, SendError> {
        let to = email
            .address
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        // Message-ID derives from the delivery id, so a resend after a crash carries the same
        // id and mail systems fold the duplicate.
        let message_id = format!("<{}@{}>", email.delivery_id, self.message_id_domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(message_id.clone()));
        if let Some(target) = email.list_unsubscribe {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{target}>"),
            ));
        }
        let text = SinglePart::plain(email.text.to_owned());
        let message = match email.html {
            Some(html) => builder.multipart(
                MultiPart::alternative()
                    .singlepart(text)
                    .singlepart(SinglePart::html(html.to_owned())),
            ),
            None => builder.singlepart(text),
        }
        .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Accepted {
                provider_ids: vec![message_id],
            }),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(format!("smtp: {error}"))),
            Err(error) => Err(SendError::Transient(format!("smtp: {error}"))),
        }
    }
}
