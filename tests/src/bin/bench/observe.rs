//! What explains the figures: the services' own latency summaries from `/metrics`, and
//! PostgreSQL's counters (transactions per service database, WAL flushes) read before and
//! after a run. pg_stat_statements needs a server restart to load, so it is not used.

use crate::db;
use lapor_e2e::process_stack::{ProcessStack, SERVICES};
use sea_orm::DatabaseConnection;
use std::collections::BTreeMap;

/// One summary series of a service's `/metrics` (the exporter keeps quantiles over a
/// sliding window of about a minute; count and sum since start).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricSummary {
    pub service: String,
    pub metric: String,
    pub labels: String,
    pub count: f64,
    pub mean_ms: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// `name{labels} value`, split; `None` for comments and malformed lines.
fn parse_line(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, labels)) => Some((name, labels.trim_end_matches('}'), value)),
        None => Some((series, "", value)),
    }
}

/// Removes `quantile="…"` from a label list, so a series' quantiles, sum and count meet.
fn without_quantile(labels: &str) -> (String, Option<String>) {
    let mut quantile = None;
    let rest: Vec<&str> = labels
        .split(',')
        .filter(|label| match label.strip_prefix("quantile=") {
            Some(q) => {
                quantile = Some(q.trim_matches('"').to_owned());
                false
            }
            None => !label.is_empty(),
        })
        .collect();
    (rest.join(","), quantile)
}

#[derive(Default)]
struct Series {
    count: f64,
    sum: f64,
    quantiles: BTreeMap<String, f64>,
}

/// The summaries named in `metrics` from `service`'s `/metrics`; empty when unreachable
/// (an observation, not a measurement: its absence fails nothing).
pub async fn scrape(stack: &ProcessStack, service: &str, metrics: &[&str]) -> Vec<MetricSummary> {
    let url = format!("http://127.0.0.1:{}/metrics", stack.http_port(service));
    let Ok(text) = reqwest::get(&url).await.and_then(|r| r.error_for_status()) else {
        return Vec::new();
    };
    let text = text.text().await.unwrap_or_default();
    let mut series: BTreeMap<(String, String), Series> = BTreeMap::new();
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        let Some(metric) = metrics.iter().find(|m| name.starts_with(**m)) else {
            continue;
        };
        let (labels, quantile) = without_quantile(labels);
        let entry = series.entry(((*metric).to_owned(), labels)).or_default();
        match (name.strip_prefix(*metric), quantile) {
            (Some("_count"), _) => entry.count = value,
            (Some("_sum"), _) => entry.sum = value,
            (Some(""), Some(q)) => {
                entry.quantiles.insert(q, value);
            }
            _ => {}
        }
    }
    series
        .into_iter()
        .filter(|(_, s)| s.count > 0.0)
        .map(|((metric, labels), s)| MetricSummary {
            service: service.to_owned(),
            metric,
            labels,
            count: s.count,
            mean_ms: 1000.0 * s.sum / s.count,
            p50_ms: s.quantiles.get("0.5").map(|v| v * 1000.0),
            p99_ms: s.quantiles.get("0.99").map(|v| v * 1000.0),
        })
        .collect()
}

/// Consumer handling times of every service that consumes.
pub async fn consumers(stack: &ProcessStack) -> Vec<MetricSummary> {
    let mut all = Vec::new();
    for service in SERVICES {
        all.extend(scrape(stack, service, &["lapor_consumer_handle_seconds"]).await);
    }
    all
}

/// PostgreSQL's cumulative counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct PgCounters {
    /// Committed transactions per service database (`xact_commit`: read-only ones too).
    transactions: BTreeMap<String, i64>,
    wal_syncs: i64,
    wal_bytes: f64,
}

/// Per complaint between two readings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PgPerComplaint {
    /// Transactions per service database, read-only ones (polls, gauges) included.
    pub transactions: BTreeMap<String, f64>,
    /// WAL flushes (fsync) server-wide: group commit lets one flush cover several commits.
    pub wal_syncs: f64,
    pub wal_kib: f64,
}

pub async fn pg_counters(stack: &ProcessStack) -> anyhow::Result<PgCounters> {
    let admin = db::admin().await?;
    // Backends report their counters about once a second; give the last ones time.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut counters = PgCounters::default();
    for service in SERVICES {
        let transactions = db::int(
            &admin,
            &format!(
                "SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database WHERE datname = '{}_{service}'",
                stack.prefix
            ),
        )
        .await?;
        counters.transactions.insert(service.to_owned(), transactions);
    }
    counters.wal_syncs = db::int(&admin, "SELECT wal_sync::bigint FROM pg_stat_wal").await?;
    counters.wal_bytes = db::float(&admin, "SELECT wal_bytes::float8 FROM pg_stat_wal").await?;
    close(admin).await;
    Ok(counters)
}

async fn close(db: DatabaseConnection) {
    let _ = db.close().await;
}

pub fn per_complaint(before: &PgCounters, after: &PgCounters, complaints: u64) -> PgPerComplaint {
    let n = complaints.max(1) as f64;
    PgPerComplaint {
        transactions: after
            .transactions
            .iter()
            .map(|(service, c)| {
                let earlier = before.transactions.get(service).copied().unwrap_or(0);
                (service.clone(), (c - earlier) as f64 / n)
            })
            .collect(),
        wal_syncs: (after.wal_syncs - before.wal_syncs) as f64 / n,
        wal_kib: (after.wal_bytes - before.wal_bytes) / 1024.0 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_split_into_series_and_quantile() {
        let line =
            r#"lapor_consumer_handle_seconds{queue="routing.submissions",outcome="applied",quantile="0.99"} 0.012"#;
        let (name, labels, value) = parse_line(line).expect("parsed");
        assert_eq!(name, "lapor_consumer_handle_seconds");
        assert!((value - 0.012).abs() < 1e-12);
        let (rest, quantile) = without_quantile(labels);
        assert_eq!(rest, r#"queue="routing.submissions",outcome="applied""#);
        assert_eq!(quantile.as_deref(), Some("0.99"));
        assert_eq!(parse_line("# TYPE x summary"), None);
        assert_eq!(parse_line("up 1"), Some(("up", "", 1.0)));
    }
}
