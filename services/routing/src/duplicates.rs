//! Duplicate suggestions for the verifier: cases of the same category and kabupaten/kota,
//! submitted within 30 days before the case, whose title and text are similar by trigram
//! similarity (pg_trgm). Merged duplicates are left out: they follow their parent already.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// Below this similarity two complaints are rarely about the same thing (tuned on the seed
/// examples: rewordings of one complaint score 0.35–0.8, unrelated ones under 0.2).
pub const MIN_SIMILARITY: f64 = 0.3;
pub const WINDOW_DAYS: i32 = 30;
pub const MAX_SUGGESTIONS: i64 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub tracking_id: String,
    pub title: String,
    pub state: String,
    pub similarity: f64,
    pub submitted_at: DateTime<Utc>,
}

pub async fn suggest(conn: &impl ConnectionTrait, complaint_id: Uuid) -> Result<Vec<Suggestion>, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT o.tracking_id, o.title, o.state, o.submitted_at, \
                    similarity(o.title || ' ' || o.body, c.title || ' ' || c.body)::float8 AS score \
             FROM cases c JOIN cases o \
               ON o.category_code = c.category_code AND o.kabupaten_code = c.kabupaten_code \
              AND o.complaint_id <> c.complaint_id \
              AND o.submitted_at BETWEEN c.submitted_at - make_interval(days => $2) AND c.submitted_at \
              AND o.state <> 'archived' \
             WHERE c.complaint_id = $1 \
               AND similarity(o.title || ' ' || o.body, c.title || ' ' || c.body) >= $3 \
             ORDER BY score DESC, o.submitted_at DESC LIMIT $4",
            [
                complaint_id.into(),
                WINDOW_DAYS.into(),
                MIN_SIMILARITY.into(),
                MAX_SUGGESTIONS.into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Suggestion {
                tracking_id: row.try_get("", "tracking_id")?,
                title: row.try_get("", "title")?,
                state: row.try_get("", "state")?,
                similarity: row.try_get("", "score")?,
                submitted_at: row.try_get("", "submitted_at")?,
            })
        })
        .collect()
}
