//! The analytics pages: the leadership dashboard, the SKPD ranking, the public transparency
//! page, sign-in and errors. Server-rendered with maud (every label escaped), Bahasa
//! Indonesia first with an English switch (`?lang=en`), one column on a phone, no external
//! assets. Everything works without JavaScript; the dashboard's only script opens an
//! `EventSource` on [`LIVE_PATH`] and swaps the `#live` element's content for each message's
//! data, which the server renders with [`dashboard_live`].
//!
//! These functions only render: the handlers fetch the figures (gRPC types of
//! `lapor.analytics.v1`), check who may see them, and pick the status codes.

use super::labels::{self, Lang, UNSET};
use super::svg::{self, Bar};
use chrono::NaiveDate;
use lapor_proto::analytics::v1::{Compliance, Granularity, KeyCount, SkpdScore, SkpdScorecard, Summary, Trends};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::BTreeMap;

pub const DASHBOARD_PATH: &str = "/dashboard";
pub const RANKING_PATH: &str = "/dashboard/ranking";
pub const LIVE_PATH: &str = "/dashboard/live";
pub const LOGIN_PATH: &str = "/dashboard/login";
pub const TRANSPARENCY_PATH: &str = "/transparansi";
pub const EXPORT_SUMMARY_JSON: &str = "/dashboard/exports/summary.json";
pub const EXPORT_SCORECARD_CSV: &str = "/dashboard/exports/scorecard.csv";
pub const EXPORT_SCORECARD_JSON: &str = "/dashboard/exports/scorecard.json";
pub const EXPORT_TRENDS_CSV: &str = "/dashboard/exports/trends.csv";
pub const EXPORT_TRENDS_JSON: &str = "/dashboard/exports/trends.json";

/// The period and trend granularity the officer picked, as the filter form sends them
/// (`?from=2026-01-01&to=2026-01-31&granularity=week`). `to` is the last day *included*,
/// as people read "sampai dengan"; the API's `to` is exclusive, so a handler asks for the
/// midnight (WITA) after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterForm {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub granularity: Granularity,
}

impl Default for FilterForm {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            granularity: Granularity::Day,
        }
    }
}

impl FilterForm {
    /// The form from its raw query values, forgiving: a value that does not parse (a date
    /// other than YYYY-MM-DD, an unknown granularity) is treated as absent, and so is an
    /// empty one.
    pub fn from_query(from: Option<&str>, to: Option<&str>, granularity: Option<&str>) -> Self {
        let day = |text: Option<&str>| text.and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok());
        Self {
            from: day(from),
            to: day(to),
            granularity: granularity
                .and_then(labels::parse_granularity)
                .unwrap_or(Granularity::Day),
        }
    }

    /// The period's query pairs (`from`, `to`), those set.
    fn period_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(from) = self.from {
            pairs.push(("from", from.format("%Y-%m-%d").to_string()));
        }
        if let Some(to) = self.to {
            pairs.push(("to", to.format("%Y-%m-%d").to_string()));
        }
        pairs
    }

    /// The period's and the granularity's query pairs.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = self.period_pairs();
        pairs.push(("granularity", labels::granularity_param(self.granularity).to_owned()));
        pairs
    }

    fn granularity(&self) -> Granularity {
        match self.granularity {
            Granularity::Unspecified => Granularity::Day,
            other => other,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Links.

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(byte)),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `path?key=value&…` (just `path` without pairs).
fn href(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("{path}?{}", query.join("&"))
}

/// `path_and_query` with its `lang` parameter set to `lang` and every other parameter kept
/// as it is: the language switch, and handy for redirects that keep the language.
pub fn with_lang(path_and_query: &str, lang: Lang) -> String {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("lang"))
        .collect();
    let lang_pair = format!("lang={}", lang.code());
    pairs.push(&lang_pair);
    format!("{path}?{}", pairs.join("&"))
}

/// A link inside the pages: English pages carry `lang=en` along; Indonesian, the default,
/// needs nothing.
fn link(lang: Lang, path: &str, pairs: &[(&str, String)]) -> String {
    let plain = href(path, pairs);
    match lang {
        Lang::Id => plain,
        Lang::En => with_lang(&plain, Lang::En),
    }
}

