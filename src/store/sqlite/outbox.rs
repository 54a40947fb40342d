//! [`OutboxStore`] on SQLite. Messages are inserted by the writer inside the
//! triggering transaction (see `writer::SqliteTx::enqueue`); delivery outcomes
//! and operator retries are also applied by the writer, in its group commit,
//! so the delivery worker never holds SQLite's write lock itself. One delivery
//! worker runs per server process (SQLite has one writer process), so no row
//! leasing is needed.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::SqliteStore;
use super::writer::Work;
use crate::store::outbox::{Attempt, OutboxMessage, OutboxRow, OutboxState, OutboxStore};
use crate::store::{AccessContext, StoreError};

/// Inserts a message unless its (tenant, topic, key) is already queued.
pub fn insert(conn: &Connection, tenant: &str, m: &OutboxMessage) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (tenant, topic, key, destination, payload, created, next_attempt)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, topic, key) DO NOTHING",
        )?
        .execute(params![
            tenant,
            m.topic,
            m.key,
            m.destination,
            m.payload,
            m.created_ms,
            m.created_ms
        ])?;
    Ok(n > 0)
}

const COLUMNS: &str =
    "seq, tenant, topic, key, destination, payload, attempts, delivered, dead, last_error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        seq: r.get(0)?,
        tenant: r.get(1)?,
        topic: r.get(2)?,
        key: r.get(3)?,
        destination: r.get(4)?,
        payload: r.get(5)?,
        attempts: r.get(6)?,
        delivered_ms: r.get(7)?,
        dead_ms: r.get(8)?,
        last_error: r.get(9)?,
    })
}

fn record(c: &Connection, seq: i64, attempt: &Attempt) -> rusqlite::Result<usize> {
    match attempt {
        Attempt::Delivered { at_ms, receipt } => c
            .prepare_cached("UPDATE outbox SET delivered = ?, receipt = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?")?
            .execute(params![at_ms, receipt, seq]),
        Attempt::Retry { next_ms, error } => c
            .prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE seq = ?")?
            .execute(params![next_ms, error, seq]),
        Attempt::Dead { at_ms, error } => c
            .prepare_cached("UPDATE outbox SET attempts = attempts + 1, dead = ?, last_error = ? WHERE seq = ?")?
            .execute(params![at_ms, error, seq]),
    }
}

fn state_filter(state: OutboxState) -> &'static str {
    match state {
        OutboxState::All => "1",
        OutboxState::Pending => "delivered IS NULL AND dead IS NULL",
        OutboxState::Delivered => "delivered IS NOT NULL",
        OutboxState::Dead => "dead IS NOT NULL",
    }
}

impl SqliteStore {
    /// Runs bookkeeping on the writer connection in its next group commit.
    async fn raw_write<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        self.submit(
            AccessContext::internal("", "outbox"),
            Work::Raw(Box::new(f)),
        )
        .await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.aux(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE delivered IS NULL AND dead IS NULL AND next_attempt <= ? ORDER BY next_attempt, seq LIMIT ?"
            ))?;
            let rows = st.query_map(params![now_ms, limit as i64], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn outbox_record(&self, attempts: Vec<(i64, Attempt)>) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.raw_write(move |c| {
            for (seq, a) in &attempts {
                record(c, *seq, a)?;
            }
            Ok(())
        })
        .await
    }

    async fn outbox_list(
        &self,
        tenant: &str,
        state: OutboxState,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE tenant = ? AND {} ORDER BY seq DESC LIMIT ?",
                state_filter(state)
            ))?;
            let rows = st.query_map(params![tenant, limit as i64], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn outbox_retry(&self, tenant: &str, seq: i64, now_ms: i64) -> Result<bool, StoreError> {
        let tenant = tenant.to_string();
        let found = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = found.clone();
        self.raw_write(move |c| {
            let n = c
                .prepare_cached("UPDATE outbox SET dead = NULL, attempts = 0, next_attempt = ? WHERE tenant = ? AND seq = ? AND dead IS NOT NULL")?
                .execute(params![now_ms, tenant, seq])?;
            flag.store(n > 0, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .await?;
        let retried = found.load(std::sync::atomic::Ordering::Relaxed);
        if retried {
            self.outbox_signal.notify_one();
        }
        Ok(retried)
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }
}
