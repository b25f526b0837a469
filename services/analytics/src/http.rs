//! Analytics' HTTP side on port 8083: the leadership dashboard (live through server-sent
//! events), the SKPD ranking, the public transparency page and the exports. Pages are
//! rendered by `web`; this module checks access and input and fetches the figures.
//!
//! Sign-in works as in routing's console: the officer's JWT is pasted once and kept in an
//! HttpOnly, `SameSite=Strict` cookie (the CSRF protection for the one form that posts);
//! exports also take `Authorization: Bearer`, for scripts.

use crate::feed::Feed;
use crate::figures::{self, Period, TrendQuery, wita_midnight};
use crate::grpc::may_read_figures;
use crate::web::export;
use crate::web::labels::Lang;
use crate::web::pages::{self, FilterForm};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use chrono::{Datelike, Days, NaiveDate, Utc};
use futures::{Stream, StreamExt};
use lapor_platform::auth::{Authenticator, Principal};
use lapor_proto::analytics::v1::{Dimension, Granularity};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TOKEN_COOKIE: &str = "lapor_analytics_token";
/// Least time between two live updates of one dashboard.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Site {
    pub db: DatabaseConnection,
    pub feed: Feed,
    pub authenticator: Arc<Authenticator>,
    pub public_page: Arc<PublicPageCache>,
}

/// The public page, rendered at most once a minute per language: it needs no sign-in, so
/// its database cost must not grow with its traffic.
#[derive(Default)]
pub struct PublicPageCache(std::sync::Mutex<std::collections::HashMap<&'static str, (Instant, String)>>);

const PUBLIC_PAGE_TTL: Duration = Duration::from_secs(60);

impl PublicPageCache {
    fn get(&self, lang: Lang) -> Option<String> {
        let pages = self.0.lock().ok()?;
        let (rendered_at, page) = pages.get(lang.code())?;
        (rendered_at.elapsed() < PUBLIC_PAGE_TTL).then(|| page.clone())
    }

    fn put(&self, lang: Lang, page: &str) {
        if let Ok(mut pages) = self.0.lock() {
            pages.insert(lang.code(), (Instant::now(), page.to_owned()));
        }
    }
}

pub fn router(site: Site) -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to(pages::DASHBOARD_PATH) }))
        .route(pages::DASHBOARD_PATH, get(dashboard))
        .route(pages::LOGIN_PATH, get(login_page).post(login))
        .route("/dashboard/logout", post(logout))
        .route(pages::RANKING_PATH, get(ranking))
        .route(pages::LIVE_PATH, get(live))
        .route(pages::TRANSPARENCY_PATH, get(transparency))
        .route(pages::EXPORT_SUMMARY_JSON, get(summary_json))
        .route(pages::EXPORT_SCORECARD_CSV, get(scorecard_csv))
        .route(pages::EXPORT_SCORECARD_JSON, get(scorecard_json))
        .route(pages::EXPORT_TRENDS_CSV, get(trends_csv))
        .route(pages::EXPORT_TRENDS_JSON, get(trends_json))
        .with_state(site)
}

/// Exports answer errors as JSON; pages as pages.
fn is_export(path: &str) -> bool {
    path.starts_with("/dashboard/exports/")
}

/// A request that failed: a page for people, JSON `{code, message, field}` for exports.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    json: bool,
    lang: Lang,
}

impl Failure {
    fn bad(field: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_argument",
            message: message.into(),
            field: Some(field),
            json: false,
            lang: Lang::Id,
        }
    }

    fn into_json(mut self) -> Self {
        self.json = true;
        self
    }

    fn in_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }
}

impl From<DbErr> for Failure {
    fn from(error: DbErr) -> Self {
        tracing::warn!(%error, "analytics figures unavailable");
        Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "figures are unavailable right now; try again shortly".into(),
            field: None,
            json: false,
            lang: Lang::Id,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.json {
            let body = json!({"code": self.code, "message": self.message, "field": self.field});
            return (self.status, Json(body)).into_response();
        }
        if self.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/dashboard/login").into_response();
        }
        (
            self.status,
            pages::error(self.lang, self.status.as_u16(), &self.message),
        )
            .into_response()
    }
}

