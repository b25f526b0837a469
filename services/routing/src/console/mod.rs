//! The officer console: server-rendered pages on routing's HTTP port, usable on a phone and
//! without JavaScript. Every page and action goes through the same `RoutingService` handlers
//! as gRPC (called in-process with the verified principal), so scoping, concurrency checks,
//! audit and events are those of the API.
//!
//! Sign-in: the officer's bearer JWT (from the identity provider; `laporctl token` in
//! development) is pasted once and kept in an HttpOnly, `SameSite=Strict` cookie scoped to
//! `/console`. Strict same-site cookies are not sent with cross-site form posts, which is the
//! console's CSRF protection; an `Authorization: Bearer` header works as well.

mod pages;

use crate::entity::skpd;
use crate::grpc::RoutingGrpc;
use axum::extract::{Form, FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lapor_domain::reference::OfficerRole;
use lapor_platform::auth::{Authenticator, Principal};
use lapor_proto::routing::v1::routing_service_server::RoutingService;
use lapor_proto::routing::v1::*;
use sea_orm::EntityTrait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::Code;

pub const TOKEN_COOKIE: &str = "lapor_token";

#[derive(Clone)]
pub struct Console {
    pub grpc: Arc<RoutingGrpc>,
    pub authenticator: Arc<Authenticator>,
}

pub fn router(console: Console) -> axum::Router {
    axum::Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/inbox/{skpd}", get(inbox))
        .route("/console/queue", get(queue))
        .route("/console/cases/{tracking_id}", get(case_page))
        .route(
            "/console/cases/{tracking_id}/act",
            post(act).layer(axum::extract::DefaultBodyLimit::max(FOLLOW_UP_FORM_MAX)),
        )
        .route(
            "/console/cases/{tracking_id}/attachments/{attachment_id}",
            get(attachment),
        )
        .with_state(console)
}

/// A page that failed: the status and a message for the officer.
pub struct PageError {
    status: StatusCode,
    message: String,
    principal: Option<Principal>,
}

impl PageError {
    fn from_status(status: tonic::Status, principal: &Principal) -> Self {
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        PageError {
            status: code,
            message: status.message().to_owned(),
            principal: Some(principal.clone()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::UNAUTHORIZED && self.principal.is_none() {
            return Redirect::to("/console/login").into_response();
        }
        let page = pages::error(self.principal.as_ref(), self.status, &self.message);
        (self.status, page).into_response()
    }
}

/// The signed-in officer, from the cookie or an `Authorization: Bearer` header.
pub struct Officer(pub Principal);

impl FromRequestParts<Console> for Officer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let token = lapor_platform::http::bearer_or_cookie(&parts.headers, TOKEN_COOKIE);
        let unauthenticated = |message: String| PageError {
            status: StatusCode::UNAUTHORIZED,
            message,
            principal: None,
        };
        let token = token.ok_or_else(|| unauthenticated("sign in first".into()))?;
        console
            .authenticator
            .verify(token)
            .map(Officer)
            .map_err(|e| unauthenticated(e.to_string()))
    }
}

/// A request to the in-process RoutingService as `principal`.
fn as_officer<T>(message: T, principal: &Principal) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(principal.clone());
    request
}

async fn home(Officer(principal): Officer) -> Redirect {
    match (&principal.role, &principal.skpd) {
        (OfficerRole::Admin, _) => Redirect::to("/console/queue"),
        (_, Some(skpd)) if lapor_domain::reference::is_valid_skpd_code(skpd) => {
            Redirect::to(&format!("/console/inbox/{skpd}"))
        }
        // A pimpinan has no SKPD inbox; the verification desk shows the province's intake.
        _ => Redirect::to("/console/queue"),
    }
}

