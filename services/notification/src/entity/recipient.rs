use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recipients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub skpd_code: String,
    pub role: String,
    pub email: String,
    pub phone: String,
    /// The sub-unit the officer works in; `None` at SKPD level.
    pub sub_unit: Option<String>,
    /// `email`, `sms` or `both`.
    pub channels: String,
    /// `id` or `en`.
    pub lang: String,
    /// Quiet hours for non-urgent SMS, minutes after local midnight; `None` = service default.
    pub quiet_start: Option<i16>,
    pub quiet_end: Option<i16>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
