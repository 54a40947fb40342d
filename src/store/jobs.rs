//! Scheduled jobs shared by several nodes: the overdue sweep, the program
//! feed, re-stratification and the chart refresh each tick on every node,
//! and this lease decides which node runs a tick.
//!
//! A job's time is cut into slots of its period (wall-clock seconds since
//! the epoch divided by the period); a node takes the slot it is in when the
//! slot has not run yet and no run is under way (its lease is live). So a
//! job runs at most once per period across nodes however many tick, and two
//! runs never overlap unless one outlives its lease — the jobs are
//! idempotent, so an overlap costs work, never correctness. A node that dies
//! mid-run leaves its lease to expire; the next slot runs elsewhere. The
//! start-up run (`catch_up`) ignores the slot: a restarted node catches up
//! at once, yet still not beside a run under way.

use async_trait::async_trait;

use super::StoreError;

/// A claim on one run of a job, released when the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLease {
    /// Names this run: only its holder releases it.
    pub token: i64,
}

/// What a node asks for on a tick.
#[derive(Debug, Clone, Copy)]
pub struct JobTick<'a> {
    pub job: &'a str,
    /// `now_ms / 1000 / period`.
    pub slot: i64,
    pub now_ms: i64,
    /// How long the run may hold the job before another node may take it.
    pub lease_ms: i64,
    /// The start-up run: taken whatever slot ran last.
    pub catch_up: bool,
}

impl<'a> JobTick<'a> {
    /// The tick of `job`, run every `period_secs`, at `now_ms`; the lease
    /// lasts ten periods, at least ten minutes.
    pub fn at(job: &'a str, period_secs: u64, now_ms: i64, catch_up: bool) -> Self {
        let period = period_secs.max(1) as i64;
        JobTick {
            job,
            slot: now_ms / 1000 / period,
            now_ms,
            lease_ms: (10 * period * 1000).max(600_000),
            catch_up,
        }
    }
}

#[async_trait]
pub trait JobStore {
    /// Takes the tick's run if it is this node's to do; `None` when the slot
    /// already ran or a run is under way. One statement, so racing nodes
    /// get one lease between them.
    async fn job_claim(&self, tick: JobTick<'_>) -> Result<Option<JobLease>, StoreError>;

    /// Ends the run `lease` held (nothing when another took the job since).
    async fn job_release(&self, job: &str, lease: JobLease) -> Result<(), StoreError>;
}
