//! `lapor.analytics.v1.AnalyticsService`.

use crate::projection::{ESCALATIONS_PREFIX, EVENTS_CONSUMED, NOTIFICATIONS_SENT};
use lapor_proto::analytics::v1::analytics_service_server::AnalyticsService;
use lapor_proto::analytics::v1::{GetSummaryRequest, SkpdCount, StateCount, Summary};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tonic::{Request, Response, Status};

pub struct AnalyticsGrpc {
    pub db: DatabaseConnection,
}

async fn counter(db: &DatabaseConnection, name: &str) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT value FROM counters WHERE name = $1",
            [name.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "value")?.max(0) as u64,
        None => 0,
    })
}

pub async fn summary(db: &DatabaseConnection) -> Result<Summary, DbErr> {
    let by_state_rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT state, count(*) AS n FROM complaint_facts GROUP BY state ORDER BY state",
        ))
        .await?;
    let mut by_state = Vec::new();
    let mut total = 0u64;
    for row in by_state_rows {
        let count = row.try_get::<i64>("", "n")?.max(0) as u64;
        total += count;
        by_state.push(StateCount {
            state: row.try_get("", "state")?,
            count,
        });
    }
    let by_skpd_rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT skpd_code, state, count(*) AS n FROM complaint_facts WHERE skpd_code IS NOT NULL \
             GROUP BY skpd_code, state ORDER BY skpd_code, state",
        ))
        .await?;
    let mut by_skpd = Vec::new();
    for row in by_skpd_rows {
        by_skpd.push(SkpdCount {
            skpd_code: row.try_get("", "skpd_code")?,
            state: row.try_get("", "state")?,
            count: row.try_get::<i64>("", "n")?.max(0) as u64,
        });
    }
    let escalations_by_level = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT substr(name, length($1) + 1) AS level, value FROM counters WHERE starts_with(name, $1)",
            [ESCALATIONS_PREFIX.into()],
        ))
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "level")?,
                row.try_get::<i64>("", "value")?.max(0) as u64,
            ))
        })
        .collect::<Result<_, DbErr>>()?;
    Ok(Summary {
        escalations_by_level,
        complaints_total: total,
        by_state,
        by_skpd,
        notifications_sent: counter(db, NOTIFICATIONS_SENT).await?,
        events_consumed: counter(db, EVENTS_CONSUMED).await?,
    })
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsGrpc {
    #[tracing::instrument(name = "GetSummary", skip_all)]
    async fn get_summary(&self, _request: Request<GetSummaryRequest>) -> Result<Response<Summary>, Status> {
        summary(&self.db)
            .await
            .map(Response::new)
            .map_err(lapor_platform::grpc::database_unavailable)
    }
}
