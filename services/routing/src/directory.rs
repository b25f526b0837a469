//! The SKPD directory in routing's database, seeded from `deploy/seed`, and the SKPD work
//! queues declared from it (DESIGN §5).

use crate::entity::skpd;
use lapor_domain::Directory;
use lapor_messaging::{Broker, topology};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

/// Inserts seed SKPDs and updates their names; SKPDs added later through the API stay.
pub async fn seed_skpds(db: &DatabaseConnection, directory: &Directory) -> Result<(), DbErr> {
    let rows = directory.skpds.iter().map(|s| skpd::ActiveModel {
        code: Set(s.code.clone()),
        name: Set(s.name.clone()),
        verification_desk: Set(s.verification_desk),
        // Calendar settings keep the database defaults (5-day week, WITA) until an admin sets them.
        ..Default::default()
    });
    skpd::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(skpd::Column::Code)
                .update_columns([skpd::Column::Name, skpd::Column::VerificationDesk])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Declares `skpd.<code>` for every SKPD, so dispositions have somewhere to land even
/// before the notification service has started.
pub async fn declare_skpd_queues(broker: &Broker, db: &DatabaseConnection) -> anyhow::Result<()> {
    let channel = broker.channel().await?;
    for skpd in skpd::Entity::find().all(db).await? {
        topology::declare_skpd_queue(&channel, &skpd.code).await?;
    }
    let closing = channel.close(200, "declared".into());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closing).await;
    Ok(())
}
