//! [`OutboxStore`] on PostgreSQL, delivered by every node at once.
//!
//! Messages are inserted inside the triggering unit of work (`tx.rs`). A
//! node claims due messages with `FOR UPDATE SKIP LOCKED` (nodes never wait
//! on each other's claims) and a lease: the claim's time and a fencing
//! token from a sequence. A node that dies holding claims leaves them to be
//! taken again once the lease ran out; an attempt is recorded only under
//! the token it was claimed with, so a node that comes back late cannot
//! record a delivery over the next claimant's. The receiver sees one
//! idempotency key (the message key) on every attempt, whichever node makes
//! it. Committing a unit that queued messages sends `NOTIFY tandem_outbox`,
//! so other nodes' workers wake at once (`listen.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_postgres::Row;

use super::PgStore;
use super::conn::Conn;
use crate::store::StoreError;
use crate::store::outbox::{Attempt, Claim, OutboxMessage, OutboxRow, OutboxState, OutboxStore};

/// Inserts a message unless its (tenant, topic, key) is already queued.
pub async fn insert(c: &Conn<'_>, tenant: &str, m: &OutboxMessage) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "INSERT INTO outbox (tenant, topic, key, destination, payload, created, next_attempt) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (tenant, topic, key) DO NOTHING",
            &[
                &tenant,
                &m.topic,
                &m.key,
                &m.destination,
                &m.payload,
                &m.created_ms,
            ],
        )
        .await?;
    Ok(n > 0)
}

const COLUMNS: &str =
    "seq, tenant, topic, key, destination, payload, attempts, delivered, dead, last_error, claim";

fn row(r: &Row) -> OutboxRow {
    OutboxRow {
        seq: r.get(0),
        tenant: r.get(1),
        topic: r.get(2),
        key: r.get(3),
        destination: r.get(4),
        payload: r.get(5),
        attempts: r.get(6),
        delivered_ms: r.get(7),
        dead_ms: r.get(8),
        last_error: r.get(9),
        claim: r.get(10),
    }
}

fn state_filter(state: OutboxState) -> &'static str {
    match state {
        OutboxState::All => "TRUE",
        OutboxState::Pending => "delivered IS NULL AND dead IS NULL",
        OutboxState::Delivered => "delivered IS NOT NULL",
        OutboxState::Dead => "dead IS NOT NULL",
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let c = self.client().await?;
        let lease = self.outbox_lease_ms;
        let rows = Conn::Client(&c)
            .query(
                "UPDATE outbox o SET claimed_until = $1 + $3, claim = nextval('outbox_claims')
                 FROM (SELECT seq FROM outbox
                       WHERE delivered IS NULL AND dead IS NULL AND next_attempt <= $1
                         AND (claimed_until IS NULL OR claimed_until <= $1)
                       ORDER BY next_attempt, seq LIMIT $2 FOR UPDATE SKIP LOCKED) d
                 WHERE o.seq = d.seq
                 RETURNING o.seq, o.tenant, o.topic, o.key, o.destination, o.payload, o.attempts,
                           o.delivered, o.dead, o.last_error, o.claim, o.next_attempt",
                &[&now_ms, &(limit as i64), &lease],
            )
            .await?;
        let mut due: Vec<(i64, OutboxRow)> = rows.iter().map(|r| (r.get(11), row(r))).collect();
        due.sort_by_key(|(next, r)| (*next, r.seq));
        Ok(due.into_iter().map(|(_, r)| r).collect())
    }

    async fn outbox_record(&self, attempts: Vec<(Claim, Attempt)>) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(super::conn::error)?;
        let t = Conn::Tx(&tx);
        for (claim, a) in &attempts {
            let (seq, token) = (&claim.seq, &claim.token);
            match a {
                Attempt::Delivered { at_ms, receipt } => {
                    t.execute(
                        "UPDATE outbox SET delivered = $1, receipt = $2, attempts = attempts + 1, \
                         last_error = NULL, claimed_until = NULL WHERE seq = $3 AND claim = $4",
                        &[at_ms, receipt, seq, token],
                    )
                    .await?
                }
                Attempt::Retry { next_ms, error } => {
                    t.execute(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2, \
                         claimed_until = NULL WHERE seq = $3 AND claim = $4",
                        &[next_ms, error, seq, token],
                    )
                    .await?
                }
                Attempt::Dead { at_ms, error } => {
                    t.execute(
                        "UPDATE outbox SET attempts = attempts + 1, dead = $1, last_error = $2, \
                         claimed_until = NULL WHERE seq = $3 AND claim = $4",
                        &[at_ms, error, seq, token],
                    )
                    .await?
                }
            };
        }
        tx.commit().await.map_err(super::conn::error)
    }

    async fn outbox_list(
        &self,
        tenant: &str,
        state: OutboxState,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c)
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE tenant = $1 AND {} ORDER BY seq DESC LIMIT $2",
                    state_filter(state)
                ),
                &[&tenant, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    }

    async fn outbox_delivered_count(
        &self,
        tenant: &str,
        topic: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = Conn::Client(&c)
            .query_opt(
                "SELECT count(*) FROM outbox WHERE tenant = $1 AND topic = $2 \
                 AND delivered >= $3 AND delivered < $4",
                &[&tenant, &topic, &from_ms, &to_ms],
            )
            .await?
            .map_or(0, |r| r.get(0));
        Ok(n as u64)
    }

    async fn outbox_retry(&self, tenant: &str, seq: i64, now_ms: i64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = Conn::Client(&c)
            .execute(
                "UPDATE outbox SET dead = NULL, attempts = 0, next_attempt = $1, claimed_until = NULL \
                 WHERE tenant = $2 AND seq = $3 AND dead IS NOT NULL",
                &[&now_ms, &tenant, &seq],
            )
            .await?;
        if n > 0 {
            self.outbox_signal.notify_one();
            Conn::Client(&c)
                .batch(&format!("NOTIFY {}", super::listen::CHANNEL))
                .await?;
        }
        Ok(n > 0)
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }
}
