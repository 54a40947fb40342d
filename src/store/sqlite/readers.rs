//! The reader pool: read-only connections lent to blocking tasks.
//!
//! A lease holds both the connection and its permit, and gives the
//! connection back when dropped, so a reader closure that panics returns its
//! connection like one that succeeds, and a permit is never free while its
//! connection is out. When the request that asked for a read goes away
//! (client gone, request timeout), the query it started is interrupted
//! (`sqlite3_interrupt`) instead of running on and holding a reader.
//!
//! Two bounds keep one client from taking every reader: a query given a
//! time budget (client searches) is stopped when it runs out, answering
//! `TooCostly`; and one tenant holds at most all readers but a quarter, so
//! another practice's read always finds one soon.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::{Connection, InterruptHandle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

/// Tenants remembered with their reader share; beyond it, idle ones are forgotten.
const TENANTS_KEPT: usize = 1024;
/// Virtual-machine steps between budget checks (a few microseconds).
const BUDGET_CHECK_OPS: i32 = 10_000;

pub(super) struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Readers one tenant may hold at once.
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A connection on loan; returned to the pool when dropped (also while a
/// panic unwinds), and only then is its permit released.
struct Lease {
    conn: Option<Connection>,
    pool: Arc<ReadPool>,
    _permit: OwnedSemaphorePermit,
    _share: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.conns.lock().push(c);
        }
    }
}

/// Interrupts the leased connection's query if the waiting future is dropped
/// before the query finished. The blocking side disarms it (under the same
/// lock) before giving the connection back, so a late interrupt can never hit
/// the connection's next borrower.
struct Abandon(Arc<Mutex<Option<InterruptHandle>>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(h) = self.0.lock().take() {
            h.interrupt();
        }
    }
}

/// Disarms [`Abandon`] when the query is over, before the connection goes back.
struct Disarm(Arc<Mutex<Option<InterruptHandle>>>);

impl Drop for Disarm {
    fn drop(&mut self) {
        self.0.lock().take();
    }
}

impl ReadPool {
    pub(super) fn new(conns: Vec<Connection>) -> ReadPool {
        let n = conns.len();
        ReadPool {
            conns: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(n)),
            per_tenant: (n - n / 4).max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The reader share of `tenant`.
    fn share(&self, tenant: &str) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock();
        if tenants.len() >= TENANTS_KEPT && !tenants.contains_key(tenant) {
            let full = self.per_tenant;
            tenants.retain(|_, s| s.available_permits() < full);
        }
        tenants
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone()
    }

    /// Stops lending: waiting and later reads answer `Closed`.
    pub(super) fn close(&self) {
        self.permits.close();
    }

