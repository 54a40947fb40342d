//! The fast path for create-only transactions (what EHR exports and Synthea send).
//!
//! When every entry is a plain POST (no `ifNoneExist`), no id depends on the
//! database, so ids, reference rewriting, meta stamping and index extraction can
//! all happen before the unit of work reaches the single writer thread; the
//! writer only re-checks that conditional-reference targets still exist and
//! inserts. The result is the same as the general path's.

use std::collections::{HashMap, HashSet};

use super::audit_log::AuditUnit;
use super::bundle::{at_entry, rewrite_refs, unknown_urn};
use super::bundle_entry::{EntryResult, Method, Op};
use super::crud::{Conditional, parse_conditional};
use super::resource::{Stamper, WriteResult, stored};
use super::{FhirService, ServiceError};
use crate::fhir::id::new_id;
use crate::fhir::outcome::Issue;
use crate::fhir::reference::{Ref, parse as parse_ref};
use crate::store::{AccessContext, NewVersion, WriteTx, transact};

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
    let mut ids = HashMap::new();
    for op in ops.iter_mut() {
        op.id = Some(new_id());
        op.record_full_url(&mut ids);
    }
    let resolved = resolve_conditionals(svc, ctx, &st, &mut ops).await?;
    let targets: HashSet<String> = resolved.values().cloned().collect();
    let stamper = st.clone();
    let stamp = move || -> Result<(Vec<NewVersion>, Vec<bool>), ServiceError> {
        let mut versions = Vec::with_capacity(ops.len());
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
        }
        Ok((versions, ops.iter().map(|o| o.prefer_body).collect()))
    };
    let (versions, bodies) = tokio::task::spawn_blocking(stamp)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
    let du = svc.write_hooks(ctx);
    transact(svc.store.as_ref(), ctx, move |tx| {
        let (mut out, notes) = du.run(tx, |tx| write_all(tx, &targets, versions, bodies))?;
        notes.attach_entries(&mut out);
        audit.commit_entries(tx, &out)?;
        Ok(out)
    })
    .await
}

/// The writer-side part: re-check conditional targets, then insert every version.
fn write_all(
    tx: &mut dyn WriteTx,
    targets: &HashSet<String>,
    versions: Vec<NewVersion>,
    bodies: Vec<bool>,
) -> Result<Vec<EntryResult>, ServiceError> {
    // The targets were resolved outside the transaction: make sure they still exist.
    for t in targets {
        let (ty, id) = t.split_once('/').expect("resolved references are Type/id");
        if tx.current(ty, id)?.is_none_or(|c| c.deleted) {
            return Err(ServiceError::PreconditionFailed(Issue::error(
                "conflict",
                format!(
                    "{t}, the target of a conditional reference, was deleted meanwhile; retry."
                ),
            )));
        }
    }
    let mut out = Vec::with_capacity(versions.len());
    for (v, body) in versions.into_iter().zip(bodies) {
        let resource = Some(stored(&v));
        tx.write(v)?;
        out.push(EntryResult::from_write(
            WriteResult {
                status: 201,
                resource,
                issues: vec![],
            },
            body,
        ));
    }
    Ok(out)
}

/// Resolves every distinct conditional reference against committed data.
async fn resolve_conditionals(
    svc: &FhirService,
    ctx: &AccessContext,
    st: &Stamper,
    ops: &mut [Op],
) -> Result<HashMap<String, String>, ServiceError> {
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
    let mut resolved = HashMap::new();
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
        let found = svc.store.find(ctx, q, 2).await?;
        match found.as_slice() {
            [one] => {
                resolved.insert(r, format!("{}/{}", one.resource_type, one.id));
            }
            [] => {
                return Err(at_entry(
                    i,
                    ServiceError::PreconditionFailed(Issue::error(
                        "not-found",
                        format!(
                            "The conditional reference '{r}' matches no resource; create the target first."
                        ),
                    )),
                ));
            }
            _ => {
                return Err(at_entry(
                    i,
                    ServiceError::PreconditionFailed(Issue::error(
                        "multiple-matches",
                        format!("The conditional reference '{r}' matches more than one resource."),
                    )),
                ));
            }
        }
    }
    Ok(resolved)
}
