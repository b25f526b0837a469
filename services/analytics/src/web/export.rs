//! Export bodies: CSV (RFC 4180) and plain JSON of the figures, for spreadsheets and for
//! other systems.
//!
//! CSV is written by hand rather than with the `csv` crate: three small tables of known
//! columns need only quoting, and the injection guard below has to know which cells are
//! text anyway. Rows end in CRLF; a field is quoted when it holds a comma, a double quote, CR
//! or LF, with quotes doubled. Header names are stable snake_case English, like the JSON keys.
//!
//! CSV injection: a text cell starting with `=`, `+`, `-`, `@`, TAB or CR (or their
//! full-width forms, which some spreadsheets fold to ASCII) is prefixed with `'`, so a
//! spreadsheet shows it as text instead of running it as a formula (OWASP's advice). Only
//! text cells get the guard: numbers are ours and carry no formula. Timestamps and dates are
//! ISO 8601 (dates of trend buckets are WITA calendar dates; instants are UTC, RFC 3339).
//! Decimal figures are rounded to two places in CSV; JSON keeps them as they come and writes
//! an unset figure as `null`.

use super::labels::{self, dimension_param, granularity_param};
use chrono::SecondsFormat;
use lapor_proto::analytics::v1::{
    Compliance, Dimension, Duration, Granularity, Ratings, SkpdScore, SkpdScorecard, Summary, Trends,
};
use serde_json::{Value, json};

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// A text cell, guarded against formula injection and quoted when it needs to be.
fn text(value: &str) -> String {
    let guarded = if value.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    quote(&guarded)
}

/// RFC 4180 quoting: only when the field holds a comma, quote, CR or LF.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn decimal(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(String::new, |v| format!("{v:.2}"))
}

