//! Persistence: the store traits and their implementations. The only module with SQL.
//!
//! Every call carries an [`AccessContext`]; rows are stamped with its tenant and
//! no query can reach another tenant's rows. Writes are units of work
//! ([`WriteWork`]) run inside one database transaction by the store, so a write
//! and everything derived from it commit together or not at all.

pub mod audit;
pub mod auth;
pub mod charts;
pub mod jobs;
pub mod ledger;
mod open;
pub mod outbox;
pub mod postgres;
pub use open::{OpenOptions, migrate, open};
pub mod sql;
pub mod sqlite;

use async_trait::async_trait;

pub use crate::caller::AccessContext;
use crate::fhir::index::IndexEntry;
use crate::fhir::query::SearchQuery;

/// The tenant of Tandem's own bookkeeping (audit batches); not a valid FHIR
/// id, so no client can ever name it as its tenant.
pub const AUDIT_TENANT: &str = "$audit";

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub last_updated_ms: i64,
    pub deleted: bool,
    /// The request method that produced this version (POST, PUT, DELETE).
    pub method: String,
    /// The resource JSON as stored (empty for a deletion).
    pub body: String,
}

/// Which patients a compartment page holds (see [`Store::patient_records`]).
#[derive(Debug, Clone)]
pub struct PatientPage {
    /// Resource types to gather, each by its `patient` search parameter.
    pub types: Vec<String>,
    /// Patients with an id greater than this (the last id of the previous page).
    pub after: Option<String>,
    /// Only these patient ids.
    pub only: Option<Vec<String>>,
    pub limit: usize,
}

/// The patients whose records changed after a point in the store's write
/// order (see [`Store::patients_written`]).
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Patient ids: a Patient written, or a resource of the asked types
    /// written that points at one by its `patient` parameter.
    pub patients: Vec<String>,
    /// Where the next call starts (everything committed up to here).
    pub upto: i64,
}

/// A patient and every live resource of the asked types that points at it.
#[derive(Debug, Clone)]
pub struct PatientRecord {
    pub patient: StoredResource,
    pub resources: Vec<StoredResource>,
}

/// A new version to write.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub last_updated_ms: i64,
    pub deleted: bool,
    pub method: &'static str,
    pub body: String,
    /// `body` already in the store's own encoding, when it was prepared
    /// before the transaction ([`Store::encode_ahead`]); else the writer
    /// encodes it. Must be dropped if `body` changes.
    pub encoded: Option<EncodedBody>,
    pub index: Vec<IndexEntry>,
}

/// A body as a store keeps it, prepared ahead of the write; opaque outside
/// the store.
#[derive(Debug, Clone)]
pub struct EncodedBody {
    /// The compressed body, or `None` when it is kept as text.
    pub(in crate::store) packed: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    pub since_ms: Option<i64>,
    pub count: usize,
    /// Continue below this history sequence number (from a `next` link).
    pub before_seq: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<StoredResource>,
    pub total: u64,
    pub next_before_seq: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub matches: Vec<StoredResource>,
    pub included: Vec<StoredResource>,
    pub total: Option<u64>,
    /// Opaque keyset cursor for the next page.
    pub next_cursor: Option<String>,
}

