//! Routing's schema: the SKPD directory and cases, plus outbox and inbox.

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            outbox_and_inbox(),
            Box::new(SqlMigration {
                name: "m20261127_000002_create_cases",
                up: CREATE_CASES,
                down: "DROP TABLE cases; DROP TABLE skpds;",
            }),
            Box::new(SqlMigration {
                name: "m20261127_000003_add_workflow_and_audit",
                up: ADD_WORKFLOW_AND_AUDIT,
                down: "DROP TABLE audit_log; DROP FUNCTION audit_log_is_append_only(); DROP TABLE case_texts; \
                 ALTER TABLE cases DROP COLUMN sub_unit, DROP COLUMN referred_to, DROP COLUMN archive_reason, \
                 DROP COLUMN duplicate_of, DROP COLUMN rated;",
            }),
        ]
    }
}

const CREATE_CASES: &str = r#"
                CREATE TABLE skpds (
                    code              text PRIMARY KEY,
                    name              text NOT NULL,
                    verification_desk boolean NOT NULL DEFAULT false
                );

                CREATE TABLE cases (
                    complaint_id    uuid PRIMARY KEY,
                    tracking_id     text NOT NULL UNIQUE,
                    title           text NOT NULL,
                    body            text NOT NULL,
                    category_code   text NOT NULL,
                    kabupaten_code  text NOT NULL,
                    location        text NOT NULL,
                    channel         text NOT NULL,
                    kind            text NOT NULL,
                    anonim          boolean NOT NULL,
                    rahasia         boolean NOT NULL,
                    reporter_ref    text NOT NULL,
                    skpd_code       text REFERENCES skpds (code),
                    state           text NOT NULL,
                    disposition_reason text NOT NULL DEFAULT '',
                    version         bigint NOT NULL DEFAULT 1,
                    submitted_at    timestamptz NOT NULL,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    updated_at      timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX cases_inbox ON cases (skpd_code, submitted_at DESC);
                "#;

const ADD_WORKFLOW_AND_AUDIT: &str = r#"
                ALTER TABLE cases
                    ADD COLUMN sub_unit       text,
                    ADD COLUMN referred_to    text,
                    ADD COLUMN archive_reason text,
                    ADD COLUMN duplicate_of   text,
                    ADD COLUMN rated          boolean NOT NULL DEFAULT false;
                CREATE INDEX cases_by_state ON cases (state, submitted_at);

                -- Officer and reporter text (follow-ups, questions, reasons): kept out of events.
                CREATE TABLE case_texts (
                    id            uuid PRIMARY KEY,
                    complaint_id  uuid NOT NULL REFERENCES cases (complaint_id),
                    action        text NOT NULL,
                    author        text NOT NULL,
                    body          text NOT NULL,
                    created_at    timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX case_texts_by_case ON case_texts (complaint_id, created_at);

                -- Append-only: who did what, when, with the state before and after.
                CREATE TABLE audit_log (
                    sequence      bigserial PRIMARY KEY,
                    complaint_id  uuid NOT NULL,
                    actor         text NOT NULL,
                    actor_role    text NOT NULL,
                    action        text NOT NULL,
                    state_before  text NOT NULL,
                    state_after   text NOT NULL,
                    before_json   jsonb NOT NULL,
                    after_json    jsonb NOT NULL,
                    version_after bigint NOT NULL,
                    at            timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX audit_log_by_case ON audit_log (complaint_id, sequence);
                CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'audit_log is append-only';
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER audit_log_no_update_or_delete
                    BEFORE UPDATE OR DELETE ON audit_log
                    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
                "#;