fn push_row(out: &mut String, cells: &[String]) {
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

fn header(out: &mut String, names: &[&str]) {
    push_row(out, &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>());
}

fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Value {
    labels::instant(ts).map_or(Value::Null, |at| json!(at.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

fn iso_date(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    labels::wita_date(ts).map(|d| d.format("%Y-%m-%d").to_string())
}

fn finite(value: Option<f64>) -> Value {
    value.filter(|v| v.is_finite()).map_or(Value::Null, |v| json!(v))
}

const SCORECARD_COLUMNS: [&str; 19] = [
    "rank",
    "skpd_code",
    "skpd_name",
    "received",
    "open",
    "overdue_open",
    "followed_up",
    "closed",
    "follow_up_on_time",
    "follow_up_late",
    "follow_up_overdue_open",
    "follow_up_percent",
    "followed_up_measured",
    "median_hours_to_follow_up",
    "p90_hours_to_follow_up",
    "escalations",
    "reopened",
    "ratings",
    "rating_average",
];

/// The SKPD scorecard, one row per SKPD in the order given (worst first as the API ranks).
pub fn scorecard_csv(scorecard: &SkpdScorecard) -> String {
    let mut out = String::new();
    header(&mut out, &SCORECARD_COLUMNS);
    for s in &scorecard.skpds {
        let follow_up = s.follow_up.unwrap_or_default();
        let duration = s.time_to_follow_up.unwrap_or_default();
        let ratings = s.ratings.clone().unwrap_or_default();
        push_row(
            &mut out,
            &[
                s.rank.to_string(),
                text(&s.skpd_code),
                text(&s.skpd_name),
                s.received.to_string(),
                s.open.to_string(),
                s.overdue_open.to_string(),
                s.followed_up.to_string(),
                s.closed.to_string(),
                follow_up.on_time.to_string(),
                follow_up.late.to_string(),
                follow_up.overdue_open.to_string(),
                decimal(follow_up.percent),
                duration.count.to_string(),
                decimal(duration.median_hours),
                decimal(duration.p90_hours),
                s.escalations.to_string(),
                s.reopened.to_string(),
                ratings.count.to_string(),
                decimal(ratings.average),
            ],
        );
    }
    out
}

/// A trend, one row per bucket and key: the bucket's first day (WITA, ISO date), the
/// dimension's value (empty for the total) and the count.
pub fn trends_csv(trends: &Trends) -> String {
    let mut out = String::new();
    header(&mut out, &["period_start", "key", "count"]);
    for point in &trends.points {
        push_row(
            &mut out,
            &[
                iso_date(point.period_start.as_ref()).unwrap_or_default(),
                text(&point.key),
                point.count.to_string(),
            ],
        );
    }
    out
}

fn compliance_json(c: Option<&Compliance>) -> Value {
    let c = c.copied().unwrap_or_default();
    json!({
        "on_time": c.on_time,
        "late": c.late,
        "overdue_open": c.overdue_open,
        "percent": finite(c.percent),
    })
}

fn duration_json(d: Option<&Duration>) -> Value {
    let d = d.copied().unwrap_or_default();
    json!({
        "count": d.count,
        "median_hours": finite(d.median_hours),
        "p90_hours": finite(d.p90_hours),
    })
}

fn ratings_json(r: Option<&Ratings>) -> Value {
    let r = r.cloned().unwrap_or_default();
    let by_stars: Vec<Value> = r
        .by_stars
        .iter()
        .enumerate()
        .map(|(i, count)| json!({ "stars": i + 1, "count": count }))
        .collect();
    json!({ "count": r.count, "average": finite(r.average), "by_stars": by_stars })
}

fn key_counts(name: &str, rows: &[lapor_proto::analytics::v1::KeyCount]) -> Value {
    Value::Array(rows.iter().map(|r| json!({ name: r.key, "count": r.count })).collect())
}

/// The summary as a plain JSON object; `percent` fields are on the 0–100 scale, `reopen_rate`
/// on 0–1, as in the API.
pub fn summary_json(summary: &Summary) -> Value {
    let escalations: serde_json::Map<String, Value> = summary
        .escalations_by_level
        .iter()
        .map(|(level, count)| (level.clone(), json!(count)))
        .collect();
    json!({
        "as_of": rfc3339(summary.as_of.as_ref()),
        "complaints_total": summary.complaints_total,
        "open_backlog": summary.open_backlog,
        "by_state": summary.by_state.iter().map(|s| json!({ "state": s.state, "count": s.count })).collect::<Vec<_>>(),
        "by_skpd": summary
            .by_skpd
            .iter()
            .map(|s| json!({ "skpd_code": s.skpd_code, "state": s.state, "count": s.count }))
            .collect::<Vec<_>>(),
        "by_channel": key_counts("channel", &summary.by_channel),
        "by_kind": key_counts("kind", &summary.by_kind),
        "by_category": key_counts("category_code", &summary.by_category),
        "by_kabupaten": key_counts("kabupaten_code", &summary.by_kabupaten),
        "backlog_by_age": summary
            .backlog_by_age
            .iter()
            .map(|b| json!({ "age": b.label, "count": b.count }))
            .collect::<Vec<_>>(),
        "escalations_by_level": escalations,
        "verification": compliance_json(summary.verification.as_ref()),
        "follow_up": compliance_json(summary.follow_up.as_ref()),
        "time_to_verify": duration_json(summary.time_to_verify.as_ref()),
        "time_to_follow_up": duration_json(summary.time_to_follow_up.as_ref()),
        "time_to_close": duration_json(summary.time_to_close.as_ref()),
        "followed_up": summary.followed_up,
        "reopened": summary.reopened,
        "reopen_rate": finite(summary.reopen_rate),
        "ratings": ratings_json(summary.ratings.as_ref()),
        "rising_categories": summary
            .rising_categories
            .iter()
            .map(|r| json!({ "category_code": r.category_code, "this_week": r.this_week, "last_week": r.last_week }))
            .collect::<Vec<_>>(),
        "notifications_sent": summary.notifications_sent,
        "events_consumed": summary.events_consumed,
    })
}

fn score_json(s: &SkpdScore) -> Value {
    json!({
        "rank": s.rank,
        "skpd_code": s.skpd_code,
        "skpd_name": s.skpd_name,
        "received": s.received,
        "open": s.open,
        "overdue_open": s.overdue_open,
        "followed_up": s.followed_up,
        "closed": s.closed,
        "follow_up": compliance_json(s.follow_up.as_ref()),
        "time_to_follow_up": duration_json(s.time_to_follow_up.as_ref()),
        "escalations": s.escalations,
        "reopened": s.reopened,
        "ratings": ratings_json(s.ratings.as_ref()),
    })
}

/// The scorecard as `{ "as_of": …, "skpds": [ … ] }`, in the order given.
pub fn scorecard_json(scorecard: &SkpdScorecard) -> Value {
    json!({
        "as_of": rfc3339(scorecard.as_of.as_ref()),
        "skpds": scorecard.skpds.iter().map(score_json).collect::<Vec<_>>(),
    })
}

/// A trend as `{ "dimension": "channel", "granularity": "week", "from", "to", "points": [
/// { "period_start": "2026-01-05", "key": "web", "count": 3 } ] }`.
pub fn trends_json(trends: &Trends) -> Value {
    let dimension = Dimension::try_from(trends.dimension).unwrap_or(Dimension::Unspecified);
    let granularity = Granularity::try_from(trends.granularity).unwrap_or(Granularity::Unspecified);
    json!({
        "dimension": dimension_param(dimension),
        "granularity": granularity_param(granularity),
        "from": rfc3339(trends.from.as_ref()),
        "to": rfc3339(trends.to.as_ref()),
        "points": trends
            .points
            .iter()
            .map(|p| json!({
                "period_start": iso_date(p.period_start.as_ref()),
                "key": p.key,
                "count": p.count,
            }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapor_proto::analytics::v1::{KeyCount, TrendPoint};

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn score(code: &str, name: &str) -> SkpdScore {
        SkpdScore {
            skpd_code: code.to_owned(),
            skpd_name: name.to_owned(),
            received: 10,
            open: 4,
            overdue_open: 1,
            follow_up: Some(Compliance {
                on_time: 7,
                late: 1,
                overdue_open: 1,
                percent: Some(77.777_777),
            }),
            time_to_follow_up: Some(Duration {
                count: 8,
                median_hours: Some(30.5),
                p90_hours: None,
            }),
            rank: 1,
            ..Default::default()
        }
    }

    /// A minimal RFC 4180 reader for the tests: rows of unquoted fields.
    fn parse(csv: &str) -> Vec<Vec<String>> {
        let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
        let mut chars = csv.chars().peekable();
        let mut quoted = false;
        while let Some(ch) = chars.next() {
            match (quoted, ch) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, other) => field.push(other),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, other) => field.push(other),
            }
        }
        assert!(field.is_empty() && row.is_empty(), "the last row ends in CRLF");
        rows
    }

    #[test]
    fn formula_cells_are_defused() {
        for (input, expected) in [
            (
                "=HYPERLINK(\"http://evil\",\"klik\")",
                "\"'=HYPERLINK(\"\"http://evil\"\",\"\"klik\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\tcmd", "'\tcmd"),
            ("\r=1", "\"'\r=1\""),
            ("＝1+1", "'＝1+1"),
            ("Dinas Kesehatan", "Dinas Kesehatan"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(text(input), expected, "{input:?}");
        }
    }

    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote("cr\rhere"), "\"cr\rhere\"");
    }

    #[test]
    fn scorecard_csv_round_trips_and_guards_names() {
        let card = SkpdScorecard {
            skpds: vec![
                score("DINKES", "Dinas \"Kesehatan\", Provinsi"),
                score("X", "=HYPERLINK(\"http://evil\")"),
                score("Y", "@SUM(1)"),
            ],
            as_of: ts(0),
        };
        let csv = scorecard_csv(&card);
        assert!(csv.ends_with("\r\n"));
        let rows = parse(&csv);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            SCORECARD_COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()
        );
        assert!(rows.iter().all(|r| r.len() == SCORECARD_COLUMNS.len()));
        assert_eq!(rows[1][2], "Dinas \"Kesehatan\", Provinsi");
        assert_eq!(rows[2][2], "'=HYPERLINK(\"http://evil\")");
        assert_eq!(rows[3][2], "'@SUM(1)");
        // Numbers stay numbers; decimals get two places; unset is empty.
        assert_eq!(&rows[1][3..6], &["10", "4", "1"]);
        assert_eq!(rows[1][11], "77.78");
        assert_eq!(rows[1][13], "30.50");
        assert_eq!(rows[1][14], "");
    }

    #[test]
    fn empty_exports_have_headers_only() {
        assert_eq!(parse(&scorecard_csv(&SkpdScorecard::default())).len(), 1);
        assert_eq!(trends_csv(&Trends::default()), "period_start,key,count\r\n");
        let summary = summary_json(&Summary::default());
        assert_eq!(summary["complaints_total"], 0);
        assert_eq!(summary["as_of"], Value::Null);
        assert_eq!(summary["follow_up"]["percent"], Value::Null);
        assert_eq!(summary["reopen_rate"], Value::Null);
        assert_eq!(summary["by_state"], json!([]));
        assert_eq!(scorecard_json(&SkpdScorecard::default())["skpds"], json!([]));
        assert_eq!(trends_json(&Trends::default())["dimension"], "unspecified");
    }

    #[test]
    fn trends_csv_writes_wita_dates_and_guards_keys() {
        let trends = Trends {
            dimension: Dimension::Skpd as i32,
            granularity: Granularity::Week as i32,
            from: ts(1_767_196_800),
            to: ts(1_767_801_600),
            points: vec![
                TrendPoint {
                    period_start: ts(1_767_196_800),
                    key: "DINKES".into(),
                    count: 3,
                },
                TrendPoint {
                    period_start: ts(1_767_196_800),
                    key: "-".into(),
                    count: 2,
                },
                TrendPoint {
                    period_start: ts(1_767_196_800),
                    key: "+62 812".into(),
                    count: 1,
                },
            ],
        };
        let rows = parse(&trends_csv(&trends));
        assert_eq!(rows[1], ["2026-01-01", "DINKES", "3"]);
        assert_eq!(rows[2], ["2026-01-01", "'-", "2"]);
        assert_eq!(rows[3], ["2026-01-01", "'+62 812", "1"]);
        let value = trends_json(&trends);
        assert_eq!(value["dimension"], "skpd");
        assert_eq!(value["granularity"], "week");
        assert_eq!(value["from"], "2025-12-31T16:00:00Z");
        // JSON is data, not a spreadsheet: keys as they are.
        assert_eq!(
            value["points"][1],
            json!({ "period_start": "2026-01-01", "key": "-", "count": 2 })
        );
    }

    #[test]
    fn summary_json_has_readable_keys() {
        let mut summary = Summary {
            complaints_total: 1234,
            open_backlog: 56,
            by_channel: vec![KeyCount {
                key: "web".into(),
                count: 7,
            }],
            verification: Some(Compliance {
                on_time: 7,
                late: 1,
                overdue_open: 0,
                percent: Some(87.5),
            }),
            reopen_rate: Some(0.125),
            ratings: Some(Ratings {
                count: 2,
                average: Some(4.5),
                by_stars: vec![0, 0, 0, 1, 1],
            }),
            as_of: ts(1_767_196_800),
            ..Default::default()
        };
        summary.escalations_by_level.insert("breach".into(), 2);
        let value = summary_json(&summary);
        assert_eq!(value["complaints_total"], 1234);
        assert_eq!(value["as_of"], "2025-12-31T16:00:00Z");
        assert_eq!(value["by_channel"], json!([{ "channel": "web", "count": 7 }]));
        assert_eq!(value["verification"]["percent"], 87.5);
        assert_eq!(value["reopen_rate"], 0.125);
        assert_eq!(value["escalations_by_level"], json!({ "breach": 2 }));
        assert_eq!(value["ratings"]["by_stars"][4], json!({ "stars": 5, "count": 1 }));
        let card = scorecard_json(&SkpdScorecard {
            skpds: vec![score("A", "<b>A</b>")],
            as_of: None,
        });
        assert_eq!(card["skpds"][0]["skpd_name"], "<b>A</b>");
        assert_eq!(card["skpds"][0]["time_to_follow_up"]["p90_hours"], Value::Null);
    }
}
