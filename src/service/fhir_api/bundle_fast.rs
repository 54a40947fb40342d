//! The fast path for create-only transactions (what EHR exports and Synthea send).
//!
//! When every entry is a plain POST (no `ifNoneExist`), no id depends on the
//! database, so ids, reference rewriting, meta stamping and index extraction can
//! all happen before the unit of work reaches the single writer thread.
//! Conditional references are resolved ahead against committed data, and the
//! writer runs each one's search again inside the transaction: the same single
//! match, and it inserts; no match or several, and the transaction fails as
//! the general path's would (412); a different single match (the data changed
//! in between), and the whole Bundle runs again on the general path. So the
//! result is always the general path's, at the cost of a clone of the entries
//! for Bundles that have conditional references.

use std::collections::{HashMap, HashSet};

use crate::fhir::id::new_id;
use crate::fhir::outcome::Issue;
use crate::fhir::query::SearchQuery;
use crate::fhir::reference::{Ref, parse as parse_ref};
use crate::service::fhir_api::bundle::at_entry;
use crate::service::fhir_api::bundle_entry::{EntryResult, Method, Op};
use crate::service::fhir_api::bundle_refs::{conditional_target, rewrite_refs, unknown_urn};
use crate::service::fhir_api::crud::{Conditional, parse_conditional};
use crate::service::fhir_api::resource::{Stamper, WriteResult, stored};
use crate::service::security::audit_record::AuditUnit;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, NewVersion, StoreError, WriteTx, transact};

/// True when the transaction can take the fast path.
pub fn applies(ops: &[Op]) -> bool {
    !ops.is_empty()
        && ops
            .iter()
            .all(|o| o.method == Method::Post && o.if_none_exist.is_none())
}

pub async fn run(
    svc: &FhirService,
    ctx: &AccessContext,
    st: Stamper,
    mut ops: Vec<Op>,
    audit: AuditUnit,
) -> Result<Vec<EntryResult>, ServiceError> {
    let wanted = conditionals(&st, &mut ops)?;
    // Kept only when the data can change under the resolution.
    let fallback = (!wanted.is_empty()).then(|| (ops.clone(), audit.clone()));
    let mut ids = HashMap::new();
    for op in ops.iter_mut() {
        op.id = Some(new_id());
        op.record_full_url(&mut ids);
    }
    let checks = resolve(svc, ctx, &st, wanted).await?;
    let resolved: HashMap<String, String> = checks
        .iter()
        .map(|c| (c.reference.clone(), c.target.clone()))
        .collect();
    let stamper = st.clone();
    let stamp = move || -> Result<(Vec<NewVersion>, Vec<Shape>), ServiceError> {
        let mut versions = Vec::with_capacity(ops.len());
        let mut shapes = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter_mut().enumerate() {
            let mut p = op.prepared.take().expect("POST entries carry a resource");
            rewrite_refs(
                &mut p.value,
                &mut |r| match ids.get(r).or_else(|| resolved.get(r)) {
                    Some(local) => Ok(Some(local.clone())),
                    None => match parse_ref(r, &stamper.base) {
                        Ref::Urn(u) => unknown_urn(u),
                        _ => Ok(None),
                    },
                },
            )
            .map_err(|e| at_entry(i, e))?;
            let id = op.id.clone().expect("assigned above");
            versions.push(stamper.version(&p.resource_type, &id, 1, p.value, "POST"));
            shapes.push(Shape {
                body: op.prefer_body,
                issues: p.issues,
            });
        }
        Ok((versions, shapes))
    };
    let (versions, shapes) = tokio::task::spawn_blocking(stamp)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
    let du = svc.write_hooks(ctx);
    let outcome = transact(svc.store.as_ref(), ctx, move |tx| {
        recheck(tx, &checks)?;
        let (mut out, notes) = du.run(tx, |tx| write_all(tx, versions, shapes))?;
        notes.attach_entries(&mut out);
        audit.commit_entries(tx, &out)?;
        Ok(out)
    })
    .await;
    match (outcome, fallback) {
        (Err(Fast::Stale), Some((ops, audit))) => svc.run_general(ctx, st, ops, audit).await,
        (Err(Fast::Stale), None) => Err(ServiceError::Internal(
            "a fast-path transaction without conditional references went stale".into(),
        )),
        (Err(Fast::Failed(e)), _) => Err(e),
        (Ok(out), _) => Ok(out),
    }
}

