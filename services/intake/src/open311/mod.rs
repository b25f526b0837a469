//! Open311 GeoReport v2 at `/open311/v2` on intake's HTTP port, complete per the published
//! spec so any stock client works unchanged: `discovery`, `services`, `services/{code}`,
//! `POST requests` (form-encoded, `api_key` required), `GET requests` with its filters,
//! `GET requests/{id}` and `tokens/{token}`, each as `.xml` and `.json`. Submissions go
//! through the same `SubmitService` as every other channel (channel `open311`).
//!
//! Mapping: LAPOR! categories are the services; the tracking id is the
//! `service_request_id`; `status` is open/closed with LAPOR!'s own state in
//! `status_notes`; the SLA deadline is `expected_datetime`; the SKPD holding the case is
//! `agency_responsible`. Rahasia reports appear in no list and answer no lookup, and no
//! response ever carries a reporter's identity.

mod document;
mod requests;
mod services;

use crate::params::Params;
use crate::submit::SubmitService;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use document::{Format, Open311Error};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

/// A POST body is a few form fields; the description is at most 4,000 characters.
const MAX_BODY_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, Deserialize)]
pub struct Open311Settings {
    /// The one jurisdiction served (the province's domain). A request naming another is
    /// answered 404; one naming none is served, as the spec allows a single jurisdiction.
    pub jurisdiction_id: String,
    /// Keys of the clients allowed to POST requests. Secret: `LAPOR__OPEN311__API_KEYS`
    /// (comma-separated). Empty refuses every POST.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// The public address of this endpoint, advertised in discovery.
    pub base_url: String,
    pub contact: String,
}

pub struct Open311 {
    pub submit: Arc<SubmitService>,
    pub settings: Open311Settings,
}

impl Open311 {
    /// A configured key, compared by digest so timing reveals nothing of the keys.
    fn knows_key(&self, presented: &str) -> bool {
        let presented = Sha256::digest(presented.as_bytes());
        self.settings
            .api_keys
            .iter()
            .filter(|k| !k.is_empty())
            .any(|k| Sha256::digest(k.as_bytes()) == presented)
    }

    /// 404 for another jurisdiction.
    fn check_jurisdiction(&self, params: &Params, format: Format) -> Result<(), Open311Error> {
        match params.get("jurisdiction_id") {
            Some(id) if id != self.settings.jurisdiction_id => Err(Open311Error::not_found(
                format!(
                    "unknown jurisdiction_id {id:?}: this endpoint serves {:?}",
                    self.settings.jurisdiction_id
                ),
                format,
            )),
            _ => Ok(()),
        }
    }
}

pub fn router(open311: Arc<Open311>) -> Router {
    Router::new()
        .route("/open311/v2/{resource}", get(read_resource).post(post_resource))
        .route("/open311/v2/services/{resource}", get(service_definition))
        .route("/open311/v2/requests/{resource}", get(requests::one))
        .route("/open311/v2/tokens/{resource}", get(requests::token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(open311)
}

/// The format of `resource` (XML, the spec's required one, answers a bad suffix).
fn format_of(resource: &str) -> Result<(&str, Format), Open311Error> {
    Format::split(resource).ok_or_else(|| {
        Open311Error::not_found(format!("unknown resource {resource:?}: add .xml or .json"), Format::Xml)
    })
}

fn query(raw: Option<String>, format: Format) -> Result<Params, Open311Error> {
    Params::parse(raw.as_deref().unwrap_or("")).map_err(|message| Open311Error::bad_request(message, format))
}

async fn read_resource(
    State(open311): State<Arc<Open311>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Open311Error> {
    let (stem, format) = format_of(&resource)?;
    let params = query(raw, format)?;
    open311.check_jurisdiction(&params, format)?;
    let directory = &open311.submit.directory.get();
    match stem {
        "discovery" => Ok(
            services::discovery(&open311.settings.base_url, &open311.settings.contact).respond(
                StatusCode::OK,
                "discovery",
                format,
            ),
        ),
        "services" => Ok(services::service_list(directory).respond(StatusCode::OK, "services", format)),
        "requests" => requests::list(&open311, &params, format).await,
        other => Err(Open311Error::not_found(format!("unknown resource {other:?}"), format)),
    }
}

async fn post_resource(
    State(open311): State<Arc<Open311>>,
    Path(resource): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Open311Error> {
    let (stem, format) = format_of(&resource)?;
    if stem != "requests" {
        return Err(Open311Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{stem} cannot be POSTed to; POST requests.{}", extension(format)),
            format,
        ));
    }
    let body = body.map_err(|rejection| Open311Error::new(rejection.status(), rejection.body_text(), format))?;
    let form_encoded = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_encoded {
        return Err(Open311Error::bad_request(
            "the body must be application/x-www-form-urlencoded",
            format,
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| Open311Error::bad_request("the body is not valid UTF-8", format))?;
    let params = Params::parse(text).map_err(|message| Open311Error::bad_request(message, format))?;
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = requests::Client {
        ip: open311.submit.limits.client_ip(peer.ip(), forwarded),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    requests::create(&open311, &params, client, format).await
}

async fn service_definition(
    State(open311): State<Arc<Open311>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Open311Error> {
    let (code, format) = format_of(&resource)?;
    let params = query(raw, format)?;
    open311.check_jurisdiction(&params, format)?;
    let directory = &open311.submit.directory.get();
    let category = directory
        .categories
        .iter()
        .find(|c| c.code == code)
        .ok_or_else(|| Open311Error::not_found(format!("unknown service_code {code:?}"), format))?;
    Ok(services::definition(directory, category).respond(StatusCode::OK, "service_definition", format))
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}
