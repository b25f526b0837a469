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
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use chrono::{Days, NaiveDate, Utc};
use futures::{Stream, StreamExt};
use lapor_platform::auth::{Authenticator, Principal};
use lapor_proto::analytics::v1::{Dimension, Granularity};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN_COOKIE: &str = "lapor_analytics_token";
/// Least time between two live updates of one dashboard.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Site {
    pub db: DatabaseConnection,
    pub feed: Feed,
    pub authenticator: Arc<Authenticator>,
}

pub fn router(site: Site) -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/login", get(login_page).post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/ranking", get(ranking))
        .route("/dashboard/live", get(live))
        .route("/transparansi", get(transparency))
        .route("/exports/summary.json", get(summary_json))
        .route("/exports/scorecard.csv", get(scorecard_csv))
        .route("/exports/scorecard.json", get(scorecard_json))
        .route("/exports/trends.csv", get(trends_csv))
        .route("/exports/trends.json", get(trends_json))
        .with_state(site)
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
        let json = parts.uri.path().starts_with("/exports/");
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

/// What the parameters mean once checked.
#[derive(Debug)]
struct Checked {
    lang: Lang,
    form: FilterForm,
    period: Period,
    dimension: Dimension,
}

fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, Failure> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Failure::bad(field, format!("{field}: {text:?} is not a date (YYYY-MM-DD)")))
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
    Query(params): Query<Params>,
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

async fn ranking(
    State(site): State<Site>,
    _reader: Reader,
    Query(params): Query<Params>,
) -> Result<maud::Markup, Failure> {
    let checked = params.check()?;
    let scorecard = figures::scorecard(&site.db, &checked.period, Utc::now()).await?;
    Ok(pages::ranking(checked.lang, &scorecard, &checked.form))
}

/// The dashboard's live part, re-rendered whenever counted events arrive (at most once a
/// second); the page swaps it in. Ends when the service drains.
async fn live(
    State(site): State<Site>,
    _reader: Reader,
    Query(params): Query<Params>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let checked = params.check()?;
    let (db, lang, period) = (site.db.clone(), checked.lang, checked.period);
    let events = site.feed.batches(LIVE_INTERVAL).then(move |_batch| {
        let db = db.clone();
        async move {
            let now = Utc::now();
            let figures = async {
                let summary = figures::summary(&db, &period, now).await?;
                let scorecard = figures::scorecard(&db, &period, now).await?;
                Ok::<_, DbErr>(pages::dashboard_live(lang, &summary, &scorecard))
            };
            Ok(match figures.await {
                Ok(fragment) => Event::default().event(pages::LIVE_EVENT).data(fragment.into_string()),
                // The page keeps its last figures; the next batch tries again.
                Err(error) => {
                    Event::default().comment(format!("figures unavailable: {error}").replace(['\r', '\n'], " "))
                }
            })
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Public: aggregates only, no sign-in.
async fn transparency(State(site): State<Site>, Query(params): Query<Params>) -> Result<maud::Markup, Failure> {
    let checked = params.check()?;
    let now = Utc::now();
    let summary = figures::summary(&site.db, &checked.period, now).await?;
    let scorecard = figures::scorecard(&site.db, &checked.period, now).await?;
    let trends = figures::trends(&site.db, &params.trend_query(&checked)?).await?;
    Ok(pages::transparency(checked.lang, &summary, &scorecard, &trends))
}

async fn login_page(Query(params): Query<Params>) -> maud::Markup {
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
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
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
        HeaderValue::from_static("lapor_analytics_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
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
    Query(params): Query<Params>,
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
    Query(params): Query<Params>,
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
    Query(params): Query<Params>,
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

async fn trends_csv(
    State(site): State<Site>,
    _reader: Reader,
    Query(params): Query<Params>,
) -> Result<Response, Failure> {
    let trends = trends_for(&site, &params).await?;
    Ok(csv_response("lapor-trends.csv", export::trends_csv(&trends)))
}

async fn trends_json(
    State(site): State<Site>,
    _reader: Reader,
    Query(params): Query<Params>,
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
