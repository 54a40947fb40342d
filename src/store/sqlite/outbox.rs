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
use crate::store::outbox::{Attempt, Claim, OutboxMessage, OutboxRow, OutboxState, OutboxStore};
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
        // One process delivers from a SQLite file: nothing to fence.
        claim: 0,
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

    async fn outbox_record(&self, attempts: Vec<(Claim, Attempt)>) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.raw_write(move |c| {
            for (claim, a) in &attempts {
                record(c, claim.seq, a)?;
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

    async fn outbox_delivered_count(
        &self,
        tenant: &str,
        topic: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<u64, StoreError> {
        let (tenant, topic) = (tenant.to_string(), topic.to_string());
        self.aux(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM outbox WHERE tenant = ? AND topic = ? \
                     AND delivered >= ? AND delivered < ?",
                )?
                .query_row(params![tenant, topic, from_ms, to_ms], |r| r.get(0))?;
            Ok(n as u64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::OutboxMessage;
    use crate::store::{AccessContext, transact};

    /// Delivered messages are counted by tenant, topic and delivery time
    /// (from inclusive, to exclusive); pending ones never.
    #[tokio::test]
    async fn delivered_messages_are_counted_by_tenant_topic_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("o.db")).unwrap();
        for (tenant, topics) in [
            ("a", ["referral", "referral", "other", "referral"]),
            ("b", ["referral"; 4]),
        ] {
            let ctx = AccessContext::internal(tenant, "test");
            transact(&store, &ctx, move |tx| {
                for (i, topic) in topics.iter().enumerate() {
                    tx.enqueue(OutboxMessage {
                        topic: topic.to_string(),
                        key: format!("k{i}"),
                        destination: None,
                        payload: "{}".into(),
                        created_ms: 0,
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        }
        let rows = store.outbox_list("a", OutboxState::All, 10).await.unwrap();
        let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        seqs.sort();
        let b = store.outbox_list("b", OutboxState::All, 10).await.unwrap();
        // a: k0 at 100, k1 at 200, "other" at 150, k3 pending; b: all at 150.
        let mut attempts: Vec<(Claim, Attempt)> = [(seqs[0], 100), (seqs[1], 200), (seqs[2], 150)]
            .into_iter()
            .map(|(s, at_ms)| {
                (
                    Claim { seq: s, token: 0 },
                    Attempt::Delivered {
                        at_ms,
                        receipt: None,
                    },
                )
            })
            .collect();
        attempts.extend(b.iter().map(|r| {
            (
                r.claimed(),
                Attempt::Delivered {
                    at_ms: 150,
                    receipt: None,
                },
            )
        }));
        store.outbox_record(attempts).await.unwrap();
        let count = |from, to| store.outbox_delivered_count("a", "referral", from, to);
        assert_eq!(count(0, 1000).await.unwrap(), 2);
        assert_eq!(count(100, 200).await.unwrap(), 1);
        assert_eq!(count(101, 201).await.unwrap(), 1);
        assert_eq!(count(201, 1000).await.unwrap(), 0);
        assert_eq!(
            store
                .outbox_delivered_count("b", "referral", 0, 1000)
                .await
                .unwrap(),
            4
        );
    }
}
