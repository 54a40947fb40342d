//! The single writer thread with group commit.
//!
//! SQLite allows one writer at a time, so all writes go through one thread that
//! owns the write connection. It takes every queued unit of work, runs each in its
//! own SAVEPOINT inside one transaction, commits once (one fsync for the group)
//! and only then answers the callers. A failing unit rolls back to its savepoint
//! without touching its neighbours; a failed commit fails the whole group.

use std::panic::{AssertUnwindSafe, catch_unwind};

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Notify, mpsc, oneshot};

use super::body;
use super::index_rows;
use super::rows;
use super::search;
use crate::fhir::query::SearchQuery;
use crate::store::{AccessContext, NewVersion, StoreError, StoredResource, WriteTx, WriteWork};

/// Largest number of units committed together.
const MAX_GROUP: usize = 256;

pub struct Job {
    pub ctx: AccessContext,
    pub work: Work,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Store-internal work on the connection itself (delivery bookkeeping), run
/// in the same group commit as resource writes instead of competing with the
/// writer for SQLite's lock.
pub type RawWork = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

pub enum Work {
    /// A unit of resource work through [`WriteTx`].
    Unit(WriteWork),
    Raw(RawWork),
}

/// Runs until the channel closes, then returns (dropping the connection cleanly).
pub fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, outbox: Arc<Notify>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if commit_group(&mut conn, group) {
            outbox.notify_one();
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Commits one group; true when it committed outbox messages.
fn commit_group(conn: &mut Connection, group: Vec<Job>) -> bool {
    if let Err(e) = sql(conn, "BEGIN IMMEDIATE") {
        for job in group {
            let _ = job.reply.send(Err(StoreError::Backend(e.to_string())));
        }
        return false;
    }
    let mut replies = Vec::with_capacity(group.len());
    let mut enqueued = false;
    for job in group {
        let result = run_unit(conn, &job.ctx, job.work, &mut enqueued);
        replies.push((job.reply, result));
    }
    if let Err(e) = sql(conn, "COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        for (reply, _) in replies {
            let _ = reply.send(Err(StoreError::Backend(format!("commit failed: {e}"))));
        }
        return false;
    }
    for (reply, result) in replies {
        let _ = reply.send(result);
    }
    enqueued
}

fn run_unit(
    conn: &Connection,
    ctx: &AccessContext,
    work: Work,
    enqueued: &mut bool,
) -> Result<(), StoreError> {
    sql(conn, "SAVEPOINT unit")?;
    let mut queued = false;
    let mut tx = SqliteTx {
        conn,
        ctx,
        enqueued: &mut queued,
    };
    let result = match catch_unwind(AssertUnwindSafe(|| match work {
        Work::Unit(work) => work(&mut tx),
        Work::Raw(work) => work(conn),
    })) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Backend("a unit of work panicked".into())),
    };
    if result.is_err() {
        sql(conn, "ROLLBACK TO unit")?;
    } else {
        *enqueued |= queued;
    }
    sql(conn, "RELEASE unit")?;
    result
}

/// Runs a fixed statement from the statement cache (savepoints run several
/// times per request; parsing them each time showed up in profiles).
fn sql(conn: &Connection, statement: &str) -> Result<(), StoreError> {
    conn.prepare_cached(statement)?.execute([])?;
    Ok(())
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    ctx: &'a AccessContext,
    /// Set when the unit queued an outbox message (the group then signals delivery).
    enqueued: &'a mut bool,
}

impl WriteTx for SqliteTx<'_> {
    fn current(&mut self, rt: &str, id: &str) -> Result<Option<StoredResource>, StoreError> {
        rows::current(self.conn, &self.ctx.tenant, rt, id)
    }

    fn find(
        &mut self,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        search::find(self.conn, &self.ctx.tenant, query, limit)
    }

    fn write(&mut self, v: NewVersion) -> Result<(), StoreError> {
        // What a guest creates stays visible to it; what it changes does not
        // become its own.
        if self.ctx.guest && v.version == 1 {
            self.conn
                .prepare_cached("INSERT INTO authors (tenant, type, id, author) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")?
                .execute(params![self.ctx.tenant, v.resource_type, v.id, self.ctx.client_id])?;
        }
        write_version(self.conn, &self.ctx.tenant, v)
    }

    fn audit(&mut self, event: crate::store::audit::AuditRow) -> Result<(), StoreError> {
        super::audit::insert(self.conn, &event)
    }

    fn enqueue(&mut self, m: crate::store::outbox::OutboxMessage) -> Result<bool, StoreError> {
        let inserted = super::outbox::insert(self.conn, &self.ctx.tenant, &m)?;
        *self.enqueued |= inserted;
        Ok(inserted)
    }

    fn record_submission(
        &mut self,
        s: crate::store::ledger::NewSubmission,
    ) -> Result<Option<i64>, StoreError> {
        super::ledger::insert(self.conn, &self.ctx.tenant, &s)
    }

    fn release_submission(&mut self, seq: i64, by: &str, at_ms: i64) -> Result<bool, StoreError> {
        super::ledger::release(self.conn, &self.ctx.tenant, seq, by, at_ms)
    }

    fn nested(
        &mut self,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        sql(self.conn, "SAVEPOINT nested")?;
        let result = work(self);
        if result.is_err() {
            sql(self.conn, "ROLLBACK TO nested")?;
        }
        sql(self.conn, "RELEASE nested")?;
        result
    }
}

fn write_version(conn: &Connection, tenant: &str, v: NewVersion) -> Result<(), StoreError> {
    let stale = || {
        StoreError::Conflict(format!(
            "{}/{} is not at version {}",
            v.resource_type,
            v.id,
            v.version - 1
        ))
    };
    let refused = |r: rusqlite::Result<usize>| match r {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(stale())
        }
        other => other.map_err(StoreError::from),
    };
    // A first version needs no lookup: if the resource exists after all,
    // resources' UNIQUE (tenant, type, id) refuses the insert. Its history
    // row is pointed at below, on the page just written.
    let rid = if v.version == 1 {
        refused(
            conn.prepare_cached("INSERT INTO resources (tenant, type, id, version, last_updated, deleted, hseq) VALUES (?, ?, ?, ?, ?, ?, 0)")?
                .execute(params![tenant, v.resource_type, v.id, v.version, v.last_updated_ms, v.deleted as i64]),
        )?;
        conn.last_insert_rowid()
    } else {
        let current: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT rid, version FROM resources WHERE tenant = ? AND type = ? AND id = ?",
            )?
            .query_row(params![tenant, v.resource_type, v.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match current {
            Some((rid, version)) if version + 1 == v.version => rid,
            _ => return Err(stale()),
        }
    };
    refused(
        conn.prepare_cached("INSERT INTO history (rid, tenant, type, id, version, last_updated, deleted, method, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")?
            .execute(params![rid, tenant, v.resource_type, v.id, v.version, v.last_updated_ms, v.deleted as i64, v.method, body::encode(&v.body, v.encoded.as_ref())?]),
    )?;
    let hseq = conn.last_insert_rowid();
    conn.prepare_cached(
        "UPDATE resources SET version = ?, last_updated = ?, deleted = ?, hseq = ? WHERE rid = ?",
    )?
    .execute(params![
        v.version,
        v.last_updated_ms,
        v.deleted as i64,
        hseq,
        rid
    ])?;
    match v.version {
        1 if v.deleted => Ok(()),
        1 => index_rows::insert_all(conn, tenant, &v, rid),
        _ => index_rows::replace(conn, tenant, &v, rid),
    }
}