async fn login_page() -> maud::Markup {
    pages::login(None)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(console): State<Console>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    match console.authenticator.verify(token) {
        Ok(_) => {
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=43200");
            let mut response = Redirect::to("/console").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => (StatusCode::UNAUTHORIZED, pages::login(Some(&error.to_string()))).into_response(),
    }
}

async fn logout() -> Response {
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lapor_token=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

async fn inbox(
    State(console): State<Console>,
    Officer(principal): Officer,
    Path(skpd): Path<String>,
) -> Result<maud::Markup, PageError> {
    let cases = console
        .grpc
        .list_inbox(as_officer(
            ListInboxRequest {
                skpd_code: skpd.clone(),
                limit: 200,
            },
            &principal,
        ))
        .await
        .map_err(|s| PageError::from_status(s, &principal))?
        .into_inner()
        .cases;
    Ok(pages::inbox(&principal, &skpd, &cases, chrono::Utc::now()))
}

async fn queue(State(console): State<Console>, Officer(principal): Officer) -> Result<maud::Markup, PageError> {
    let cases = console
        .grpc
        .list_verification_queue(as_officer(ListVerificationQueueRequest { limit: 200 }, &principal))
        .await
        .map_err(|s| PageError::from_status(s, &principal))?
        .into_inner()
        .cases;
    let mut suggestions = BTreeMap::new();
    if principal.role == OfficerRole::Admin {
        for case in &cases {
            let found = console
                .grpc
                .suggest_duplicates(as_officer(
                    SuggestDuplicatesRequest {
                        tracking_id: case.tracking_id.clone(),
                    },
                    &principal,
                ))
                .await
                .map_err(|s| PageError::from_status(s, &principal))?
                .into_inner()
                .suggestions;
            suggestions.insert(case.tracking_id.clone(), found);
        }
    }
    Ok(pages::queue(&principal, &cases, &suggestions, chrono::Utc::now()))
}

async fn case_page(
    State(console): State<Console>,
    Officer(principal): Officer,
    Path(tracking_id): Path<String>,
) -> Result<maud::Markup, PageError> {
    render_case(&console, &principal, &tracking_id, None).await
}

async fn render_case(
    console: &Console,
    principal: &Principal,
    tracking_id: &str,
    problem: Option<&str>,
) -> Result<maud::Markup, PageError> {
    let case = console
        .grpc
        .get_case(as_officer(
            GetCaseRequest {
                tracking_id: tracking_id.to_owned(),
            },
            principal,
        ))
        .await
        .map_err(|s| PageError::from_status(s, principal))?
        .into_inner();
    let audit = console
        .grpc
        .list_audit_log(as_officer(
            ListAuditLogRequest {
                tracking_id: tracking_id.to_owned(),
            },
            principal,
        ))
        .await
        .map_err(|s| PageError::from_status(s, principal))?
        .into_inner()
        .entries;
    let skpds: Vec<(String, String)> = skpd::Entity::find()
        .all(&console.grpc.db)
        .await
        .map_err(|e| PageError::from_status(crate::grpc::unavailable(e), principal))?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    let tiers: Vec<String> = crate::policy_store::sla_policy(&console.grpc.db)
        .await
        .map_err(|e| PageError::from_status(crate::grpc::unavailable(e), principal))?
        .tiers
        .into_keys()
        .collect();
    let categories: Vec<(String, String)> = console
        .grpc
        .directory
        .get()
        .categories
        .iter()
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let choices = pages::Choices {
        skpds: &skpds,
        tiers: &tiers,
        categories: &categories,
    };
    Ok(pages::case(
        principal,
        &case,
        &audit,
        &choices,
        problem,
        chrono::Utc::now(),
    ))
}

/// A reporter's file, for an officer who may read the case (the same check as the case
/// page). Photos open in the browser, PDFs download; `nosniff` and a sandboxing CSP keep the
/// browser from running anything a file might carry.
async fn attachment(
    State(console): State<Console>,
    Officer(principal): Officer,
    Path((tracking_id, attachment_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    use futures::StreamExt;
    let failed = |status: tonic::Status| PageError::from_status(status, &principal);
    let mut chunks = console
        .grpc
        .read_attachment(as_officer(
            ReadAttachmentRequest {
                tracking_id,
                attachment_id,
            },
            &principal,
        ))
        .await
        .map_err(failed)?
        .into_inner();
    let first = chunks
        .next()
        .await
        .transpose()
        .map_err(failed)?
        .ok_or_else(|| failed(tonic::Status::unavailable("the attachment arrived empty")))?;
    let content_type = if lapor_domain::submission::ATTACHMENT_TYPES.contains(&first.content_type.as_str()) {
        first.content_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let kind = if content_type.starts_with("image/") {
        "inline"
    } else {
        "attachment"
    };
    let disposition = lapor_platform::http::content_disposition(kind, &first.filename);
    let size = first.size_bytes;
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(first.data)) })
        .chain(chunks.map(|chunk| chunk.map(|c| bytes::Bytes::from(c.data))));
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, size)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'")
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(axum::body::Body::from_stream(body))
        .map_err(|e| failed(tonic::Status::internal(e.to_string())))
}

/// One action form. `action` names the workflow action; the other fields are its parameters.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    action: String,
    version: i64,
    #[serde(default)]
    skpd_code: String,
    #[serde(default)]
    complexity_tier: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    parent_tracking_id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    category_code: Option<String>,
    /// A checked box; an unchecked one is not sent and leaves the flag as it is.
    #[serde(default)]
    anonim: Option<String>,
    #[serde(default)]
    rahasia: Option<String>,
}

/// The most a follow-up form with its files may carry: the gRPC limit for the same call.
const FOLLOW_UP_FORM_MAX: usize = crate::FOLLOW_UP_REQUEST_MAX;

