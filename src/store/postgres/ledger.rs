//! [`LedgerStore`] on PostgreSQL: entries inserted in the unit that queues
//! their delivery (`tx.rs`); reads join each entry with its outbox row.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PgStore;
use super::conn::Conn;
use crate::store::StoreError;
use crate::store::ledger::{LedgerStore, NewSubmission, SUBMISSION_TOPIC, SubmissionRow};

/// Inserts an entry unless its (tenant, program, period, version) exists.
pub async fn insert(
    c: &Conn<'_>,
    tenant: &str,
    s: &NewSubmission,
) -> Result<Option<i64>, StoreError> {
    Ok(c
        .query_opt(
            "INSERT INTO submissions (tenant, program, period, version, supersedes, reason, content_hash,
                body, destination, checks, held, idempotency_key, created, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (tenant, program, period, version) DO NOTHING RETURNING seq",
            &[
                &tenant,
                &s.program,
                &s.period,
                &s.version,
                &s.supersedes,
                &s.reason,
                &s.content_hash,
                &s.body,
                &s.destination,
                &s.checks,
                &s.held,
                &s.idempotency_key,
                &s.created_ms,
                &s.created_by,
            ],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Releases a held entry once.
pub async fn release(
    c: &Conn<'_>,
    tenant: &str,
    seq: i64,
    by: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "UPDATE submissions SET released_by = $1, released = $2
             WHERE tenant = $3 AND seq = $4 AND held AND released IS NULL",
            &[&by, &at_ms, &tenant, &seq],
        )
        .await?;
    Ok(n > 0)
}

fn row(r: &Row) -> SubmissionRow {
    SubmissionRow {
        seq: r.get(0),
        tenant: r.get(1),
        entry: NewSubmission {
            program: r.get(2),
            period: r.get(3),
            version: r.get(4),
            supersedes: r.get(5),
            reason: r.get(6),
            content_hash: r.get(7),
            body: r.get(8),
            destination: r.get(9),
            checks: r.get(10),
            held: r.get(11),
            idempotency_key: r.get(12),
            created_ms: r.get(13),
            created_by: r.get(14),
        },
        released_by: r.get(15),
        released_ms: r.get(16),
        superseded_by: r.get(17),
        attempts: r.get::<_, Option<i64>>(18).unwrap_or(0),
        delivered_ms: r.get(19),
        dead_ms: r.get(20),
        last_error: r.get(21),
        receipt: r.get(22),
    }
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn submissions(
        &self,
        tenant: &str,
        program: Option<&str>,
        period: Option<&str>,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c)
            .query(
                "SELECT s.seq, s.tenant, s.program, s.period, s.version, s.supersedes, s.reason,
                        s.content_hash, s.body, s.destination, s.checks, s.held, s.idempotency_key,
                        s.created, s.created_by, s.released_by, s.released,
                        (SELECT n.seq FROM submissions n WHERE n.tenant = s.tenant AND n.supersedes = s.seq LIMIT 1),
                        o.attempts, o.delivered, o.dead, o.last_error, o.receipt
                 FROM submissions s
                 LEFT JOIN outbox o ON o.tenant = s.tenant AND o.topic = $2 AND o.key = s.idempotency_key
                 WHERE s.tenant = $1 AND ($3::text IS NULL OR s.program = $3)
                   AND ($4::text IS NULL OR s.period = $4)
                 ORDER BY s.seq",
                &[&tenant, &SUBMISSION_TOPIC, &program, &period],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    }
}