/// Why a fast-path unit of work did not commit.
enum Fast {
    Failed(ServiceError),
    /// A conditional reference now matches a different single resource.
    Stale,
}

impl From<ServiceError> for Fast {
    fn from(e: ServiceError) -> Fast {
        Fast::Failed(e)
    }
}

impl From<StoreError> for Fast {
    fn from(e: StoreError) -> Fast {
        Fast::Failed(e.into())
    }
}

/// A conditional reference resolved ahead: checked again in the transaction.
struct Check {
    entry: usize,
    reference: String,
    query: SearchQuery,
    target: String,
}

/// Runs each conditional search again inside the transaction.
fn recheck(tx: &mut dyn WriteTx, checks: &[Check]) -> Result<(), Fast> {
    for c in checks {
        let found = tx.find(&c.query, 2)?;
        match conditional_target(&c.reference, &found) {
            Ok(t) if t == c.target => {}
            Ok(_) => return Err(Fast::Stale),
            Err(e) => return Err(Fast::Failed(at_entry(c.entry, e))),
        }
    }
    Ok(())
}

/// How one entry's response is shaped: with the resource or not, and the
/// warnings its preparation found (profile issues, a foreign patient).
struct Shape {
    body: bool,
    issues: Vec<Issue>,
}

/// The writer-side part: insert every version.
fn write_all(
    tx: &mut dyn WriteTx,
    versions: Vec<NewVersion>,
    shapes: Vec<Shape>,
) -> Result<Vec<EntryResult>, ServiceError> {
    let mut out = Vec::with_capacity(versions.len());
    for (v, shape) in versions.into_iter().zip(shapes) {
        let resource = Some(stored(&v));
        tx.write(v)?;
        out.push(EntryResult::from_write(
            WriteResult {
                status: 201,
                resource,
                issues: shape.issues,
            },
            shape.body,
        ));
    }
    Ok(out)
}

/// Every distinct conditional reference, with the first entry naming it.
fn conditionals(st: &Stamper, ops: &mut [Op]) -> Result<Vec<(usize, String)>, ServiceError> {
    let mut wanted: Vec<(usize, String)> = Vec::new();
    let mut seen = HashSet::new();
    for (i, op) in ops.iter_mut().enumerate() {
        if let Some(p) = op.prepared.as_mut() {
            // The shared reference walk, used here only to list (nothing is rewritten).
            rewrite_refs(&mut p.value, &mut |r| {
                if matches!(parse_ref(r, &st.base), Ref::Conditional { .. })
                    && seen.insert(r.to_string())
                {
                    wanted.push((i, r.to_string()));
                }
                Ok(None)
            })?;
        }
    }
    Ok(wanted)
}

/// Resolves each conditional reference against committed data.
async fn resolve(
    svc: &FhirService,
    ctx: &AccessContext,
    st: &Stamper,
    wanted: Vec<(usize, String)>,
) -> Result<Vec<Check>, ServiceError> {
    let mut checks = Vec::with_capacity(wanted.len());
    for (i, r) in wanted {
        let Ref::Conditional {
            resource_type,
            query,
        } = parse_ref(&r, &st.base)
        else {
            continue;
        };
        let Conditional(q) = parse_conditional(&st.registry, &st.base, resource_type, query)
            .map_err(|e| at_entry(i, e))?;
        let found = svc.store.find(ctx, q.clone(), 2).await?;
        let target = conditional_target(&r, &found).map_err(|e| at_entry(i, e))?;
        checks.push(Check {
            entry: i,
            reference: r,
            query: q,
            target,
        });
    }
    Ok(checks)
}
