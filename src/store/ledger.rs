//! The submission ledger: every quarterly submission to a program, kept
//! immutably — what was sent (the Bundle and its hash), for which practice,
//! program and period, why it was held or amended, who released it — joined
//! with its delivery state and the program's receipt from the outbox.
//!
//! An entry is written in the same transaction that queues its delivery, so
//! a submission is never recorded without being sent nor sent twice: the
//! (tenant, program, period, version) key is unique, and a second builder
//! racing the first inserts nothing.

use async_trait::async_trait;

use super::StoreError;

/// The outbox topic submissions are delivered under.
pub const SUBMISSION_TOPIC: &str = "program-submission";

/// A submission to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubmission {
    pub program: String,
    /// `2026Q3`.
    pub period: String,
    /// 1 for the original; each amendment one more.
    pub version: i64,
    /// The ledger entry this one supersedes (amendments).
    pub supersedes: Option<i64>,
    /// Why it was amended.
    pub reason: Option<String>,
    /// SHA-256 of `body`, hex.
    pub content_hash: String,
    pub body: String,
    /// The program endpoint it goes to (none: recorded, not sent).
    pub destination: Option<String>,
    /// The pre-send checks that failed (JSON array of strings).
    pub checks: String,
    /// Held for the practice's sign-off instead of queued.
    pub held: bool,
    /// The same on every delivery attempt: receivers drop repeats.
    pub idempotency_key: String,
    pub created_ms: i64,
    /// Who built it (`tandem` for the scheduler, else the client).
    pub created_by: String,
}

/// A ledger entry with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRow {
    pub seq: i64,
    pub tenant: String,
    pub entry: NewSubmission,
    pub released_by: Option<String>,
    pub released_ms: Option<i64>,
    /// Superseded by a later version.
    pub superseded_by: Option<i64>,
    pub attempts: i64,
    pub delivered_ms: Option<i64>,
    pub dead_ms: Option<i64>,
    pub last_error: Option<String>,
    /// What the program answered on acceptance.
    pub receipt: Option<String>,
}

impl SubmissionRow {
    /// `held`, `recorded` (no endpoint), `queued`, `accepted` or `failed`
    /// (dead-lettered: an operator must look), and `superseded` once amended.
    pub fn state(&self) -> &'static str {
        if self.superseded_by.is_some() {
            "superseded"
        } else if self.entry.held && self.released_ms.is_none() {
            "held"
        } else if self.entry.destination.is_none() {
            "recorded"
        } else if self.delivered_ms.is_some() {
            "accepted"
        } else if self.dead_ms.is_some() {
            "failed"
        } else {
            "queued"
        }
    }
}

#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// A tenant's ledger, oldest first; optionally one program and period.
    async fn submissions(
        &self,
        tenant: &str,
        program: Option<&str>,
        period: Option<&str>,
    ) -> Result<Vec<SubmissionRow>, StoreError>;
}
