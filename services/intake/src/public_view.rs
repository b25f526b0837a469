//! How far a complaint has come, as the public sees it: its own state, or — for a duplicate
//! the admin merged into another report — the state, deadline, SKPD and timeline of the
//! report it follows, so its reporter still sees the matter being handled.

use crate::entity::complaint;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Merges chain at most this deep (a parent merged in turn); deeper is shown as it stands.
const MAX_FOLLOW: usize = 4;

pub struct Progress {
    pub state: String,
    pub expected_at: Option<chrono::DateTime<chrono::Utc>>,
    pub skpd_name: Option<String>,
    /// Whose timeline to show.
    pub timeline_of: Uuid,
    /// The report followed, when merged.
    pub merged_into: Option<String>,
}

pub async fn progress(db: &DatabaseConnection, model: &complaint::Model) -> Result<Progress, DbErr> {
    let mut shown = Progress {
        state: model.public_state.clone(),
        expected_at: model.expected_at,
        skpd_name: model.skpd_name.clone(),
        timeline_of: model.id,
        merged_into: None,
    };
    let mut next = model.merged_into.clone();
    for _ in 0..MAX_FOLLOW {
        let Some(parent_id) = next.take() else { break };
        let Some(parent) = complaint::Entity::find()
            .filter(complaint::Column::TrackingId.eq(parent_id.as_str()))
            .one(db)
            .await?
        else {
            break;
        };
        // A rahasia report is shown to nobody but its own reporter: a duplicate merged into
        // one keeps showing its own state.
        if parent.rahasia {
            break;
        }
        shown = Progress {
            state: parent.public_state,
            expected_at: parent.expected_at,
            skpd_name: parent.skpd_name,
            timeline_of: parent.id,
            merged_into: Some(parent.tracking_id),
        };
        next = parent.merged_into;
    }
    Ok(shown)
}
