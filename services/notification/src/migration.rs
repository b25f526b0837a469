//! Notification's schema: recipients' contacts, deliveries, plus outbox and inbox.

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox, outbox_history};
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
            Box::new(SqlMigration {
                name: "m20261128_000003_channels_preferences_and_delivery_states",
                up: CHANNELS_AND_STATES,
                down: "SELECT 1",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000004_recipient_sub_units",
                up: "ALTER TABLE recipients ADD COLUMN sub_unit text;",
                down: "ALTER TABLE recipients DROP COLUMN sub_unit;",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000005_delivery_trace_context",
                up: "ALTER TABLE deliveries ADD COLUMN trace_headers jsonb NOT NULL DEFAULT '{}'::jsonb",
                down: "ALTER TABLE deliveries DROP COLUMN trace_headers",
            }),
            outbox_history(),
            lapor_platform::directory_sync::copies_migration(),
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

/// SMS next to e-mail, per-person preferences, and the full delivery state machine:
/// PENDING → SENDING (leased to one worker) → SENT → DELIVERED, or FAILED. Messages are
/// rendered when sent from the stored kind, language and context, so a corrected template
/// applies to what is still waiting and an e-mail fallback can be rendered from an SMS row.
const CHANNELS_AND_STATES: &str = r#"
                ALTER TABLE recipients
                    ADD COLUMN channels    text NOT NULL DEFAULT 'both'
                        CHECK (channels IN ('email', 'sms', 'both')),
                    ADD COLUMN lang        text NOT NULL DEFAULT 'id' CHECK (lang IN ('id', 'en')),
                    -- Minutes after local midnight (WITA); NULL = the service's default.
                    ADD COLUMN quiet_start smallint CHECK (quiet_start BETWEEN 0 AND 1439),
                    ADD COLUMN quiet_end   smallint CHECK (quiet_end BETWEEN 0 AND 1439),
                    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();

                ALTER TABLE deliveries
                    ALTER COLUMN subject SET DEFAULT '',
                    ALTER COLUMN body SET DEFAULT '',
                    ADD COLUMN kind         text NOT NULL DEFAULT 'assigned',
                    ADD COLUMN lang         text NOT NULL DEFAULT 'id',
                    ADD COLUMN context      jsonb NOT NULL DEFAULT '{}'::jsonb,
                    ADD COLUMN html         text,
                    ADD COLUMN provider_ids text[] NOT NULL DEFAULT '{}',
                    -- The worker holding a SENDING row, and until when; an expired lease is a
                    -- worker that died mid-send: the row is sent again with the same
                    -- idempotency key.
                    ADD COLUMN claim_id     uuid,
                    ADD COLUMN lease_until  timestamptz,
                    ADD COLUMN delivered_at timestamptz,
                    -- Start of the current retry window: planning, or the last resend.
                    ADD COLUMN retry_from   timestamptz NOT NULL DEFAULT now(),
                    -- The SMS delivery this e-mail replaces after a permanent SMS failure.
                    ADD COLUMN fallback_for uuid REFERENCES deliveries (id),
                    ADD CONSTRAINT deliveries_state
                        CHECK (state IN ('PENDING', 'SENDING', 'SENT', 'DELIVERED', 'FAILED'));
                CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE state = 'SENDING';
                CREATE INDEX deliveries_by_provider_id ON deliveries USING gin (provider_ids);
                "#;
