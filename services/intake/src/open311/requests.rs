//! Service requests: creating one (`POST requests`), listing them with the spec's filters,
//! one by id, and a token's id. Only public reports are ever read back: a rahasia report
//! is as unknown here as a tracking id never issued.

use super::Open311;
use super::document::{Format, Node, Open311Error};
use super::services::{ANONIM, ATTRIBUTES, KABUPATEN, KIND, KINDS, RAHASIA};
use crate::entity::complaint;
use crate::params::Params;
use crate::public_view::{Progress, progress};
use crate::submit::{GeoPoint, Submission, SubmitError};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use lapor_domain::submission::{SubmissionDraft, TITLE_MAX_CHARS};
use lapor_domain::{CaseState, Directory, tracking_id};
use lapor_proto::events::v1::{Channel, ComplaintKind};
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};
use std::net::IpAddr;
use std::sync::Arc;

/// The spec's default and largest window for `GET requests`.
const MAX_WINDOW_DAYS: i64 = 90;
/// The spec's record limit for one `GET requests`.
const MAX_RECORDS: u64 = 1000;
/// Ids in one `service_request_id` filter.
const MAX_IDS: usize = 100;
const MEDIA_URL_MAX_CHARS: usize = 2048;
const ADDRESS_ID_MAX_CHARS: usize = 100;
/// Client keys are namespaced, so an Open311 key never replays another channel's report.
const IDEMPOTENCY_PREFIX: &str = "open311:";

/// A box around Kalimantan Selatan and its islands (Pulau Laut, Sebuku, Matasiri), with a
/// margin: a point outside it is a client's mistake (swapped or unsigned coordinates).
const LATITUDES: std::ops::RangeInclusive<f64> = -5.6..=-1.0;
const LONGITUDES: std::ops::RangeInclusive<f64> = 114.0..=117.0;

/// States Open311 calls `closed`; everything else still awaits someone.
const CLOSED: [CaseState; 2] = [CaseState::Closed, CaseState::Archived];

pub struct Client {
    pub ip: IpAddr,
    pub idempotency_key: Option<String>,
}

fn wita(at: DateTime<Utc>) -> String {
    let zone = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    at.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn is_closed(state: &str) -> bool {
    CLOSED.iter().any(|s| s.as_str() == state)
}

/// One request as the spec lists it; the reporter's identity is never part of it. A
/// duplicate merged into another report shows that report's progress (`shown`) and says so.
fn record(model: &complaint::Model, shown: &Progress, directory: &Directory) -> Node {
    let state = CaseState::parse(&shown.state);
    let service_name = directory
        .categories
        .iter()
        .find(|c| c.code == model.category_code)
        .map_or(model.category_code.as_str(), |c| c.name.as_str());
    let number = |v: Option<f64>| v.map_or(Node::Null, Node::Number);
    Node::Object(vec![
        ("service_request_id", Node::text(&model.tracking_id)),
        (
            "status",
            Node::text(if is_closed(&shown.state) { "closed" } else { "open" }),
        ),
        ("status_notes", Node::text(state.map_or("", CaseState::public_label))),
        ("service_name", Node::text(service_name)),
        ("service_code", Node::text(&model.category_code)),
        ("description", Node::text(&model.body)),
        ("agency_responsible", Node::optional_text(shown.skpd_name.clone())),
        (
            "service_notice",
            Node::optional_text(
                shown
                    .merged_into
                    .as_ref()
                    .map(|parent| format!("Digabung dengan laporan {parent}")),
            ),
        ),
        ("requested_datetime", Node::text(wita(model.submitted_at))),
        ("updated_datetime", Node::text(wita(model.updated_at))),
        ("expected_datetime", Node::optional_text(shown.expected_at.map(wita))),
        ("address", Node::text(&model.location)),
        ("address_id", Node::Null),
        ("zipcode", Node::Null),
        ("lat", number(model.latitude)),
        ("long", number(model.longitude)),
        ("media_url", Node::optional_text(model.media_url.clone())),
    ])
}

fn unavailable(error: impl std::fmt::Display, format: Format) -> Open311Error {
    tracing::error!(%error, "open311: database error");
    Open311Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the service is temporarily unavailable, retry later",
        format,
    )
}

