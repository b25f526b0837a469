//! Intake's schema: complaints as received, the reporter vault, plus outbox and inbox.

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox, outbox_history};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            outbox_and_inbox(),
            Box::new(SqlMigration {
                name: "m20261127_000002_create_complaints",
                up: CREATE_COMPLAINTS,
                down: "DROP TABLE complaints; DROP TABLE reporters;",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000003_add_expected_at",
                // When the current SLA stage is due, from routing's events (Open311 expected_datetime).
                up: "ALTER TABLE complaints ADD COLUMN expected_at timestamptz;",
                down: "ALTER TABLE complaints DROP COLUMN expected_at;",
            }),
            outbox_history(),
            Box::new(SqlMigration {
                name: "m20261128_000005_open311_place",
                up: OPEN311_PLACE,
                down: "DROP INDEX complaints_public_by_time; \
                       ALTER TABLE complaints DROP COLUMN latitude, DROP COLUMN longitude, DROP COLUMN media_url;",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000006_rated_at",
                // When the reporter's rating was taken: a case is rated once.
                up: "ALTER TABLE complaints ADD COLUMN rated_at timestamptz;",
                down: "ALTER TABLE complaints DROP COLUMN rated_at;",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000007_timeline",
                // Each state routing reported, for the status page's timeline: states and
                // times only, nothing the reporter or an officer wrote.
                up: "CREATE TABLE complaint_timeline (
                        complaint_id uuid NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
                        version      bigint NOT NULL,
                        state        text NOT NULL,
                        at           timestamptz NOT NULL,
                        PRIMARY KEY (complaint_id, version)
                    );",
                down: "DROP TABLE complaint_timeline;",
            }),
            Box::new(SqlMigration {
                name: "m20261204_000008_attachments",
                // What the reporter attached; the bytes are in the object store under
                // complaints/<complaint_id>/<id>.
                up: "CREATE TABLE attachments (
                        id           uuid PRIMARY KEY,
                        complaint_id uuid NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
                        position     smallint NOT NULL,
                        filename     text NOT NULL,
                        content_type text NOT NULL,
                        size_bytes   bigint NOT NULL,
                        sha256       text NOT NULL,
                        created_at   timestamptz NOT NULL,
                        UNIQUE (complaint_id, position)
                    );",
                down: "DROP TABLE attachments;",
            }),
            Box::new(SqlMigration {
                name: "m20261204_000009_merged_into",
                // The report a merged duplicate follows (its tracking id), from routing.
                up: "ALTER TABLE complaints ADD COLUMN merged_into text;",
                down: "ALTER TABLE complaints DROP COLUMN merged_into;",
            }),
            lapor_platform::directory_sync::copies_migration(),
        ]
    }
}

/// The point and photo link an Open311 client may send, and the public list's index
/// (`GET requests` reads non-rahasia reports newest first within a window).
const OPEN311_PLACE: &str = r#"
                ALTER TABLE complaints
                    ADD COLUMN latitude  double precision,
                    ADD COLUMN longitude double precision,
                    ADD COLUMN media_url text;
                CREATE INDEX complaints_public_by_time ON complaints (submitted_at DESC) WHERE NOT rahasia;
                "#;

const CREATE_COMPLAINTS: &str = r#"
                -- The PII vault: identity only as AEAD ciphertext; the id is the pseudonymous
                -- reporter reference that events carry.
                CREATE TABLE reporters (
                    id          uuid PRIMARY KEY,
                    key_id      text NOT NULL,
                    nonce       bytea NOT NULL,
                    ciphertext  bytea NOT NULL,
                    created_at  timestamptz NOT NULL DEFAULT now()
                );

                CREATE TABLE complaints (
                    id               uuid PRIMARY KEY,
                    tracking_id      text NOT NULL UNIQUE,
                    idempotency_key  text UNIQUE,
                    request_hash     text NOT NULL,
                    title            text NOT NULL,
                    body             text NOT NULL,
                    category_code    text NOT NULL,
                    kabupaten_code   text NOT NULL,
                    location         text NOT NULL,
                    kind             text NOT NULL,
                    channel          text NOT NULL,
                    anonim           boolean NOT NULL,
                    rahasia          boolean NOT NULL,
                    reporter_id      uuid REFERENCES reporters (id),
                    public_state     text NOT NULL,
                    skpd_name        text,
                    -- Version of routing's case this view reflects; older events are ignored.
                    case_version     bigint NOT NULL DEFAULT 0,
                    submitted_at     timestamptz NOT NULL DEFAULT now(),
                    updated_at       timestamptz NOT NULL DEFAULT now()
                );
                "#;
