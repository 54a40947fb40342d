//! The PostgreSQL store: the same contract as SQLite's, for a program's
//! scale and for several Tandem nodes on one database.
//!
//! Driver: tokio-postgres with a deadpool pool. Chosen over sqlx because it
//! pipelines the statements a caller issues together on one connection
//! (the index rows of a write go out in one round trip), speaks COPY and
//! LISTEN/NOTIFY directly, and prepares each statement once per connection.
//!
//! Units of work are synchronous closures over [`WriteTx`](crate::store::WriteTx)
//! (the SQLite writer runs them on its own thread); here each runs on the
//! blocking pool inside its own PostgreSQL transaction, its statements
//! driven by the runtime's handle (`tx.rs`). Reads are ordinary async calls
//! on pooled connections.

mod analyze;
mod audit;
mod auth;
mod charts;
mod compartment;
mod conn;
mod group;
mod index_rows;
mod jobs;
mod ledger;
mod listen;
mod outbox;
mod rows;
mod schema;
mod search;
mod tx;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;

pub use conn::Conn;
use conn::pool_error;
pub use schema::fingerprint as schema_fingerprint;

use super::{
    AccessContext, HistoryPage, HistoryQuery, PatientPage, PatientRecord, SearchPage, Store,
    StoreError, StoredResource, WriteWork, Written,
};
use crate::fhir::query::SearchQuery;

pub struct PgStore {
    pool: Pool,
    /// Client searches and history pages: `pool`, or with a query budget a
    /// pool whose sessions carry it as their `statement_timeout`, so a
    /// search needs no transaction of its own to bound it.
    reads: Pool,
    config: tokio_postgres::Config,
    pool_size: usize,
    groups: Arc<group::Groups>,
    /// What a committed group sets off: the outbox wake-up, the analyzer.
    on_commit: OnCommit,
    outbox_signal: Arc<Notify>,
    /// How long a node's claim on an outbox message lasts.
    outbox_lease_ms: i64,
    /// The task listening for other nodes' outbox wake-ups.
    listener: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Run after each committed write group.
type OnCommit = Arc<dyn Fn(tx::Outcome) + Send + Sync>;

/// How the store connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections the pool keeps at most.
    pub pool_size: usize,
    /// How long a claim on an outbox message lasts: longer than any one
    /// delivery attempt takes, or a slow attempt is repeated by another node.
    pub outbox_lease_ms: i64,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            outbox_lease_ms: 120_000,
        }
    }
}

impl PgStore {
    /// Connects to `url` and migrates the database (under the migration
    /// lock, so nodes may start together).
    pub async fn connect(url: &str, options: &PgOptions) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = pool(config.clone(), options.pool_size)?;
        let (outbox_signal, analyzer) = (
            Arc::new(Notify::new()),
            Arc::new(analyze::Analyzer::default()),
        );
        let on_commit: OnCommit = {
            let (signal, analyzer, pool) = (outbox_signal.clone(), analyzer.clone(), pool.clone());
            Arc::new(move |outcome: tx::Outcome| {
                if outcome.enqueued {
                    signal.notify_one();
                }
                if outcome.written > 0 {
                    analyzer.wrote(&pool, outcome.written);
                }
            })
        };
        let store = PgStore {
            // One pool for everything until a query budget asks for its own.
            reads: pool.clone(),
            pool,
            config: config.clone(),
            pool_size: options.pool_size,
            groups: Arc::default(),
            on_commit,
            outbox_signal,
            outbox_lease_ms: options.outbox_lease_ms,
            listener: parking_lot::Mutex::new(None),
        };
        let c = store.client().await?;
        schema::migrate(&Conn::Client(&c)).await?;
        drop(c);
        let signal = store.outbox_signal.clone();
        *store.listener.lock() = Some(listen::spawn(config, signal));
        Ok(store)
    }

    /// Bounds each client search and history page to `budget`
    /// (`statement_timeout`), answering `TooCostly` past it.
    pub fn with_query_budget(mut self, budget: Duration) -> Result<PgStore, StoreError> {
        let timeout = format!("-c statement_timeout={}", budget.as_millis());
        let config = with_options(&self.config, &[&timeout]);
        self.reads = pool(config, self.pool_size)?;
        Ok(self)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// A connection for client searches, history and audit pages (bounded
    /// by the query budget when there is one).
    async fn reader(&self) -> Result<Object, StoreError> {
        self.reads.get().await.map_err(pool_error)
    }
}