// ---------------------------------------------------------------------------------------------
// Frame.

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f5f6f8;font-size:16px;line-height:1.4}
header{background:#8a1c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;justify-content:space-between}
header a{color:#fff}
header nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}
header nav a{display:inline-block;padding:.35rem 0}
header nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
main{max-width:64rem;margin:0 auto;padding:1rem}
main:focus{outline:none}
h1{font-size:1.5rem;margin:.4rem 0 .6rem}h2{font-size:1.1rem;margin:.2rem 0 .5rem}
.card{background:#fff;border-radius:.5rem;padding:.8rem 1rem;margin:.6rem 0;box-shadow:0 1px 2px #0002;min-width:0;overflow-x:auto}
.muted{color:#555;font-size:.9rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr));gap:0 .8rem}
.grid .wide{grid-column:1/-1}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,8.5rem),1fr));gap:.6rem;margin:.6rem 0}
.tile{background:#fff;border-radius:.5rem;padding:.7rem .9rem;box-shadow:0 1px 2px #0002;border-top:4px solid #8a1c1c}
.tile dt{font-size:.85rem;color:#444;font-weight:600}
.tile dd{margin:0}.tile .value{font-size:1.5rem;font-weight:700;font-variant-numeric:tabular-nums;white-space:nowrap}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem;border-bottom:1px solid #ddd;font-size:.9rem;vertical-align:middle}
thead th{border-bottom:2px solid #bbb}tbody th{overflow-wrap:anywhere}
.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
.scroll{overflow-x:auto}
.chart{margin:0}.chart-svg{width:100%;height:auto;display:block}.chart-svg.bars{max-width:36rem}
.chart-data summary{cursor:pointer;color:#8a1c1c;padding:.3rem 0}
.meter{vertical-align:middle;margin-right:.4rem}
.filter fieldset{border:0;margin:0;padding:0}
.filter legend{font-weight:700;padding:0}
.fields{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,11rem),1fr));gap:0 .8rem}
label{display:block;font-weight:600;margin:.4rem 0 .2rem}
input,select,textarea{width:100%;box-sizing:border-box;font-size:1rem;padding:.45rem}
button{font-size:1rem;padding:.55rem 1rem;margin:.5rem .4rem 0 0;border-radius:.4rem;border:1px solid #8a1c1c;background:#fff;color:#8a1c1c;cursor:pointer}
button.primary{background:#8a1c1c;color:#fff}
.problem{background:#fde2e1;border-left:4px solid #8a1111;padding:.6rem 1rem}
a{color:#8a1c1c}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible,[tabindex]:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:#fff;color:#8a1c1c;padding:.5rem 1rem;z-index:10}
.skip:focus{left:0}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
@media (max-width:30rem){main{padding:.5rem}.tile .value{font-size:1.4rem}td,th{padding:.3rem .2rem}.meter{display:none}}
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nav {
    Dashboard,
    Ranking,
    /// The public page: no officer navigation.
    Public,
    /// Errors: the officer links without a current page.
    Plain,
    /// Sign-in: no navigation yet.
    Bare,
}

struct Frame<'a> {
    lang: Lang,
    nav: Nav,
    title: &'a str,
    /// The switch link: this page in the other language.
    switch_href: String,
    /// The query pairs officer links carry (the filter), so moving between pages keeps it.
    carry: Vec<(&'static str, String)>,
}

fn layout(frame: Frame<'_>, body: Markup) -> Markup {
    let lang = frame.lang;
    let l = lang.labels();
    let other = lang.other();
    let site = if frame.nav == Nav::Public {
        l.public_site
    } else {
        l.site
    };
    let current = |nav: Nav| (frame.nav == nav).then_some("page");
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · " (site) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a class="skip" href="#main" { (l.skip_to_content) }
                header {
                    strong { (site) }
                    @if matches!(frame.nav, Nav::Dashboard | Nav::Ranking | Nav::Plain) {
                        nav aria-label=(l.main_nav) {
                            ul {
                                li { a href=(link(lang, DASHBOARD_PATH, &frame.carry)) aria-current=[current(Nav::Dashboard)] { (l.nav_dashboard) } }
                                li { a href=(link(lang, RANKING_PATH, &frame.carry)) aria-current=[current(Nav::Ranking)] { (l.nav_ranking) } }
                                li { a href=(link(lang, TRANSPARENCY_PATH, &[])) { (l.nav_transparency) } }
                            }
                        }
                    }
                    a href=(frame.switch_href) lang=(other.code()) hreflang=(other.code()) { (l.switch_to) }
                }
                main id="main" tabindex="-1" {
                    h1 { (frame.title) }
                    (body)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces.

/// "Periode: 1 Jan 2026 – 31 Jan 2026" (or "seluruh periode").
fn period_line(lang: Lang, filter: &FilterForm) -> Markup {
    let l = lang.labels();
    let text = match (filter.from, filter.to) {
        (None, None) => l.all_time.to_owned(),
        (from, to) => format!(
            "{} – {}",
            from.map_or_else(|| l.from_the_start.to_owned(), |d| labels::date(lang, d)),
            to.map_or_else(|| l.until_now.to_owned(), |d| labels::date(lang, d)),
        ),
    };
    html! { p class="muted" { (l.period) ": " (text) } }
}

fn as_of_line(lang: Lang, ts: Option<&prost_types::Timestamp>) -> Markup {
    html! { p class="muted" { (lang.labels().as_of) " " (labels::as_of(lang, ts)) } }
}

/// The GET filter form; `with_granularity` shows the trend granularity (the ranking page
/// carries it along hidden).
fn filter_form(lang: Lang, path: &str, filter: &FilterForm, with_granularity: bool) -> Markup {
    let l = lang.labels();
    let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let granularity = filter.granularity();
    html! {
        form class="card filter" method="get" action=(path) {
            fieldset {
                legend { (l.filter_heading) }
                div class="fields" {
                    div {
                        label for="filter-from" { (l.filter_from) }
                        input type="date" id="filter-from" name="from" value=[day(filter.from)];
                    }
                    div {
                        label for="filter-to" { (l.filter_to) }
                        input type="date" id="filter-to" name="to" value=[day(filter.to)];
                    }
                    @if with_granularity {
                        div {
                            label for="filter-granularity" { (l.filter_granularity) }
                            select id="filter-granularity" name="granularity" {
                                @for g in [Granularity::Day, Granularity::Week, Granularity::Month] {
                                    option value=(labels::granularity_param(g)) selected[g == granularity] {
                                        (labels::granularity_label(lang, g))
                                    }
                                }
                            }
                        }
                    }
                }
                @if !with_granularity {
                    input type="hidden" name="granularity" value=(labels::granularity_param(granularity));
                }
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button class="primary" type="submit" { (l.filter_apply) }
                " "
                a href=(link(lang, path, &[])) { (l.filter_reset) }
            }
        }
    }
}

/// A headline figure: `data-figure` names it for tests and tools, `data-value` holds the raw
/// number ("" when unset) next to the formatted text.
fn tile(label: &str, figure: &str, shown: &str, raw: &str, detail: Option<String>) -> Markup {
    html! {
        div class="tile" {
            dt { (label) }
            dd class="value" data-figure=(figure) data-value=(raw) { (shown) }
            @if let Some(detail) = detail { dd class="muted" { (detail) } }
        }
    }
}

fn raw(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(String::new, |v| v.to_string())
}

fn compliance_detail(lang: Lang, c: &Compliance) -> String {
    let l = lang.labels();
    format!(
        "{} {} · {} {} · {} {}",
        labels::int(lang, c.on_time),
        l.on_time,
        labels::int(lang, c.late),
        l.late,
        labels::int(lang, c.overdue_open),
        l.overdue
    )
}

/// `numerator` as a percentage of `total`; unset when the total is 0.
fn share(numerator: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| numerator as f64 * 100.0 / total as f64)
}

/// A two- or three-column count table: label, count, share of the table's sum.
fn count_table(lang: Lang, caption: &str, label_header: &str, rows: &[(String, u64)]) -> Markup {
    let l = lang.labels();
    if rows.is_empty() {
        return html! { p class="muted" { (l.no_data) } };
    }
    let sum = rows.iter().fold(0u64, |acc, (_, n)| acc.saturating_add(*n));
    html! {
        table {
            caption class="sr-only" { (caption) }
            thead { tr {
                th scope="col" { (label_header) }
                th scope="col" class="num" { (l.col_count) }
                th scope="col" class="num" { (l.col_share) }
            } }
            tbody {
                @for (label, count) in rows {
                    tr {
                        th scope="row" { (label) }
                        td class="num" { (labels::int(lang, *count)) }
                        td class="num" { (labels::percent(lang, share(*count, sum))) }
                    }
                }
            }
        }
    }
}

/// Key counts in words, largest first (ties by label).
fn by_count(rows: &[KeyCount], words: impl Fn(&str) -> String) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = rows.iter().map(|r| (words(&r.key), r.count)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// A card with an `h2` (its id for `aria-labelledby`) and content.
fn section(id: &str, heading: &str, content: Markup) -> Markup {
    card("card", id, heading, content)
}

fn card(class: &str, id: &str, heading: &str, content: Markup) -> Markup {
    html! {
        section class=(class) aria-labelledby=(id) {
            h2 id=(id) { (heading) }
            (content)
        }
    }
}

/// SKPDs in rank order (1 = worst follow-up compliance), unranked (0) last, ties by name.
fn ranked(scorecard: &SkpdScorecard) -> Vec<&SkpdScore> {
    let mut rows: Vec<&SkpdScore> = scorecard.skpds.iter().collect();
    rows.sort_by(|a, b| {
        (a.rank == 0, a.rank, &a.skpd_name, &a.skpd_code).cmp(&(b.rank == 0, b.rank, &b.skpd_name, &b.skpd_code))
    });
    rows
}

fn skpd_name(s: &SkpdScore) -> &str {
    if s.skpd_name.trim().is_empty() {
        &s.skpd_code
    } else {
        &s.skpd_name
    }
}

fn compliance_cell(lang: Lang, c: Option<&Compliance>) -> Markup {
    let percent = c.and_then(|c| c.percent);
    html! { (svg::meter(percent)) (labels::percent(lang, percent)) }
}

fn trend_section(lang: Lang, trends: &Trends) -> Markup {
    let l = lang.labels();
    let granularity = Granularity::try_from(trends.granularity).unwrap_or(Granularity::Day);
    let title = format!("{} {}", l.trend, labels::per_granularity(lang, granularity));
    section(
        "trend",
        &title,
        svg::line_chart(lang, &title, &svg::trend_points(lang, trends)),
    )
}

// ---------------------------------------------------------------------------------------------
// Dashboard.

/// The live part of the dashboard: headline tiles and every table built from the summary
/// and the scorecard. This is the *content* of the page's `<div id="live">`, and what the
/// server sends as the data of each SSE message on [`LIVE_PATH`]; it has no `#live` of its own.
pub fn dashboard_live(lang: Lang, summary: &Summary, scorecard: &SkpdScorecard) -> Markup {
    let l = lang.labels();
    let verification = summary.verification.unwrap_or_default();
    let follow_up = summary.follow_up.unwrap_or_default();
    let to_follow_up = summary.time_to_follow_up.unwrap_or_default();
    let ratings = summary.ratings.clone().unwrap_or_default();
    let overdue = verification.overdue_open.saturating_add(follow_up.overdue_open);

    let mut states: Vec<&lapor_proto::analytics::v1::StateCount> = summary.by_state.iter().collect();
    states.sort_by(|a, b| (labels::state_order(&a.state), &a.state).cmp(&(labels::state_order(&b.state), &b.state)));
    let states: Vec<(String, u64)> = states
        .iter()
        .map(|s| (labels::state_label(lang, &s.state), s.count))
        .collect();
    let ages: Vec<Bar> = summary
        .backlog_by_age
        .iter()
        .map(|b| Bar::new(labels::age_label(lang, &b.label), b.count))
        .collect();
    let mut levels: Vec<(&String, &u64)> = summary.escalations_by_level.iter().collect();
    levels.sort_by(|a, b| (labels::escalation_order(a.0), a.0).cmp(&(labels::escalation_order(b.0), b.0)));
    let levels: Vec<(String, u64)> = levels
        .iter()
        .map(|(k, n)| (labels::escalation_label(lang, k), **n))
        .collect();
    let worst: Vec<&SkpdScore> = ranked(scorecard).into_iter().take(5).collect();

    html! {
        (as_of_line(lang, summary.as_of.as_ref()))
        section aria-labelledby="headline" {
            h2 id="headline" class="sr-only" { (l.headline) }
            dl class="tiles" {
                (tile(l.tile_total, "complaints_total", &labels::int(lang, summary.complaints_total),
                    &summary.complaints_total.to_string(), None))
                (tile(l.tile_open, "open_backlog", &labels::int(lang, summary.open_backlog),
                    &summary.open_backlog.to_string(), Some(format!("{} {}", labels::int(lang, overdue), l.overdue))))
                (tile(l.tile_verification, "verification_percent", &labels::percent(lang, verification.percent),
                    &raw(verification.percent), Some(compliance_detail(lang, &verification))))
                (tile(l.tile_follow_up, "follow_up_percent", &labels::percent(lang, follow_up.percent),
                    &raw(follow_up.percent), Some(compliance_detail(lang, &follow_up))))
                (tile(l.tile_median_follow_up, "median_follow_up_hours", &labels::hours(lang, to_follow_up.median_hours),
                    &raw(to_follow_up.median_hours),
                    Some(format!("p90 {} · {} {}", labels::hours(lang, to_follow_up.p90_hours),
                        labels::int(lang, to_follow_up.count), l.over_complaints))))
                (tile(l.tile_reopen, "reopen_rate", &labels::rate(lang, summary.reopen_rate), &raw(summary.reopen_rate),
                    Some(labels::reopen_detail(lang, summary.reopened, summary.followed_up))))
                (tile(l.tile_rating, "rating_average", &labels::stars(lang, ratings.average), &raw(ratings.average),
                    Some(format!("{} {}", labels::int(lang, ratings.count), l.ratings_given))))
            }
        }
        div class="grid" {
            (card("card wide", "worst", l.worst_skpds, html! {
                @if worst.is_empty() {
                    p class="muted" { (l.no_data) }
                } @else {
                    table {
                        caption class="sr-only" { (l.worst_skpds) }
                        thead { tr {
                            th scope="col" { (l.col_skpd) }
                            th scope="col" { (l.col_compliance) }
                            th scope="col" class="num" { (l.col_overdue) }
                        } }
                        tbody {
                            @for s in &worst {
                                tr {
                                    th scope="row" { (s.rank) ". " (skpd_name(s)) }
                                    td class="num" { (compliance_cell(lang, s.follow_up.as_ref())) }
                                    td class="num" { (labels::int(lang, s.overdue_open)) }
                                }
                            }
                        }
                    }
                }
                p { a href=(link(lang, RANKING_PATH, &[])) { (l.full_ranking) } }
            }))
            (section("backlog-age", l.backlog_by_age, svg::bar_chart(lang, l.backlog_by_age, l.col_age, &ages)))
            (section("by-state", l.by_state, count_table(lang, l.by_state, l.col_state, &states)))
            (section("escalations", l.escalations_by_level, count_table(lang, l.escalations_by_level, l.col_level, &levels)))
            (section("rising", l.rising, html! {
                @if summary.rising_categories.is_empty() {
                    p class="muted" { (l.no_data) }
                } @else {
                    table {
                        caption class="sr-only" { (l.rising) }
                        thead { tr {
                            th scope="col" { (l.col_category) }
                            th scope="col" class="num" { (l.col_this_week) }
                            th scope="col" class="num" { (l.col_last_week) }
                        } }
                        tbody {
                            @for r in &summary.rising_categories {
                                tr {
                                    th scope="row" { (r.category_code) }
                                    td class="num" { (labels::int(lang, r.this_week)) }
                                    td class="num" { (labels::int(lang, r.last_week)) }
                                }
                            }
                        }
                    }
                }
            }))
            (section("by-channel", l.by_channel, count_table(lang, l.by_channel, l.col_channel,
                &by_count(&summary.by_channel, |k| labels::channel_label(lang, k)))))
            (section("by-kind", l.by_kind, count_table(lang, l.by_kind, l.col_kind,
                &by_count(&summary.by_kind, |k| labels::kind_label(lang, k)))))
            (section("by-category", l.by_category, count_table(lang, l.by_category, l.col_category,
                &by_count(&summary.by_category, str::to_owned))))
            (section("by-kabupaten", l.by_kabupaten, count_table(lang, l.by_kabupaten, l.col_kabupaten,
                &by_count(&summary.by_kabupaten, labels::kabupaten_label))))
        }
    }
}

/// The SSE event name the live figures may come as, besides unnamed messages.
pub const LIVE_EVENT: &str = "figures";

/// The script that keeps `#live` current: one `EventSource` on `url`, each message's data
/// replacing the element's content, whether the server names the event [`LIVE_EVENT`] or
/// leaves it unnamed (`onmessage` only sees unnamed ones). The URL goes in as a JSON string
/// literal with `<` escaped, so nothing in it can end the script element.
fn live_script(url: &str) -> Markup {
    let literal = serde_json::to_string(url).unwrap_or_default().replace('<', "\\u003c");
    PreEscaped(format!(
        "(function(){{if(!window.EventSource)return;var s=new EventSource({literal});\
         var f=function(e){{var l=document.getElementById(\"live\");if(l)l.innerHTML=e.data;}};\
         s.onmessage=f;s.addEventListener(\"{LIVE_EVENT}\",f);}})();"
    ))
}

/// Where the dashboard listens for live figures: [`LIVE_PATH`] with the period's start and
/// the language, so the server can render [`dashboard_live`] for the same view.
pub fn live_url(lang: Lang, filter: &FilterForm) -> String {
    with_lang(&href(LIVE_PATH, &filter.period_pairs()), lang)
}

fn exports_section(lang: Lang, filter: &FilterForm, with_trends: bool) -> Markup {
    let l = lang.labels();
    let period = filter.period_pairs();
    let granularity = labels::granularity_param(filter.granularity());
    html! {
        section class="card" aria-labelledby="exports" {
            h2 id="exports" { (l.exports) }
            ul {
                @if with_trends { li { a href=(href(EXPORT_SUMMARY_JSON, &period)) { (l.export_summary_json) } } }
                li { a href=(href(EXPORT_SCORECARD_CSV, &period)) { (l.export_scorecard_csv) } }
                li { a href=(href(EXPORT_SCORECARD_JSON, &period)) { (l.export_scorecard_json) } }
            }
            @if with_trends {
                form method="get" action=(EXPORT_TRENDS_CSV) {
                    label for="export-dimension" { (l.export_trends) " — " (l.dimension) }
                    select id="export-dimension" name="dimension" {
                        @for d in [
                            lapor_proto::analytics::v1::Dimension::Total,
                            lapor_proto::analytics::v1::Dimension::Channel,
                            lapor_proto::analytics::v1::Dimension::Kind,
                            lapor_proto::analytics::v1::Dimension::Category,
                            lapor_proto::analytics::v1::Dimension::Skpd,
                            lapor_proto::analytics::v1::Dimension::Kabupaten,
                        ] {
                            option value=(labels::dimension_param(d)) { (labels::dimension_label(lang, d)) }
                        }
                    }
                    input type="hidden" name="granularity" value=(granularity);
                    @for (name, value) in &period { input type="hidden" name=(name) value=(value); }
                    button type="submit" { (l.export_trends) " (CSV)" }
                    button type="submit" formaction=(EXPORT_TRENDS_JSON) { (l.export_trends) " (JSON)" }
                }
            }
            p class="muted" { (l.export_period_note) }
        }
    }
}

/// The leadership dashboard. Live updates run only for a period that is still open (no
/// `to`): a period that has ended does not change.
pub fn dashboard(
    lang: Lang,
    summary: &Summary,
    scorecard: &SkpdScorecard,
    trends: &Trends,
    filter: &FilterForm,
) -> Markup {
    let l = lang.labels();
    let frame = Frame {
        lang,
        nav: Nav::Dashboard,
        title: l.dashboard_title,
        switch_href: with_lang(&href(DASHBOARD_PATH, &filter.pairs()), lang.other()),
        carry: filter.pairs(),
    };
    let live = filter.to.is_none();
    layout(
        frame,
        html! {
            (filter_form(lang, DASHBOARD_PATH, filter, true))
            (period_line(lang, filter))
            @if live { p class="muted" { (l.live_hint) } }
            div id="live" { (dashboard_live(lang, summary, scorecard)) }
            (trend_section(lang, trends))
            (exports_section(lang, filter, true))
            @if live { script { (live_script(&live_url(lang, filter))) } }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Ranking.

/// The full SKPD ranking, worst follow-up compliance first.
pub fn ranking(lang: Lang, scorecard: &SkpdScorecard, filter: &FilterForm) -> Markup {
    let l = lang.labels();
    let frame = Frame {
        lang,
        nav: Nav::Ranking,
        title: l.ranking_title,
        switch_href: with_lang(&href(RANKING_PATH, &filter.pairs()), lang.other()),
        carry: filter.pairs(),
    };
    let rows = ranked(scorecard);
    layout(
        frame,
        html! {
            (filter_form(lang, RANKING_PATH, filter, false))
            (period_line(lang, filter))
            (as_of_line(lang, scorecard.as_of.as_ref()))
            section class="card" aria-labelledby="ranking-caption" {
                @if rows.is_empty() {
                    p class="muted" { (l.no_data) }
                } @else {
                    div class="scroll" role="region" aria-labelledby="ranking-caption" tabindex="0" {
                        table {
                            caption id="ranking-caption" class="sr-only" { (l.ranking_title) }
                            thead { tr {
                                th scope="col" class="num" { (l.col_rank) }
                                th scope="col" { (l.col_skpd) }
                                th scope="col" class="num" { (l.col_received) }
                                th scope="col" class="num" { (l.col_open) }
                                th scope="col" class="num" { (l.col_overdue) }
                                th scope="col" { (l.col_compliance) }
                                th scope="col" class="num" { (l.col_median_hours) }
                                th scope="col" class="num" { (l.col_escalations) }
                                th scope="col" class="num" { (l.col_reopened) }
                                th scope="col" class="num" { (l.col_rating) }
                            } }
                            tbody {
                                @for s in &rows {
                                    @let median = s.time_to_follow_up.as_ref().and_then(|d| d.median_hours);
                                    @let ratings = s.ratings.clone().unwrap_or_default();
                                    tr data-skpd=(s.skpd_code) {
                                        td class="num" { @if s.rank == 0 { (UNSET) } @else { (s.rank) } }
                                        th scope="row" {
                                            (skpd_name(s))
                                            @if !s.skpd_name.trim().is_empty() { br; span class="muted" { (s.skpd_code) } }
                                        }
                                        td class="num" { (labels::int(lang, s.received)) }
                                        td class="num" { (labels::int(lang, s.open)) }
                                        td class="num" { (labels::int(lang, s.overdue_open)) }
                                        td class="num" { (compliance_cell(lang, s.follow_up.as_ref())) }
                                        td class="num" {
                                            @match median { Some(h) if h.is_finite() => (labels::decimal(lang, h, 1)), _ => (UNSET) }
                                        }
                                        td class="num" { (labels::int(lang, s.escalations)) }
                                        td class="num" { (labels::int(lang, s.reopened)) }
                                        td class="num" {
                                            (labels::stars(lang, ratings.average))
                                            @if ratings.count > 0 { " (" (labels::int(lang, ratings.count)) ")" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (exports_section(lang, filter, false))
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Transparency.

/// The public transparency page: aggregates only. States go by their public labels (merged
/// where several share one), and SKPDs that have received nothing are left out.
pub fn transparency(lang: Lang, summary: &Summary, scorecard: &SkpdScorecard, trends: &Trends) -> Markup {
    let l = lang.labels();
    let frame = Frame {
        lang,
        nav: Nav::Public,
        title: l.transparency_title,
        switch_href: with_lang(TRANSPARENCY_PATH, lang.other()),
        carry: Vec::new(),
    };
    // Public labels in lifecycle order, counts merged per label.
    let mut public: BTreeMap<(usize, String), u64> = BTreeMap::new();
    let mut first_order: BTreeMap<String, usize> = BTreeMap::new();
    for s in &summary.by_state {
        let label = labels::public_state_label(lang, &s.state);
        let order = *first_order
            .entry(label.clone())
            .or_insert(labels::state_order(&s.state));
        let entry = public.entry((order, label)).or_insert(0);
        *entry = entry.saturating_add(s.count);
    }
    let states: Vec<(String, u64)> = public.into_iter().map(|((_, label), n)| (label, n)).collect();
    let closed: u64 = summary
        .by_state
        .iter()
        .filter(|s| s.state == "closed")
        .map(|s| s.count)
        .sum();
    let verification = summary.verification.unwrap_or_default();
    let follow_up = summary.follow_up.unwrap_or_default();
    let mut skpds: Vec<&SkpdScore> = scorecard.skpds.iter().filter(|s| s.received >= 1).collect();
    skpds.sort_by(|a, b| {
        skpd_name(a)
            .cmp(skpd_name(b))
            .then_with(|| a.skpd_code.cmp(&b.skpd_code))
    });

    layout(
        frame,
        html! {
            p { (l.transparency_intro) }
            (as_of_line(lang, summary.as_of.as_ref()))
            section aria-labelledby="headline" {
                h2 id="headline" class="sr-only" { (l.headline) }
                dl class="tiles" {
                    (tile(l.tile_total, "complaints_total", &labels::int(lang, summary.complaints_total),
                        &summary.complaints_total.to_string(), None))
                    (tile(&public_closed_label(lang), "closed", &labels::int(lang, closed), &closed.to_string(), None))
                    (tile(l.tile_verification, "verification_percent", &labels::percent(lang, verification.percent),
                        &raw(verification.percent), None))
                    (tile(l.tile_follow_up, "follow_up_percent", &labels::percent(lang, follow_up.percent),
                        &raw(follow_up.percent), None))
                }
            }
            (trend_section(lang, trends))
            div class="grid" {
                (section("by-state", l.by_state, count_table(lang, l.by_state, l.col_state, &states)))
                (section("by-category", l.by_category, count_table(lang, l.by_category, l.col_category,
                    &by_count(&summary.by_category, str::to_owned))))
                (section("by-kabupaten", l.by_kabupaten, count_table(lang, l.by_kabupaten, l.col_kabupaten,
                    &by_count(&summary.by_kabupaten, labels::kabupaten_label))))
            }
            section class="card" aria-labelledby="sla-per-skpd" {
                h2 id="sla-per-skpd" { (l.sla_per_skpd) }
                p class="muted" { (l.sla_per_skpd_note) }
                @if skpds.is_empty() {
                    p class="muted" { (l.no_data) }
                } @else {
                    div class="scroll" role="region" aria-labelledby="sla-per-skpd" tabindex="0" {
                        table {
                            caption class="sr-only" { (l.sla_per_skpd) }
                            thead { tr {
                                th scope="col" { (l.col_skpd) }
                                th scope="col" class="num" { (l.col_received) }
                                th scope="col" { (l.col_compliance) }
                            } }
                            tbody {
                                @for s in &skpds {
                                    tr {
                                        th scope="row" { (skpd_name(s)) }
                                        td class="num" { (labels::int(lang, s.received)) }
                                        td class="num" { (compliance_cell(lang, s.follow_up.as_ref())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn public_closed_label(lang: Lang) -> String {
    labels::public_state_label(lang, "closed")
}

// ---------------------------------------------------------------------------------------------
// Sign-in and errors.

/// The officer sign-in form: a bearer token posted as `token` to [`LOGIN_PATH`] (with
/// `lang=en` alongside on the English page).
pub fn login(lang: Lang, error: Option<&str>) -> Markup {
    let l = lang.labels();
    let frame = Frame {
        lang,
        nav: Nav::Bare,
        title: l.login_title,
        switch_href: with_lang(LOGIN_PATH, lang.other()),
        carry: Vec::new(),
    };
    layout(
        frame,
        html! {
            @if let Some(error) = error { p class="problem" role="alert" { (l.login_rejected) (error) } }
            form class="card" method="post" action=(LOGIN_PATH) {
                label for="token" { (l.login_token) }
                textarea id="token" name="token" rows="4" required autocomplete="off" spellcheck="false"
                    aria-describedby="token-hint" {}
                p id="token-hint" class="muted" { (l.login_hint) }
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button class="primary" type="submit" { (l.login_submit) }
            }
        },
    )
}

/// An error page: the status code and a message (escaped like every text).
pub fn error(lang: Lang, status: u16, message: &str) -> Markup {
    let l = lang.labels();
    let frame = Frame {
        lang,
        nav: Nav::Plain,
        title: l.error_title,
        switch_href: with_lang(DASHBOARD_PATH, lang.other()),
        carry: Vec::new(),
    };
    layout(
        frame,
        html! {
            p class="problem" role="alert" { (status) " — " (message) }
            p { a href=(link(lang, DASHBOARD_PATH, &[])) { (l.back_to_dashboard) } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::analytics::v1::{AgeBucket, Duration, Ratings, RisingCategory, StateCount, TrendPoint};

    const HOSTILE: &str = "<script>alert(1)</script>";
    const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn key(key: &str, count: u64) -> KeyCount {
        KeyCount {
            key: key.to_owned(),
            count,
        }
    }

    fn summary() -> Summary {
        let mut summary = Summary {
            complaints_total: 1234,
            open_backlog: 56,
            by_state: vec![
                StateCount {
                    state: "closed".into(),
                    count: 900,
                },
                StateCount {
                    state: "verified".into(),
                    count: 100,
                },
                StateCount {
                    state: "assigned".into(),
                    count: 200,
                },
                StateCount {
                    state: "submitted".into(),
                    count: 34,
                },
            ],
            by_channel: vec![key("web", 1000), key("sms", 234)],
            by_kind: vec![key("aduan", 1234)],
            by_category: vec![key("kesehatan", 10), key(HOSTILE, 5)],
            by_kabupaten: vec![key("6371", 700), key(HOSTILE, 1)],
            backlog_by_age: vec![
                AgeBucket {
                    label: "0-1d".into(),
                    count: 6,
                },
                AgeBucket {
                    label: "14d+".into(),
                    count: 50,
                },
            ],
            verification: Some(Compliance {
                on_time: 7,
                late: 1,
                overdue_open: 0,
                percent: Some(87.5),
            }),
            follow_up: Some(Compliance {
                on_time: 3,
                late: 0,
                overdue_open: 1,
                percent: Some(75.0),
            }),
            time_to_follow_up: Some(Duration {
                count: 4,
                median_hours: Some(30.5),
                p90_hours: Some(80.0),
            }),
            followed_up: 40,
            reopened: 3,
            reopen_rate: Some(0.075),
            ratings: Some(Ratings {
                count: 12,
                average: Some(4.25),
                by_stars: vec![0, 1, 1, 4, 6],
            }),
            rising_categories: vec![RisingCategory {
                category_code: "kesehatan".into(),
                this_week: 9,
                last_week: 2,
            }],
            as_of: ts(1_767_196_800),
            ..Default::default()
        };
        summary.escalations_by_level.insert("breach".into(), 4);
        summary.escalations_by_level.insert("reminder".into(), 11);
        summary
    }

    fn score(rank: u32, code: &str, name: &str, received: u64, percent: Option<f64>) -> SkpdScore {
        SkpdScore {
            skpd_code: code.to_owned(),
            skpd_name: name.to_owned(),
            received,
            open: 2,
            overdue_open: 1,
            follow_up: Some(Compliance {
                on_time: 1,
                late: 0,
                overdue_open: 1,
                percent,
            }),
            rank,
            ..Default::default()
        }
    }

    fn scorecard() -> SkpdScorecard {
        SkpdScorecard {
            skpds: vec![
                score(2, "DINKES", "Dinas Kesehatan", 10, Some(90.0)),
                score(1, "EVIL", HOSTILE, 3, Some(12.5)),
                score(3, "IDLE", "Dinas Yang Belum Menerima", 0, None),
            ],
            as_of: ts(1_767_196_800),
        }
    }

    fn trends() -> Trends {
        Trends {
            granularity: Granularity::Day as i32,
            points: vec![
                TrendPoint {
                    period_start: ts(1_767_196_800),
                    key: String::new(),
                    count: 3,
                },
                TrendPoint {
                    period_start: ts(1_767_283_200),
                    key: String::new(),
                    count: 0,
                },
            ],
            ..Default::default()
        }
    }

    fn filter() -> FilterForm {
        FilterForm {
            from: NaiveDate::from_ymd_opt(2026, 1, 1),
            to: NaiveDate::from_ymd_opt(2026, 1, 31),
            granularity: Granularity::Week,
        }
    }

    fn all_pages() -> Vec<String> {
        let (summary, card, trends) = (summary(), scorecard(), trends());
        let mut out = Vec::new();
        for lang in [Lang::Id, Lang::En] {
            out.push(dashboard(lang, &summary, &card, &trends, &filter()).into_string());
            out.push(dashboard(lang, &summary, &card, &trends, &FilterForm::default()).into_string());
            out.push(ranking(lang, &card, &filter()).into_string());
            out.push(transparency(lang, &summary, &card, &trends).into_string());
            out.push(login(lang, Some(HOSTILE)).into_string());
            out.push(error(lang, 500, HOSTILE).into_string());
        }
        out
    }

    #[test]
    fn hostile_labels_are_escaped_everywhere() {
        for page in all_pages() {
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(page.contains(ESCAPED), "{page}");
        }
        let live = dashboard_live(Lang::Id, &summary(), &scorecard()).into_string();
        assert!(!live.contains("<script") && live.contains(ESCAPED));
    }

    #[test]
    fn live_fragment_carries_the_headline_figures() {
        let id = dashboard_live(Lang::Id, &summary(), &scorecard()).into_string();
        for expected in [
            r#"data-figure="complaints_total" data-value="1234">1.234<"#,
            r#"data-figure="open_backlog" data-value="56">56<"#,
            r#"data-figure="verification_percent" data-value="87.5">87,5%<"#,
            r#"data-figure="follow_up_percent" data-value="75">75,0%<"#,
            r#"data-figure="median_follow_up_hours" data-value="30.5">30,5 jam<"#,
            r#"data-figure="reopen_rate" data-value="0.075">7,5%<"#,
            r#"data-figure="rating_average" data-value="4.25">4,2 / 5<"#,
        ] {
            assert!(id.contains(expected), "{expected} in {id}");
        }
        let en = dashboard_live(Lang::En, &summary(), &scorecard()).into_string();
        assert!(
            en.contains(r#"data-figure="complaints_total" data-value="1234">1,234<"#),
            "{en}"
        );
        assert!(
            en.contains(r#"data-figure="verification_percent" data-value="87.5">87.5%<"#),
            "{en}"
        );
        assert!(en.contains("3 of 40 followed up"));
        // The fragment is the content of #live, never a second #live.
        assert!(!id.contains(r#"id="live""#));
        let page = dashboard(Lang::Id, &summary(), &scorecard(), &trends(), &FilterForm::default()).into_string();
        assert!(page.contains(&format!(r#"<div id="live">{id}</div>"#)));
    }

    #[test]
    fn empty_figures_render_with_unset_marks() {
        let (summary, card, trends) = (Summary::default(), SkpdScorecard::default(), Trends::default());
        for lang in [Lang::Id, Lang::En] {
            let live = dashboard_live(lang, &summary, &card).into_string();
            assert!(
                live.contains(r#"data-figure="complaints_total" data-value="0">0<"#),
                "{live}"
            );
            assert!(
                live.contains(r#"data-figure="verification_percent" data-value="">–<"#),
                "{live}"
            );
            assert!(live.contains(r#"data-figure="follow_up_percent" data-value="">–<"#));
            assert!(live.contains(r#"data-figure="reopen_rate" data-value="">–<"#));
            let pages = [
                dashboard(lang, &summary, &card, &trends, &FilterForm::default()).into_string(),
                ranking(lang, &card, &FilterForm::default()).into_string(),
                transparency(lang, &summary, &card, &trends).into_string(),
            ];
            for page in pages {
                assert!(!page.contains("NaN") && !page.contains("inf"), "{page}");
                assert!(page.contains(lang.labels().no_data));
            }
        }
    }

    #[test]
    fn pages_declare_their_language_and_switch_keeping_the_query() {
        let (summary, card, trends) = (summary(), scorecard(), trends());
        let id = dashboard(Lang::Id, &summary, &card, &trends, &filter()).into_string();
        assert!(id.starts_with("<!DOCTYPE html><html lang=\"id\">"));
        assert!(id.contains(
            r#"href="/dashboard?from=2026-01-01&amp;to=2026-01-31&amp;granularity=week&amp;lang=en" lang="en" hreflang="en">English<"#
        ));
        let en = ranking(Lang::En, &card, &filter()).into_string();
        assert!(en.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(en.contains(
            r#"href="/dashboard/ranking?from=2026-01-01&amp;to=2026-01-31&amp;granularity=week&amp;lang=id""#
        ));
        // English pages keep English when moving on; the filter form sends it along.
        assert!(en.contains(r#"href="/dashboard?from=2026-01-01&amp;to=2026-01-31&amp;granularity=week&amp;lang=en""#));
        assert!(en.contains(r#"<input type="hidden" name="lang" value="en">"#));
        let public = transparency(Lang::Id, &summary, &card, &trends).into_string();
        assert!(public.contains(r#"href="/transparansi?lang=en""#));
        assert_eq!(
            with_lang("/dashboard?lang=id&from=2026-01-01", Lang::En),
            "/dashboard?from=2026-01-01&lang=en"
        );
        assert_eq!(with_lang("/transparansi", Lang::Id), "/transparansi?lang=id");
        assert_eq!(with_lang("/x?language=1&lang", Lang::En), "/x?language=1&lang=en");
    }

    #[test]
    fn live_updates_only_for_an_open_period() {
        let (summary, card, trends) = (summary(), scorecard(), trends());
        let open = FilterForm { to: None, ..filter() };
        let page = dashboard(Lang::En, &summary, &card, &trends, &open).into_string();
        assert!(
            page.contains(r#"new EventSource("/dashboard/live?from=2026-01-01&lang=en")"#),
            "{page}"
        );
        assert!(page.contains(r#"document.getElementById("live")"#) && page.contains("l.innerHTML=e.data"));
        assert!(
            page.contains(r#"s.onmessage=f;s.addEventListener("figures",f);"#),
            "{page}"
        );
        let closed = dashboard(Lang::En, &summary, &card, &trends, &filter()).into_string();
        assert!(!closed.contains("EventSource"));
        assert_eq!(live_url(Lang::Id, &FilterForm::default()), "/dashboard/live?lang=id");
        assert!(!live_script("</script><script>").into_string().contains("</script>"));
    }

    #[test]
    fn forms_label_every_control() {
        let page = dashboard(Lang::Id, &summary(), &scorecard(), &trends(), &filter()).into_string();
        for id in ["filter-from", "filter-to", "filter-granularity", "export-dimension"] {
            assert!(
                page.contains(&format!(r#"for="{id}""#)) && page.contains(&format!(r#"id="{id}""#)),
                "{id}"
            );
        }
        assert!(page.contains(r#"<input type="date" id="filter-from" name="from" value="2026-01-01">"#));
        assert!(
            page.contains(r#"<option value="week" selected>Minggu</option>"#),
            "{page}"
        );
        assert!(page.contains(r#"formaction="/dashboard/exports/trends.json""#));
        assert!(page.contains(r#"href="/dashboard/exports/scorecard.csv?from=2026-01-01&amp;to=2026-01-31""#));
        let login = login(Lang::Id, None).into_string();
        assert!(login.contains(r#"<form class="card" method="post" action="/dashboard/login">"#));
        assert!(login.contains(r#"<label for="token">"#) && login.contains(r#"id="token" name="token""#));
        assert!(!login.contains("role=\"alert\""));
    }

    #[test]
    fn ranking_lists_worst_first_with_every_column() {
        let page = ranking(Lang::Id, &scorecard(), &filter()).into_string();
        let evil = page.find(ESCAPED).expect("hostile row");
        let dinkes = page.find("Dinas Kesehatan").expect("dinkes row");
        assert!(evil < dinkes);
        assert!(page.contains("12,5%") && page.contains("90,0%"));
        assert!(page.contains(r#"<th scope="col" class="num">Peringkat</th>"#));
        assert!(page.contains("<caption"));
        assert!(page.contains(r#"role="region" aria-labelledby="ranking-caption" tabindex="0""#));
    }

    #[test]
    fn the_dashboard_shows_the_five_worst_skpds_and_breakdowns() {
        let many = SkpdScorecard {
            skpds: (1..=8)
                .rev()
                .map(|rank| score(rank, &format!("S{rank}"), &format!("SKPD nomor {rank}"), 5, Some(50.0)))
                .collect(),
            as_of: None,
        };
        let live = dashboard_live(Lang::Id, &summary(), &many).into_string();
        for rank in 1..=5 {
            assert!(live.contains(&format!("SKPD nomor {rank}<")), "{rank}");
        }
        assert!(!live.contains("SKPD nomor 6<"));
        assert!(live.contains(r#"href="/dashboard/ranking""#));
        // Words for codes, the lifecycle order, escalation ladder order.
        assert!(live.contains("Situs web") && live.contains("Kota Banjarmasin") && live.contains("&gt; 14 hari"));
        let reminder = live.find("Pengingat ke penghubung").expect("reminder");
        let breach = live.find("Lewat batas: kepala SKPD").expect("breach");
        assert!(reminder < breach);
        assert!(live.find("Baru masuk") < live.find("Selesai"));
    }

    #[test]
    fn the_public_page_shows_aggregates_only() {
        let page = transparency(Lang::Id, &summary(), &scorecard(), &trends()).into_string();
        // Verified and assigned share the public label "Belum Ditindaklanjuti": one row, 300.
        assert_eq!(page.matches("Belum Ditindaklanjuti").count(), 1);
        assert!(
            page.contains(r#"<th scope="row">Belum Ditindaklanjuti</th><td class="num">300</td>"#),
            "{page}"
        );
        assert!(page.contains(r#"data-figure="closed" data-value="900">900<"#));
        // SKPDs that received nothing stay off the public page; no officer navigation.
        assert!(page.contains("Dinas Kesehatan"));
        assert!(!page.contains("Dinas Yang Belum Menerima"));
        assert!(!page.contains("/dashboard/ranking") && !page.contains("EventSource"));
        let en = transparency(Lang::En, &summary(), &scorecard(), &trends()).into_string();
        assert!(en.contains("Not yet followed up") && en.contains("Completed"));
    }

    #[test]
    fn filter_query_is_forgiving() {
        let form = FilterForm::from_query(Some("2026-01-05"), Some("31/01/2026"), Some("MONTH"));
        assert_eq!(form.from, NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(form.to, None);
        assert_eq!(form.granularity, Granularity::Month);
        assert_eq!(
            FilterForm::from_query(Some(""), None, Some("fortnight")),
            FilterForm::default()
        );
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn errors_show_status_and_message() {
        let page = error(Lang::En, 404, "No such SKPD").into_string();
        assert!(page.contains("404 — No such SKPD") && page.contains("Cannot be shown"));
        assert!(page.contains(r#"href="/dashboard?lang=en""#));
    }
}