/// Store failures. `Aborted` means the unit of work itself returned an error
/// (its own error travels separately, see [`transact`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("write conflict: {0}")]
    Conflict(String),
    #[error("invalid cursor")]
    BadCursor,
    #[error("the store is shutting down")]
    Closed,
    #[error("unit of work aborted")]
    Aborted,
    #[error("database error: {0}")]
    Backend(String),
    /// A client's query ran past its time budget.
    #[error("too costly: {0}")]
    TooCostly(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// What a unit of work can do inside the write transaction.
pub trait WriteTx {
    /// The current version (deleted or not) of a resource in the caller's tenant.
    fn current(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Non-deleted resources matching `query` (filters only), at most `limit`.
    fn find(
        &mut self,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Writes a version; it must be exactly one above the current version.
    fn write(&mut self, version: NewVersion) -> Result<(), StoreError>;
    /// Appends an AuditEvent to the audit trail, committed with this unit.
    fn audit(&mut self, event: audit::AuditRow) -> Result<(), StoreError>;
    /// Queues a message for delivery once this unit commits; false when a
    /// message with the same topic and key is already queued (never sent twice).
    fn enqueue(&mut self, message: outbox::OutboxMessage) -> Result<bool, StoreError>;
    /// Records a submission in the ledger; `None` when its (program, period,
    /// version) is already there (a racing builder won).
    fn record_submission(&mut self, s: ledger::NewSubmission) -> Result<Option<i64>, StoreError>;
    /// Marks a held submission released by `by`; false when it is not held
    /// (or already released).
    fn release_submission(&mut self, seq: i64, by: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Runs `work` in a nested savepoint: its writes roll back alone if it fails
    /// (how batch entries stay independent inside one commit).
    fn nested(
        &mut self,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A unit of work run inside one transaction.
pub type WriteWork = Box<dyn FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send>;

/// The persistence contract; SQLite now, PostgreSQL later, same contract tests.
#[async_trait]
pub trait Store:
    auth::AuthStore
    + audit::AuditStore
    + outbox::OutboxStore
    + ledger::LedgerStore
    + charts::ChartStore
    + jobs::JobStore
    + Send
    + Sync
    + 'static
{
    /// Encodes `v`'s body for storage now, on the calling thread, so the
    /// transaction does not have to. Stores that keep bodies as they are
    /// leave `v` alone.
    fn encode_ahead(&self, _v: &mut NewVersion) -> Result<(), StoreError> {
        Ok(())
    }

    /// The current version (possibly a deletion) of `type/id`.
    async fn read(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    async fn vread(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError>;
    async fn history(
        &self,
        ctx: &AccessContext,
        query: HistoryQuery,
    ) -> Result<HistoryPage, StoreError>;
    async fn search(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
    ) -> Result<SearchPage, StoreError>;
    /// Live resources matching the filters of `query`, at most `limit`, from the
    /// last committed state (outside any write).
    async fn find(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// One page of patient compartments, ordered by patient id, from the last
    /// committed state (whole-population evaluation streams these pages).
    async fn patient_records(
        &self,
        ctx: &AccessContext,
        page: PatientPage,
    ) -> Result<Vec<PatientRecord>, StoreError>;
    /// Up to `limit` live patient ids after `after`, in id order (how a
    /// whole-population pass splits the population into pages it can read
    /// side by side).
    async fn patient_ids(
        &self,
        ctx: &AccessContext,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// The patients whose Patient, or whose resources of `types`, were
    /// written after `after` (a previous call's [`Written::upto`]; `None`
    /// gives only the point to start from). An index-only read: periodic
    /// passes find what they must redo without reading resources. A
    /// resource whose `patient` reference moved counts for its new patient
    /// only, a deleted one for none (callers that care redo everyone now
    /// and then).
    async fn patients_written(
        &self,
        ctx: &AccessContext,
        types: Vec<String>,
        after: Option<i64>,
    ) -> Result<Written, StoreError>;
    /// Every tenant holding resources (for per-tenant background sweeps).
    async fn tenants(&self) -> Result<Vec<String>, StoreError>;

    /// Up to `limit` versions of the context's tenant written after history
    /// sequence `after_seq`, oldest first, each with its sequence number:
    /// every version ever written, deletions included (`tandem copy` reads
    /// a practice this way, resuming from the last sequence it moved).
    async fn changes(
        &self,
        ctx: &AccessContext,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredResource)>, StoreError>;
    /// Runs `work` in a transaction; returns once it is durably committed.
    async fn write(&self, ctx: &AccessContext, work: WriteWork) -> Result<(), StoreError>;
    /// Stops accepting writes, finishes queued ones and closes the database.
    async fn close(&self);
}

/// Runs a typed unit of work and hands back its value or its own error.
/// The work's error rolls the transaction back.
pub async fn transact<T, E, F>(store: &dyn Store, ctx: &AccessContext, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
{
    let slot = std::sync::Arc::new(parking_lot::Mutex::new(None));
    let out = slot.clone();
    let work: WriteWork = Box::new(move |tx| {
        let result = f(tx);
        let failed = result.is_err();
        *out.lock() = Some(result);
        if failed {
            Err(StoreError::Aborted)
        } else {
            Ok(())
        }
    });
    // From here the request's timeout no longer applies: its client gets
    // the real outcome (see `crate::deadline`).
    crate::deadline::mark_committing();
    let committed = store.write(ctx, work).await;
    let result = slot.lock().take();
    match (committed, result) {
        (Ok(()), Some(Ok(v))) => Ok(v),
        (_, Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(()), None) => Err(StoreError::Backend("unit of work did not run".into()).into()),
    }
}
