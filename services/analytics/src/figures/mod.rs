//! The leadership figures, computed from the read models in one place for every output:
//! gRPC, the dashboard, the exports and the digest. Every function takes the instant the
//! figures are "as of", so ages and overdue counts are reproducible (the replay test
//! compares two databases at the same instant).

mod period;
mod scorecard;
mod summary;
mod trends;

pub use period::{Period, PeriodError, WITA, wita_midnight};
pub use scorecard::scorecard;
pub use summary::{rising_categories, summary};
pub use trends::{TrendError, TrendQuery, trends};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

/// A `complaint_facts` row that still waits for the government to act: not closed,
/// archived or referred elsewhere as not the province's authority, and not waiting for the
/// reporter's reply after a follow-up. A case an SKPD returned to the admin is in the same
/// state as a referred one but still waits for the admin (no `finished_at`).
pub const IS_OPEN: &str = "(state IN ('submitted', 'verified', 'assigned', 'in_progress', 'on_hold') \
     OR (state = 'rejected_not_authority' AND finished_at IS NULL))";

async fn rows(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await
}

fn count(row: &QueryResult, column: &str) -> Result<u64, DbErr> {
    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0).max(0) as u64)
}

fn percent(on_time: u64, late: u64, overdue: u64) -> Option<f64> {
    let measured = on_time + late + overdue;
    (measured > 0).then(|| on_time as f64 * 100.0 / measured as f64)
}
