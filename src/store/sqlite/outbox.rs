//! [`OutboxStore`] on SQLite. Messages are inserted by the writer inside the
//! triggering transaction (see `writer::SqliteTx::enqueue`); delivery state is
//! updated through the auxiliary connection. One delivery worker runs per
//! server process (SQLite has one writer process), so no row leasing is needed.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::outbox::{OutboxMessage, OutboxRow, OutboxStore};

/// Inserts a message unless its (tenant, topic, key) is already queued.
pub fn insert(conn: &Connection, tenant: &str, m: &OutboxMessage) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (tenant, topic, key, payload, created, next_attempt)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, topic, key) DO NOTHING",
        )?
        .execute(params![
            tenant,
            m.topic,
            m.key,
            m.payload,
            m.created_ms,
            m.created_ms
        ])?;
    Ok(n > 0)
}

const COLUMNS: &str = "seq, tenant, topic, key, payload, attempts, delivered, last_error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        seq: r.get(0)?,
        tenant: r.get(1)?,
        topic: r.get(2)?,
        key: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        delivered_ms: r.get(6)?,
        last_error: r.get(7)?,
    })
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.aux(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE delivered IS NULL AND next_attempt <= ? ORDER BY seq LIMIT ?"
            ))?;
            let rows = st.query_map(params![now_ms, limit as i64], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn outbox_delivered(&self, seq: i64, now_ms: i64) -> Result<(), StoreError> {
        self.aux(move |c| {
            c.execute(
                "UPDATE outbox SET delivered = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?",
                params![now_ms, seq],
            )?;
            Ok(())
        })
        .await
    }

    async fn outbox_failed(&self, seq: i64, next_ms: i64, error: &str) -> Result<(), StoreError> {
        let error = error.to_string();
        self.aux(move |c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE seq = ?",
                params![next_ms, error, seq],
            )?;
            Ok(())
        })
        .await
    }

    async fn outbox_list(&self, tenant: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let tenant = tenant.to_string();
        self.aux(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE tenant = ? ORDER BY seq DESC LIMIT ?"
            ))?;
            let rows = st.query_map(params![tenant, limit as i64], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }
}
