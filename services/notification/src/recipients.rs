//! Recipients' contacts, seeded from the officers in `deploy/seed/officers.toml`.

use crate::entity::recipient;
use lapor_domain::Directory;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

pub async fn seed(db: &DatabaseConnection, directory: &Directory) -> Result<(), DbErr> {
    let rows = directory.officers.iter().map(|o| recipient::ActiveModel {
        id: Set(o.id.clone()),
        name: Set(o.name.clone()),
        skpd_code: Set(o.skpd.clone()),
        role: Set(o.role.as_str().to_owned()),
        email: Set(o.email.clone()),
        phone: Set(o.phone.clone()),
        sub_unit: Set(o.sub_unit.clone()),
        // Preferences are the person's own: set once, kept across re-seeding.
        ..Default::default()
    });
    recipient::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(recipient::Column::Id)
                .update_columns([
                    recipient::Column::Name,
                    recipient::Column::SkpdCode,
                    recipient::Column::Role,
                    recipient::Column::Email,
                    recipient::Column::Phone,
                    recipient::Column::SubUnit,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
