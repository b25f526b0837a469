//! `lapor.notification.v1.NotificationService`: the delivery log, resends, people's
//! preferences and the dead letters of this service's queues. Every call carries an
//! officer's token (checked by the interceptor); what it may see or change is decided here.

use crate::entity::{delivery, recipient};
use crate::outbound::{DELIVERED, FAILED, PENDING, SENDING, SENT, STATES};
use crate::quiet_hours::QuietWindow;
use lapor_domain::reference::OfficerRole;
use lapor_domain::tracking_id;
use lapor_messaging::broker::Broker;
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::topology::skpd_queue;
use lapor_messaging::{dead_letters, publisher};
use lapor_platform::auth::{Principal, principal};
use lapor_platform::grpc::{database_unavailable as unavailable, invalid_argument};
use lapor_proto::notification::v1::notification_service_server::NotificationService;
use lapor_proto::notification::v1::{
    DeadLetter, Delivery, GetPreferencesRequest, ListDeadLettersRequest, ListDeadLettersResponse,
    ListDeliveriesRequest, ListDeliveriesResponse, Preferences, ReplayDeadLettersRequest, ReplayDeadLettersResponse,
    ResendDeliveryRequest,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct NotificationGrpc {
    pub db: DatabaseConnection,
    pub broker: Broker,
    /// Dead-letter calls accept only this service's queues: every SKPD's in the directory
    /// now (one added at run time too) and these.
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
    pub other_queues: Vec<String>,
    pub sender_wake: Arc<Notify>,
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

fn broker_unavailable(error: impl std::fmt::Display) -> Status {
    tracing::error!(%error, "broker error");
    Status::unavailable("message broker unavailable, retry")
}

fn is_provincial(principal: &Principal) -> bool {
    matches!(principal.role, OfficerRole::Admin | OfficerRole::Pimpinan)
}

fn require_admin(principal: &Principal) -> Result<(), Status> {
    if principal.role == OfficerRole::Admin {
        Ok(())
    } else {
        Err(Status::permission_denied("only the provincial admin may do this"))
    }
}

fn clock(minutes: Option<i16>) -> String {
    minutes.map_or_else(String::new, |m| format!("{:02}:{:02}", m / 60, m % 60))
}

fn preferences(row: &recipient::Model) -> Preferences {
    Preferences {
        recipient_id: row.id.clone(),
        channels: row.channels.clone(),
        lang: row.lang.clone(),
        quiet_start: clock(row.quiet_start),
        quiet_end: clock(row.quiet_end),
    }
}

fn to_message(row: delivery::Model, names: &HashMap<String, String>) -> Delivery {
    Delivery {
        delivery_id: row.id.to_string(),
        event_id: row.event_id.to_string(),
        tracking_id: row.tracking_id,
        skpd_code: row.skpd_code,
        recipient_name: names.get(&row.recipient_id).cloned().unwrap_or_default(),
        recipient_id: row.recipient_id,
        channel: row.channel,
        // A reporter's address is never stored: it is looked up when sending.
        address: if row.address.is_empty() {
            String::new()
        } else {
            mask_address(&row.address)
        },
        state: row.state,
        attempts: row.attempts.max(0) as u32,
        last_error: row.last_error.unwrap_or_default(),
        created_at: Some(to_timestamp(row.created_at)),
        sent_at: row.sent_at.map(to_timestamp),
        kind: row.kind,
        next_attempt_at: Some(to_timestamp(row.next_attempt_at)),
        delivered_at: row.delivered_at.map(to_timestamp),
        fallback_for: row.fallback_for.map(|id| id.to_string()).unwrap_or_default(),
    }
}

impl NotificationGrpc {
    async fn names(&self) -> Result<HashMap<String, String>, Status> {
        Ok(recipient::Entity::find()
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect())
    }

    fn queues(&self) -> Vec<String> {
        let directory = self.directory.get();
        let skpds = directory.skpds.iter().map(|skpd| skpd_queue(&skpd.code));
        skpds.chain(self.other_queues.iter().cloned()).collect()
    }

    fn check_queue(&self, queue: &str) -> Result<Vec<String>, Status> {
        let queues = self.queues();
        if queue.is_empty() {
            return Ok(queues);
        }
        if queues.iter().any(|q| q == queue) {
            Ok(vec![queue.to_owned()])
        } else {
            Err(invalid_argument("queue", "is not a queue of the notification service"))
        }
    }

    async fn recipient(&self, id: &str, caller: &Principal) -> Result<recipient::Model, Status> {
        if id.trim().is_empty() {
            return Err(invalid_argument("recipient_id", "is required"));
        }
        if caller.role != OfficerRole::Admin && caller.subject != id {
            return Err(Status::permission_denied(
                "officers may manage only their own preferences",
            ));
        }
        recipient::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found(format!("no recipient {id:?}")))
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    #[tracing::instrument(name = "ListDeliveries", skip_all)]
    async fn list_deliveries(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let caller = principal(&request)?;
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
        let skpd = if is_provincial(&caller) {
            request.skpd_code.clone()
        } else {
            let own = caller.skpd.clone().unwrap_or_default();
            if !request.skpd_code.is_empty() && request.skpd_code != own {
                return Err(Status::permission_denied(
                    "officers see only their own SKPD's deliveries",
                ));
            }
            own
        };
        if !skpd.is_empty() {
            query = query.filter(delivery::Column::SkpdCode.eq(skpd));
        }
        if !request.state.is_empty() {
            if !STATES.contains(&request.state.as_str()) {
                return Err(invalid_argument(
                    "state",
                    "must be PENDING, SENDING, SENT, DELIVERED or FAILED",
                ));
            }
            query = query.filter(delivery::Column::State.eq(request.state.as_str()));
        }
        let rows = query
            .order_by_desc(delivery::Column::CreatedAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let names = self.names().await?;
        let deliveries = rows.into_iter().map(|row| to_message(row, &names)).collect();
        Ok(Response::new(ListDeliveriesResponse { deliveries }))
    }

    #[tracing::instrument(name = "ResendDelivery", skip_all)]
    async fn resend_delivery(&self, request: Request<ResendDeliveryRequest>) -> Result<Response<Delivery>, Status> {
        let caller = principal(&request)?;
        let id = Uuid::parse_str(request.get_ref().delivery_id.trim())
            .map_err(|_| invalid_argument("delivery_id", "is not a delivery id"))?;
        let row = delivery::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("no such delivery"))?;
        let allowed = caller.role == OfficerRole::Admin
            || (matches!(caller.role, OfficerRole::Koordinator | OfficerRole::Kepala)
                && caller.skpd.as_deref() == Some(row.skpd_code.as_str()));
        if !allowed {
            return Err(Status::permission_denied(
                "only the admin or the SKPD's koordinator or kepala may resend",
            ));
        }
        // An SMS whose e-mail fallback went out has reached the person already.
        let replaced = delivery::Entity::find()
            .filter(delivery::Column::FallbackFor.eq(id))
            .filter(delivery::Column::State.is_in([SENDING, SENT, DELIVERED]))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        if let Some(fallback) = replaced {
            return Err(Status::failed_precondition(format!(
                "its e-mail fallback {} was sent already",
                fallback.id
            )));
        }
        // An officer's address is taken afresh, so a corrected e-mail or phone is used; a
        // reporter's stays empty and is looked up when sent.
        let address = match recipient::Entity::find_by_id(row.recipient_id.clone())
            .one(&self.db)
            .await
            .map_err(unavailable)?
        {
            Some(person) if row.channel == crate::channels::EMAIL => person.email,
            Some(person) => person.phone,
            None => row.address.clone(),
        };
        // Only a FAILED row goes back to PENDING, and only once per call: the guarded
        // update makes two concurrent resends one.
        let updated = delivery::Entity::update_many()
            .col_expr(delivery::Column::Address, Expr::value(address))
            .filter(delivery::Column::Id.eq(id))
            .filter(delivery::Column::State.eq(FAILED))
            .col_expr(delivery::Column::State, Expr::value(PENDING))
            .col_expr(delivery::Column::Attempts, Expr::value(0))
            .col_expr(delivery::Column::ProviderIds, Expr::cust("'{}'::text[]"))
            .col_expr(delivery::Column::DeliveredAt, Expr::cust("NULL"))
            // The retry window starts again from the resend.
            .col_expr(delivery::Column::RetryFrom, Expr::cust("now()"))
            .col_expr(delivery::Column::NextAttemptAt, Expr::cust("now()"))
            .col_expr(
                delivery::Column::LastError,
                Expr::value(format!("resent by {}", caller.subject)),
            )
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if updated.rows_affected != 1 {
            return Err(Status::failed_precondition(format!(
                "delivery is {}; only a FAILED delivery can be resent",
                row.state
            )));
        }
        tracing::info!(delivery = %id, by = %caller.subject, "delivery resent");
        self.sender_wake.notify_one();
        let row = delivery::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("no such delivery"))?;
        Ok(Response::new(to_message(row, &self.names().await?)))
    }

    #[tracing::instrument(name = "GetPreferences", skip_all)]
    async fn get_preferences(&self, request: Request<GetPreferencesRequest>) -> Result<Response<Preferences>, Status> {
        let caller = principal(&request)?;
        let row = self.recipient(&request.get_ref().recipient_id, &caller).await?;
        Ok(Response::new(preferences(&row)))
    }

    #[tracing::instrument(name = "SetPreferences", skip_all)]
    async fn set_preferences(&self, request: Request<Preferences>) -> Result<Response<Preferences>, Status> {
        let caller = principal(&request)?;
        let wanted = request.into_inner();
        let row = self.recipient(&wanted.recipient_id, &caller).await?;
        if !["email", "sms", "both"].contains(&wanted.channels.as_str()) {
            return Err(invalid_argument("channels", "must be email, sms or both"));
        }
        if !["id", "en"].contains(&wanted.lang.as_str()) {
            return Err(invalid_argument("lang", "must be id or en"));
        }
        let quiet = match (wanted.quiet_start.trim(), wanted.quiet_end.trim()) {
            ("", "") => None,
            (start, end) => Some(
                QuietWindow::parse(start, end)
                    .map_err(|e| invalid_argument("quiet_start", &format!("{e}; use HH:MM")))?,
            ),
        };
        if wanted.channels == "sms" && row.phone.trim().is_empty() {
            return Err(Status::failed_precondition("this person has no phone number for SMS"));
        }
        let mut active = row.into_active_model();
        active.channels = Set(wanted.channels);
        active.lang = Set(wanted.lang);
        active.quiet_start = Set(quiet.map(|q| q.start as i16));
        active.quiet_end = Set(quiet.map(|q| q.end as i16));
        active.updated_at = Set(chrono::Utc::now());
        let saved = active.update(&self.db).await.map_err(unavailable)?;
        tracing::info!(recipient = %saved.id, by = %caller.subject, "preferences changed");
        Ok(Response::new(preferences(&saved)))
    }

    #[tracing::instrument(name = "ListDeadLetters", skip_all)]
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        require_admin(&principal(&request)?)?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 50,
            n @ 1..=200 => n as usize,
            _ => return Err(invalid_argument("limit", "must be between 1 and 200")),
        };
        let queues = self.check_queue(&request.queue)?;
        let channel = self.broker.channel().await.map_err(broker_unavailable)?;
        let mut dead_letters = Vec::new();
        for queue in queues {
            if dead_letters.len() >= limit {
                break;
            }
            let found = dead_letters::list(&channel, &queue, limit - dead_letters.len())
                .await
                .map_err(broker_unavailable)?;
            dead_letters.extend(found.into_iter().map(|d| DeadLetter {
                queue: d.queue,
                event_id: d.event_id,
                event_type: d.event_type,
                tracking_id: d.tracking_id,
                reason: d.reason,
                deliveries: d.deliveries,
                body_bytes: u32::try_from(d.body_bytes).unwrap_or(u32::MAX),
            }));
        }
        let _ = channel.close(200, "done".into()).await;
        Ok(Response::new(ListDeadLettersResponse { dead_letters }))
    }

    #[tracing::instrument(name = "ReplayDeadLetters", skip_all)]
    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let caller = principal(&request)?;
        require_admin(&caller)?;
        let request = request.into_inner();
        if request.queue.is_empty() {
            return Err(invalid_argument("queue", "is required: name the queue to replay"));
        }
        let queue = self.check_queue(&request.queue)?.remove(0);
        let channel = self.broker.channel().await.map_err(broker_unavailable)?;
        publisher::enable_confirms(&channel).await.map_err(broker_unavailable)?;
        let replayed = dead_letters::replay(&channel, &queue, &request.event_ids)
            .await
            .map_err(broker_unavailable)?;
        let _ = channel.close(200, "done".into()).await;
        tracing::info!(%queue, replayed, by = %caller.subject, "dead letters replayed");
        Ok(Response::new(ReplayDeadLettersResponse { replayed }))
    }
}

#[cfg(test)]
mod tests {
    use super::{clock, mask_address};

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_address("penghubung1@dinkes.example.id"), "pe***@dinkes.example.id");
        assert_eq!(mask_address("+6281200000001"), "***001");
    }

    #[test]
    fn clocks() {
        assert_eq!(clock(Some(21 * 60)), "21:00");
        assert_eq!(clock(Some(6 * 60 + 5)), "06:05");
        assert_eq!(clock(None), "");
    }
}
