//! Recipients' contacts: the directory's officers (the seed's `officers.toml`, then what
//! admins change), with the preferences each person sets kept across changes.

use crate::entity::recipient;
use lapor_domain::Directory;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

/// Makes `recipients` the directory's officers: new ones added, changed ones updated,
/// removed ones deleted with their preferences (messages already planned for them still go
/// out: each delivery keeps its address).
pub async fn sync(db: &DatabaseConnection, directory: &Directory) -> Result<(), DbErr> {
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
    let ids: Vec<String> = directory.officers.iter().map(|o| o.id.clone()).collect();
    recipient::Entity::delete_many()
        .filter(recipient::Column::Id.is_not_in(ids))
        .exec(db)
        .await?;
    Ok(())
}
