//! The public JSON API under `/api/v1` on intake's HTTP port, for the web and mobile apps.
//! Handlers call the same `IntakeService` as gRPC in-process (channel `api`), so validation,
//! idempotency and the outbox are shared; gRPC statuses become HTTP statuses with a JSON body
//! `{code, message, field}`. The OpenAPI document is generated from these types (utoipa).
//! A submission with files is `multipart/form-data`: the same JSON document in a part named
//! `complaint`, each file in a part named `attachment`.

use crate::grpc::IntakeGrpc;
use crate::reporter_actions::{ActionError, ReporterAction};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, State};
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

mod multipart;
pub(crate) use multipart::is_multipart;

/// Largest JSON body accepted: a complaint's text is at most a few thousand characters.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "LAPOR! Kalimantan Selatan — public API", version = "1"),
    paths(submit_complaint, complaint_status, reply_to_follow_up, rate_follow_up),
    components(schemas(
        SubmitComplaint,
        SubmitComplaintWithFiles,
        ReporterContact,
        Accepted,
        PublicStatus,
        ReporterReply,
        ReporterRating,
        ActionAccepted,
        ApiError
    ))
)]
pub struct ApiDoc;

pub fn router(grpc: Arc<IntakeGrpc>) -> Router {
    Router::new()
        .route(
            "/api/v1/complaints",
            // Room for the files; a JSON body keeps its own 64 KiB limit (see submit_complaint).
            post(submit_complaint).layer(DefaultBodyLimit::max(
                grpc.submit.attachments.settings.max_total_bytes + 2 * MAX_BODY_BYTES,
            )),
        )
        .route("/api/v1/complaints/{tracking_id}", get(complaint_status))
        .route("/api/v1/complaints/{tracking_id}/replies", post(reply_to_follow_up))
        .route("/api/v1/complaints/{tracking_id}/rating", post(rate_follow_up))
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

/// A submission with photos or PDFs, as `multipart/form-data`.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub struct SubmitComplaintWithFiles {
    /// The submission as JSON (the `application/json` document).
    complaint: SubmitComplaint,
    /// Up to 5 files, 10 MiB together: JPEG, PNG, WebP, GIF or PDF, recognised by content.
    #[schema(value_type = Vec<String>, format = Binary)]
    attachment: Vec<Vec<u8>>,
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
    /// Keep this too: it proves authorship to reply, object and rate, and opens the
    /// status of a rahasia report. The same on a replay.
    pub access_code: String,
}

/// The reporter answers the admin's question (`answer`, while on hold), or replies to or
/// objects to a follow-up (`reply`, `objection`, within the reply window).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReporterReply {
    pub access_code: String,
    /// `reply`, `objection` or `answer`.
    pub kind: String,
    /// 1..=4000 characters.
    pub text: String,
}

/// The reporter's rating of the follow-up, once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReporterRating {
    pub access_code: String,
    /// 1 to 5.
    pub stars: u8,
}

/// Taken for routing, which applies it to the case.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAccepted {
    pub tracking_id: String,
    /// `reply`, `objection`, `answer` or `rate`.
    pub action: String,
    /// True when an earlier call with the same Idempotency-Key recorded it.
    pub replayed: bool,
}

/// The status takes no query parameters: a rahasia report's access code travels in the
/// `X-Access-Code` header, never in a URL that proxies and browsers keep.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicStatus {
    pub tracking_id: String,
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
    /// Tracking id of the report this one was merged into as a duplicate; `state` and
    /// `expected_at` are then that report's.
    pub merged_into: Option<String>,
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

/// A body that is not the JSON we take: too large, malformed, or a field missing or unknown.
fn json_failure(rejection: JsonRejection) -> ApiFailure {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "invalid_json"
    };
    let text = rejection.body_text();
    failure(status, code, text.clone(), serde_field(&text))
}

/// serde names a missing or unexpected field between backticks.
fn serde_field(text: &str) -> Option<&str> {
    (text.contains("missing field") || text.contains("unknown field"))
        .then(|| text.split('`').nth(1))
        .flatten()
}