/// A signed-in admin, pimpinan or kepala.
pub struct Reader(pub Principal);

impl FromRequestParts<Site> for Reader {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, site: &Site) -> Result<Self, Self::Rejection> {
        let json = is_export(parts.uri.path());
        let refuse = |status: StatusCode, code: &'static str, message: String| Failure {
            status,
            code,
            message,
            field: None,
            json,
            lang: Lang::Id,
        };
        let token = lapor_platform::http::bearer_or_cookie(&parts.headers, TOKEN_COOKIE)
            .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first".into()))?;
        let principal = site
            .authenticator
            .verify(token)
            .map_err(|e| refuse(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string()))?;
        if !may_read_figures(&principal) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "permission_denied",
                format!(
                    "analytics figures are for admin, pimpinan and kepala; you are {}",
                    principal.role.as_str()
                ),
            ));
        }
        Ok(Reader(principal))
    }
}

/// Query parameters every page and export understands; all optional, all checked.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    dimension: Option<String>,
    lang: Option<String>,
}

/// The query string as [`Params`]; a malformed one (bad encoding, a repeated parameter) is
/// refused like any other bad filter.
pub struct Filters(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Filters {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let failure = |message: String| {
            let failure = Failure::bad("query", message);
            if is_export(parts.uri.path()) {
                failure.into_json()
            } else {
                failure
            }
        };
        if query.len() > 2048 {
            return Err(failure("query: longer than 2048 bytes".into()));
        }
        serde_urlencoded::from_str(query)
            .map(Filters)
            .map_err(|e| failure(format!("query: {e}")))
    }
}

/// What the parameters mean once checked.
#[derive(Debug)]
struct Checked {
    lang: Lang,
    form: FilterForm,
    period: Period,
    dimension: Dimension,
}

fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, Failure> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Failure::bad(field, format!("{field}: {text:?} is not a date (YYYY-MM-DD)")))?;
    // The same years the gRPC API takes.
    if !(2000..2200).contains(&date.year()) {
        return Err(Failure::bad(
            field,
            format!("{field}: {text} is outside the years 2000-2199"),
        ));
    }
    Ok(date)
}

impl Params {
    fn lang(&self) -> Lang {
        match self.lang.as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Id,
        }
    }

    fn check(&self) -> Result<Checked, Failure> {
        let lang = self.lang();
        let fail = |f: Failure| f.in_lang(lang);
        if let Some(other) = self.lang.as_deref().filter(|l| !matches!(*l, "id" | "en")) {
            return Err(fail(Failure::bad("lang", format!("lang: {other:?} is not id or en"))));
        }
        let date = |field: &'static str, value: &Option<String>| -> Result<Option<NaiveDate>, Failure> {
            match value.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => parse_date(field, text).map(Some).map_err(fail),
            }
        };
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        let granularity = match self.granularity.as_deref() {
            None | Some("") | Some("day") => Granularity::Day,
            Some("week") => Granularity::Week,
            Some("month") => Granularity::Month,
            Some(other) => {
                return Err(fail(Failure::bad(
                    "granularity",
                    format!("granularity: {other:?} is not day, week or month"),
                )));
            }
        };
        let dimension = match self.dimension.as_deref() {
            None | Some("") | Some("total") => Dimension::Total,
            Some("channel") => Dimension::Channel,
            Some("kind") => Dimension::Kind,
            Some("category") => Dimension::Category,
            Some("skpd") => Dimension::Skpd,
            Some("kabupaten") => Dimension::Kabupaten,
            Some(other) => {
                return Err(fail(Failure::bad(
                    "dimension",
                    format!("dimension: {other:?} is not total, channel, kind, category, skpd or kabupaten"),
                )));
            }
        };
        // `to` is the last day shown, inclusive.
        let end = to.map(|day| wita_midnight(day.checked_add_days(Days::new(1)).unwrap_or(day)));
        let period =
            Period::new(from.map(wita_midnight), end).map_err(|e| fail(Failure::bad(e.field(), e.to_string())))?;
        Ok(Checked {
            lang,
            form: FilterForm { from, to, granularity },
            period,
            dimension,
        })
    }

    fn trend_query(&self, checked: &Checked) -> Result<TrendQuery, Failure> {
        TrendQuery::new(
            checked.dimension as i32,
            checked.form.granularity as i32,
            checked.period,
            Utc::now(),
        )
        .map_err(|e| Failure::bad(e.field(), e.to_string()).in_lang(checked.lang))
    }
}

