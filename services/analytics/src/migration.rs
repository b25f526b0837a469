//! Analytics' read models, built only from events, plus the inbox (and an outbox, unused
//! until analytics publishes digests).

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            outbox_and_inbox(),
            Box::new(SqlMigration {
                name: "m20261127_000002_create_read_models",
                up: CREATE_READ_MODELS,
                down: "DROP TABLE counters; DROP TABLE complaint_facts;",
            }),
        ]
    }
}

const CREATE_READ_MODELS: &str = r#"
                -- One row per complaint, filled from whichever events arrive, in any order.
                CREATE TABLE complaint_facts (
                    complaint_id    uuid PRIMARY KEY,
                    tracking_id     text NOT NULL,
                    category_code   text,
                    kabupaten_code  text,
                    channel         text,
                    skpd_code       text,
                    state           text NOT NULL,
                    -- Routing's case version this row reflects; a late older event never moves a
                    -- case back. 0 = only the submission is known.
                    case_version    bigint NOT NULL,
                    rahasia         boolean NOT NULL DEFAULT false,
                    submitted_at    timestamptz,
                    assigned_at     timestamptz,
                    updated_at      timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX complaint_facts_by_skpd ON complaint_facts (skpd_code, state);

                CREATE TABLE counters (
                    name   text PRIMARY KEY,
                    value  bigint NOT NULL
                );
                "#;
