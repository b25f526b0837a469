//! `lapor.notification.v1.NotificationService`.

use crate::entity::{delivery, recipient};
use lapor_domain::tracking_id;
use lapor_messaging::envelope::to_timestamp;
use lapor_platform::grpc::invalid_argument;
use lapor_proto::notification::v1::notification_service_server::NotificationService;
use lapor_proto::notification::v1::{Delivery, ListDeliveriesRequest, ListDeliveriesResponse};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use tonic::{Request, Response, Status};

pub struct NotificationGrpc {
    pub db: DatabaseConnection,
}

/// Shows enough of an address to recognise it, not enough to harvest it.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local.chars().take(2).collect();
            format!("{shown}***@{domain}")
        }
        None => {
            let digits: Vec<char> = address.chars().collect();
            let tail: String = digits.iter().skip(digits.len().saturating_sub(3)).collect();
            format!("***{tail}")
        }
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    #[tracing::instrument(name = "ListDeliveries", skip_all)]
    async fn list_deliveries(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 50,
            n @ 1..=500 => n,
            _ => return Err(invalid_argument("limit", "must be between 1 and 500")),
        };
        let mut query = delivery::Entity::find();
        if !request.tracking_id.is_empty() {
            let id = tracking_id::normalize(&request.tracking_id)
                .ok_or_else(|| invalid_argument("tracking_id", "is not a LAPOR tracking id"))?;
            query = query.filter(delivery::Column::TrackingId.eq(id));
        }
        if !request.skpd_code.is_empty() {
            query = query.filter(delivery::Column::SkpdCode.eq(request.skpd_code.as_str()));
        }
        let unavailable = |e: sea_orm::DbErr| {
            tracing::error!(error = %e, "database error");
            Status::unavailable("database unavailable, retry")
        };
        let rows = query
            .order_by_desc(delivery::Column::CreatedAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let names: HashMap<String, String> = recipient::Entity::find()
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let deliveries = rows
            .into_iter()
            .map(|row| Delivery {
                delivery_id: row.id.to_string(),
                event_id: row.event_id.to_string(),
                tracking_id: row.tracking_id,
                skpd_code: row.skpd_code,
                recipient_name: names.get(&row.recipient_id).cloned().unwrap_or_default(),
                recipient_id: row.recipient_id,
                channel: row.channel,
                address: mask_address(&row.address),
                state: row.state,
                attempts: row.attempts.max(0) as u32,
                last_error: row.last_error.unwrap_or_default(),
                created_at: Some(to_timestamp(row.created_at)),
                sent_at: row.sent_at.map(to_timestamp),
            })
            .collect();
        Ok(Response::new(ListDeliveriesResponse { deliveries }))
    }
}

#[cfg(test)]
mod tests {
    use super::mask_address;

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_address("penghubung1@dinkes.example.id"), "pe***@dinkes.example.id");
        assert_eq!(mask_address("+6281200000001"), "***001");
    }
}
