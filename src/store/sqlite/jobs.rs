//! [`JobStore`] on SQLite, on the auxiliary connection. One process serves
//! a SQLite file, so a claim only keeps a job's runs from overlapping and
//! to one per period; the statement is the PostgreSQL one.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::jobs::{JobLease, JobStore, JobTick};

#[async_trait]
impl JobStore for SqliteStore {
    async fn job_claim(&self, tick: JobTick<'_>) -> Result<Option<JobLease>, StoreError> {
        let (job, slot, now, until, catch_up) = (
            tick.job.to_string(),
            tick.slot,
            tick.now_ms,
            tick.now_ms + tick.lease_ms,
            tick.catch_up,
        );
        self.aux(move |c| {
            let token: Option<i64> = c
                .prepare_cached(
                    "INSERT INTO jobs (job, slot, leased_until, token)
                     VALUES (?1, ?2, ?3, (SELECT coalesce(max(token), 0) + 1 FROM jobs))
                     ON CONFLICT (job) DO UPDATE SET slot = excluded.slot,
                        leased_until = excluded.leased_until, token = excluded.token
                     WHERE jobs.leased_until <= ?4 AND (jobs.slot < excluded.slot OR ?5)
                     RETURNING token",
                )?
                .query_row(params![job, slot, until, now, catch_up], |r| r.get(0))
                .optional()?;
            Ok(token.map(|token| JobLease { token }))
        })
        .await
    }

    async fn job_release(&self, job: &str, lease: JobLease) -> Result<(), StoreError> {
        let job = job.to_string();
        self.aux(move |c| {
            c.prepare_cached("UPDATE jobs SET leased_until = 0 WHERE job = ? AND token = ?")?
                .execute(params![job, lease.token])?;
            Ok(())
        })
        .await
    }
}
