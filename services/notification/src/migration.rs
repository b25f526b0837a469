//! Notification's schema: recipients' contacts, deliveries, plus outbox and inbox.

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            outbox_and_inbox(),
            Box::new(SqlMigration {
                name: "m20261127_000002_create_recipients_and_deliveries",
                up: CREATE_DELIVERIES,
                down: "DROP TABLE deliveries; DROP TABLE recipients;",
            }),
        ]
    }
}

const CREATE_DELIVERIES: &str = r#"
                CREATE TABLE recipients (
                    id         text PRIMARY KEY,
                    name       text NOT NULL,
                    skpd_code  text NOT NULL,
                    role       text NOT NULL,
                    email      text NOT NULL,
                    phone      text NOT NULL
                );
                CREATE INDEX recipients_by_skpd ON recipients (skpd_code, role);

                -- One row per event × recipient × channel: the unique key is what makes a
                -- redelivered event produce no second message.
                CREATE TABLE deliveries (
                    id              uuid PRIMARY KEY,
                    event_id        uuid NOT NULL,
                    complaint_id    uuid NOT NULL,
                    recipient_id    text NOT NULL,
                    channel         text NOT NULL,
                    address         text NOT NULL,
                    tracking_id     text NOT NULL,
                    skpd_code       text NOT NULL,
                    subject         text NOT NULL,
                    body            text NOT NULL,
                    state           text NOT NULL,
                    attempts        integer NOT NULL DEFAULT 0,
                    last_error      text,
                    next_attempt_at timestamptz NOT NULL DEFAULT now(),
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    sent_at         timestamptz,
                    UNIQUE (event_id, recipient_id, channel)
                );
                CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'PENDING';
                CREATE INDEX deliveries_by_tracking_id ON deliveries (tracking_id);
                "#;
