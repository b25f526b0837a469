//! SMS through an HTTP aggregator: one POST per message to a configured URL, the body
//! rendered from a configured template (so any aggregator's JSON or form shape fits without
//! code), the authorization header from a secret, and the delivery id as idempotency key.

use super::{Accepted, Channel, Outgoing, SendError};
use minijinja::{Environment, context};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSmsSettings {
    pub url: String,
    /// Whole `Authorization` header value. Secret: `LAPOR__SMS__AUTHORIZATION`.
    #[serde(default)]
    pub authorization: String,
    /// minijinja template of the request body; variables `to` (E.164), `text`, `sender`
    /// and `idempotency_key`; `tojson` quotes values for JSON bodies.
    pub body_template: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// Header carrying the delivery id; empty to send none.
    #[serde(default = "default_idempotency_header")]
    pub idempotency_header: String,
    /// JSON pointer to the aggregator's message id in its answer, e.g. `/message_id`.
    #[serde(default)]
    pub message_id_pointer: String,
    pub sender: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_content_type() -> String {
    "application/json".into()
}
fn default_idempotency_header() -> String {
    "Idempotency-Key".into()
}
fn default_timeout_ms() -> u64 {
    10_000
}

pub struct HttpSms {
    settings: HttpSmsSettings,
    client: reqwest::Client,
    templates: Environment<'static>,
}

const BODY: &str = "body";

impl HttpSms {
    pub fn new(settings: HttpSmsSettings) -> anyhow::Result<Self> {
        let mut templates = Environment::new();
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        templates
            .add_template_owned(BODY, settings.body_template.clone())
            .map_err(|e| anyhow::anyhow!("sms.body_template: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()?;
        Ok(Self {
            settings,
            client,
            templates,
        })
    }

    fn body(&self, message: &Outgoing<'_>) -> Result<String, SendError> {
        let template = self
            .templates
            .get_template(BODY)
            .map_err(|e| SendError::Permanent(format!("sms body template: {e}")))?;
        template
            .render(context! {
                to => message.address,
                text => message.text,
                sender => self.settings.sender.as_str(),
                idempotency_key => message.idempotency_key(),
            })
            .map_err(|e| SendError::Permanent(format!("sms body template: {e}")))
    }
}

/// 408, 429 and 5xx are worth retrying; any other refusal will be refused again.
fn is_transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

/// The aggregator's answer, shortened for the delivery log.
fn excerpt(text: &str) -> String {
    let mut shown: String = text.chars().take(200).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

#[async_trait::async_trait]
impl Channel for HttpSms {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Accepted, SendError> {
        super::check_phone(message.address)?;
        let body = self.body(message)?;
        let mut request = self
            .client
            .post(&self.settings.url)
            .header(reqwest::header::CONTENT_TYPE, &self.settings.content_type)
            .body(body);
        if !self.settings.authorization.is_empty() {
            request = request.header(reqwest::header::AUTHORIZATION, &self.settings.authorization);
        }
        if !self.settings.idempotency_header.is_empty() {
            request = request.header(self.settings.idempotency_header.as_str(), message.idempotency_key());
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("sms gateway unreachable: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Transient(format!("sms gateway answer cut off: {e}")))?;
        if !status.is_success() {
            let reason = format!("sms gateway answered {status}: {}", excerpt(&text));
            return Err(if is_transient(status) {
                SendError::Transient(reason)
            } else {
                SendError::Permanent(reason)
            });
        }
        let provider_ids = match self.settings.message_id_pointer.as_str() {
            "" => Vec::new(),
            pointer => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|answer| answer.pointer(pointer).cloned())
                .map(|id| match id {
                    serde_json::Value::String(id) => id,
                    other => other.to_string(),
                })
                .into_iter()
                .collect(),
        };
        Ok(Accepted { provider_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for code in [408u16, 429, 500, 502, 503] {
            assert!(
                is_transient(reqwest::StatusCode::from_u16(code).expect("status")),
                "{code}"
            );
        }
        for code in [400u16, 401, 403, 404, 422] {
            assert!(
                !is_transient(reqwest::StatusCode::from_u16(code).expect("status")),
                "{code}"
            );
        }
    }

    #[test]
    fn body_template_quotes_values_as_json() {
        let sms = HttpSms::new(HttpSmsSettings {
            url: "http://127.0.0.1:9/".into(),
            authorization: String::new(),
            body_template: r#"{"to": {{ to|tojson }}, "text": {{ text|tojson }}, "from": {{ sender|tojson }}, "ref": {{ idempotency_key|tojson }}}"#.into(),
            content_type: default_content_type(),
            idempotency_header: default_idempotency_header(),
            message_id_pointer: String::new(),
            sender: "1708".into(),
            timeout_ms: 100,
        })
        .expect("valid settings");
        let id = uuid::Uuid::nil();
        let body = sms
            .body(&Outgoing {
                delivery_id: id,
                address: "+6281200000001",
                subject: "",
                text: "Aduan \"baru\"\nAB3DEF7H9K",
                html: None,
                list_unsubscribe: None,
            })
            .expect("renders");
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(parsed["text"], "Aduan \"baru\"\nAB3DEF7H9K");
        assert_eq!(parsed["to"], "+6281200000001");
        assert_eq!(parsed["ref"], id.to_string());
    }

    #[test]
    fn a_broken_body_template_is_refused_at_start() {
        let result = HttpSms::new(HttpSmsSettings {
            url: "http://127.0.0.1:9/".into(),
            authorization: String::new(),
            body_template: "{{ to ".into(),
            content_type: default_content_type(),
            idempotency_header: default_idempotency_header(),
            message_id_pointer: String::new(),
            sender: "1708".into(),
            timeout_ms: 100,
        });
        assert!(result.is_err());
    }
}
