use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: Uuid,
    pub tracking_id: String,
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub kabupaten_code: String,
    pub location: String,
    pub channel: String,
    pub kind: String,
    pub anonim: bool,
    pub rahasia: bool,
    pub reporter_ref: String,
    pub skpd_code: Option<String>,
    pub state: String,
    pub disposition_reason: String,
    pub version: i64,
    pub submitted_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sub_unit: Option<String>,
    pub referred_to: Option<String>,
    pub archive_reason: Option<String>,
    pub duplicate_of: Option<String>,
    pub rated: bool,
    pub sla_stage: Option<String>,
    pub sla_started_at: Option<DateTimeUtc>,
    pub sla_working_days: Option<i32>,
    pub sla_due_at: Option<DateTimeUtc>,
    pub complexity_tier: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
