//! Database start-up: create the service's own database when missing, connect, migrate.

use crate::config::DatabaseSettings;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database url {0:?} has no database name")]
    NoDatabaseName(String),
    #[error("database name {0:?} must be lowercase letters, digits and '_'")]
    BadDatabaseName(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Splits `postgres://…/name?opts` into the url of the `postgres` maintenance database and `name`.
fn split_url(url: &str) -> Result<(String, String), DatabaseError> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, name) = base
        .rsplit_once('/')
        .filter(|(server, name)| !name.is_empty() && server.contains("://") && !server.ends_with('/'))
        .ok_or_else(|| DatabaseError::NoDatabaseName(url.to_owned()))?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DatabaseError::BadDatabaseName(name.to_owned()));
    }
    let maintenance = match query {
        Some(q) => format!("{server}/postgres?{q}"),
        None => format!("{server}/postgres"),
    };
    Ok((maintenance, name.to_owned()))
}

pub async fn create_if_missing(url: &str) -> Result<(), DatabaseError> {
    let (maintenance_url, name) = split_url(url)?;
    let admin = Database::connect(maintenance_url.as_str()).await?;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS present FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    if !exists {
        // Validated above to [a-z0-9_], so quoting is safe. Another replica may win the race.
        match admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            Err(error) if error.to_string().contains("already exists") => {}
            Err(error) => return Err(error.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Creates the database if needed, applies migrations, and connects with a bounded pool.
pub async fn connect_and_migrate<M: MigratorTrait>(
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, DatabaseError> {
    create_if_missing(&settings.url).await?;
    migrate::<M>(&settings.url).await?;
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// Replicas starting together take turns: a session advisory lock held on a single-connection
/// pool, so lock, migrations and unlock share one session.
async fn migrate<M: MigratorTrait>(url: &str) -> Result<(), DatabaseError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await?;
    db.execute_unprepared("SELECT pg_advisory_lock(7061736)").await?;
    let migrated = M::up(&db, None).await;
    db.execute_unprepared("SELECT pg_advisory_unlock(7061736)").await?;
    db.close().await?;
    Ok(migrated?)
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_database_urls() {
        let (admin, name) = split_url("postgres://postgres@127.0.0.1:5432/lapor_intake").expect("valid");
        assert_eq!(admin, "postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(name, "lapor_intake");
        let (admin, _) = split_url("postgres://u@h/db?sslmode=disable").expect("valid");
        assert_eq!(admin, "postgres://u@h/postgres?sslmode=disable");
        assert!(split_url("postgres://u@h/").is_err());
        assert!(split_url("postgres://u@h/Bad-Name").is_err());
    }
}
