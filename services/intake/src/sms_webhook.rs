//! `POST /api/v1/sms/inbound`: the 1708 short code through an SMS aggregator's webhook
//! instead of (or beside) an SMPP session. The aggregator posts the sender and the text, as
//! JSON or a form; the text is taken exactly like one from the SMSC, and the answer comes
//! only after it is stored, so a 5xx or a timeout makes the aggregator deliver it again
//! (the idempotency key makes that one complaint).

use crate::api::{ApiFailure, failure, too_many};
use crate::sms::{Handled, SmsChannel};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const TOKEN_HEADER: &str = "x-lapor-webhook-token";
/// A concatenated SMS is at most a few KiB; anything larger is not an SMS.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct SmsWebhook {
    pub channel: Arc<SmsChannel>,
    pub token: String,
    pub default_kabupaten: String,
}

#[derive(Debug, Deserialize)]
pub struct InboundSms {
    /// The sender, any Indonesian form (`0812…`, `62812…`, `+62812…`).
    pub from: String,
    pub text: String,
    /// The number texted (the short code); informational.
    #[serde(default)]
    pub to: String,
}

#[derive(Debug, Serialize)]
pub struct Taken {
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_id: Option<String>,
}

pub fn router(webhook: Arc<SmsWebhook>) -> Router {
    Router::new()
        .route("/api/v1/sms/inbound", post(inbound))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(webhook)
}

fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let presented = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Digests, so the comparison's timing says nothing about the token.
    !token.is_empty() && Sha256::digest(presented.as_bytes()) == Sha256::digest(token.as_bytes())
}

/// JSON or `application/x-www-form-urlencoded`, as aggregators differ.
async fn read_body(request: Request) -> Result<InboundSms, ApiFailure> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A body over the limit keeps its 413; anything else unreadable is a 400.
    let invalid = |status: StatusCode, message: String| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            failure(status, "body_too_large", message, None)
        } else {
            failure(StatusCode::BAD_REQUEST, "invalid_body", message, None)
        }
    };
    if content_type.starts_with("application/json") {
        Json::<InboundSms>::from_request(request, &())
            .await
            .map(|Json(sms)| sms)
            .map_err(|e| invalid(e.status(), e.body_text()))
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Form::<InboundSms>::from_request(request, &())
            .await
            .map(|Form(sms)| sms)
            .map_err(|e| invalid(e.status(), e.body_text()))
    } else {
        Err(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
            None,
        ))
    }
}

async fn inbound(State(webhook): State<Arc<SmsWebhook>>, request: Request) -> Result<Response, ApiFailure> {
    if !authorised(request.headers(), &webhook.token) {
        return Err(failure(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("missing or wrong {TOKEN_HEADER}"),
            None,
        ));
    }
    let sms = read_body(request).await?;
    let handled = webhook
        .channel
        .handle(&sms.from, &sms.text, &webhook.default_kabupaten)
        .await;
    metrics::counter!("lapor_sms_received_total", "outcome" => handled.label(), "via" => "webhook").increment(1);
    match handled {
        Handled::Complaint { tracking_id, replayed } => {
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            let body = Taken {
                outcome: "complaint",
                tracking_id: Some(tracking_id),
            };
            Ok((status, Json(body)).into_response())
        }
        Handled::StatusRequested { .. } => {
            // The tracking id stays out of the answer: the status goes to the reporter's phone.
            let body = Taken {
                outcome: "status_requested",
                tracking_id: None,
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Handled::Refused(reason) => {
            let field = if reason.starts_with("sender number") {
                "from"
            } else {
                "text"
            };
            Err(failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sms_refused",
                reason,
                Some(field),
            ))
        }
        Handled::Limited(limited) => Err(too_many(&limited)),
        Handled::Unavailable(reason) => {
            tracing::error!(%reason, "sms from the webhook could not be stored");
            Err(failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "could not store the message; deliver it again",
                None,
            ))
        }
    }
}
