//! SQL helpers that return errors instead of panicking (the harness's panic, which suits a
//! test): a bench that fails midway must still reach its clean-up and report.

use anyhow::Context as _;
use lapor_e2e::process::postgres_url;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement};

pub async fn admin() -> anyhow::Result<DatabaseConnection> {
    connect("postgres").await
}

pub async fn connect(database: &str) -> anyhow::Result<DatabaseConnection> {
    Database::connect(postgres_url(database))
        .await
        .with_context(|| format!("connecting to {database}"))
}

pub async fn exec(db: &DatabaseConnection, sql: &str) -> anyhow::Result<()> {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .with_context(|| sql.to_owned())?;
    Ok(())
}

pub async fn rows(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .with_context(|| sql.to_owned())
}

async fn one(db: &DatabaseConnection, sql: &str) -> anyhow::Result<QueryResult> {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .with_context(|| sql.to_owned())?
        .with_context(|| format!("no row: {sql}"))
}

/// The first column of the only row, as `bigint`.
pub async fn int(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    one(db, sql)
        .await?
        .try_get_by_index::<i64>(0)
        .with_context(|| format!("not a bigint: {sql}"))
}

/// The first column of the only row, as `float8`.
pub async fn float(db: &DatabaseConnection, sql: &str) -> anyhow::Result<f64> {
    one(db, sql)
        .await?
        .try_get_by_index::<f64>(0)
        .with_context(|| format!("not a float8: {sql}"))
}

/// The first column of every row, as text.
pub async fn strings(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    rows(db, sql)
        .await?
        .into_iter()
        .map(|row| row.try_get_by_index::<String>(0).map_err(Into::into))
        .collect()
}

/// A wall-clock instant as a SQL literal, for comparing with `timestamptz` columns: the
/// services and the bench read the same machine clock.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("'{}'::timestamptz", at.to_rfc3339())
}
