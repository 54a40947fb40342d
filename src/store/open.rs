//! Opening the configured store: the one place that knows which engines
//! exist. Everything above it holds an `Arc<dyn Store>`.

use std::sync::Arc;
use std::time::Duration;

use super::postgres::{PgOptions, PgStore};
use super::sqlite::SqliteStore;
use super::{Store, StoreError};
use crate::config::Database;

/// Settings beyond where the data lives.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// SQLite: the opt-in WAL write layer (`[sqlite] wal_buffer`).
    pub wal_buffer: bool,
    /// PostgreSQL: connections kept at most (`[postgres] pool_size`).
    pub pool_size: Option<usize>,
    /// PostgreSQL: an outbox claim's lease (`[postgres] outbox_lease_secs`).
    pub outbox_lease_ms: Option<i64>,
    /// How long one client search or history page may run.
    pub query_budget: Option<Duration>,
}

/// Opens (creating and migrating as needed) the store at `db`.
pub async fn open(db: &Database, o: &OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match db {
        Database::Sqlite(path) => {
            let path = path.clone();
            let wal_buffer = o.wal_buffer;
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open_with(&path, wal_buffer))
                    .await
                    .map_err(|e| StoreError::Backend(format!("open task failed: {e}")))??;
            match o.query_budget {
                Some(b) => Arc::new(store.with_query_budget(b)),
                None => Arc::new(store),
            }
        }
        Database::Postgres(url) => {
            let default = PgOptions::default();
            let options = PgOptions {
                pool_size: o.pool_size.unwrap_or(default.pool_size),
                outbox_lease_ms: o.outbox_lease_ms.unwrap_or(default.outbox_lease_ms),
            };
            let store = PgStore::connect(url, &options).await?;
            match o.query_budget {
                Some(b) => Arc::new(store.with_query_budget(b)?),
                None => Arc::new(store),
            }
        }
    })
}

/// Brings the database at `db` to the current schema (`tandem migrate`);
/// returns the schema version it is at.
pub async fn migrate(db: &Database) -> Result<i64, StoreError> {
    match db {
        Database::Sqlite(path) => {
            open(db, &OpenOptions::default()).await?.close().await;
            let path = path.clone();
            tokio::task::spawn_blocking(move || super::sqlite::schema_version(&path))
                .await
                .map_err(|e| StoreError::Backend(format!("migrate task failed: {e}")))?
        }
        Database::Postgres(url) => Ok(super::postgres::migrate(url).await?.1),
    }
}
