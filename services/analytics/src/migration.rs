//! Analytics' read models, built only from events, plus the inbox (and an outbox, unused
//! until analytics publishes digests).

use lapor_messaging::migration::{SqlMigration, outbox_and_inbox, outbox_history};
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
            Box::new(SqlMigration {
                name: "m20261128_000003_leadership_figures",
                up: LEADERSHIP_FIGURES,
                down: "DROP TABLE digests; DROP TABLE history_offsets; DROP TABLE skpd_names; \
                       DROP TABLE escalation_facts; ALTER TABLE complaint_facts DROP COLUMN kind, \
                       DROP COLUMN follow_up_due_at, DROP COLUMN follow_up_due_version, DROP COLUMN followed_up_at, DROP COLUMN closed_at, \
                       DROP COLUMN reopen_count, DROP COLUMN stars, DROP COLUMN finished_at;",
            }),
            outbox_history(),
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

const LEADERSHIP_FIGURES: &str = r#"
                ALTER TABLE complaint_facts
                    ADD COLUMN kind             text,
                    -- End of the follow-up SLA of the latest disposition (version-guarded).
                    ADD COLUMN follow_up_due_at timestamptz,
                    ADD COLUMN follow_up_due_version bigint,
                    -- First follow-up, first close: what the SLA and the durations measure.
                    ADD COLUMN followed_up_at   timestamptz,
                    ADD COLUMN closed_at        timestamptz,
                    -- First time the case left the workflow without a disposition (archived,
                    -- not the province's authority): verification was done then.
                    ADD COLUMN finished_at      timestamptz,
                    ADD COLUMN reopen_count     integer NOT NULL DEFAULT 0,
                    ADD COLUMN stars            smallint;
                CREATE INDEX complaint_facts_by_submission ON complaint_facts (submitted_at);

                -- One row per complaint.escalated event (the event id makes replays no-ops).
                CREATE TABLE escalation_facts (
                    event_id      uuid PRIMARY KEY,
                    complaint_id  uuid NOT NULL,
                    level         text NOT NULL,
                    stage         text NOT NULL,
                    skpd_code     text NOT NULL,
                    due_at        timestamptz,
                    deadline_at   timestamptz,
                    -- The step fell due at or after the stage's deadline: the SLA was missed.
                    breach        boolean NOT NULL
                );
                CREATE INDEX escalation_facts_by_complaint ON escalation_facts (complaint_id, stage);

                -- SKPD display names as the events carry them (last one wins).
                CREATE TABLE skpd_names (
                    skpd_code  text PRIMARY KEY,
                    name       text NOT NULL
                );

                -- Where a replay of the event history stream stopped (RabbitMQ streams keep no
                -- offsets for AMQP 0.9.1 consumers), written with the events it applied.
                CREATE TABLE history_offsets (
                    stream       text PRIMARY KEY,
                    next_offset  bigint NOT NULL
                );

                -- Digests already emitted: one per period, whichever replica gets there first.
                CREATE TABLE digests (
                    period_kind  text NOT NULL,
                    period_from  timestamptz NOT NULL,
                    period_to    timestamptz NOT NULL,
                    event_id     uuid NOT NULL,
                    created_at   timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (period_kind, period_from)
                );
                "#;
