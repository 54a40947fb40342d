//! Keeping the planner's statistics current after bulk writes.
//!
//! PostgreSQL plans from statistics that autovacuum refreshes about once a
//! minute at best, and only after a tenth of a table changed. A practice
//! loaded in seconds is then searched with no statistics at all: every
//! equality looks selective, and a count over a few thousand screening
//! results took seconds. So the store itself runs `ANALYZE` on a table once
//! enough of it changed since the last one: checked after every so many
//! written resources, at most one check at a time per node. The query
//! planning side is `Conn::query_planned`: the statements the search plan
//! renders are planned for their actual values, because FHIR codes are
//! skewed and one generic plan fits a rare code and a common tag badly.
//! Every other statement keeps PostgreSQL's default (planned afresh its
//! first five runs, then its generic plan when that costs no more):
//! planning every statement afresh had taken as long as running them
//! (pg_stat_statements over the stores bench: 23.4 s planning, 24.1 s
//! executing).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_postgres::Pool;

use super::conn::{Conn, pool_error};
use crate::store::StoreError;

/// Written resources between checks.
const CHECK_EVERY: u64 = 2_000;

/// Counts writes and starts a check when enough accumulated.
#[derive(Default)]
pub struct Analyzer {
    written: AtomicU64,
    running: Arc<AtomicBool>,
}

impl Analyzer {
    /// Notes `n` written resources; may start a check in the background.
    pub fn wrote(&self, pool: &Pool, n: u64) {
        let before = self.written.fetch_add(n, Ordering::Relaxed);
        if before / CHECK_EVERY == (before + n) / CHECK_EVERY {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, running) = (pool.clone(), self.running.clone());
        tokio::spawn(async move {
            if let Err(e) = analyze_changed(&pool).await {
                tracing::warn!(error = %e, "refreshing planner statistics failed");
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Analyzes each table of ours whose rows changed by a fifth (and at
/// least 500) since its last analysis.
pub async fn analyze_changed(pool: &Pool) -> Result<(), StoreError> {
    let c = pool.get().await.map_err(pool_error)?;
    let c = Conn::Client(&c);
    let stale = c
        .query(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()
               AND n_mod_since_analyze > 500 + n_live_tup / 5",
            &[],
        )
        .await?;
    for r in stale {
        let table: String = r.get(0);
        // A name read from the catalog, quoted: never client input.
        c.batch(&format!("ANALYZE \"{}\"", table.replace('"', "\"\"")))
            .await?;
    }
    Ok(())
}
