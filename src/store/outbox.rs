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
    pub payload: String,
    pub created_ms: i64,
}

/// A message waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub tenant: String,
    pub topic: String,
    pub key: String,
    pub payload: String,
    pub attempts: i64,
    pub delivered_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait OutboxStore {
    /// Undelivered messages whose next attempt is due, oldest first.
    async fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Marks a message delivered.
    async fn outbox_delivered(&self, seq: i64, now_ms: i64) -> Result<(), StoreError>;
    /// Records a failed attempt and when to try again.
    async fn outbox_failed(&self, seq: i64, next_ms: i64, error: &str) -> Result<(), StoreError>;
    /// A tenant's messages, newest first (operators and tests).
    async fn outbox_list(&self, tenant: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Signalled after a commit that enqueued messages, so delivery starts at once.
    fn outbox_signal(&self) -> Arc<Notify>;
}
