//! [`LedgerStore`] on SQLite: ledger entries are inserted by the writer in
//! the unit that queues their delivery (`writer::SqliteTx`); reads join each
//! entry with its outbox row for the delivery state and receipt.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::ledger::{LedgerStore, NewSubmission, SUBMISSION_TOPIC, SubmissionRow};

/// Inserts an entry unless its (tenant, program, period, version) exists.
pub fn insert(
    conn: &Connection,
    tenant: &str,
    s: &NewSubmission,
) -> Result<Option<i64>, StoreError> {
    let seq = conn
        .prepare_cached(
            "INSERT INTO submissions (tenant, program, period, version, supersedes, reason, content_hash,
                body, destination, checks, held, idempotency_key, created, created_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant, program, period, version) DO NOTHING RETURNING seq",
        )?
        .query_row(
            params![
                tenant,
                s.program,
                s.period,
                s.version,
                s.supersedes,
                s.reason,
                s.content_hash,
                s.body,
                s.destination,
                s.checks,
                s.held,
                s.idempotency_key,
                s.created_ms,
                s.created_by
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq)
}

/// Releases a held entry once.
pub fn release(
    conn: &Connection,
    tenant: &str,
    seq: i64,
    by: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE submissions SET released_by = ?, released = ?
             WHERE tenant = ? AND seq = ? AND held = 1 AND released IS NULL",
        )?
        .execute(params![by, at_ms, tenant, seq])?;
    Ok(n > 0)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SubmissionRow> {
    Ok(SubmissionRow {
        seq: r.get(0)?,
        tenant: r.get(1)?,
        entry: NewSubmission {
            program: r.get(2)?,
            period: r.get(3)?,
            version: r.get(4)?,
            supersedes: r.get(5)?,
            reason: r.get(6)?,
            content_hash: r.get(7)?,
            body: r.get(8)?,
            destination: r.get(9)?,
            checks: r.get(10)?,
            held: r.get(11)?,
            idempotency_key: r.get(12)?,
            created_ms: r.get(13)?,
            created_by: r.get(14)?,
        },
        released_by: r.get(15)?,
        released_ms: r.get(16)?,
        superseded_by: r.get(17)?,
        attempts: r.get::<_, Option<i64>>(18)?.unwrap_or(0),
        delivered_ms: r.get(19)?,
        dead_ms: r.get(20)?,
        last_error: r.get(21)?,
        receipt: r.get(22)?,
    })
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn submissions(
        &self,
        tenant: &str,
        program: Option<&str>,
        period: Option<&str>,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        let (tenant, program, period) = (
            tenant.to_string(),
            program.map(str::to_string),
            period.map(str::to_string),
        );
        self.aux(move |c| {
            let mut st = c.prepare_cached(
                "SELECT s.seq, s.tenant, s.program, s.period, s.version, s.supersedes, s.reason,
                        s.content_hash, s.body, s.destination, s.checks, s.held, s.idempotency_key,
                        s.created, s.created_by, s.released_by, s.released,
                        (SELECT n.seq FROM submissions n WHERE n.tenant = s.tenant AND n.supersedes = s.seq),
                        o.attempts, o.delivered, o.dead, o.last_error, o.receipt
                 FROM submissions s
                 LEFT JOIN outbox o ON o.tenant = s.tenant AND o.topic = ?2 AND o.key = s.idempotency_key
                 WHERE s.tenant = ?1 AND (?3 IS NULL OR s.program = ?3) AND (?4 IS NULL OR s.period = ?4)
                 ORDER BY s.seq",
            )?;
            let rows = st.query_map(params![tenant, SUBMISSION_TOPIC, program, period], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
