//! The web form and the status page, server-rendered on intake's HTTP port for citizens
//! without an app: `GET /` (the form), `POST /lapor` (a submission, channel `web`),
//! `GET /lacak?id=` and `POST /lacak` (the status with its timeline; a rahasia report only
//! with its access code, posted so the code stays out of addresses and logs), and the
//! reporter's reply, objection, answer and rating (`POST /lacak/{id}/balas`, `/nilai`).
//! Bahasa Indonesia first, English with `lang=en`; no JavaScript anywhere.

mod pages;
mod text;
mod upload;

use crate::attachments::{self, AttachmentError};
use crate::entity::complaint;
use crate::params::Params;
use crate::reporter_actions::{ActionError, ReporterAction, ReporterActions};
use crate::submit::{Submission, SubmitError, SubmitService};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use lapor_domain::{CaseState, SubmissionDraft, tracking_id};
use lapor_proto::events::v1::{Channel, ComplaintKind};
use maud::Markup;
use pages::{FormError, FormValues, StatusView};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use std::net::SocketAddr;
use std::sync::Arc;
use text::Lang;

/// A form is a few fields; the report itself is at most 4,000 characters.
const MAX_BODY_BYTES: usize = 32 * 1024;

pub struct Web {
    pub submit: Arc<SubmitService>,
    pub actions: Arc<ReporterActions>,
}

pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(form))
        .route(
            "/lapor",
            // Room for the files; the form's text keeps its own limit (see `upload`).
            post(send).layer(DefaultBodyLimit::max(
                web.submit.attachments.settings.max_total_bytes + 2 * MAX_BODY_BYTES,
            )),
        )
        .route("/lacak", get(track_by_link).post(track_with_code))
        .route("/lacak/{tracking_id}/balas", post(respond))
        .route("/lacak/{tracking_id}/nilai", post(rate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(web)
}

fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn query(raw: Option<String>) -> Params {
    Params::parse(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

/// A refusal page; boxed, as a `Response` is large to carry in every `Err`.
type Refused = Box<Response>;

/// A posted form, strictly decoded; anything else is answered with a page saying so.
fn posted(headers: &HeaderMap, body: &Bytes) -> Result<Params, Refused> {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let refused = |status, message: &str| {
        Box::new(page(
            status,
            pages::message_page(Lang::Id, "Permintaan tidak dapat dibaca", message, "/"),
        ))
    };
    if !form_encoded {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Kirim formulir sebagai application/x-www-form-urlencoded.",
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| refused(StatusCode::BAD_REQUEST, "Isian bukan UTF-8 yang sah."))?;
    Params::parse(text).map_err(|message| refused(StatusCode::BAD_REQUEST, &message))
}

fn too_many(lang: Lang, limited: &crate::limits::Limited) -> Response {
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        pages::message_page(lang, lang.text().problem, lang.text().too_many, "/"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, limited.retry_after_seconds().into());
    response
}

impl Web {
    /// A posted form and its language, from a client within its limits (every POST counts:
    /// submissions, and the access codes tried at the tracking and action forms).
    fn read_form(&self, peer: SocketAddr, headers: &HeaderMap, body: &Bytes) -> Result<(Params, Lang), Refused> {
        let params = posted(headers, body)?;
        let lang = Lang::parse(params.get("lang"));
        self.admit(peer, headers, lang)?;
        Ok((params, lang))
    }

    fn admit(&self, peer: SocketAddr, headers: &HeaderMap, lang: Lang) -> Result<(), Refused> {
        let limits = &self.submit.limits;
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        limits
            .check_ip(limits.client_ip(peer.ip(), forwarded))
            .map_err(|limited| Box::new(too_many(lang, &limited)))
    }

    /// The report form, URL-encoded or with files: its fields, its files, and what was
    /// wrong with the files if anything.
    async fn read_report(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
        request: axum::extract::Request,
    ) -> Result<(upload::UploadedForm, Lang), Refused> {
        let refused = |status, message: &str| {
            Box::new(page(
                status,
                pages::message_page(Lang::Id, "Permintaan tidak dapat dibaca", message, "/"),
            ))
        };
        if !crate::api::is_multipart(headers) {
            let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
                .await
                .map_err(|_| refused(StatusCode::PAYLOAD_TOO_LARGE, "Isian formulir terlalu panjang."))?;
            let (params, lang) = self.read_form(peer, headers, &body)?;
            let form = upload::UploadedForm {
                params,
                uploads: Vec::new(),
                problem: None,
                slot: None,
            };
            return Ok((form, lang));
        }
        // Counted before the body is read: a client over its limit costs no upload.
        self.admit(peer, headers, Lang::Id)?;
        let Some(slot) = self.submit.attachments.upload_slot().await else {
            return Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Terlalu banyak unggahan saat ini; kirim lagi sebentar lagi.",
            ));
        };
        let mut form = upload::read(&self.submit.attachments.settings, request)
            .await
            .map_err(|unreadable| {
                let status = if unreadable.too_large {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                refused(status, &unreadable.message)
            })?;
        form.slot = Some(slot);
        let lang = Lang::parse(form.params.get("lang"));
        Ok((form, lang))
    }
}

/// The status a refused attachment is answered with.
fn attachment_status(error: &AttachmentError) -> StatusCode {
    match error {
        AttachmentError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AttachmentError::Unsupported { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AttachmentError::TooMany { .. } | AttachmentError::Empty { .. } => StatusCode::BAD_REQUEST,
    }
}

async fn form(State(web): State<Arc<Web>>, RawQuery(raw): RawQuery) -> Response {
    let lang = Lang::parse(query(raw).get("lang"));
    let values = FormValues {
        idempotency_key: format!("web-{}", uuid::Uuid::new_v4().simple()),
        ..FormValues::default()
    };
    page(
        StatusCode::OK,
        pages::form_page(lang, &web.submit.directory.get(), &values, None),
    )
}

fn values_of(params: &Params) -> FormValues {
    let text = |key: &str| params.get(key).unwrap_or_default().to_owned();
    FormValues {
        kind: text("kind"),
        title: text("title"),
        body: text("body"),
        category_code: text("category_code"),
        kabupaten_code: text("kabupaten_code"),
        location: text("location"),
        anonim: params.get("anonim") == Some("on"),
        rahasia: params.get("rahasia") == Some("on"),
        name: text("name"),
        phone: text("phone"),
        email: text("email"),
        nik: text("nik"),
        idempotency_key: text("idempotency_key"),
    }
}

/// The form control a validation error concerns, and its label.
fn control_of(field: &str, lang: Lang) -> (Option<&'static str>, &'static str) {
    let text = lang.text();
    match field {
        "title" => (Some("title"), text.title),
        "body" => (Some("body"), text.body),
        "category_code" => (Some("category"), text.category),
        "kabupaten_code" => (Some("kabupaten"), text.kabupaten),
        "location" => (Some("location"), text.location),
        "reporter.name" => (Some("name"), text.name),
        "reporter.phone" => (Some("phone"), text.phone),
        "reporter.email" => (Some("email"), text.email),
        "reporter.nik" => (Some("nik"), text.nik),
        _ => (None, text.problem),
    }
}

async fn send(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let (form, lang) = match web.read_report(peer, &headers, request).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let values = values_of(&form.params);
    let directory = &web.submit.directory.get();
    let again = |status: StatusCode, error: FormError, values: &FormValues| {
        page(status, pages::form_page(lang, directory, values, Some(&error)))
    };
    let kind = match values.kind.as_str() {
        "" | "aduan" => ComplaintKind::Aduan,
        "aspirasi" => ComplaintKind::Aspirasi,
        "permintaan_informasi" => ComplaintKind::PermintaanInformasi,
        other => {
            let error = FormError {
                field: None,
                message: format!("{}: {other:?}", lang.text().kind),
            };
            return again(StatusCode::BAD_REQUEST, error, &values);
        }
    };
    let checked = match form.problem {
        Some((error, _)) => Err(error),
        None => attachments::check(
            &web.submit.attachments.settings,
            form.uploads,
            attachments::Metadata::for_report(values.anonim),
        )
        .map_err(|(error, _)| error),
    };
    let attachments = match checked {
        Ok(files) => files,
        Err(error) => {
            let problem = FormError {
                field: Some("lampiran"),
                message: format!(
                    "{}: {}",
                    lang.text().attachments,
                    text::attachment_problem(lang, &error)
                ),
            };
            return again(attachment_status(&error), problem, &values);
        }
    };
    let submission = Submission {
        draft: SubmissionDraft {
            title: values.title.clone(),
            body: values.body.clone(),
            category_code: values.category_code.clone(),
            kabupaten_code: values.kabupaten_code.clone(),
            location: values.location.clone(),
            reporter_name: values.name.clone(),
            reporter_phone: values.phone.clone(),
            reporter_email: values.email.clone(),
            reporter_nik: values.nik.clone(),
            idempotency_key: values.idempotency_key.clone(),
        },
        kind,
        channel: Channel::Web,
        anonim: values.anonim,
        rahasia: values.rahasia,
        point: None,
        media_url: None,
        attachments,
    };
    match web.submit.submit(submission).await {
        Ok(accepted) => page(
            StatusCode::OK,
            pages::received_page(lang, &accepted.tracking_id, &accepted.access_code),
        ),
        Err(SubmitError::Invalid(error)) => {
            let (field, label) = control_of(error.field, lang);
            let error = FormError {
                field,
                message: format!("{label}: {}", lang.field_problem(&error)),
            };
            again(StatusCode::BAD_REQUEST, error, &values)
        }
        Err(SubmitError::KeyReused) => {
            // A changed form sent again with its old key: a new key makes it a new report.
            let fresh = FormValues {
                idempotency_key: format!("web-{}", uuid::Uuid::new_v4().simple()),
                ..values
            };
            let error = FormError {
                field: None,
                message: lang.text().key_reused.to_owned(),
            };
            again(StatusCode::CONFLICT, error, &fresh)
        }
        Err(SubmitError::Limited(limited)) => too_many(lang, &limited),
        Err(error @ (SubmitError::Vault(_) | SubmitError::Db(_) | SubmitError::Store(_))) => {
            tracing::error!(%error, "web submission failed");
            // The same key: sending the form again stores it once.
            let error = FormError {
                field: None,
                message: lang.text().unavailable.to_owned(),
            };
            again(StatusCode::SERVICE_UNAVAILABLE, error, &values)
        }
    }
}

async fn track_by_link(State(web): State<Arc<Web>>, RawQuery(raw): RawQuery) -> Response {
    let params = query(raw);
    let lang = Lang::parse(params.get("lang"));
    status(&web, lang, params.get("id").unwrap_or_default(), "").await
}

async fn track_with_code(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, lang) = match web.read_form(peer, &headers, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    status(
        &web,
        lang,
        params.get("id").unwrap_or_default(),
        params.get("kode").unwrap_or_default(),
    )
    .await
}

/// The status page; a rahasia report, or an id never issued, is not found without its code.
async fn status(web: &Web, lang: Lang, raw_id: &str, code: &str) -> Response {
    let Some(id) = tracking_id::normalize(raw_id) else {
        return page(StatusCode::NOT_FOUND, pages::not_found_page(lang, ""));
    };
    let not_found = || page(StatusCode::NOT_FOUND, pages::not_found_page(lang, &id));
    let db = &web.submit.db;
    let found = complaint::Entity::find()
        .filter(complaint::Column::TrackingId.eq(id.as_str()))
        .one(db)
        .await;
    let model = match found {
        Ok(Some(model)) if !model.rahasia => model,
        Ok(Some(model)) if !code.is_empty() => {
            let submit = &web.submit;
            match submit.access.check(&submit.limits, model.id, &model.tracking_id, code) {
                Ok(true) => model,
                Ok(false) => return not_found(),
                Err(limited) => return too_many(lang, &limited),
            }
        }
        Ok(_) => return not_found(),
        Err(error) => return unavailable(lang, error),
    };
    let progress = match crate::public_view::progress(db, &model).await {
        Ok(progress) => progress,
        Err(error) => return unavailable(lang, error),
    };
    let timeline = match timeline(db, progress.timeline_of).await {
        Ok(timeline) => timeline,
        Err(error) => return unavailable(lang, error),
    };
    let directory = &web.submit.directory.get();
    // A merged report's own actions are over: replies and ratings go to the report it follows.
    let own = progress.merged_into.is_none();
    let state = CaseState::parse(&model.public_state).filter(|_| own);
    let window_open = model.expected_at.is_some_and(|due| Utc::now() < due);
    let view = StatusView {
        tracking_id: model.tracking_id.clone(),
        title: Some(model.title.clone()),
        category: directory
            .categories
            .iter()
            .find(|c| c.code == model.category_code)
            .map_or(model.category_code.clone(), |c| c.name.clone()),
        kabupaten: directory
            .kabupaten
            .iter()
            .find(|k| k.code == model.kabupaten_code)
            .map_or(model.kabupaten_code.clone(), |k| k.name.clone()),
        state: progress.state,
        skpd_name: progress.skpd_name,
        submitted_at: model.submitted_at,
        expected_at: progress.expected_at,
        merged_into: progress.merged_into,
        timeline,
        may_respond: state == Some(CaseState::FollowedUp) && window_open,
        may_answer: state == Some(CaseState::OnHold),
        may_rate: matches!(state, Some(CaseState::FollowedUp | CaseState::Closed)) && model.rated_at.is_none(),
    };
    page(StatusCode::OK, pages::status_page(lang, &view))
}

async fn timeline(
    db: &sea_orm::DatabaseConnection,
    complaint_id: uuid::Uuid,
) -> Result<Vec<(chrono::DateTime<Utc>, String)>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT at, state FROM complaint_timeline WHERE complaint_id = $1 ORDER BY version",
            [complaint_id.into()],
        ))
        .await?;
    let mut steps: Vec<(chrono::DateTime<Utc>, String)> = Vec::new();
    for row in &rows {
        let state: String = row.try_get("", "state")?;
        // A change that kept the state (an edit, a rating) is no step for the reporter, and
        // the page shows the submission itself first.
        let previous = steps.last().map_or("submitted", |(_, s)| s.as_str());
        if state != previous {
            steps.push((row.try_get("", "at")?, state));
        }
    }
    Ok(steps)
}

