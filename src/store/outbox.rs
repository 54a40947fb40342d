//! The durable outbox: messages to other systems (practice notifications,
//! partner deliveries), written in the same transaction as the change that
//! caused them, delivered afterwards by `exchange::outbox`.
//!
//! A message is identified by (tenant, topic, key): enqueueing the same key
//! twice keeps the first, so re-processing a write never sends twice. Delivery
//! is at-least-once; receivers see the same `key` on a redelivery.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::StoreError;

/// A message to enqueue inside a write transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub topic: String,
    pub key: String,
    /// Who receives it, when not the tenant's own endpoint (a partner id).
    pub destination: Option<String>,
    pub payload: String,
    pub created_ms: i64,
}

/// A queued message and its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub tenant: String,
    pub topic: String,
    pub key: String,
    pub destination: Option<String>,
    pub payload: String,
    pub attempts: i64,
    pub delivered_ms: Option<i64>,
    /// Set when delivery was given up (dead letter) until an operator retries it.
    pub dead_ms: Option<i64>,
    pub last_error: Option<String>,
    /// The fencing token of the claim [`OutboxStore::outbox_due`] took on
    /// it (0 where one process delivers).
    pub claim: i64,
}

impl OutboxRow {
    /// The claim an attempt on this row is recorded under.
    pub fn claimed(&self) -> Claim {
        Claim {
            seq: self.seq,
            token: self.claim,
        }
    }
}

/// A message claimed for one delivery attempt: its sequence number and the
/// claim's fencing token. An attempt recorded under a claim that has since
/// been superseded (its lease ran out and another node claimed the
/// message) changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub seq: i64,
    pub token: i64,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered {
        at_ms: i64,
        /// What the receiver answered, when it is worth keeping (a
        /// program's receipt).
        receipt: Option<String>,
    },
    Retry {
        next_ms: i64,
        error: String,
    },
    /// Given up: too many attempts, or a failure retrying cannot fix.
    Dead {
        at_ms: i64,
        error: String,
    },
}

/// Which messages an operator lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    All,
    Pending,
    Delivered,
    Dead,
}

#[async_trait]
pub trait OutboxStore {
    /// Claims undelivered, not dead messages whose next attempt is due,
    /// longest due first (first attempts in the order they were queued).
    /// Where several nodes deliver (PostgreSQL), each message is claimed by
    /// one node for a lease; a claim left by a dead node is taken again
    /// once its lease ran out.
    async fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records a batch of attempts in one transaction, each under the claim
    /// it was made under (a superseded claim records nothing).
    async fn outbox_record(&self, attempts: Vec<(Claim, Attempt)>) -> Result<(), StoreError>;
    /// A tenant's messages in a state, newest first (operators and tests).
    async fn outbox_list(
        &self,
        tenant: &str,
        state: OutboxState,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// How many of a tenant's messages on `topic` were delivered from
    /// `from_ms` to before `to_ms` (evidence counts; no payload is read).
    async fn outbox_delivered_count(
        &self,
        tenant: &str,
        topic: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Puts a tenant's dead-lettered message back in the queue, due now;
    /// false when no dead message has that sequence number in the tenant.
    async fn outbox_retry(&self, tenant: &str, seq: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// Signalled after a commit that enqueued messages, so delivery starts at once.
    fn outbox_signal(&self) -> Arc<Notify>;
}
