//! `tandem copy --from A --to B`: moves practices' records from one store
//! to another — the way from a SQLite file to PostgreSQL when a network
//! outgrows one machine — with ids, versions, last-updated times, request
//! methods, deletions and the whole history intact.
//!
//! It reads the source's history in commit order (`Store::changes`) and
//! writes each version through the target's own write path, so the target
//! builds its search indexes itself (from the same SearchParameters and
//! base URL) and a batch is all-or-nothing. A version the target already
//! holds is skipped, so an interrupted copy is run again to finish; a
//! target whose history disagrees (a resource at a version the source
//! never wrote next) stops the copy with the resource named, changing
//! nothing of that batch. Bodies are copied byte for byte.
//!
//! Only resources and their history move: audit trail, outbox, submission
//! ledger, run-chart rates, clients, people and keys stay (docs/operations.md).

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Database};
use crate::fhir::index::extract;
use crate::fhir::params::Registry;
use crate::store::{AccessContext, NewVersion, Store, StoreError, StoredResource, transact};

/// What moved for one practice.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Versions written to the target.
    pub versions: u64,
    /// Versions the target already held (an earlier, interrupted copy).
    pub present: u64,
}

/// Copies `tenants` (every practice of the source when empty), printing a
/// line per practice.
pub async fn run(
    cfg: &Config,
    from: &Database,
    to: &Database,
    tenants: Vec<String>,
    batch: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(from != to, "--from and --to name the same database");
    let options = cfg.store_options();
    let source = crate::store::open(from, &options)
        .await
        .with_context(|| format!("cannot open {from}"))?;
    let target = crate::store::open(to, &options)
        .await
        .with_context(|| format!("cannot open {to}"))?;
    let tenants = if tenants.is_empty() {
        source.tenants().await?
    } else {
        tenants
    };
    let registry = Registry::builtin();
    let base = cfg.base_url();
    for tenant in &tenants {
        let c = copy_tenant(&source, &target, &registry, &base, tenant, batch.max(1))
            .await
            .with_context(|| format!("copying practice {tenant}"))?;
        println!(
            "{tenant}: {} versions copied, {} already there",
            c.versions, c.present
        );
    }
    source.close().await;
    target.close().await;
    Ok(())
}

/// Copies one practice's history, `batch` versions per target transaction.
pub async fn copy_tenant(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    registry: &Registry,
    base: &str,
    tenant: &str,
    batch: usize,
) -> anyhow::Result<Copied> {
    let ctx = AccessContext::internal(tenant, "tandem-copy");
    let mut total = Copied::default();
    let mut after = 0;
    loop {
        let page = source.changes(&ctx, after, batch).await?;
        let Some((last, _)) = page.last() else {
            return Ok(total);
        };
        after = *last;
        let versions = page
            .into_iter()
            .map(|(_, r)| new_version(registry, base, r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let done = transact(target.as_ref(), &ctx, move |tx| {
            let mut done = Copied::default();
            for v in versions {
                let at = tx
                    .current(&v.resource_type, &v.id)?
                    .map_or(0, |c| c.version);
                if at >= v.version {
                    done.present += 1;
                } else if at + 1 == v.version {
                    tx.write(v)?;
                    done.versions += 1;
                } else {
                    return Err(StoreError::Conflict(format!(
                        "{}/{} is at version {at} in the target; the source's next is {}",
                        v.resource_type, v.id, v.version
                    )));
                }
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
        total.versions += done.versions;
        total.present += done.present;
    }
}

/// A stored version as the target writes it, indexed afresh.
fn new_version(registry: &Registry, base: &str, r: StoredResource) -> anyhow::Result<NewVersion> {
    let method = match r.method.as_str() {
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        other => anyhow::bail!(
            "{}/{} version {} has request method '{other}'",
            r.resource_type,
            r.id,
            r.version
        ),
    };
    let index = if r.deleted {
        Vec::new()
    } else {
        let value: serde_json::Value = serde_json::from_str(&r.body).with_context(|| {
            format!(
                "{}/{} version {} is not JSON",
                r.resource_type, r.id, r.version
            )
        })?;
        extract(registry, base, &r.resource_type, &value)
    };
    Ok(NewVersion {
        resource_type: r.resource_type,
        id: r.id,
        version: r.version,
        last_updated_ms: r.last_updated_ms,
        deleted: r.deleted,
        method,
        body: r.body,
        encoded: None,
        index,
    })
}