async fn dashboard(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<maud::Markup, Failure> {
    let checked = params.check()?;
    let now = Utc::now();
    let summary = figures::summary(&site.db, &checked.period, now).await?;
    let scorecard = figures::scorecard(&site.db, &checked.period, now).await?;
    let trends = figures::trends(&site.db, &params.trend_query(&checked)?).await?;
    Ok(pages::dashboard(
        checked.lang,
        &summary,
        &scorecard,
        &trends,
        &checked.form,
    ))
}

async fn ranking(State(site): State<Site>, _reader: Reader, Filters(params): Filters) -> Result<maud::Markup, Failure> {
    let checked = params.check()?;
    let scorecard = figures::scorecard(&site.db, &checked.period, Utc::now()).await?;
    Ok(pages::ranking(checked.lang, &scorecard, &checked.form))
}

/// The dashboard's live part, re-rendered whenever counted events arrive (at most once a
/// second); the page swaps it in. Ends when the service drains.
async fn live(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let checked = params.check()?;
    let (db, lang, period) = (site.db.clone(), checked.lang, checked.period);
    let updates = site.feed.subscribe(LIVE_INTERVAL).map_err(|busy| Failure {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: busy.to_string(),
        field: None,
        json: false,
        lang,
    })?;
    let events = updates.then(move |update| {
        let db = db.clone();
        async move {
            // The province-wide figures are shared by every subscriber; a dashboard filtered
            // to a period computes its own.
            let fragment = if period == Period::default() {
                Ok(pages::dashboard_live(
                    lang,
                    &update.figures.summary,
                    &update.figures.scorecard,
                ))
            } else {
                let now = Utc::now();
                async {
                    let summary = figures::summary(&db, &period, now).await?;
                    let scorecard = figures::scorecard(&db, &period, now).await?;
                    Ok::<_, DbErr>(pages::dashboard_live(lang, &summary, &scorecard))
                }
                .await
            };
            Ok(match fragment {
                Ok(fragment) => Event::default().event(pages::LIVE_EVENT).data(fragment.into_string()),
                // The page keeps its last figures; the next update tries again.
                Err(error) => {
                    Event::default().comment(format!("figures unavailable: {error}").replace(['\r', '\n'], " "))
                }
            })
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Public: aggregates only, rahasia complaints left out, no sign-in, no filters (so the
/// cache below serves every visitor), at most a minute old.
async fn transparency(State(site): State<Site>, Filters(params): Filters) -> Result<Response, Failure> {
    let lang = params.lang();
    if let Some(page) = site.public_page.get(lang) {
        return Ok(axum::response::Html(page).into_response());
    }
    let now = Utc::now();
    let public = Period::default().public();
    let summary = figures::summary(&site.db, &public, now).await?;
    let scorecard = figures::scorecard(&site.db, &public, now).await?;
    let query = TrendQuery::new(Dimension::Total as i32, Granularity::Day as i32, public, now)
        .map_err(|e| Failure::bad(e.field(), e.to_string()))?;
    let trends = figures::trends(&site.db, &query).await?;
    let page = pages::transparency(lang, &summary, &scorecard, &trends).into_string();
    site.public_page.put(lang, &page);
    Ok(axum::response::Html(page).into_response())
}

async fn login_page(Filters(params): Filters) -> maud::Markup {
    pages::login(params.lang(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(site): State<Site>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let refused = |message: String| (StatusCode::UNAUTHORIZED, pages::login(Lang::Id, Some(&message))).into_response();
    match site.authenticator.verify(token) {
        Ok(principal) if may_read_figures(&principal) => {
            // Scoped to the dashboard's paths (exports included), so other services behind the same
            // host never receive the officer's token.
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=43200");
            let mut response = Redirect::to("/dashboard").into_response();
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                    response
                }
                Err(_) => refused("the token has characters a cookie cannot carry".into()),
            }
        }
        Ok(principal) => refused(format!(
            "analytics figures are for admin, pimpinan and kepala; you are {}",
            principal.role.as_str()
        )),
        Err(error) => refused(error.to_string()),
    }
}

async fn logout() -> Response {
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lapor_analytics_token=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

fn csv_response(name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

async fn summary_json(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<Json<serde_json::Value>, Failure> {
    let checked = params.check().map_err(Failure::into_json)?;
    let summary = figures::summary(&site.db, &checked.period, Utc::now())
        .await
        .map_err(|e| Failure::from(e).into_json())?;
    Ok(Json(export::summary_json(&summary)))
}

async fn scorecard_csv(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<Response, Failure> {
    let checked = params.check().map_err(Failure::into_json)?;
    let scorecard = figures::scorecard(&site.db, &checked.period, Utc::now())
        .await
        .map_err(|e| Failure::from(e).into_json())?;
    Ok(csv_response(
        "lapor-skpd-scorecard.csv",
        export::scorecard_csv(&scorecard),
    ))
}

async fn scorecard_json(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<Json<serde_json::Value>, Failure> {
    let checked = params.check().map_err(Failure::into_json)?;
    let scorecard = figures::scorecard(&site.db, &checked.period, Utc::now())
        .await
        .map_err(|e| Failure::from(e).into_json())?;
    Ok(Json(export::scorecard_json(&scorecard)))
}

async fn trends_for(site: &Site, params: &Params) -> Result<lapor_proto::analytics::v1::Trends, Failure> {
    let checked = params.check().map_err(Failure::into_json)?;
    let query = params.trend_query(&checked).map_err(Failure::into_json)?;
    figures::trends(&site.db, &query)
        .await
        .map_err(|e| Failure::from(e).into_json())
}

async fn trends_csv(State(site): State<Site>, _reader: Reader, Filters(params): Filters) -> Result<Response, Failure> {
    let trends = trends_for(&site, &params).await?;
    Ok(csv_response("lapor-trends.csv", export::trends_csv(&trends)))
}

async fn trends_json(
    State(site): State<Site>,
    _reader: Reader,
    Filters(params): Filters,
) -> Result<Json<serde_json::Value>, Failure> {
    Ok(Json(export::trends_json(&trends_for(&site, &params).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: &str, to: &str, granularity: &str) -> Params {
        Params {
            from: Some(from.into()),
            to: Some(to.into()),
            granularity: Some(granularity.into()),
            ..Params::default()
        }
    }

    #[test]
    fn checks_dates_names_and_ranges() {
        let ok = params("2026-11-01", "2026-11-27", "week").check().expect("test value");
        assert_eq!(ok.form.granularity, Granularity::Week);
        // `to` is inclusive: the period ends at the next WITA midnight.
        assert_eq!(
            ok.period.to.expect("test value").to_rfc3339(),
            "2026-11-27T16:00:00+00:00"
        );
        let field = |p: Params| p.check().expect_err("test error").field;
        assert_eq!(field(params("2026-13-01", "", "")), Some("from"));
        assert_eq!(field(params("2026-11-05", "2026-11-01", "")), Some("to"));
        assert_eq!(field(params("2020-01-01", "2026-11-01", "")), Some("to"));
        assert_eq!(field(params("", "", "hourly")), Some("granularity"));
        let bad_dimension = Params {
            dimension: Some("rahasia".into()),
            ..Params::default()
        };
        assert_eq!(field(bad_dimension), Some("dimension"));
        let bad_lang = Params {
            lang: Some("fr".into()),
            ..Params::default()
        };
        assert_eq!(field(bad_lang), Some("lang"));
    }
}
