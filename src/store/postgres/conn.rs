//! One way to run a statement on a pooled connection or inside a
//! transaction: prepared once per connection (deadpool's statement cache),
//! errors mapped to [`StoreError`] with the SQLSTATEs that mean "try again"
//! kept apart from real failures.

use deadpool_postgres::{ClientWrapper, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::store::StoreError;

/// Bound parameters.
pub type Params<'a> = [&'a (dyn ToSql + Sync)];

pub enum Conn<'a> {
    Client(&'a ClientWrapper),
    Tx(&'a Transaction<'a>),
}

impl Conn<'_> {
    /// Prepares `sql` on this connection unless it already is (then no
    /// round trip): statements about to be pipelined are prepared first, so
    /// each goes out on its future's first poll (see [`pipeline`]).
    pub async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        match self {
            Conn::Client(c) => c.prepare_cached(sql).await,
            Conn::Tx(t) => t.prepare_cached(sql).await,
        }
        .map_err(error)
    }

    pub async fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        let st = self.statement(sql).await?;
        match self {
            Conn::Client(c) => c.query(&st, params).await,
            Conn::Tx(t) => t.query(&st, params).await,
        }
        .map_err(error)
    }

    pub async fn query_opt(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub async fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        let st = self.statement(sql).await?;
        match self {
            Conn::Client(c) => c.execute(&st, params).await,
            Conn::Tx(t) => t.execute(&st, params).await,
        }
        .map_err(error)
    }

    /// Runs `sql` planned for these very values: an unnamed statement
    /// (parse, bind and execute in one round trip), never a cached generic
    /// plan. For the statements the search plan renders: FHIR codes are
    /// skewed, and a generic plan estimated from an average code drove a
    /// hook's lookup of one patient's Encounters through every Encounter
    /// with a common code (18 ms instead of a fraction of one).
    pub async fn query_planned(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), tokio_postgres::types::Type)],
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Client(c) => c.query_typed(sql, params).await,
            Conn::Tx(t) => t.query_typed(sql, params).await,
        }
        .map_err(error)
    }

    /// Runs statements without parameters (savepoints, migrations).
    pub async fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Client(c) => c.batch_execute(sql).await,
            Conn::Tx(t) => t.batch_execute(sql).await,
        }
        .map_err(error)
    }
}

/// A driver error as a store error. A deadlock or a serialization failure
/// between two writers is a conflict the client may retry (409), not a
/// server fault; a cancelled statement is a query that ran out of budget.
pub fn error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::Conflict("a concurrent write touched the same resources; retry".into())
        }
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => {
            StoreError::Conflict("a concurrent write changed what this one read; retry".into())
        }
        Some(c) if *c == SqlState::QUERY_CANCELED => {
            StoreError::TooCostly("the query ran past its time budget".into())
        }
        _ => StoreError::Backend(match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        }),
    }
}

/// A pool error as a store error.
pub fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        deadpool_postgres::PoolError::Backend(e) => error(e),
        other => StoreError::Backend(format!("database pool: {other}")),
    }
}

/// Runs `futures` (statements on one connection) as one pipeline, in the
/// given order: each is polled once in turn before any is awaited, and
/// tokio-postgres sends a request when its future is first polled, in that
/// order ("requests are executed in the order that they are first polled").
/// Their statements must be prepared already, or a future's first poll
/// sends its Prepare instead and a later statement could overtake it.
pub async fn pipeline<'a, T>(futures: Vec<futures::future::BoxFuture<'a, T>>) -> Vec<T> {
    use futures::future::{MaybeDone, maybe_done};
    use std::pin::Pin;
    let mut all: Vec<MaybeDone<futures::future::BoxFuture<'a, T>>> =
        futures.into_iter().map(maybe_done).collect();
    for f in all.iter_mut() {
        let _ = futures::poll!(Pin::new(f));
    }
    for f in all.iter_mut() {
        Pin::new(f).await;
    }
    all.into_iter()
        .map(|mut f| {
            Pin::new(&mut f)
                .take_output()
                .expect("a pipelined statement finished")
        })
        .collect()
}
