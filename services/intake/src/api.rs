//! The public JSON API under `/api/v1` on intake's HTTP port, for the web and mobile apps.
//! Handlers call the same `IntakeService` as gRPC in-process (channel `api`), so validation,
//! idempotency and the outbox are shared; gRPC statuses become HTTP statuses with a JSON body
//! `{code, message, field}`. The OpenAPI document is generated from these types (utoipa).

use crate::grpc::IntakeGrpc;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lapor_domain::CaseState;
use lapor_messaging::envelope::from_timestamp;
use lapor_platform::grpc::FIELD_METADATA_KEY;
use lapor_proto::events::v1::{Channel, ComplaintKind};
use lapor_proto::intake::v1::intake_service_server::IntakeService;
use lapor_proto::intake::v1::{GetComplaintStatusRequest, Reporter, SubmitComplaintRequest};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};

/// Largest JSON body accepted: a complaint's text is at most a few thousand characters.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "LAPOR! Kalimantan Selatan — public API", version = "1"),
    paths(submit_complaint, complaint_status),
    components(schemas(SubmitComplaint, ReporterContact, Accepted, PublicStatus, ApiError))
)]
pub struct ApiDoc;

pub fn router(grpc: Arc<IntakeGrpc>) -> Router {
    Router::new()
        .route("/api/v1/complaints", post(submit_complaint))
        .route("/api/v1/complaints/{tracking_id}", get(complaint_status))
        .route("/api/v1/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(grpc)
}

/// A complaint (aduan), aspiration or information request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitComplaint {
    /// 5..=150 characters.
    pub title: String,
    /// What happened, where and when: 20..=5000 characters.
    pub body: String,
    /// A category code from the directory, e.g. `infrastruktur.jalan-jembatan`.
    pub category_code: String,
    /// Kabupaten/kota code, e.g. `6371` (Kota Banjarmasin).
    pub kabupaten_code: String,
    #[serde(default)]
    pub location: String,
    /// `aduan` (default), `aspirasi` or `permintaan_informasi`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The reporter's identity is hidden from every officer.
    #[serde(default)]
    pub anonim: bool,
    /// The complaint never appears in public lists.
    #[serde(default)]
    pub rahasia: bool,
    #[serde(default)]
    pub reporter: Option<ReporterContact>,
    /// Makes retries safe; the `Idempotency-Key` header works as well.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReporterContact {
    #[serde(default)]
    pub name: String,
    /// Indonesian mobile number, e.g. `0812-3456-7890` or `+62 812 3456 7890`.
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    /// Nomor Induk Kependudukan, 16 digits (spaces or dots between groups are fine).
    #[serde(default)]
    pub nik: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Keep this: it is how the reporter follows the complaint.
    pub tracking_id: String,
    /// True when this call replayed an earlier one with the same idempotency key.
    pub replayed: bool,
    /// RFC 3339.
    pub submitted_at: String,
    pub status_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicStatus {
    pub tracking_id: String,
    /// Hidden ("(rahasia)") for confidential complaints.
    pub title: String,
    pub category_code: String,
    pub kabupaten_code: String,
    /// Workflow state, e.g. `submitted`, `assigned`, `followed_up`, `closed`.
    pub state: String,
    /// The state as LAPOR! names it, e.g. `Belum Terverifikasi`.
    pub state_label: String,
    pub submitted_at: String,
    /// When the current stage is due (RFC 3339); absent when no clock runs.
    pub expected_at: Option<String>,
}

/// Every error: a stable code, a message for people, and the offending field if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

/// An error response; `retry_after` (seconds) becomes the `Retry-After` header of a 429.
pub struct ApiFailure(StatusCode, ApiError, Option<u64>);

impl ApiFailure {
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.2 = Some(seconds);
        self
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(self.1)).into_response();
        if let Some(seconds) = self.2 {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// 429 for a submission over an abuse limit.
pub(crate) fn too_many(limited: &crate::limits::Limited) -> ApiFailure {
    failure(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited.to_string(), None)
        .retry_after(limited.retry_after_seconds())
}

pub(crate) fn failure(status: StatusCode, code: &str, message: impl Into<String>, field: Option<&str>) -> ApiFailure {
    ApiFailure(
        status,
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            field: field.map(str::to_owned),
        },
        None,
    )
}

impl From<tonic::Status> for ApiFailure {
    fn from(status: tonic::Status) -> Self {
        let field = status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (http, code) = match status.code() {
            tonic::Code::InvalidArgument => (StatusCode::BAD_REQUEST, "invalid_argument"),
            tonic::Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            tonic::Code::AlreadyExists => (StatusCode::CONFLICT, "idempotency_key_reused"),
            tonic::Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            tonic::Code::ResourceExhausted => {
                let seconds = status
                    .metadata()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60);
                return failure(StatusCode::TOO_MANY_REQUESTS, "rate_limited", status.message(), None)
                    .retry_after(seconds);
            }
            _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        failure(http, code, status.message(), field.as_deref())
    }
}

fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    from_timestamp(ts).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn kind_of(raw: Option<&str>) -> Result<ComplaintKind, ApiFailure> {
    match raw.unwrap_or("aduan") {
        "aduan" => Ok(ComplaintKind::Aduan),
        "aspirasi" => Ok(ComplaintKind::Aspirasi),
        "permintaan_informasi" => Ok(ComplaintKind::PermintaanInformasi),
        other => Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("kind {other:?}: expected aduan, aspirasi or permintaan_informasi"),
            Some("kind"),
        )),
    }
}

