//! The audit trail's own storage: an append-only table with the few columns
//! audit queries filter on (time, client, patient, outcome, event kind).
//!
//! AuditEvents are not stored as ordinary resources: every read produces one,
//! and indexing each with the generic search machinery would cost more than
//! the read itself. Nothing in the API can update or delete these rows.

use async_trait::async_trait;

use super::StoreError;

/// One AuditEvent ready to append.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: String,
    pub recorded_ms: i64,
    /// The tenant the audited request worked in.
    pub tenant: String,
    pub client: String,
    /// `0`, `4`, `8` or `12`.
    pub outcome: String,
    /// `AuditEvent.type.code` (`rest`, `110114`, `110113`, …).
    pub type_code: String,
    /// First `AuditEvent.subtype.code` (`read`, `create`, `AuthZ-Consent`, …).
    pub subtype: String,
    /// `Patient/id` of every patient entity.
    pub patients: Vec<String>,
    /// The record's facts (compact JSON); the service renders the AuditEvent.
    pub facts: String,
}

/// What an audit search filters on; all given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// The tenant whose records are read; None (the operator) reads all.
    pub tenant: Option<String>,
    pub patient: Option<String>,
    pub client: Option<String>,
    /// Inclusive lower and exclusive upper bound of `recorded`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub outcome: Option<String>,
    pub type_code: Option<String>,
    pub subtype: Option<String>,
    pub count: usize,
    /// Continue below this sequence number (newest first).
    pub before_seq: Option<i64>,
}

/// A page of `(id, facts)`, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub rows: Vec<(String, String)>,
    pub next_before_seq: Option<i64>,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends records in one transaction (reads, refusals, token decisions).
    async fn append_audit(&self, rows: Vec<AuditRow>) -> Result<(), StoreError>;
    async fn audit_search(&self, q: AuditQuery) -> Result<AuditPage, StoreError>;
    /// The facts of one record, when it belongs to `tenant` (None: any tenant).
    async fn audit_read(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<String>, StoreError>;
}
