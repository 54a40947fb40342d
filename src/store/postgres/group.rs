//! Group commit per tenant. A tenant's units take turns under its write
//! lock (`tx.rs`), and a commit waits for its WAL flush while holding that
//! lock: one unit per commit would cap a practice's writes at one flush
//! each, whatever the load. So, as SQLite's writer does, units of one
//! tenant that arrive while its transaction runs wait here and go together
//! in the next one (one flush for the group, each unit in its own
//! savepoint); different tenants' groups run side by side on their own
//! connections. Across nodes the tenant lock still orders the groups.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Pool;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::conn::pool_error;
use super::tx::{self, Outcome, Unit};
use crate::store::{AccessContext, StoreError, WriteWork};

/// Largest number of units committed together.
const MAX_GROUP: usize = 256;

/// Queued units per tenant; a tenant is in the map while its leader runs.
#[derive(Default)]
pub struct Groups {
    queues: Mutex<HashMap<String, Vec<Unit>>>,
}

impl Groups {
    /// Runs `work` for `ctx`'s tenant in the next group; `done` sees each
    /// committed group's outcome (the outbox signal, the analyzer).
    pub async fn submit(
        self: &Arc<Self>,
        pool: &Pool,
        ctx: &AccessContext,
        work: WriteWork,
        done: Arc<dyn Fn(Outcome) + Send + Sync>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let unit = Unit {
            ctx: ctx.clone(),
            work,
            reply,
        };
        let lead = {
            let mut queues = self.queues.lock();
            match queues.get_mut(&ctx.tenant) {
                Some(q) => {
                    q.push(unit);
                    false
                }
                None => {
                    queues.insert(ctx.tenant.clone(), vec![unit]);
                    true
                }
            }
        };
        if lead {
            let (groups, pool, tenant) = (self.clone(), pool.clone(), ctx.tenant.clone());
            tokio::spawn(async move { groups.lead(pool, tenant, done).await });
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("the write group ended".into())))
    }

    /// Commits the tenant's queued units group by group until none wait.
    async fn lead(&self, pool: Pool, tenant: String, done: Arc<dyn Fn(Outcome) + Send + Sync>) {
        loop {
            let units = {
                let mut queues = self.queues.lock();
                let Some(q) = queues.get_mut(&tenant) else {
                    return;
                };
                if q.is_empty() {
                    queues.remove(&tenant);
                    return;
                }
                let n = q.len().min(MAX_GROUP);
                q.drain(..n).collect::<Vec<_>>()
            };
            match pool.get().await.map_err(pool_error) {
                Ok(client) => done(tx::run(client, tenant.clone(), units).await),
                Err(e) => {
                    for u in units {
                        let _ = u.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}
