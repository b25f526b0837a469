//! Hand-written SVG charts, no JavaScript: a line/area chart of a trend series and horizontal
//! bar charts. Each chart is an `<svg role="img">` with a `<title>` and an `aria-label` that
//! sums it up in words, followed by its figures as a table in a `<details>` element, which is
//! the text alternative for screen readers and for anyone who wants the exact numbers.
//!
//! Every label goes through maud, which escapes text and attribute values alike; SVG elements
//! are always written with a closing tag (`<rect …></rect>`), because inside HTML an
//! unclosed SVG element would swallow its siblings. Scales run from zero to a "nice" top
//! ([`nice_scale`]); an empty or all-zero series draws without dividing by zero.

use super::labels::{self, Lang};
use chrono::NaiveDate;
use lapor_proto::analytics::v1::{Granularity, Trends};
use maud::{Markup, html};

/// One point of a time series: a short label for the axis, a full one for tooltips and the
/// data table, and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub short: String,
    pub long: String,
    pub value: u64,
}

/// One bar: its label and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: u64) -> Self {
        Self {
            label: label.into(),
            value,
        }
    }
}

const INK: &str = "#8a1c1c";
const GRID: &str = "#d9dce1";
const MUTED: &str = "#555";

/// The top of the scale and the tick step for values up to `max`: steps of 1, 2 or 5 times a
/// power of ten, about four of them; the top is the first tick at or above `max`. A zero
/// maximum gives a scale of 0..1.
pub fn nice_scale(max: u64) -> (u64, u64) {
    let mut magnitude: u64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = magnitude.saturating_mul(factor);
            if step.saturating_mul(4) >= max {
                let top = max.div_ceil(step).saturating_mul(step).max(step);
                return (top, step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The ticks of a scale, 0 included, top included.
fn ticks(top: u64, step: u64) -> Vec<u64> {
    let mut out = vec![0];
    let mut tick = 0u64;
    while tick < top {
        tick = tick.saturating_add(step).min(top);
        out.push(tick);
    }
    out
}

/// A coordinate with one decimal, enough for a 640-wide view box.
fn c(x: f64) -> String {
    format!("{x:.1}")
}

/// `value` as a share of `top`, 0 when the top is 0.
fn fraction(value: u64, top: u64) -> f64 {
    if top == 0 {
        0.0
    } else {
        (value as f64 / top as f64).clamp(0.0, 1.0)
    }
}

/// A label cut to `max` characters with an ellipsis, for inside a chart; the full label is in
/// the element's `<title>` and in the data table.
fn clip(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut out: String = label.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The total series of a trend: counts summed per bucket, in the order the buckets come
/// (whatever the dimension, so a per-channel trend still draws as a total).
pub fn trend_points(lang: Lang, trends: &Trends) -> Vec<Point> {
    let granularity = Granularity::try_from(trends.granularity).unwrap_or(Granularity::Day);
    let mut buckets: Vec<(Option<NaiveDate>, i64, u64)> = Vec::new();
    for point in &trends.points {
        let seconds = point.period_start.as_ref().map_or(i64::MIN, |t| t.seconds);
        match buckets.iter_mut().find(|(_, s, _)| *s == seconds) {
            Some(bucket) => bucket.2 = bucket.2.saturating_add(point.count),
            None => buckets.push((labels::wita_date(point.period_start.as_ref()), seconds, point.count)),
        }
    }
    buckets
        .into_iter()
        .map(|(day, _, value)| match day {
            Some(day) => Point {
                short: labels::bucket_short(lang, day, granularity),
                long: labels::bucket_long(lang, day, granularity),
                value,
            },
            None => Point {
                short: labels::UNSET.to_owned(),
                long: labels::UNSET.to_owned(),
                value,
            },
        })
        .collect()
}

fn data_table(lang: Lang, title: &str, label_header: &str, rows: &[(&str, u64)]) -> Markup {
    let l = lang.labels();
    html! {
        details class="chart-data" {
            summary { (l.show_data) }
            table {
                caption { (title) }
                thead { tr { th scope="col" { (label_header) } th scope="col" class="num" { (l.col_count) } } }
                tbody {
                    @for (label, value) in rows {
                        tr { th scope="row" { (label) } td class="num" { (labels::int(lang, *value)) } }
                    }
                }
            }
        }
    }
}

/// A line chart with the area under it, of `points` in order, titled `title`.
pub fn line_chart(lang: Lang, title: &str, points: &[Point]) -> Markup {
    let l = lang.labels();
    if points.is_empty() {
        return html! { p class="muted" { (l.no_data) } };
    }
    const W: f64 = 640.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 28.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 36.0;
    let (plot_w, plot_h, base) = (W - LEFT - RIGHT, H - TOP - BOTTOM, H - BOTTOM);

    let max = points.iter().map(|p| p.value).max().unwrap_or(0);
    let sum = points.iter().fold(0u64, |acc, p| acc.saturating_add(p.value));
    let (top, step) = nice_scale(max);
    let x = |i: usize| {
        if points.len() == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |value: u64| base - plot_h * fraction(value, top);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{},{}", c(x(i)), c(y(p.value))))
        .collect();
    let area = format!(
        "M{},{} L{} L{},{} Z",
        c(x(0)),
        c(base),
        line.join(" L"),
        c(x(points.len() - 1)),
        c(base)
    );
    // About six axis labels, whatever the number of buckets.
    let every = points.len().div_ceil(6).max(1);
    let highest = points.iter().find(|p| p.value == max).map_or("", |p| p.long.as_str());
    let summary = format!(
        "{title}: {} {}, {} {} {} {highest}, {} {}",
        points.len(),
        l.chart_points,
        l.chart_highest,
        labels::int(lang, max),
        l.chart_on,
        l.chart_sum,
        labels::int(lang, sum),
    );
    let radius = if points.len() > 60 { "2" } else { "3.5" };
    let rows: Vec<(&str, u64)> = points.iter().map(|p| (p.long.as_str(), p.value)).collect();
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(summary) class="chart-svg"
                preserveAspectRatio="xMidYMid meet" {
                title { (summary) }
                @for tick in ticks(top, step) {
                    line x1=(c(LEFT)) x2=(c(W - RIGHT)) y1=(c(y(tick))) y2=(c(y(tick))) stroke=(GRID) stroke-width="1" {}
                    text x=(c(LEFT - 8.0)) y=(c(y(tick) + 4.0)) text-anchor="end" font-size="12" fill=(MUTED) {
                        (labels::int(lang, tick))
                    }
                }
                path d=(area) fill=(INK) fill-opacity="0.12" stroke="none" {}
                polyline points=(line.join(" ")) fill="none" stroke=(INK) stroke-width="2.5"
                    stroke-linejoin="round" stroke-linecap="round" {}
                @for (i, point) in points.iter().enumerate() {
                    circle cx=(c(x(i))) cy=(c(y(point.value))) r=(radius) fill=(INK) {
                        title { (point.long) ": " (labels::int(lang, point.value)) }
                    }
                    @if i % every == 0 {
                        text x=(c(x(i))) y=(c(H - 12.0)) text-anchor="middle" font-size="12" fill=(MUTED) {
                            (point.short)
                        }
                    }
                }
            }
            (data_table(lang, title, l.col_period, &rows))
        }
    }
}

/// A horizontal bar chart of `bars` in the order given, titled `title`; `label_header` heads
/// the label column of the data table.
pub fn bar_chart(lang: Lang, title: &str, label_header: &str, bars: &[Bar]) -> Markup {
    let l = lang.labels();
    if bars.is_empty() {
        return html! { p class="muted" { (l.no_data) } };
    }
    // Narrow on purpose: bar charts sit in one grid column, and a view box about as wide as
    // the column keeps the text near its real size.
    const W: f64 = 320.0;
    const LABEL_W: f64 = 112.0;
    const VALUE_W: f64 = 48.0;
    const ROW: f64 = 28.0;
    const TOP: f64 = 6.0;
    const AXIS: f64 = 24.0;
    let plot_w = W - LABEL_W - VALUE_W - 8.0;
    let height = TOP + ROW * bars.len() as f64 + AXIS;
    let plot_bottom = TOP + ROW * bars.len() as f64;

    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    let (top, step) = nice_scale(max);
    let x = |value: u64| LABEL_W + plot_w * fraction(value, top);
    let summary = format!(
        "{title}: {}",
        bars.iter()
            .map(|b| format!("{} {}", b.label, labels::int(lang, b.value)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let rows: Vec<(&str, u64)> = bars.iter().map(|b| (b.label.as_str(), b.value)).collect();
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (W) " " (c(height)) } role="img" aria-label=(summary) class="chart-svg bars"
                preserveAspectRatio="xMidYMid meet" {
                title { (summary) }
                @for tick in ticks(top, step) {
                    line x1=(c(x(tick))) x2=(c(x(tick))) y1=(c(TOP)) y2=(c(plot_bottom)) stroke=(GRID) stroke-width="1" {}
                    text x=(c(x(tick))) y=(c(height - 6.0)) text-anchor="middle" font-size="11" fill=(MUTED) {
                        (labels::int(lang, tick))
                    }
                }
                @for (i, bar) in bars.iter().enumerate() {
                    @let row_top = TOP + ROW * i as f64;
                    g {
                        title { (bar.label) ": " (labels::int(lang, bar.value)) }
                        text x=(c(LABEL_W - 8.0)) y=(c(row_top + ROW / 2.0 + 4.0)) text-anchor="end" font-size="12" fill="#1b1b1b" {
                            (clip(&bar.label, 17))
                        }
                        rect x=(c(LABEL_W)) y=(c(row_top + 5.0)) width=(c(x(bar.value) - LABEL_W)) height=(c(ROW - 10.0))
                            fill=(INK) rx="2" {}
                        text x=(c(x(bar.value) + 6.0)) y=(c(row_top + ROW / 2.0 + 4.0)) font-size="12" fill="#1b1b1b" {
                            (labels::int(lang, bar.value))
                        }
                    }
                }
            }
            (data_table(lang, title, label_header, &rows))
        }
    }
}

/// The colour a compliance percentage is drawn in: green from 90%, amber from 70%, red
/// below. The number always stands beside it, so colour is never the only cue.
pub fn compliance_colour(percent: Option<f64>) -> &'static str {
    match percent {
        Some(p) if p >= 90.0 => "#1e7b3a",
        Some(p) if p >= 70.0 => "#a86400",
        Some(_) => "#b42318",
        None => "#9aa0a6",
    }
}

/// A small inline bar of a 0–100 percentage, for table cells. Decorative (`aria-hidden`):
/// the cell shows the number as text next to it.
pub fn meter(percent: Option<f64>) -> Markup {
    let width = percent.filter(|p| p.is_finite()).map_or(0.0, |p| p.clamp(0.0, 100.0));
    html! {
        svg class="meter" viewBox="0 0 100 10" width="80" height="10" aria-hidden="true" focusable="false" {
            rect width="100" height="10" rx="2" fill="#eceff3" {}
            rect width=(c(width)) height="10" rx="2" fill=(compliance_colour(percent)) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::analytics::v1::{Dimension, TrendPoint};

    fn point(short: &str, value: u64) -> Point {
        Point {
            short: short.to_owned(),
            long: format!("{short} 2026"),
            value,
        }
    }

    #[test]
    fn scales_are_nice_and_never_zero() {
        assert_eq!(nice_scale(0), (1, 1));
        assert_eq!(nice_scale(1), (1, 1));
        assert_eq!(nice_scale(3), (3, 1));
        assert_eq!(nice_scale(7), (8, 2));
        assert_eq!(nice_scale(10), (10, 5));
        assert_eq!(nice_scale(1234), (1500, 500));
        let (top, step) = nice_scale(u64::MAX);
        assert!(top >= step && step > 0);
        assert_eq!(ticks(8, 2), vec![0, 2, 4, 6, 8]);
        assert_eq!(ticks(1, 1), vec![0, 1]);
    }

    #[test]
    fn an_all_zero_series_draws_flat_on_the_axis() {
        let points = [point("1 Jan", 0), point("2 Jan", 0), point("3 Jan", 0)];
        let svg = line_chart(Lang::Id, "Volume", &points).into_string();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(svg.contains(r#"role="img""#) && svg.contains("<title>"));
        // Every point sits on the base line (260 - 36).
        assert_eq!(svg.matches(r#"cy="224.0""#).count(), 3);
    }

    #[test]
    fn single_points_and_empty_series() {
        let one = line_chart(Lang::En, "Volume", &[point("1 Jan", 5)]).into_string();
        assert!(one.contains(r#"cx="338.0""#), "{one}");
        assert!(!one.contains("NaN"));
        assert!(
            line_chart(Lang::En, "Volume", &[])
                .into_string()
                .contains("No data yet.")
        );
        assert!(
            bar_chart(Lang::Id, "Umur", "Umur", &[])
                .into_string()
                .contains("Belum ada data.")
        );
        let zero = bar_chart(Lang::Id, "Umur", "Umur", &[Bar::new("0-1d", 0)]).into_string();
        assert!(zero.contains(r#"width="0.0""#) && !zero.contains("NaN"), "{zero}");
    }

    #[test]
    fn hostile_labels_are_escaped_in_text_and_attributes() {
        let hostile = r#"<script>alert(1)</script>" onload="x"#;
        let bars = bar_chart(Lang::Id, hostile, hostile, &[Bar::new(hostile, 3)]).into_string();
        let line = line_chart(Lang::Id, hostile, &[point(hostile, 2)]).into_string();
        for out in [bars, line] {
            assert!(!out.contains("<script>"), "{out}");
            assert!(!out.contains(r#"" onload=""#), "{out}");
            assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x"));
        }
    }

    #[test]
    fn svg_elements_are_closed_and_figures_tabled() {
        let out = bar_chart(
            Lang::En,
            "By age",
            "Age",
            &[Bar::new("< 1 day", 1234), Bar::new("1–3 days", 7)],
        )
        .into_string();
        assert!(!out.contains("<rect x") || out.contains("</rect>"));
        assert_eq!(out.matches("<rect").count(), out.matches("</rect>").count());
        assert_eq!(out.matches("<line").count(), out.matches("</line>").count());
        assert!(
            out.contains(r#"<th scope="row">&lt; 1 day</th><td class="num">1,234</td>"#),
            "{out}"
        );
        assert!(
            out.contains("aria-label=\"By age: &lt; 1 day 1,234; 1–3 days 7\""),
            "{out}"
        );
    }

    #[test]
    fn long_labels_are_clipped_in_the_chart_only() {
        let long = "Dinas Pekerjaan Umum dan Penataan Ruang Provinsi";
        let out = bar_chart(Lang::Id, "SKPD", "SKPD", &[Bar::new(long, 1)]).into_string();
        assert!(out.contains(&clip(long, 17)) && clip(long, 17).ends_with('…'));
        assert!(out.contains(&format!(r#"<th scope="row">{long}</th>"#)));
        assert_eq!(clip("short", 26), "short");
    }

    #[test]
    fn trend_points_sum_per_bucket_in_order() {
        let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let trends = Trends {
            dimension: Dimension::Channel as i32,
            granularity: Granularity::Day as i32,
            points: vec![
                TrendPoint {
                    period_start: at(1_767_196_800),
                    key: "web".into(),
                    count: 2,
                },
                TrendPoint {
                    period_start: at(1_767_196_800),
                    key: "sms".into(),
                    count: 3,
                },
                TrendPoint {
                    period_start: at(1_767_283_200),
                    key: "web".into(),
                    count: 1,
                },
            ],
            ..Default::default()
        };
        let points = trend_points(Lang::Id, &trends);
        // 2025-12-31 16:00 UTC is midnight of 1 January 2026 in WITA.
        assert_eq!(
            points,
            vec![
                Point {
                    short: "1 Jan".into(),
                    long: "1 Jan 2026".into(),
                    value: 5
                },
                Point {
                    short: "2 Jan".into(),
                    long: "2 Jan 2026".into(),
                    value: 1
                },
            ]
        );
    }

    #[test]
    fn meters_clamp() {
        assert!(meter(Some(150.0)).into_string().contains(r#"width="100.0""#));
        assert!(meter(None).into_string().contains(r#"width="0.0""#));
        assert!(
            meter(Some(55.5))
                .into_string()
                .contains(r##"width="55.5" height="10" rx="2" fill="#b42318""##)
        );
    }
}