fn unavailable(lang: Lang, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "web page failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message_page(lang, lang.text().problem, lang.text().unavailable, "/"),
    )
}

/// The answer to a reporter's action: thanks, or what stood in the way.
async fn act(
    web: &Web,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &Bytes,
    tracking_id: &str,
    action: impl FnOnce(&Params) -> Option<ReporterAction>,
) -> Response {
    let (params, lang) = match web.read_form(peer, headers, body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let text = lang.text();
    let back = format!("/lacak?id={tracking_id}&lang={}", lang.code());
    let Some(action) = action(&params) else {
        return page(
            StatusCode::BAD_REQUEST,
            pages::message_page(lang, text.problem, text.your_text, &back),
        );
    };
    let code = params.get("kode").unwrap_or_default();
    match web.actions.act(tracking_id, code, action, None).await {
        Ok(_) => page(
            StatusCode::OK,
            pages::message_page(lang, text.status_heading, text.thanks, &back),
        ),
        Err(error) => {
            let status = match &error {
                ActionError::NotFound(_) => StatusCode::NOT_FOUND,
                ActionError::WrongCode => StatusCode::FORBIDDEN,
                ActionError::Invalid(_) => StatusCode::BAD_REQUEST,
                ActionError::NotNow(_) | ActionError::AlreadyRated => StatusCode::CONFLICT,
                ActionError::Limited(limited) => return too_many(lang, limited),
                ActionError::Db(_) => return unavailable(lang, error),
            };
            page(
                status,
                pages::message_page(lang, text.problem, &text::action_problem(lang, &error), &back),
            )
        }
    }
}

async fn respond(
    State(web): State<Arc<Web>>,
    Path(tracking_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&web, peer, &headers, &body, &tracking_id, |params| {
        let text = params.get("text").unwrap_or_default().to_owned();
        match params.get("kind") {
            Some("reply") => Some(ReporterAction::Reply(text)),
            Some("objection") => Some(ReporterAction::Objection(text)),
            Some("answer") => Some(ReporterAction::Answer(text)),
            _ => None,
        }
    })
    .await
}

async fn rate(
    State(web): State<Arc<Web>>,
    Path(tracking_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&web, peer, &headers, &body, &tracking_id, |params| {
        params
            .get("stars")
            .and_then(|s| s.parse::<u8>().ok())
            .map(ReporterAction::Rate)
    })
    .await
}