impl From<ActionError> for ApiFailure {
    fn from(error: ActionError) -> Self {
        let message = error.to_string();
        match error {
            ActionError::NotFound(_) => failure(StatusCode::NOT_FOUND, "not_found", message, None),
            ActionError::WrongCode => failure(
                StatusCode::FORBIDDEN,
                "access_code_invalid",
                message,
                Some("access_code"),
            ),
            ActionError::Invalid(field) => failure(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                field.message,
                Some(field.field),
            ),
            ActionError::NotNow(_) => failure(StatusCode::CONFLICT, "not_allowed_now", message, None),
            ActionError::AlreadyRated => failure(StatusCode::CONFLICT, "already_rated", message, None),
            ActionError::Limited(limited) => too_many(&limited),
            ActionError::Db(_) => {
                tracing::error!(%error, "reporter action failed");
                failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "not recorded, retry with the same Idempotency-Key",
                    None,
                )
            }
        }
    }
}

/// Every reporter action is rate-limited per client address, so access codes cannot be
/// guessed at speed.
fn check_client(grpc: &IntakeGrpc, peer: std::net::SocketAddr, headers: &HeaderMap) -> Result<(), ApiFailure> {
    let limits = &grpc.submit.limits;
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    limits
        .check_ip(limits.client_ip(peer.ip(), forwarded))
        .map_err(|limited| too_many(&limited))
}

fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok())
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
    request_body(content(
        (SubmitComplaint = "application/json"),
        (SubmitComplaintWithFiles = "multipart/form-data"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Accepted", body = Accepted),
        (status = 200, description = "Replayed an earlier submission with the same key", body = Accepted),
        (status = 400, description = "Invalid field or malformed JSON", body = ApiError),
        (status = 409, description = "Idempotency key reused with different content", body = ApiError),
        (status = 413, description = "JSON over 64 KiB, or files over 10 MiB together", body = ApiError),
        (status = 415, description = "Not JSON or multipart, or a file that is not a photo or PDF", body = ApiError),
    )
)]
async fn submit_complaint(
    State(grpc): State<Arc<IntakeGrpc>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::extract::Request,
) -> Result<(StatusCode, Json<Accepted>), ApiFailure> {
    check_client(&grpc, peer, &headers)?;
    // Held until the submission is answered: the files stay in memory until then.
    let mut _slot = None;
    let (request, attachments) = if multipart::is_multipart(&headers) {
        _slot = Some(grpc.submit.attachments.upload_slot().await.ok_or_else(|| {
            failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many uploads at once, send it again shortly",
                None,
            )
            .retry_after(5)
        })?);
        multipart::read(&grpc.submit.attachments.settings, body).await?
    } else {
        // The route allows room for files; a bare JSON document gets its usual limit.
        let body = body.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, MAX_BODY_BYTES)));
        let Json(request) = Json::<SubmitComplaint>::from_request(body, &())
            .await
            .map_err(json_failure)?;
        (request, Vec::new())
    };
    let header_key = idempotency_key(&headers).map(str::to_owned);
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
        attachments,
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
            access_code: accepted.access_code,
        }),
    ))
}