/// An action form, URL-encoded, or multipart when it carries files (the follow-up's
/// `lampiran`); the same fields either way.
async fn read_action(request: Request) -> Result<(ActionForm, Vec<FileUpload>), tonic::Status> {
    let bad = |message: String| lapor_platform::grpc::invalid_argument("form", &message);
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(form) = Form::<ActionForm>::from_request(request, &())
            .await
            .map_err(|rejection| bad(rejection.body_text()))?;
        return Ok((form, Vec::new()));
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| bad(rejection.body_text()))?;
    let (mut fields, mut files) = (Vec::new(), Vec::new());
    while let Some(part) = parts.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let data = part.bytes().await.map_err(|e| bad(e.body_text()))?;
        match file_name {
            // An empty file input still sends a nameless, empty part.
            Some(file_name) if file_name.is_empty() && data.is_empty() => {}
            Some(filename) if name == "lampiran" => files.push(FileUpload {
                filename,
                data: data.to_vec(),
            }),
            Some(_) => return Err(bad(format!("unexpected file in {name}"))),
            None => {
                let value = String::from_utf8(data.to_vec()).map_err(|_| bad(format!("{name} is not valid UTF-8")))?;
                fields.push((name, value));
            }
        }
    }
    let encoded = serde_urlencoded::to_string(&fields).map_err(|e| bad(e.to_string()))?;
    let form = serde_urlencoded::from_str(&encoded).map_err(|e| bad(e.to_string()))?;
    Ok((form, files))
}

async fn act(
    State(console): State<Console>,
    Officer(principal): Officer,
    Path(tracking_id): Path<String>,
    request: Request,
) -> Response {
    let performed = match read_action(request).await {
        Ok((form, files)) if !files.is_empty() && form.action != "follow_up" => Err(
            lapor_platform::grpc::invalid_argument("lampiran", "only a follow-up carries files"),
        ),
        Ok((form, files)) => perform(&console, &principal, &tracking_id, form, files).await,
        Err(status) => Err(status),
    };
    match performed {
        // The action succeeded, so the id is a valid one; redirect to its normal form (a raw
        // path value could make an invalid Location header).
        Ok(()) => {
            let id = lapor_domain::tracking_id::normalize(&tracking_id).unwrap_or_default();
            Redirect::to(&format!("/console/cases/{id}")).into_response()
        }
        Err(status) => {
            // The page again, with the problem on top and nothing changed.
            let error = PageError::from_status(status, &principal);
            match render_case(&console, &principal, &tracking_id, Some(&error.message)).await {
                Ok(page) => (error.status, page).into_response(),
                Err(page_error) => page_error.into_response(),
            }
        }
    }
}

async fn perform(
    console: &Console,
    principal: &Principal,
    tracking_id: &str,
    form: ActionForm,
    files: Vec<FileUpload>,
) -> Result<(), tonic::Status> {
    let case = Some(CaseRef {
        tracking_id: tracking_id.to_owned(),
        expected_version: form.version,
    });
    let grpc = &console.grpc;
    let p = principal;
    match form.action.as_str() {
        "verify" => grpc
            .verify_case(as_officer(
                VerifyCaseRequest {
                    case,
                    skpd_code: form.skpd_code,
                    complexity_tier: form.complexity_tier,
                },
                p,
            ))
            .await
            .map(drop),
        "redispose" => grpc
            .redispose_case(as_officer(
                RedisposeCaseRequest {
                    case,
                    skpd_code: form.skpd_code,
                    complexity_tier: form.complexity_tier,
                },
                p,
            ))
            .await
            .map(drop),
        "hold" => grpc
            .hold_case(as_officer(
                HoldCaseRequest {
                    case,
                    question: form.text,
                },
                p,
            ))
            .await
            .map(drop),
        "not_authority" => grpc
            .mark_not_authority(as_officer(MarkNotAuthorityRequest { case, body: form.text }, p))
            .await
            .map(drop),
        "archive" => grpc
            .archive_case(as_officer(
                ArchiveCaseRequest {
                    case,
                    reason: form.reason,
                },
                p,
            ))
            .await
            .map(drop),
        "merge_into" => grpc
            .merge_case(as_officer(
                MergeCaseRequest {
                    case,
                    parent_tracking_id: form.parent_tracking_id,
                },
                p,
            ))
            .await
            .map(drop),
        "dispose_sub_unit" => grpc
            .dispose_to_sub_unit(as_officer(
                DisposeToSubUnitRequest {
                    case,
                    sub_unit: form.text,
                },
                p,
            ))
            .await
            .map(drop),
        "return_to_admin" => grpc
            .return_to_admin(as_officer(
                ReturnToAdminRequest {
                    case,
                    reason: form.text,
                },
                p,
            ))
            .await
            .map(drop),
        "start_progress" => grpc
            .start_progress(as_officer(StartProgressRequest { case }, p))
            .await
            .map(drop),
        "follow_up" => grpc
            .post_follow_up(as_officer(
                PostFollowUpRequest {
                    case,
                    text: form.text,
                    attachments: files,
                },
                p,
            ))
            .await
            .map(drop),
        "close" => grpc
            .close_case(as_officer(CloseCaseRequest { case }, p))
            .await
            .map(drop),
        "edit_details" => grpc
            .edit_case(as_officer(
                EditCaseRequest {
                    case,
                    title: form.title,
                    category_code: form.category_code,
                    anonim: form.anonim.map(|_| true),
                    rahasia: form.rahasia.map(|_| true),
                },
                p,
            ))
            .await
            .map(drop),
        other => Err(lapor_platform::grpc::invalid_argument(
            "action",
            &format!("{other:?} is not a console action"),
        )),
    }
}
