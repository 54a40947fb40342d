//! Units of work in PostgreSQL transactions.
//!
//! A unit is a synchronous closure over [`WriteTx`]; it runs on the blocking
//! pool, and each of its store calls drives its statements to completion on
//! the runtime's handle.
//!
//! SQLite runs every unit alone (one writer), so whatever a unit reads
//! before it writes — the current version it updates, the search behind a
//! conditional create or reference, what a post-write hook looks up — is
//! still true when it commits. Here each unit first takes its tenant's
//! write lock, a PostgreSQL advisory *transaction* lock: units of one
//! tenant take turns, exactly as under SQLite, on every node; units of
//! different tenants (practices) run side by side. One lock per unit, taken
//! first, so units cannot deadlock each other; released at commit or
//! rollback, so a crashed node never leaves it behind.
//!
//! Finer locks (per resource, per type) were tried first: a post-write hook
//! searching the type its unit had just written needed to upgrade a shared
//! lock, and two such units deadlocked (PostgreSQL resolves that after a
//! second, answering one with a conflict) — imports of generated practices
//! lost bundles to it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use deadpool_postgres::{Object, Transaction};
use tokio::runtime::Handle;

use super::conn::{self, Conn};
use super::{audit, index_rows, ledger, outbox, rows, search};
use crate::fhir::query::SearchQuery;
use crate::store::{AccessContext, NewVersion, StoreError, StoredResource, WriteTx, WriteWork};

/// Advisory lock class of a tenant's writes (also taken by
/// `compartment::written` to read a settled write order).
pub const TENANT_WRITE_LOCK: i32 = 7301;

/// What a committed unit did.
pub struct Outcome {
    /// It queued outbox messages (delivery starts at once).
    pub enqueued: bool,
    /// Resource versions it wrote.
    pub written: u64,
}

/// Runs `work` in a transaction on `client`.
pub async fn run(
    mut client: Object,
    ctx: AccessContext,
    work: WriteWork,
) -> Result<Outcome, StoreError> {
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let tx = handle.block_on(client.transaction()).map_err(conn::error)?;
        handle.block_on(Conn::Tx(&tx).execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&TENANT_WRITE_LOCK, &ctx.tenant],
        ))?;
        let mut enqueued = false;
        let mut written = 0;
        let mut unit = PgTx {
            tx: &tx,
            handle: &handle,
            ctx: &ctx,
            enqueued: &mut enqueued,
            written: &mut written,
        };
        let result = match catch_unwind(AssertUnwindSafe(|| work(&mut unit))) {
            Ok(r) => r,
            Err(_) => Err(StoreError::Backend("a unit of work panicked".into())),
        };
        match result {
            Ok(()) => {
                if enqueued {
                    // Delivered to listening nodes when the unit commits.
                    handle
                        .block_on(tx.batch_execute(&format!("NOTIFY {}", super::listen::CHANNEL)))
                        .map_err(conn::error)?;
                }
                handle
                    .block_on(tx.commit())
                    .map_err(|e| match conn::error(e) {
                        StoreError::Backend(m) => {
                            StoreError::Backend(format!("commit failed: {m}"))
                        }
                        other => other,
                    })?;
                Ok(Outcome { enqueued, written })
            }
            Err(e) => {
                let _ = handle.block_on(tx.rollback());
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| StoreError::Backend(format!("write task failed: {e}")))?
}

struct PgTx<'a> {
    tx: &'a Transaction<'a>,
    handle: &'a Handle,
    ctx: &'a AccessContext,
    enqueued: &'a mut bool,
    written: &'a mut u64,
}

impl PgTx<'_> {
    fn conn(&self) -> Conn<'_> {
        Conn::Tx(self.tx)
    }
}