fn too_many(limited: &crate::limits::Limited, format: Format) -> Open311Error {
    let mut error = Open311Error::new(StatusCode::TOO_MANY_REQUESTS, limited.to_string(), format);
    error.retry_after = Some(limited.retry_after_seconds());
    error
}

/// `start_date`/`end_date` as the window to list: both given, at most 90 days apart; one
/// given, the 90 days from or to it; none, the last 90 days.
fn window(params: &Params, format: Format) -> Result<(DateTime<Utc>, DateTime<Utc>), Open311Error> {
    let parse = |name: &str| -> Result<Option<DateTime<Utc>>, Open311Error> {
        params
            .get(name)
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        Open311Error::bad_request(
                            format!(
                                "{name} {raw:?} is not a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00+08:00"
                            ),
                            format,
                        )
                    })
            })
            .transpose()
    };
    let span = TimeDelta::days(MAX_WINDOW_DAYS);
    let (from, to) = match (parse("start_date")?, parse("end_date")?) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, from + span),
        (None, Some(to)) => (to - span, to),
        (None, None) => {
            let now = Utc::now();
            (now - span, now)
        }
    };
    if to < from {
        return Err(Open311Error::bad_request("end_date is before start_date", format));
    }
    if to - from > span {
        return Err(Open311Error::bad_request(
            format!("start_date and end_date may span at most {MAX_WINDOW_DAYS} days"),
            format,
        ));
    }
    Ok((from, to))
}

