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

/// What a committed group did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Its units queued outbox messages (delivery starts at once).
    pub enqueued: bool,
    /// Resource versions they wrote.
    pub written: u64,
}

/// A queued unit of work and where its result goes.
pub struct Unit {
    pub ctx: AccessContext,
    pub work: WriteWork,
    pub reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Runs `units` (all of one tenant) in one transaction on `client`, each in
/// its own savepoint when there are several, so one failing unit rolls back
/// alone; commits once and only then answers each unit. A failed commit
/// fails them all.
pub async fn run(client: Object, tenant: String, units: Vec<Unit>) -> Outcome {
    let handle = Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let mut client = client;
        let mut replies = Vec::with_capacity(units.len());
        let mut outcome = Outcome::default();
        let committed = run_blocking(
            &handle,
            &mut client,
            &tenant,
            units,
            &mut replies,
            &mut outcome,
        );
        for (reply, result) in replies {
            let _ = reply.send(match (&committed, result) {
                (Ok(()), r) => r,
                (Err(e), Ok(())) => Err(e.clone()),
                (Err(_), Err(e)) => Err(e),
            });
        }
        if committed.is_ok() {
            outcome
        } else {
            Outcome::default()
        }
    });
    task.await.unwrap_or_default()
}

type Replies = Vec<(
    tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    Result<(), StoreError>,
)>;

fn run_blocking(
    handle: &Handle,
    client: &mut Object,
    tenant: &str,
    units: Vec<Unit>,
    replies: &mut Replies,
    outcome: &mut Outcome,
) -> Result<(), StoreError> {
    let tx = match handle.block_on(client.transaction()).map_err(conn::error) {
        Ok(tx) => tx,
        Err(e) => {
            replies.extend(units.into_iter().map(|u| (u.reply, Ok(()))));
            return Err(e);
        }
    };
    let locked = handle.block_on(Conn::Tx(&tx).execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&TENANT_WRITE_LOCK, &tenant],
    ));
    if let Err(e) = locked {
        replies.extend(units.into_iter().map(|u| (u.reply, Ok(()))));
        return Err(e);
    }
    // Alone, a unit needs no savepoint: its failure rolls back the whole.
    let alone = units.len() == 1;
    let mut any_ok = false;
    for u in units {
        let result = run_unit(handle, &tx, &u.ctx, u.work, alone, outcome);
        any_ok |= result.is_ok();
        replies.push((u.reply, result));
    }
    if !any_ok {
        let _ = handle.block_on(tx.rollback());
        return Ok(());
    }
    if outcome.enqueued {
        // Delivered to listening nodes when the group commits.
        handle
            .block_on(tx.batch_execute(&format!("NOTIFY {}", super::listen::CHANNEL)))
            .map_err(conn::error)?;
    }
    handle
        .block_on(tx.commit())
        .map_err(|e| match conn::error(e) {
            StoreError::Backend(m) => StoreError::Backend(format!("commit failed: {m}")),
            other => other,
        })
}

/// One unit, in a savepoint unless `alone`; its counts join `outcome` only
/// when it succeeds.
fn run_unit(
    handle: &Handle,
    tx: &Transaction<'_>,
    ctx: &AccessContext,
    work: WriteWork,
    alone: bool,
    outcome: &mut Outcome,
) -> Result<(), StoreError> {
    let c = Conn::Tx(tx);
    if !alone {
        handle.block_on(c.batch("SAVEPOINT unit"))?;
    }
    let (mut enqueued, mut written) = (false, 0);
    let mut unit = PgTx {
        tx,
        handle,
        ctx,
        enqueued: &mut enqueued,
        written: &mut written,
    };
    let result = match catch_unwind(AssertUnwindSafe(|| work(&mut unit))) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Backend("a unit of work panicked".into())),
    };
    if !alone {
        let end = if result.is_ok() {
            "RELEASE SAVEPOINT unit"
        } else {
            "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit"
        };
        handle.block_on(c.batch(end))?;
    }
    if result.is_ok() {
        outcome.enqueued |= enqueued;
        outcome.written += written;
    }
    result
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
///
/// One round trip: the resource row and its history row in one statement
/// (the history seq drawn first, so each row can name the other), its
/// index statements pipelined behind it (`index_rows`). A stale version
/// writes nothing, and the index statements then find no row to touch.
async fn write_version(c: &Conn<'_>, tenant: &str, v: NewVersion) -> Result<(), StoreError> {
    const CREATE: &str = "WITH s AS (SELECT nextval('history_seq_seq') AS seq), \
         r AS (INSERT INTO resources (tenant, type, id, version, last_updated, deleted, hseq) \
               SELECT $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::bool, s.seq FROM s \
               ON CONFLICT (tenant, type, id) DO NOTHING RETURNING rid, hseq) \
         INSERT INTO history (seq, rid, tenant, type, id, version, last_updated, deleted, method, body) \
         OVERRIDING SYSTEM VALUE SELECT r.hseq, r.rid, $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::bool, $7::text, $8::text FROM r";
    const UPDATE: &str = "WITH s AS (SELECT nextval('history_seq_seq') AS seq), \
         r AS (UPDATE resources SET version = $4::int8, last_updated = $5::int8, deleted = $6::bool, \
                   hseq = (SELECT seq FROM s) \
               WHERE tenant = $1 AND type = $2 AND id = $3 AND version = $4::int8 - 1 RETURNING rid, hseq) \
         INSERT INTO history (seq, rid, tenant, type, id, version, last_updated, deleted, method, body) \
         OVERRIDING SYSTEM VALUE SELECT r.hseq, r.rid, $1::text, $2::text, $3::text, $4::int8, $5::int8, $6::bool, $7::text, $8::text FROM r";
    let sql = if v.version == 1 { CREATE } else { UPDATE };
    let (rt, id) = (v.resource_type.as_str(), v.id.as_str());
    // Prepared first (once per connection), so the pipeline keeps its order.
    let sqls = std::iter::once(sql).chain(index_rows::sql_for(&v));
    futures::future::try_join_all(sqls.map(|s| c.statement(s))).await?;
    let mut pending: Vec<index_rows::Pending<'_>> = vec![Box::pin(async {
        c.execute(
            sql,
            &[
                &tenant,
                &rt,
                &id,
                &v.version,
                &v.last_updated_ms,
                &v.deleted,
                &v.method,
                &v.body,
            ],
        )
        .await
    })];
    index_rows::statements(c, tenant, &v, &mut pending);
    let results = conn::pipeline(pending).await;
    let mut results = results.into_iter();
    let written = results.next().expect("the version statement")?;
    for r in results {
        r?;
    }
    if written == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "{}/{} is not at version {}",
            v.resource_type,
            v.id,
            v.version - 1
        )))
    }
}
