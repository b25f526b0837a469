//! `lapor.routing.v1.RoutingService`.

use crate::entity::{case, skpd};
use lapor_domain::{CaseState, tracking_id};
use lapor_messaging::envelope::to_timestamp;
use lapor_platform::grpc::invalid_argument;
use lapor_proto::routing::v1::routing_service_server::RoutingService;
use lapor_proto::routing::v1::{Case, GetCaseRequest, ListInboxRequest, ListInboxResponse};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use tonic::{Request, Response, Status};

pub struct RoutingGrpc {
    pub db: DatabaseConnection,
}

fn unavailable(error: DbErr) -> Status {
    tracing::error!(%error, "database error");
    Status::unavailable("database unavailable, retry")
}

fn to_proto(model: case::Model, skpd_names: &HashMap<String, String>) -> Case {
    let state = CaseState::parse(&model.state);
    let skpd_code = model.skpd_code.unwrap_or_default();
    Case {
        complaint_id: model.complaint_id.to_string(),
        tracking_id: model.tracking_id,
        title: model.title,
        category_code: model.category_code,
        kabupaten_code: model.kabupaten_code,
        skpd_name: skpd_names.get(&skpd_code).cloned().unwrap_or_default(),
        skpd_code,
        state_label: state.map(|s| s.public_label().to_owned()).unwrap_or_default(),
        state: model.state,
        version: model.version,
        anonim: model.anonim,
        rahasia: model.rahasia,
        submitted_at: Some(to_timestamp(model.submitted_at)),
        updated_at: Some(to_timestamp(model.updated_at)),
    }
}

impl RoutingGrpc {
    async fn skpd_names(&self) -> Result<HashMap<String, String>, Status> {
        Ok(skpd::Entity::find()
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|s| (s.code, s.name))
            .collect())
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingGrpc {
    #[tracing::instrument(name = "GetCase", skip_all)]
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let raw = request.into_inner().tracking_id;
        let id = tracking_id::normalize(&raw)
            .ok_or_else(|| invalid_argument("tracking_id", "is not a LAPOR tracking id"))?;
        let found = case::Entity::find()
            .filter(case::Column::TrackingId.eq(id.as_str()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found(format!("no case with tracking id {id}")))?;
        Ok(Response::new(to_proto(found, &self.skpd_names().await?)))
    }

    #[tracing::instrument(name = "ListInbox", skip_all)]
    async fn list_inbox(&self, request: Request<ListInboxRequest>) -> Result<Response<ListInboxResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 50,
            n @ 1..=500 => n,
            _ => return Err(invalid_argument("limit", "must be between 1 and 500")),
        };
        let names = self.skpd_names().await?;
        if !names.contains_key(&request.skpd_code) {
            return Err(Status::not_found(format!("unknown skpd {:?}", request.skpd_code)));
        }
        let cases = case::Entity::find()
            .filter(case::Column::SkpdCode.eq(request.skpd_code.as_str()))
            .order_by_desc(case::Column::SubmittedAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(ListInboxResponse {
            cases: cases.into_iter().map(|c| to_proto(c, &names)).collect(),
        }))
    }
}
