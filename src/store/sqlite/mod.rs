//! The embedded SQLite store: one writer thread (group commit), a pool of readers.
//!
//! WAL mode lets readers see the last committed state while the writer works.
//! All blocking SQLite calls run off the async runtime (`spawn_blocking` for
//! readers, a dedicated thread for the writer).

mod audit;
mod auth;
mod backup;
mod body;
mod charts;
mod compartment;
mod index_rows;
mod jobs;
mod ledger;
mod memory;
pub use backup::{backup, restore};
pub use memory::configure_process;
mod outbox;
mod readers;
mod rows;
mod schema;
mod search;

mod walbuf;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use readers::ReadPool;

use super::{
    AccessContext, EncodedBody, HistoryPage, HistoryQuery, NewVersion, PatientPage, PatientRecord,
    SearchPage, Store, StoreError, StoredResource, WriteWork, Written,
};
use crate::fhir::query::SearchQuery;

/// How many read connections the pool keeps.
const READERS: usize = 8;
/// Queued writes before callers wait (backpressure).
const WRITE_QUEUE: usize = 4096;

pub struct SqliteStore {
    sender: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    readers: Arc<ReadPool>,
    aux: auth::AuxConn,
    outbox_signal: Arc<tokio::sync::Notify>,
    /// How long one client search or history page may run.
    query_budget: Option<Duration>,
}

/// Copies WAL frames back into the database file on its own thread, so the
/// writer's commits rarely pay for checkpoints. Once every frame is copied it
/// also truncates the WAL when it can without waiting (no writer, no reader on
/// an old snapshot), because readers search a long WAL's index on every page
/// they read even when it is fully copied.
fn spawn_checkpointer(
    path: &Path,
) -> Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>), StoreError> {
    let conn = Connection::open(path)?;
    // No waiting: a truncating checkpoint holds the write lock while it waits
    // for readers and while it copies, syncs and truncates, and the writer's
    // next BEGIN IMMEDIATE then sleeps in SQLite's busy handler (1, 2, 5, 10 ms
    // steps; 2-8% of the writer's wall time in traces of the notification
    // benchmark, and visible in its p99). Truncation now only happens when
    // the lock is free and no reader is left on an old snapshot; meanwhile
    // SQLite reuses the log from its start.
    conn.pragma_update(None, "busy_timeout", 0)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("tandem-sqlite-checkpoint".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let passive = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                });
                if let Ok((0, log, copied)) = passive
                    && log >= TRUNCATE_AFTER_FRAMES
                    && log == copied
                {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                }
            }
        })
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok((stop, handle))
}