/// `config` with session settings `options` added.
fn with_options(config: &tokio_postgres::Config, options: &[&str]) -> tokio_postgres::Config {
    let mut config = config.clone();
    let mut all: Vec<&str> = config.get_options().into_iter().collect();
    all.extend(options);
    config.options(all.join(" "));
    config
}

/// A pool of up to `size` connections made with `config` (lazily).
fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| StoreError::Backend(format!("database pool: {e}")))
}

/// Applies the migrations a database lacks; returns how many ran and the
/// version it is now at (`tandem migrate`).
pub async fn migrate(url: &str) -> Result<(usize, i64), StoreError> {
    let options = PgOptions {
        pool_size: 2,
        ..PgOptions::default()
    };
    let store = PgStore::connect(url, &options).await?;
    let c = store.client().await?;
    let ran = schema::migrate(&Conn::Client(&c)).await?;
    let version = schema::version(&Conn::Client(&c)).await?;
    Ok((ran, version))
}

#[async_trait]
impl Store for PgStore {
    async fn read(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let c = self.client().await?;
        rows::current(&Conn::Client(&c), &ctx.tenant, rt, id).await
    }

    async fn vread(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let c = self.client().await?;
        rows::version(&Conn::Client(&c), &ctx.tenant, rt, id, version).await
    }

    async fn history(
        &self,
        ctx: &AccessContext,
        query: HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        let c = self.reader().await?;
        rows::history(&Conn::Client(&c), &ctx.tenant, &query).await
    }

    async fn search(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
    ) -> Result<SearchPage, StoreError> {
        let c = self.reader().await?;
        search::search(&Conn::Client(&c), &ctx.tenant, &query).await
    }

    async fn find(
        &self,
        ctx: &AccessContext,
        query: SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let c = self.client().await?;
        search::find(&Conn::Client(&c), &ctx.tenant, &query, limit).await
    }

    async fn patient_records(
        &self,
        ctx: &AccessContext,
        page: PatientPage,
    ) -> Result<Vec<PatientRecord>, StoreError> {
        let c = self.client().await?;
        compartment::page(&Conn::Client(&c), &ctx.tenant, &page).await
    }

    async fn patient_ids(
        &self,
        ctx: &AccessContext,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        compartment::ids(
            &Conn::Client(&c),
            &ctx.tenant,
            after.as_deref().unwrap_or_default(),
            limit,
        )
        .await
    }

    async fn patients_written(
        &self,
        ctx: &AccessContext,
        types: Vec<String>,
        after: Option<i64>,
    ) -> Result<Written, StoreError> {
        let mut c = self.client().await?;
        compartment::written(&mut c, &ctx.tenant, &types, after).await
    }

    async fn changes(
        &self,
        ctx: &AccessContext,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredResource)>, StoreError> {
        let c = self.client().await?;
        rows::changes(&Conn::Client(&c), &ctx.tenant, after_seq, limit).await
    }

    async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        // A skip scan over the (tenant, …) index: one probe per tenant.
        let rows = Conn::Client(&c)
            .query(
                "WITH RECURSIVE t(x) AS (SELECT MIN(tenant) FROM resources
                   UNION ALL SELECT (SELECT MIN(tenant) FROM resources WHERE tenant > x) FROM t WHERE x IS NOT NULL)
                 SELECT x FROM t WHERE x IS NOT NULL",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn write(&self, ctx: &AccessContext, work: WriteWork) -> Result<(), StoreError> {
        self.groups
            .submit(&self.pool, ctx, work, self.on_commit.clone())
            .await
    }

    async fn close(&self) {
        if let Some(l) = self.listener.lock().take() {
            l.abort();
        }
        self.pool.close();
        self.reads.close();
    }
}
