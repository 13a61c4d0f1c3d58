//! PostgreSQL persistence: the pool, migrations, and one file of queries per table family.
//! Every rule that must be exact is a single statement or a single transaction here.

pub mod held;
pub mod import;
pub mod intermediate;
pub mod limits;
pub mod messages;
pub mod organizations;
pub mod passcodes;
pub mod projects;
pub mod public_tokens;
pub mod retention;
pub mod sessions;
pub mod trusted_tokens;
pub mod users;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A new id for a row of a table that every send writes (passcodes, message records, the fake
/// provider's outbox): a version 7 UUID, which begins with the time, so consecutive rows sit
/// side by side at the right edge of the table's primary key (and of the messages'
/// provider-id index, for the fake provider's ids), instead of each landing on a random page
/// of an index as large as the table's history (docs/performance.md, "Flat at 5 M stored
/// passcodes"). These ids are internal or already dated by the row they name.
pub fn row_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// `[database]` in the configuration file: the pool.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// Bounded so an outage turns into a quick 503 instead of a hung request.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 20,
            acquire_timeout_ms: 2_000,
        }
    }
}

impl DatabaseConfig {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Failures of the store, with unique-constraint violations named so callers can map them
/// to the right API error instead of a 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint `{0}` violated")]
    Conflict(String),
    #[error("project {project} has settings this build cannot read ({reason}); repair the row or roll forward to the build that wrote it")]
    Settings { project: String, reason: String },
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or_default().to_owned())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e)
            }
            // Connection exceptions (08) and the server shutting down, restarting or not yet
            // accepting connections (57P01-57P03): an outage, not a bug.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
                }) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Db(e),
        }
    }
}

impl StoreError {
    pub fn is_conflict_on(&self, constraint: &str) -> bool {
        matches!(self, StoreError::Conflict(c) if c == constraint)
    }
}

/// A pooled connection idle for longer than this is pinged before it is handed out (a dead
/// one is closed and another taken); one in steady use is handed out as it is. sqlx's default
/// pings on every acquire: a round trip before each statement, 4 per send under load for
/// nothing. The cost: a connection the server drops while in steady use (a failover, an
/// operator's `pg_terminate_backend`) fails the one statement that finds it dead, and the
/// request answers 503 `server_unavailable`.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A lazily connecting pool: start-up doesn't fail while PostgreSQL is briefly away, and
/// requests during an outage fail after `acquire_timeout` instead of hanging.
pub fn connect_pool(
    url: &secrecy::SecretString,
    cfg: &DatabaseConfig,
) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.acquire_timeout())
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < PING_AFTER_IDLE {
                    return Ok(true);
                }
                Ok(conn.ping().await.is_ok())
            })
        })
        .connect_lazy_with(options))
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether every migration this binary knows has been applied (readiness). A database that
/// was never migrated (no `_sqlx_migrations` table) is simply not current.
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> = match sqlx::query_scalar(
        "select version from _sqlx_migrations where success order by version",
    )
    .fetch_all(pool)
    .await
    {
        Ok(v) => v,
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(MIGRATOR
        .iter()
        .all(|m| applied.binary_search(&m.version).is_ok()))
}