impl WriteTx for PgTx<'_> {
    fn current(&mut self, rt: &str, id: &str) -> Result<Option<StoredResource>, StoreError> {
        self.handle
            .block_on(rows::current(&self.conn(), &self.ctx.tenant, rt, id))
    }

    fn find(
        &mut self,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.handle
            .block_on(search::find(&self.conn(), &self.ctx.tenant, query, limit))
    }

    fn write(&mut self, v: NewVersion) -> Result<(), StoreError> {
        let c = self.conn();
        self.handle.block_on(async {
            // What a guest creates stays visible to it; what it changes does
            // not become its own.
            if self.ctx.guest && v.version == 1 {
                c.execute(
                    "INSERT INTO authors (tenant, type, id, author) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&self.ctx.tenant, &v.resource_type, &v.id, &self.ctx.client_id],
                )
                .await?;
            }
            write_version(&c, &self.ctx.tenant, v).await
        })?;
        *self.written += 1;
        Ok(())
    }

    fn audit(&mut self, event: crate::store::audit::AuditRow) -> Result<(), StoreError> {
        self.handle.block_on(audit::insert(&self.conn(), &event))
    }

    fn enqueue(&mut self, m: crate::store::outbox::OutboxMessage) -> Result<bool, StoreError> {
        let inserted = self
            .handle
            .block_on(outbox::insert(&self.conn(), &self.ctx.tenant, &m))?;
        *self.enqueued |= inserted;
        Ok(inserted)
    }

    fn record_submission(
        &mut self,
        s: crate::store::ledger::NewSubmission,
    ) -> Result<Option<i64>, StoreError> {
        self.handle
            .block_on(ledger::insert(&self.conn(), &self.ctx.tenant, &s))
    }

    fn release_submission(&mut self, seq: i64, by: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.handle.block_on(ledger::release(
            &self.conn(),
            &self.ctx.tenant,
            seq,
            by,
            at_ms,
        ))
    }

    fn nested(
        &mut self,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.handle
            .block_on(self.conn().batch("SAVEPOINT nested"))?;
        let result = work(self);
        if result.is_err() {
            self.handle
                .block_on(self.conn().batch("ROLLBACK TO SAVEPOINT nested"))?;
        }
        self.handle
            .block_on(self.conn().batch("RELEASE SAVEPOINT nested"))?;
        result
    }
}

/// Writes one version: exactly one above the current one, or a conflict
/// (never an error that would abort the transaction: the unit may go on).
async fn write_version(c: &Conn<'_>, tenant: &str, v: NewVersion) -> Result<(), StoreError> {
    let stale = || {
        StoreError::Conflict(format!(
            "{}/{} is not at version {}",
            v.resource_type,
            v.id,
            v.version - 1
        ))
    };
    let rid: i64 = if v.version == 1 {
        c.query_opt(
            "INSERT INTO resources (tenant, type, id, version, last_updated, deleted, hseq) \
             VALUES ($1, $2, $3, 1, $4, $5, 0) ON CONFLICT (tenant, type, id) DO NOTHING RETURNING rid",
            &[&tenant, &v.resource_type, &v.id, &v.last_updated_ms, &v.deleted],
        )
        .await?
        .ok_or_else(stale)?
        .get(0)
    } else {
        match c
            .query_opt(
                "SELECT rid, version FROM resources WHERE tenant = $1 AND type = $2 AND id = $3 FOR UPDATE",
                &[&tenant, &v.resource_type, &v.id],
            )
            .await?
        {
            Some(r) if r.get::<_, i64>(1) + 1 == v.version => r.get(0),
            _ => return Err(stale()),
        }
    };
    // The history row and the pointer to it in one statement (one round trip).
    c.execute(
        "WITH h AS (INSERT INTO history (rid, tenant, type, id, version, last_updated, deleted, method, body) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq) \
         UPDATE resources SET version = $5, last_updated = $6, deleted = $7, hseq = (SELECT seq FROM h) \
         WHERE rid = $1",
        &[
            &rid,
            &tenant,
            &v.resource_type,
            &v.id,
            &v.version,
            &v.last_updated_ms,
            &v.deleted,
            &v.method,
            &v.body,
        ],
    )
    .await?;
    match v.version {
        1 if v.deleted => Ok(()),
        1 => index_rows::insert_all(c, tenant, &v, rid).await,
        _ => index_rows::replace(c, tenant, &v, rid).await,
    }
}