    /// Runs `f` for `tenant` on a pooled connection on the blocking pool,
    /// stopping it with `TooCostly` after `budget` when one is given.
    pub(super) async fn run<T, F>(
        self: &Arc<Self>,
        tenant: &str,
        budget: Option<Duration>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let share = self
            .share(tenant)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self.conns.lock().pop().ok_or_else(|| {
            StoreError::Backend("reader pool: a permit without a connection".into())
        })?;
        let armed = Arc::new(Mutex::new(Some(conn.get_interrupt_handle())));
        let lease = Lease {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
            _share: share,
        };
        let abandon = Abandon(armed.clone());
        let result = tokio::task::spawn_blocking(move || {
            let lease = lease;
            // Dropped before the lease (reverse order), on return or panic.
            let _disarm = Disarm(armed);
            let conn = lease.conn.as_ref().expect("a lease holds its connection");
            let Some(budget) = budget else {
                return f(conn);
            };
            let over = Arc::new(AtomicBool::new(false));
            let deadline = Instant::now() + budget;
            let flag = over.clone();
            conn.progress_handler(
                BUDGET_CHECK_OPS,
                Some(move || {
                    let out = Instant::now() >= deadline;
                    flag.store(out, Ordering::Relaxed);
                    out
                }),
            );
            let r = f(conn);
            conn.progress_handler(0, None::<fn() -> bool>);
            match r {
                Err(_) if over.load(Ordering::Relaxed) => Err(StoreError::TooCostly(format!(
                    "the query ran past its {} ms budget",
                    budget.as_millis()
                ))),
                r => r,
            }
        })
        .await;
        drop(abandon);
        match result {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(StoreError::Backend("a reader panicked".into())),
            Err(e) => Err(StoreError::Backend(format!("reader task failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rusqlite::Connection;

    use super::ReadPool;
    use crate::store::StoreError;

    fn pool(n: usize) -> (tempfile::TempDir, Arc<ReadPool>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42);")
            .unwrap();
        let conns = (0..n).map(|_| Connection::open(&path).unwrap()).collect();
        (dir, Arc::new(ReadPool::new(conns)))
    }

    async fn answer(p: &Arc<ReadPool>) -> Result<i64, StoreError> {
        p.run("a", None, |c| {
            Ok(c.query_row("SELECT x FROM t", [], |r| r.get(0))?)
        })
        .await
    }

    /// A reader closure that panics gives its connection back: more panics
    /// than connections, and the pool still reads.
    #[tokio::test]
    async fn a_panicking_reader_returns_its_connection() {
        let (_dir, p) = pool(2);
        for _ in 0..5 {
            let r: Result<(), StoreError> = p.run("a", None, |_| panic!("a reader bug")).await;
            assert!(matches!(r, Err(StoreError::Backend(_))));
        }
        assert_eq!(answer(&p).await.unwrap(), 42);
    }

    /// Queries whose requests went away are interrupted: with every reader
    /// running an abandoned query that would take minutes, a new read is
    /// answered at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_queries_are_interrupted() {
        let (_dir, p) = pool(2);
        let heavy = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) SELECT count(*) FROM c";
        for _ in 0..4 {
            let run = p.run("a", None, move |c| {
                Ok(c.query_row(heavy, [], |r| r.get::<_, i64>(0))?)
            });
            assert!(
                tokio::time::timeout(Duration::from_millis(100), run)
                    .await
                    .is_err(),
                "the heavy query is still running when its request goes away"
            );
        }
        let read = tokio::time::timeout(Duration::from_secs(10), answer(&p)).await;
        assert_eq!(read.expect("a reader was free again").unwrap(), 42);
    }

    const HEAVY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) SELECT count(*) FROM c";

    /// A query with a budget stops when it runs out and says so; the
    /// connection then serves the next query normally.
    #[tokio::test]
    async fn a_budget_stops_a_heavy_query() {
        let (_dir, p) = pool(1);
        let started = std::time::Instant::now();
        let r = p
            .run("a", Some(Duration::from_millis(200)), |c| {
                Ok(c.query_row(HEAVY, [], |r| r.get::<_, i64>(0))?)
            })
            .await;
        assert!(matches!(r, Err(StoreError::TooCostly(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(answer(&p).await.unwrap(), 42);
    }

    /// One tenant running heavy queries on every reader it may hold leaves
    /// a reader for another tenant.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_tenant_cannot_hold_every_reader() {
        let (_dir, p) = pool(4);
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let mut heavy = Vec::new();
        for _ in 0..6 {
            let (p, tx) = (p.clone(), tx.clone());
            heavy.push(tokio::spawn(async move {
                p.run("busy", Some(Duration::from_secs(20)), move |c| {
                    let _ = tx.try_send(());
                    Ok(c.query_row(HEAVY, [], |r| r.get::<_, i64>(0))?)
                })
                .await
            }));
        }
        // The busy tenant's share (3 of 4) is running.
        for _ in 0..3 {
            rx.recv().await.unwrap();
        }
        let other = p.run("other", None, |c| {
            Ok(c.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?)
        });
        let read = tokio::time::timeout(Duration::from_secs(5), other).await;
        assert_eq!(read.expect("another tenant reads at once").unwrap(), 42);
        for h in heavy {
            h.abort();
        }
    }
}