/// Submit a complaint. 201 with the tracking id; 200 when an idempotent retry replays it.
#[utoipa::path(
    post,
    path = "/api/v1/complaints",
    request_body = SubmitComplaint,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Accepted", body = Accepted),
        (status = 200, description = "Replayed an earlier submission with the same key", body = Accepted),
        (status = 400, description = "Invalid field or malformed JSON", body = ApiError),
        (status = 409, description = "Idempotency key reused with different content", body = ApiError),
        (status = 413, description = "Body larger than 64 KiB", body = ApiError),
    )
)]
async fn submit_complaint(
    State(grpc): State<Arc<IntakeGrpc>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<SubmitComplaint>, JsonRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiFailure> {
    let limits = &grpc.submit.limits;
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    limits
        .check_ip(limits.client_ip(peer.ip(), forwarded))
        .map_err(|limited| too_many(&limited))?;
    let Json(request) = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_json"
        };
        let text = rejection.body_text();
        // serde names a missing or unexpected field between backticks.
        let field = (text.contains("missing field") || text.contains("unknown field"))
            .then(|| text.split('`').nth(1))
            .flatten();
        failure(status, code, text.clone(), field)
    })?;
    let header_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reporter = request.reporter.unwrap_or_default();
    let message = SubmitComplaintRequest {
        title: request.title,
        body: request.body,
        category_code: request.category_code,
        kabupaten_code: request.kabupaten_code,
        location: request.location,
        kind: kind_of(request.kind.as_deref())? as i32,
        anonim: request.anonim,
        rahasia: request.rahasia,
        reporter: Some(Reporter {
            name: reporter.name,
            phone: reporter.phone,
            email: reporter.email,
            nik: reporter.nik,
        }),
        idempotency_key: request.idempotency_key.or(header_key).unwrap_or_default(),
        channel: Channel::Api as i32,
    };
    let accepted = grpc.submit_complaint(tonic::Request::new(message)).await?.into_inner();
    let status = if accepted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Accepted {
            status_url: format!("/api/v1/complaints/{}", accepted.tracking_id),
            tracking_id: accepted.tracking_id,
            replayed: accepted.replayed,
            submitted_at: rfc3339(accepted.submitted_at.as_ref()).unwrap_or_default(),
        }),
    ))
}

/// The public status of a complaint by its tracking id.
#[utoipa::path(
    get,
    path = "/api/v1/complaints/{tracking_id}",
    params(("tracking_id" = String, Path, description = "The 10-character tracking id")),
    responses(
        (status = 200, description = "Found", body = PublicStatus),
        (status = 400, description = "Not a tracking id", body = ApiError),
        (status = 404, description = "Unknown tracking id", body = ApiError),
    )
)]
async fn complaint_status(
    State(grpc): State<Arc<IntakeGrpc>>,
    Path(tracking_id): Path<String>,
) -> Result<Json<PublicStatus>, ApiFailure> {
    let status = grpc
        .get_complaint_status(tonic::Request::new(GetComplaintStatusRequest { tracking_id }))
        .await?
        .into_inner();
    let label = CaseState::parse(&status.state)
        .map(|s| s.public_label().to_owned())
        .unwrap_or_default();
    Ok(Json(PublicStatus {
        title: if status.rahasia {
            "(rahasia)".to_owned()
        } else {
            status.title
        },
        tracking_id: status.tracking_id,
        category_code: status.category_code,
        kabupaten_code: status.kabupaten_code,
        state_label: label,
        state: status.state,
        submitted_at: rfc3339(status.submitted_at.as_ref()).unwrap_or_default(),
        expected_at: rfc3339(status.expected_at.as_ref()),
    }))
}