pub async fn list(open311: &Open311, params: &Params, format: Format) -> Result<Response, Open311Error> {
    let directory = &open311.submit.directory.get();
    let mut query = complaint::Entity::find().filter(complaint::Column::Rahasia.eq(false));
    // `status`: whether closed requests are wanted (`None`: both).
    let mut wanted: Option<bool> = None;
    let ids = params.list("service_request_id");
    if !ids.is_empty() {
        // The spec: an id list overrides every other filter.
        if ids.len() > MAX_IDS {
            return Err(Open311Error::bad_request(
                format!("service_request_id lists at most {MAX_IDS} ids"),
                format,
            ));
        }
        let normalized = ids
            .iter()
            .map(|raw| {
                tracking_id::normalize(raw).ok_or_else(|| {
                    Open311Error::bad_request(format!("service_request_id {raw:?} is not a LAPOR tracking id"), format)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        query = query.filter(complaint::Column::TrackingId.is_in(normalized));
    } else {
        let codes = params.list("service_code");
        if let Some(unknown) = codes.iter().find(|code| !directory.has_category(code)) {
            return Err(Open311Error::not_found(
                format!("unknown service_code {unknown:?}"),
                format,
            ));
        }
        if !codes.is_empty() {
            query = query.filter(complaint::Column::CategoryCode.is_in(codes));
        }
        let (from, to) = window(params, format)?;
        query = query
            .filter(complaint::Column::SubmittedAt.gte(from))
            .filter(complaint::Column::SubmittedAt.lte(to));
        let statuses = params.list("status");
        if let Some(other) = statuses.iter().find(|s| !matches!(**s, "open" | "closed")) {
            return Err(Open311Error::bad_request(
                format!("status {other:?}: expected open or closed"),
                format,
            ));
        }
        let closed: Vec<&str> = CLOSED.iter().map(|s| s.as_str()).collect();
        // A merged duplicate shows its parent's state: it passes here and is judged below.
        let merged = complaint::Column::MergedInto.is_not_null();
        match (statuses.contains(&"open"), statuses.contains(&"closed")) {
            (true, false) => {
                wanted = Some(false);
                query = query.filter(complaint::Column::PublicState.is_not_in(closed).or(merged));
            }
            (false, true) => {
                wanted = Some(true);
                query = query.filter(complaint::Column::PublicState.is_in(closed).or(merged));
            }
            _ => {}
        }
    }
    let rows = query
        .order_by_desc(complaint::Column::SubmittedAt)
        .limit(MAX_RECORDS)
        .all(&open311.submit.db)
        .await
        .map_err(|e| unavailable(e, format))?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let shown = progress(&open311.submit.db, row)
            .await
            .map_err(|e| unavailable(e, format))?;
        if wanted.is_none_or(|closed| is_closed(&shown.state) == closed) {
            records.push(record(row, &shown, directory));
        }
    }
    Ok(Node::List("request", records).respond(StatusCode::OK, "service_requests", format))
}

/// A public request by tracking id; a rahasia one is not found, like one never issued.
/// `resource` is `<id>.<format>`; `query` may name the jurisdiction.
async fn find_public(
    open311: &Open311,
    resource: &str,
    query: Option<String>,
) -> Result<(complaint::Model, Format), Open311Error> {
    let (raw, format) = super::format_of(resource)?;
    open311.check_jurisdiction(&super::query(query, format)?, format)?;
    let not_found = || Open311Error::not_found(format!("no public service request {raw:?}"), format);
    let id = tracking_id::normalize(raw).ok_or_else(not_found)?;
    let model = complaint::Entity::find()
        .filter(complaint::Column::TrackingId.eq(id))
        .filter(complaint::Column::Rahasia.eq(false))
        .one(&open311.submit.db)
        .await
        .map_err(|e| unavailable(e, format))?
        .ok_or_else(not_found)?;
    Ok((model, format))
}

pub async fn one(
    State(open311): State<Arc<Open311>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Open311Error> {
    let (model, format) = find_public(&open311, &resource, raw).await?;
    let shown = progress(&open311.submit.db, &model)
        .await
        .map_err(|e| unavailable(e, format))?;
    let records = vec![record(&model, &shown, &open311.submit.directory.get())];
    Ok(Node::List("request", records).respond(StatusCode::OK, "service_requests", format))
}

/// Requests are accepted at once (the service type is `realtime`), so a token is simply
/// the request's id; the endpoint answers for any public request.
pub async fn token(
    State(open311): State<Arc<Open311>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Open311Error> {
    let (model, format) = find_public(&open311, &resource, raw).await?;
    let node = Node::List(
        "request",
        vec![Node::Object(vec![
            ("service_request_id", Node::text(&model.tracking_id)),
            ("token", Node::text(&model.tracking_id)),
        ])],
    );
    Ok(node.respond(StatusCode::OK, "service_requests", format))
}

/// What the service definition's attributes said.
struct Attributes {
    kabupaten: String,
    kind: ComplaintKind,
    anonim: bool,
    rahasia: bool,
}

fn flag(code: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("attribute[{code}] {other:?}: expected true or false")),
    }
}

impl Attributes {
    fn read(params: &Params, directory: &Directory) -> Result<Attributes, String> {
        let mut given: Vec<(&str, &str)> = Vec::new();
        for (code, value) in params.attributes() {
            if !ATTRIBUTES.contains(&code) {
                return Err(format!(
                    "attribute[{code}] is not an attribute of this service (see its definition)"
                ));
            }
            if given.iter().any(|(c, _)| *c == code) {
                return Err(format!("attribute[{code}] takes a single value"));
            }
            given.push((code, value));
        }
        let value = |code: &str| given.iter().find(|(c, v)| *c == code && !v.is_empty()).map(|(_, v)| *v);
        let kabupaten = value(KABUPATEN).ok_or_else(|| {
            format!("attribute[{KABUPATEN}] is required: the kabupaten/kota code, e.g. 6371 (Kota Banjarmasin)")
        })?;
        if !directory.has_kabupaten(kabupaten) {
            return Err(format!(
                "attribute[{KABUPATEN}] {kabupaten:?} is not a kabupaten/kota of Kalimantan Selatan"
            ));
        }
        let kind = match value(KIND) {
            None | Some("aduan") => ComplaintKind::Aduan,
            Some("aspirasi") => ComplaintKind::Aspirasi,
            Some("permintaan_informasi") => ComplaintKind::PermintaanInformasi,
            Some(other) => {
                let keys: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
                return Err(format!(
                    "attribute[{KIND}] {other:?}: expected one of {}",
                    keys.join(", ")
                ));
            }
        };
        Ok(Attributes {
            kabupaten: kabupaten.to_owned(),
            kind,
            anonim: flag(ANONIM, value(ANONIM))?,
            rahasia: flag(RAHASIA, value(RAHASIA))?,
        })
    }
}

/// Where: a point, an address, or the client's address id (at least one, per the spec).
#[derive(Debug)]
struct Place {
    location: String,
    point: Option<GeoPoint>,
}

fn coordinate(params: &Params, name: &str, range: &std::ops::RangeInclusive<f64>) -> Result<Option<f64>, String> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let value: f64 = raw
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{name} {raw:?} is not a decimal degree"))?;
    if !range.contains(&value) {
        return Err(format!(
            "{name} {value} is outside Kalimantan Selatan ({}..{}); WGS84 decimal degrees, south is negative",
            range.start(),
            range.end()
        ));
    }
    Ok(Some(value))
}

impl Place {
    fn read(params: &Params) -> Result<Place, String> {
        let latitude = coordinate(params, "lat", &LATITUDES)?;
        let longitude = coordinate(params, "long", &LONGITUDES)?;
        let point = match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => Some(GeoPoint { latitude, longitude }),
            (None, None) => None,
            _ => return Err("lat and long go together: give both or neither".into()),
        };
        let address_id = params.get("address_id");
        if address_id.is_some_and(|id| id.chars().count() > ADDRESS_ID_MAX_CHARS) {
            return Err(format!("address_id must be at most {ADDRESS_ID_MAX_CHARS} characters"));
        }
        let location = match (params.get("address_string"), address_id, &point) {
            (Some(address), _, _) => address.to_owned(),
            (None, Some(id), _) => format!("address_id {id}"),
            (None, None, Some(p)) => format!("{:.6}, {:.6}", p.latitude, p.longitude),
            (None, None, None) => {
                return Err("a location is required: lat and long, address_string or address_id".into());
            }
        };
        Ok(Place { location, point })
    }
}

fn media_url(params: &Params) -> Result<Option<String>, String> {
    let Some(url) = params.get("media_url") else {
        return Ok(None);
    };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok
        || url.chars().count() > MEDIA_URL_MAX_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "media_url must be an http(s) URL of at most {MEDIA_URL_MAX_CHARS} characters without spaces"
        ));
    }
    Ok(Some(url.to_owned()))
}

