//! Routing's schema: the SKPD directory and cases, plus outbox and inbox.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(lapor_messaging::migration::CreateOutboxAndInbox),
            Box::new(CreateCases),
        ]
    }
}

struct CreateCases;

impl MigrationName for CreateCases {
    fn name(&self) -> &str {
        "m20261127_000002_create_cases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
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
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE cases; DROP TABLE skpds;")
            .await?;
        Ok(())
    }
}
