use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub complaint_id: Uuid,
    pub recipient_id: String,
    pub channel: String,
    pub address: String,
    pub tracking_id: String,
    pub skpd_code: String,
    pub kind: String,
    pub lang: String,
    pub context: Json,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_ids: Vec<String>,
    pub claim_id: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub next_attempt_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub retry_from: DateTimeUtc,
    pub fallback_for: Option<Uuid>,
    /// W3C trace context of the event that planned the delivery, so the send joins its trace.
    pub trace_headers: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