/// GeoReport requests have no title: the service's name and the description's first line.
fn title(service_name: &str, description: &str) -> String {
    let first_line = description.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let full = format!("{service_name}: {first_line}");
    if full.chars().count() <= TITLE_MAX_CHARS {
        return full;
    }
    let cut: String = full.chars().take(TITLE_MAX_CHARS - 1).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end())
}

/// The spec's parameter names for our validation's fields.
fn spec_field(field: &str) -> &str {
    match field {
        "title" | "body" => "description",
        "location" => "address_string",
        "reporter.name" => "first_name/last_name",
        "reporter.phone" => "phone",
        "reporter.email" => "email",
        "idempotency_key" => "Idempotency-Key",
        other => other,
    }
}

pub async fn create(
    open311: &Open311,
    params: &Params,
    client: Client,
    format: Format,
) -> Result<Response, Open311Error> {
    let bad = |message: String| Open311Error::bad_request(message, format);
    // Counted before the key is looked at, so keys cannot be guessed at speed either.
    open311
        .submit
        .limits
        .check_ip(client.ip)
        .map_err(|l| too_many(&l, format))?;
    match params.get("api_key") {
        None => {
            return Err(Open311Error::new(
                StatusCode::FORBIDDEN,
                "api_key is required to POST requests",
                format,
            ));
        }
        Some(key) if !open311.knows_key(key) => {
            return Err(Open311Error::new(StatusCode::FORBIDDEN, "api_key is not valid", format));
        }
        Some(_) => {}
    }
    open311.check_jurisdiction(params, format)?;
    let submit = &open311.submit;
    let directory = &submit.directory.get();
    let code = params
        .get("service_code")
        .ok_or_else(|| bad("service_code is required".into()))?;
    let category = directory
        .categories
        .iter()
        .find(|c| c.code == code)
        .ok_or_else(|| Open311Error::not_found(format!("unknown service_code {code:?}"), format))?;
    if let Some(name) = params.malformed_attribute() {
        return Err(bad(format!(
            "{name:?} is not an attribute parameter: use attribute[code]=value"
        )));
    }
    let attributes = Attributes::read(params, directory).map_err(bad)?;
    let place = Place::read(params).map_err(bad)?;
    let description = params
        .get("description")
        .ok_or_else(|| bad("description is required: what happened, where and when".into()))?;
    let media_url = media_url(params).map_err(bad)?;
    let idempotency_key = client
        .idempotency_key
        .map(|key| format!("{IDEMPOTENCY_PREFIX}{}", key.trim()))
        .unwrap_or_default();
    let name = [params.get("first_name"), params.get("last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let submission = Submission {
        draft: SubmissionDraft {
            title: title(&category.name, description),
            body: description.to_owned(),
            category_code: category.code.clone(),
            kabupaten_code: attributes.kabupaten,
            location: place.location,
            reporter_name: name,
            reporter_phone: params.get("phone").unwrap_or_default().to_owned(),
            reporter_email: params.get("email").unwrap_or_default().to_owned(),
            // GeoReport v2 has no field for it.
            reporter_nik: String::new(),
            idempotency_key,
        },
        kind: attributes.kind,
        channel: Channel::Open311,
        anonim: attributes.anonim,
        rahasia: attributes.rahasia,
        point: place.point,
        media_url,
        attachments: Vec::new(),
    };
    let accepted = match submit.submit(submission).await {
        Ok(accepted) => accepted,
        Err(SubmitError::Invalid(error)) => {
            return Err(bad(format!("{}: {}", spec_field(error.field), error.message)));
        }
        Err(SubmitError::KeyReused) => {
            let mut error = bad("Idempotency-Key was already used for a different request".into());
            error.code = StatusCode::CONFLICT.as_u16();
            return Err(error);
        }
        Err(SubmitError::Limited(limited)) => return Err(too_many(&limited, format)),
        Err(error @ (SubmitError::Vault(_) | SubmitError::Db(_) | SubmitError::Store(_))) => {
            return Err(unavailable(error, format));
        }
    };
    // No access code here: GeoReport has no private field for it, and clients may show
    // `service_notice` publicly.
    let notice = format!(
        "Laporan diterima dengan nomor {}. Simpan nomor ini untuk memantau tindak lanjutnya.",
        accepted.tracking_id
    );
    let node = Node::List(
        "request",
        vec![Node::Object(vec![
            ("service_request_id", Node::text(&accepted.tracking_id)),
            ("service_notice", Node::Text(notice)),
            ("account_id", Node::Null),
        ])],
    );
    Ok(node.respond(StatusCode::OK, "service_requests", format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_fit_and_cut_at_a_word() {
        assert_eq!(
            title(
                "Jalan dan Jembatan Provinsi",
                "Lubang besar di Jl. A. Yani km 5\nsudah sebulan"
            ),
            "Jalan dan Jembatan Provinsi: Lubang besar di Jl. A. Yani km 5"
        );
        let long = title("Drainase", &"saluran ".repeat(40));
        assert!(long.chars().count() <= TITLE_MAX_CHARS, "{long}");
        assert!(long.ends_with("saluran…"), "{long}");
    }

    #[test]
    fn places_need_one_location_inside_the_province() {
        let place = |q: &str| Place::read(&Params::parse(q).expect("parses"));
        assert_eq!(
            place("lat=-3.3194&long=114.5908").expect("ok").location,
            "-3.319400, 114.590800"
        );
        assert!(
            place("lat=3.3194&long=114.5908")
                .expect_err("refused")
                .contains("outside Kalimantan Selatan")
        );
        assert!(place("lat=-3.3").expect_err("refused").contains("together"));
        assert!(
            place("lat=abc&long=114")
                .expect_err("refused")
                .contains("decimal degree")
        );
        assert!(
            place("lat=NaN&long=114.5")
                .expect_err("refused")
                .contains("decimal degree")
        );
        assert!(place("").expect_err("refused").contains("location is required"));
        assert_eq!(
            place("address_string=Jl.+Sudirman").expect("ok").location,
            "Jl. Sudirman"
        );
    }

    #[test]
    fn media_urls_are_http() {
        let url = |q: &str| media_url(&Params::parse(q).expect("parses"));
        assert!(url("media_url=javascript:alert(1)").is_err());
        assert!(url("media_url=https://x.example/a b").is_err());
        assert_eq!(
            url("media_url=https://x.example/a.jpg").expect("ok").as_deref(),
            Some("https://x.example/a.jpg")
        );
    }
}
