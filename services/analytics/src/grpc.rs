//! `lapor.analytics.v1.AnalyticsService`: leadership figures for admin, pimpinan and kepala.

use crate::feed::Feed;
use crate::figures::{self, Period, PeriodError, TrendError, TrendQuery};
use chrono::Utc;
use futures::{Stream, StreamExt};
use lapor_domain::reference::OfficerRole;
use lapor_platform::auth::Principal;
use lapor_platform::grpc::database_unavailable;
use lapor_proto::analytics::v1::analytics_service_server::AnalyticsService;
use lapor_proto::analytics::v1::{
    FeedUpdate, GetSkpdScorecardRequest, GetSummaryRequest, ListTrendsRequest, SkpdScorecard, StreamFeedRequest,
    Summary, Trends,
};
use sea_orm::DatabaseConnection;
use std::pin::Pin;
use std::time::Duration;
use tonic::{Request, Response, Status};

pub struct AnalyticsGrpc {
    pub db: DatabaseConnection,
    pub feed: Feed,
}

/// Leadership figures name every SKPD's performance: for the province's admins, its
/// leadership and the heads of SKPDs (who compare themselves with the others).
pub fn may_read_figures(principal: &Principal) -> bool {
    matches!(
        principal.role,
        OfficerRole::Admin | OfficerRole::Pimpinan | OfficerRole::Kepala
    )
}

fn authorize<T>(request: &Request<T>) -> Result<(), Status> {
    let principal = lapor_platform::auth::principal(request)?;
    if may_read_figures(&principal) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "analytics figures are for admin, pimpinan and kepala; you are {}",
            principal.role.as_str()
        )))
    }
}

fn bad_period(error: PeriodError) -> Status {
    Status::invalid_argument(format!("{}: {error}", error.field()))
}

fn bad_trend(error: TrendError) -> Status {
    Status::invalid_argument(error.to_string())
}

pub const MIN_FEED_INTERVAL_MS: u32 = 200;
pub const MAX_FEED_INTERVAL_MS: u32 = 60_000;

type FeedStream = Pin<Box<dyn Stream<Item = Result<FeedUpdate, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AnalyticsService for AnalyticsGrpc {
    #[tracing::instrument(name = "GetSummary", skip_all)]
    async fn get_summary(&self, request: Request<GetSummaryRequest>) -> Result<Response<Summary>, Status> {
        authorize(&request)?;
        let request = request.into_inner();
        let period = Period::from_proto(request.from.as_ref(), request.to.as_ref()).map_err(bad_period)?;
        figures::summary(&self.db, &period, Utc::now())
            .await
            .map(Response::new)
            .map_err(database_unavailable)
    }

    #[tracing::instrument(name = "GetSkpdScorecard", skip_all)]
    async fn get_skpd_scorecard(
        &self,
        request: Request<GetSkpdScorecardRequest>,
    ) -> Result<Response<SkpdScorecard>, Status> {
        authorize(&request)?;
        let request = request.into_inner();
        let period = Period::from_proto(request.from.as_ref(), request.to.as_ref()).map_err(bad_period)?;
        figures::scorecard(&self.db, &period, Utc::now())
            .await
            .map(Response::new)
            .map_err(database_unavailable)
    }

    #[tracing::instrument(name = "ListTrends", skip_all)]
    async fn list_trends(&self, request: Request<ListTrendsRequest>) -> Result<Response<Trends>, Status> {
        authorize(&request)?;
        let request = request.into_inner();
        let period = Period::from_proto(request.from.as_ref(), request.to.as_ref()).map_err(bad_period)?;
        let query = TrendQuery::new(request.dimension, request.granularity, period, Utc::now()).map_err(bad_trend)?;
        figures::trends(&self.db, &query)
            .await
            .map(Response::new)
            .map_err(database_unavailable)
    }

    type StreamFeedStream = FeedStream;

    #[tracing::instrument(name = "StreamFeed", skip_all)]
    async fn stream_feed(&self, request: Request<StreamFeedRequest>) -> Result<Response<FeedStream>, Status> {
        authorize(&request)?;
        let interval_ms = match request.into_inner().interval_ms {
            0 => 1000,
            ms @ MIN_FEED_INTERVAL_MS..=MAX_FEED_INTERVAL_MS => ms,
            other => {
                return Err(Status::invalid_argument(format!(
                    "interval_ms: {other} is outside {MIN_FEED_INTERVAL_MS}..={MAX_FEED_INTERVAL_MS}"
                )));
            }
        };
        let updates = self
            .feed
            .subscribe(Duration::from_millis(u64::from(interval_ms)))
            .map_err(|busy| Status::resource_exhausted(busy.to_string()))?
            .map(|update| {
                Ok(FeedUpdate {
                    summary: Some(update.figures.summary.clone()),
                    events: update.events,
                    dropped: update.dropped,
                })
            });
        Ok(Response::new(Box::pin(updates)))
    }
}
