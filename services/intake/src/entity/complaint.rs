use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tracking_id: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub kabupaten_code: String,
    pub location: String,
    pub kind: String,
    pub channel: String,
    pub anonim: bool,
    pub rahasia: bool,
    pub reporter_id: Option<Uuid>,
    pub public_state: String,
    pub skpd_name: Option<String>,
    pub case_version: i64,
    pub submitted_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub expected_at: Option<DateTimeUtc>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub media_url: Option<String>,
    pub rated_at: Option<DateTimeUtc>,
    /// Tracking id of the report this duplicate was merged into; its status follows that one.
    pub merged_into: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
