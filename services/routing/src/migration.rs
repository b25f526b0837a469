//! Routing's schema: the SKPD directory and cases, plus outbox and inbox.

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox, outbox_history};
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
            Box::new(SqlMigration {
                name: "m20261128_000004_add_sla_calendar_and_deadlines",
                up: ADD_SLA_CALENDAR_AND_DEADLINES,
                down: "DROP TABLE deadlines; DROP TABLE policy_audit; DROP TABLE sla_tiers; DROP TABLE sla_rules; \
                 DROP TABLE calendar_settings; DROP TABLE holidays; \
                 ALTER TABLE cases DROP COLUMN sla_stage, DROP COLUMN sla_started_at, DROP COLUMN sla_working_days, \
                 DROP COLUMN sla_due_at, DROP COLUMN complexity_tier; \
                 ALTER TABLE skpds DROP COLUMN work_days_per_week, DROP COLUMN zone, DROP COLUMN kabupaten_code;",
            }),
            Box::new(SqlMigration {
                name: "m20261128_000005_add_duplicate_search",
                up: ADD_DUPLICATE_SEARCH,
                down: "DROP INDEX cases_text_trgm; DROP INDEX cases_duplicate_scope;",
            }),
            outbox_history(),
            Box::new(SqlMigration {
                name: "m20261204_000007_case_attachments",
                // The files a reporter attached, as intake described them in
                // complaint.submitted; the bytes stay with intake.
                up: "CREATE TABLE case_attachments (
                        id           uuid PRIMARY KEY,
                        complaint_id uuid NOT NULL REFERENCES cases (complaint_id),
                        position     smallint NOT NULL,
                        filename     text NOT NULL,
                        content_type text NOT NULL,
                        size_bytes   bigint NOT NULL,
                        UNIQUE (complaint_id, position)
                    );",
                down: "DROP TABLE case_attachments;",
            }),
            Box::new(SqlMigration {
                name: "m20261205_000008_directory_changes",
                // Every version of the directory with who changed what: the newest row is the
                // directory in force, and the rows are its audit log (append-only).
                up: "CREATE TABLE directory_changes (
                        version    bigint PRIMARY KEY,
                        changed_at timestamptz NOT NULL DEFAULT now(),
                        actor      text NOT NULL,
                        action     text NOT NULL,
                        before     jsonb,
                        edit       jsonb,
                        body       jsonb NOT NULL
                    );
                    CREATE TRIGGER directory_changes_no_update_or_delete
                        BEFORE UPDATE OR DELETE ON directory_changes
                        FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();",
                down: "DROP TABLE directory_changes;",
            }),
            Box::new(SqlMigration {
                name: "m20261205_000009_merged_children",
                // Each event about a case names the duplicates merged into it.
                up: "CREATE INDEX cases_merged_into ON cases (duplicate_of) WHERE duplicate_of IS NOT NULL;",
                down: "DROP INDEX cases_merged_into;",
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

const ADD_SLA_CALENDAR_AND_DEADLINES: &str = r#"
                -- The working-day calendar: seeded from deploy/seed/holidays, then edited by admins.
                -- A removed holiday keeps its row (removed_at) so a restart does not reseed it.
                CREATE TABLE holidays (
                    date        date NOT NULL,
                    scope       text NOT NULL,
                    kind        text NOT NULL CHECK (kind IN ('libur_nasional', 'cuti_bersama', 'libur_daerah')),
                    name        text NOT NULL,
                    decree      text NOT NULL,
                    removed_at  timestamptz,
                    updated_at  timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (date, scope)
                );
                CREATE TABLE calendar_settings (
                    singleton                 boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    cuti_bersama_stops_clock  boolean NOT NULL DEFAULT true
                );
                INSERT INTO calendar_settings DEFAULT VALUES;
                ALTER TABLE skpds
                    ADD COLUMN work_days_per_week smallint NOT NULL DEFAULT 5 CHECK (work_days_per_week IN (5, 6)),
                    ADD COLUMN zone               text NOT NULL DEFAULT 'WITA' CHECK (zone IN ('WIB', 'WITA', 'WIT')),
                    ADD COLUMN kabupaten_code     text;

                -- SLA policy: working days per (scope, stage); complexity tiers for follow-ups.
                CREATE TABLE sla_rules (
                    scope         text NOT NULL,
                    stage         text NOT NULL CHECK (stage IN ('verification', 'follow_up', 'reply_window')),
                    working_days  integer NOT NULL CHECK (working_days BETWEEN 1 AND 365),
                    updated_at    timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (scope, stage)
                );
                INSERT INTO sla_rules (scope, stage, working_days) VALUES
                    ('default', 'verification', 3), ('default', 'follow_up', 5), ('default', 'reply_window', 10);
                CREATE TABLE sla_tiers (
                    code          text PRIMARY KEY,
                    working_days  integer NOT NULL CHECK (working_days BETWEEN 1 AND 365),
                    updated_at    timestamptz NOT NULL DEFAULT now()
                );
                INSERT INTO sla_tiers (code, working_days) VALUES
                    ('ringan', 2), ('sedang', 5), ('kompleks', 14), ('khusus', 60);

                -- Every calendar and SLA change: who, what, the request as JSON.
                CREATE TABLE policy_audit (
                    sequence  bigserial PRIMARY KEY,
                    actor     text NOT NULL,
                    action    text NOT NULL,
                    detail    jsonb NOT NULL,
                    at        timestamptz NOT NULL DEFAULT now()
                );
                CREATE TRIGGER policy_audit_no_update_or_delete
                    BEFORE UPDATE OR DELETE ON policy_audit
                    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

                -- The clock a case runs now.
                ALTER TABLE cases
                    ADD COLUMN sla_stage        text,
                    ADD COLUMN sla_started_at   timestamptz,
                    ADD COLUMN sla_working_days integer,
                    ADD COLUMN sla_due_at       timestamptz,
                    ADD COLUMN complexity_tier  text;

                -- One row per armed ladder step (or auto-close). Pending rows are claimed by
                -- the schedulers of all replicas with FOR UPDATE SKIP LOCKED once the database
                -- clock passes due_at; a transition that ends the stage cancels them in its
                -- own transaction. started_at, working_days and the trigger are kept so a
                -- calendar edit can recompute due_at.
                CREATE TABLE deadlines (
                    id              bigserial PRIMARY KEY,
                    complaint_id    uuid NOT NULL REFERENCES cases (complaint_id),
                    stage           text NOT NULL,
                    step            text NOT NULL,
                    skpd_code       text NOT NULL,
                    notify_roles    text NOT NULL,
                    at_fraction     double precision,
                    days_after_deadline integer,
                    started_at      timestamptz NOT NULL,
                    working_days    integer NOT NULL,
                    due_at          timestamptz NOT NULL,
                    case_version    bigint NOT NULL,
                    fired_at        timestamptz,
                    fired_by        text,
                    cancelled_at    timestamptz,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    CHECK ((at_fraction IS NULL) <> (days_after_deadline IS NULL)),
                    CHECK (fired_at IS NULL OR cancelled_at IS NULL)
                );
                CREATE INDEX deadlines_pending ON deadlines (due_at)
                    WHERE fired_at IS NULL AND cancelled_at IS NULL;
                CREATE INDEX deadlines_by_case ON deadlines (complaint_id, id);
                "#;

// Duplicate suggestions compare title and text by trigram similarity (pg_trgm, in
// PostgreSQL's contrib). pg_trgm is a trusted extension since PostgreSQL 13, so routing's own
// role, owning its database, may create it without superuser rights.
const ADD_DUPLICATE_SEARCH: &str = r#"
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX cases_text_trgm ON cases USING gin ((title || ' ' || body) gin_trgm_ops);
                CREATE INDEX cases_duplicate_scope ON cases (category_code, kabupaten_code, submitted_at);
                "#;