/// The public status of a complaint by its tracking id; a rahasia report's needs its
/// access code in the `X-Access-Code` header, else it is not found.
#[utoipa::path(
    get,
    path = "/api/v1/complaints/{tracking_id}",
    params(
        ("tracking_id" = String, Path, description = "The 10-character tracking id"),
        ("X-Access-Code" = Option<String>, Header, description = "The reporter's access code (rahasia reports)"),
    ),
    responses(
        (status = 200, description = "Found", body = PublicStatus),
        (status = 400, description = "Not a tracking id", body = ApiError),
        (status = 404, description = "Unknown tracking id", body = ApiError),
    )
)]
async fn complaint_status(
    State(grpc): State<Arc<IntakeGrpc>>,
    Path(tracking_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<PublicStatus>, ApiFailure> {
    query.map_err(|rejection| {
        failure(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
            Some("query"),
        )
    })?;
    let access_code = headers
        .get("x-access-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = grpc
        .get_complaint_status(tonic::Request::new(GetComplaintStatusRequest {
            tracking_id,
            access_code,
        }))
        .await?
        .into_inner();
    let label = CaseState::parse(&status.state)
        .map(|s| s.public_label().to_owned())
        .unwrap_or_default();
    Ok(Json(PublicStatus {
        // Only the reporter, with the access code, gets this far for a rahasia report.
        title: status.title,
        tracking_id: status.tracking_id,
        category_code: status.category_code,
        kabupaten_code: status.kabupaten_code,
        state_label: label,
        state: status.state,
        submitted_at: rfc3339(status.submitted_at.as_ref()).unwrap_or_default(),
        expected_at: rfc3339(status.expected_at.as_ref()),
        merged_into: Some(status.merged_into).filter(|m| !m.is_empty()),
    }))
}

/// Records `action` for routing: 202, or 200 for a retry with the same Idempotency-Key.
async fn record_action(
    grpc: &IntakeGrpc,
    tracking_id: &str,
    access_code: &str,
    action: ReporterAction,
    headers: &HeaderMap,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiFailure> {
    let acted = grpc
        .actions
        .act(tracking_id, access_code, action.clone(), idempotency_key(headers))
        .await?;
    let status = if acted.replayed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(ActionAccepted {
            tracking_id: acted.tracking_id,
            action: action.name().to_owned(),
            replayed: acted.replayed,
        }),
    ))
}

/// The reporter answers a question, or replies to or objects to a follow-up. 202 when taken
/// (routing reopens the case for a reply or objection), 200 for a retry with the same
/// Idempotency-Key.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{tracking_id}/replies",
    request_body = ReporterReply,
    params(
        ("tracking_id" = String, Path, description = "The 10-character tracking id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 202, description = "Taken for routing", body = ActionAccepted),
        (status = 200, description = "Replayed an earlier call with the same key", body = ActionAccepted),
        (status = 400, description = "Invalid field or malformed JSON", body = ApiError),
        (status = 403, description = "Wrong access code", body = ApiError),
        (status = 404, description = "Unknown tracking id", body = ApiError),
        (status = 409, description = "Not now: not on hold, or outside the reply window", body = ApiError),
    )
)]
async fn reply_to_follow_up(
    State(grpc): State<Arc<IntakeGrpc>>,
    Path(tracking_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<ReporterReply>, JsonRejection>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiFailure> {
    check_client(&grpc, peer, &headers)?;
    let Json(reply) = body.map_err(json_failure)?;
    let action = match reply.kind.as_str() {
        "reply" => ReporterAction::Reply(reply.text),
        "objection" => ReporterAction::Objection(reply.text),
        "answer" => ReporterAction::Answer(reply.text),
        other => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                format!("kind {other:?}: expected reply, objection or answer"),
                Some("kind"),
            ));
        }
    };
    record_action(&grpc, &tracking_id, &reply.access_code, action, &headers).await
}

/// The reporter rates the follow-up, 1 to 5 stars, once.
#[utoipa::path(
    post,
    path = "/api/v1/complaints/{tracking_id}/rating",
    request_body = ReporterRating,
    params(
        ("tracking_id" = String, Path, description = "The 10-character tracking id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 202, description = "Taken for routing", body = ActionAccepted),
        (status = 200, description = "Replayed an earlier call with the same key", body = ActionAccepted),
        (status = 400, description = "Stars out of range or malformed JSON", body = ApiError),
        (status = 403, description = "Wrong access code", body = ApiError),
        (status = 404, description = "Unknown tracking id", body = ApiError),
        (status = 409, description = "Not followed up yet, or rated already", body = ApiError),
    )
)]
async fn rate_follow_up(
    State(grpc): State<Arc<IntakeGrpc>>,
    Path(tracking_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<ReporterRating>, JsonRejection>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiFailure> {
    check_client(&grpc, peer, &headers)?;
    let Json(rating) = body.map_err(json_failure)?;
    record_action(
        &grpc,
        &tracking_id,
        &rating.access_code,
        ReporterAction::Rate(rating.stars),
        &headers,
    )
    .await
}
