//! [`JobStore`] on PostgreSQL: nodes racing for a tick meet in one upsert
//! on the job's row, so one of them gets the lease; tokens come from a
//! sequence, so a node whose lease expired cannot release its successor's.

use async_trait::async_trait;

use super::PgStore;
use super::conn::Conn;
use crate::store::StoreError;
use crate::store::jobs::{JobLease, JobStore, JobTick};

#[async_trait]
impl JobStore for PgStore {
    async fn job_claim(&self, tick: JobTick<'_>) -> Result<Option<JobLease>, StoreError> {
        let c = self.client().await?;
        let until = tick.now_ms + tick.lease_ms;
        let row = Conn::Client(&c)
            .query_opt(
                "INSERT INTO jobs (job, slot, leased_until, token)
                 VALUES ($1, $2, $3, nextval('job_tokens'))
                 ON CONFLICT (job) DO UPDATE SET slot = excluded.slot,
                    leased_until = excluded.leased_until, token = excluded.token
                 WHERE jobs.leased_until <= $4 AND (jobs.slot < excluded.slot OR $5)
                 RETURNING token",
                &[&tick.job, &tick.slot, &until, &tick.now_ms, &tick.catch_up],
            )
            .await?;
        Ok(row.map(|r| JobLease { token: r.get(0) }))
    }

    async fn job_release(&self, job: &str, lease: JobLease) -> Result<(), StoreError> {
        let c = self.client().await?;
        Conn::Client(&c)
            .execute(
                "UPDATE jobs SET leased_until = 0 WHERE job = $1 AND token = $2",
                &[&job, &lease.token],
            )
            .await?;
        Ok(())
    }
}
