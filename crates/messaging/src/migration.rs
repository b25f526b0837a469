//! Migrations written as plain PostgreSQL, and the tables every service that publishes or
//! consumes needs: `outbox` and `inbox`. Services put [`outbox_and_inbox`] first in their
//! sea-orm `Migrator`.

use sea_orm_migration::prelude::*;

/// One migration as SQL text: the schema reads as the database will hold it.
pub struct SqlMigration {
    pub name: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.up).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.down).await?;
        Ok(())
    }
}

pub fn outbox_and_inbox() -> Box<dyn MigrationTrait> {
    Box::new(SqlMigration {
        name: "m20261127_000001_create_outbox_and_inbox",
        up: r#"
                CREATE TABLE outbox (
                    event_id        uuid PRIMARY KEY,
                    event_type      text NOT NULL,
                    exchange        text NOT NULL,
                    routing_key     text NOT NULL,
                    payload         bytea NOT NULL,
                    trace_headers   jsonb NOT NULL DEFAULT '{}'::jsonb,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    next_attempt_at timestamptz NOT NULL DEFAULT now(),
                    attempts        integer NOT NULL DEFAULT 0,
                    last_error      text,
                    published_at    timestamptz
                );
                -- The relay only ever scans unpublished rows.
                CREATE INDEX outbox_unpublished ON outbox (next_attempt_at, created_at)
                    WHERE published_at IS NULL;

                CREATE TABLE inbox (
                    consumer     text NOT NULL,
                    event_id     uuid NOT NULL,
                    processed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (consumer, event_id)
                );
                "#,
        down: "DROP TABLE inbox; DROP TABLE outbox;",
    })
}

/// When each published event was copied to the history stream (`lapor.events.history`).
/// Rows published before this column existed are copied too, so the history starts with
/// everything the outbox still holds.
pub fn outbox_history() -> Box<dyn MigrationTrait> {
    Box::new(SqlMigration {
        name: "m20261128_000100_outbox_history",
        up: r#"
                ALTER TABLE outbox ADD COLUMN history_at timestamptz;
                CREATE INDEX outbox_not_in_history ON outbox (created_at)
                    WHERE published_at IS NOT NULL AND history_at IS NULL;
                "#,
        down: "DROP INDEX outbox_not_in_history; ALTER TABLE outbox DROP COLUMN history_at;",
    })
}