/// The schema version (`user_version`) of the database file at `path`.
pub fn schema_version(path: &Path) -> Result<i64, StoreError> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// WAL length (frames) above which a fully copied WAL is truncated.
const TRUNCATE_AFTER_FRAMES: i64 = 1000;

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates
    /// it, with the default settings.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, false)
    }

    /// [`SqliteStore::open`]; with `wal_buffer` the writer's log writes go
    /// through the layer that hands each commit's frames to the kernel in
    /// one write (see `walbuf`, opt-in: `[sqlite] wal_buffer`).
    pub fn open_with(path: &Path, wal_buffer: bool) -> Result<SqliteStore, StoreError> {
        let mut conn = if wal_buffer {
            walbuf::register()?;
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), walbuf::NAME)?
        } else {
            Connection::open(path)?
        };
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.set_prepared_statement_cache_capacity(schema::STATEMENT_CACHE);
            r.pragma_update(None, "busy_timeout", 5000)?;
            r.pragma_update(None, "mmap_size", 268_435_456)?;
            r.pragma_update(None, "cache_size", -32768)?;
            readers.push(r);
        }
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let outbox_signal = Arc::new(tokio::sync::Notify::new());
        let signal = outbox_signal.clone();
        let handle = std::thread::Builder::new()
            .name("tandem-sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, signal))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let checkpointer = spawn_checkpointer(path)?;
        let aux = auth::open_aux(path)?;
        Ok(SqliteStore {
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers: Arc::new(ReadPool::new(readers)),
            aux,
            outbox_signal,
            query_budget: None,
        })
    }

    /// Bounds each client search and history page to `budget`: past it the
    /// query stops and the client is told to narrow it (`TooCostly`).
    /// Tandem's own reads (measures, derivations) are not bounded.
    pub fn with_query_budget(mut self, budget: Duration) -> SqliteStore {
        self.query_budget = Some(budget);
        self
    }

    /// Queues work for the writer thread and waits until it is committed.
    async fn submit(&self, ctx: AccessContext, work: writer::Work) -> Result<(), StoreError> {
        let sender = self.sender.lock().clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(writer::Job { ctx, work, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader, counted to `tenant`'s share of the readers.
    async fn with_reader<T, F>(&self, tenant: &str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(tenant, None, f).await
    }

    /// [`Self::with_reader`] for a client's query, within the query budget.
    async fn with_client_reader<T, F>(&self, tenant: &str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(tenant, self.query_budget, f).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn encode_ahead(&self, v: &mut NewVersion) -> Result<(), StoreError> {
        v.encoded = Some(EncodedBody {
            packed: body::pack(&v.body)?,
        });
        Ok(())
    }

    async fn read(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (tenant, rt, id) = (ctx.tenant.clone(), rt.to_string(), id.to_string());
        self.with_reader(&ctx.tenant, move |c| rows::current(c, &tenant, &rt, &id))
            .await
    }

    async fn vread(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (tenant, rt, id) = (ctx.tenant.clone(), rt.to_string(), id.to_string());
        self.with_reader(&ctx.tenant, move |c| {
            rows::version(c, &tenant, &rt, &id, version)
        })
        .await
    }

    async fn history(
        &self,
        ctx: &AccessContext,
        query: HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_client_reader(&ctx.tenant, move |c| rows::history(c, &tenant, &query))
            .await
    }

    async fn search(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
    ) -> Result<SearchPage, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_client_reader(&ctx.tenant, move |c| search::search(c, &tenant, &query))
            .await
    }

    async fn find(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_reader(&ctx.tenant, move |c| {
            search::find(c, &tenant, &query, limit)
        })
        .await
    }

    async fn patient_records(
        &self,
        ctx: &AccessContext,
        page: PatientPage,
    ) -> Result<Vec<PatientRecord>, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_reader(&ctx.tenant, move |c| compartment::page(c, &tenant, &page))
            .await
    }

    async fn patient_ids(
        &self,
        ctx: &AccessContext,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_reader(&ctx.tenant, move |c| {
            compartment::ids(c, &tenant, after.as_deref().unwrap_or_default(), limit)
        })
        .await
    }

    async fn patients_written(
        &self,
        ctx: &AccessContext,
        types: Vec<String>,
        after: Option<i64>,
    ) -> Result<Written, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_reader(&ctx.tenant, move |c| {
            compartment::written(c, &tenant, &types, after)
        })
        .await
    }

    async fn changes(
        &self,
        ctx: &AccessContext,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredResource)>, StoreError> {
        let tenant = ctx.tenant.clone();
        self.with_reader(&ctx.tenant, move |c| {
            rows::changes(c, &tenant, after_seq, limit)
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        // A skip scan over the (tenant, …) index: one probe per tenant, not per row.
        self.with_reader("", |c| {
            let mut st = c.prepare_cached(
                "WITH RECURSIVE t(x) AS (SELECT MIN(tenant) FROM resources
                   UNION ALL SELECT (SELECT MIN(tenant) FROM resources WHERE tenant > x) FROM t WHERE x IS NOT NULL)
                 SELECT x FROM t WHERE x IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn write(&self, ctx: &AccessContext, work: WriteWork) -> Result<(), StoreError> {
        self.submit(ctx.clone(), writer::Work::Unit(work)).await
    }

    async fn close(&self) {
        let checkpointer = self.checkpointer.lock().take();
        if let Some((stop, handle)) = checkpointer {
            stop.store(true, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        self.sender.lock().take();
        let handle = self.writer.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        self.readers.close();
    }
}
