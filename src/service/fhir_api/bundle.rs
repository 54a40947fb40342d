//! Transaction and batch Bundles (POST to the base URL).
//!
//! A transaction is one unit of work: every entry succeeds or nothing is stored.
//! Entries run in FHIR order (DELETE, POST, PUT, GET); `urn:uuid:` fullUrls and
//! conditional references (`Type?query`) are resolved and rewritten everywhere.
//! A batch is also one commit, but each entry runs in its own savepoint so a
//! failing entry leaves the others in place.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::bundle::{Entry, render};
use crate::fhir::id::new_id;
use crate::fhir::outcome::Issue;
use crate::service::fhir_api::bundle_entry::{
    EntryResult, Method, Op, error_result, parse_entries,
};
use crate::service::fhir_api::bundle_refs::{resolve_ref, rewrite_refs};
use crate::service::fhir_api::crud::{
    tx_conditional_delete, tx_conditional_update, tx_delete, tx_update,
};
use crate::service::fhir_api::resource::{Prefer, Stamper, WriteResult, stored};
use crate::service::security::audit_record::AuditUnit;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, StoreError, WriteTx, transact};

impl FhirService {
    /// Processes a transaction or batch Bundle and renders the response Bundle.
    pub async fn process_bundle(
        &self,
        ctx: &AccessContext,
        mut bundle: Value,
        prefer: Prefer,
    ) -> Result<String, ServiceError> {
        let body = prefer == Prefer::Representation;
        let kind = match bundle.get("type").and_then(Value::as_str) {
            Some(k @ ("transaction" | "batch")) => k.to_string(),
            other => {
                return Err(ServiceError::bad(Issue::error("invalid", format!("POST to the base URL takes a Bundle of type transaction or batch (got {}).", other.unwrap_or("none"))).at("Bundle.type")));
            }
        };
        let entries = match bundle.get_mut("entry").map(Value::take) {
            Some(Value::Array(entries)) => entries,
            _ => Vec::new(),
        };
        if entries.len() > self.settings.max_bundle_entries {
            return Err(ServiceError::TooLarge(Issue::error(
                "too-costly",
                format!(
                    "The Bundle has {} entries; the limit is {}. Split it.",
                    entries.len(),
                    self.settings.max_bundle_entries
                ),
            )));
        }
        let st = self.stamper();
        let audit = self.audit_unit(ctx, Interaction::Operation, &kind);
        let results = if kind == "transaction" {
            let ops = parse_entries(self, entries, body).map_err(|(i, e)| at_entry(i, e))?;
            let allowances = ops
                .iter()
                .enumerate()
                .map(|(i, op)| self.allow_entry(ctx, op, true).map_err(|e| at_entry(i, e)))
                .collect::<Result<Vec<_>, _>>()?;
            self.may_update_entries(ctx, &ops, &allowances).await?;
            if crate::service::fhir_api::bundle_fast::applies(&ops) {
                crate::service::fhir_api::bundle_fast::run(self, ctx, st, ops, audit).await?
            } else {
                self.run_general(ctx, st, ops, audit).await?
            }
        } else {
            let parsed: Vec<_> =
                crate::service::fhir_api::bundle_entry::parse_each(self, entries, body)
                    .into_iter()
                    .map(|op| op.and_then(|op| self.allow_entry(ctx, &op, false).map(|_| op)))
                    .collect();
            let du = self.write_hooks(ctx);
            transact(self.store.as_ref(), ctx, move |tx| {
                let (mut r, notes) = du.run(tx, |tx| Ok(run_batch(tx, &st, parsed)))?;
                notes.attach_entries(&mut r);
                audit.commit_entries(tx, &r)?;
                Ok::<_, ServiceError>(r)
            })
            .await?
        };
        let base = &self.settings.base_url;
        let out: Vec<Entry> = results.into_iter().map(|r| r.into_entry(base)).collect();
        Ok(render(&format!("{kind}-response"), None, &[], &out))
    }
}

impl FhirService {
    /// The general transaction path: everything, conditional references
    /// included, resolved inside the unit of work.
    pub(crate) async fn run_general(
        &self,
        ctx: &AccessContext,
        st: Stamper,
        ops: Vec<Op>,
        audit: AuditUnit,
    ) -> Result<Vec<EntryResult>, ServiceError> {
        let du = self.write_hooks(ctx);
        transact(self.store.as_ref(), ctx, move |tx| {
            let (mut r, notes) = du.run(tx, |tx| run_transaction(tx, &st, ops))?;
            notes.attach_entries(&mut r);
            audit.commit_entries(tx, &r)?;
            Ok::<_, ServiceError>(r)
        })
        .await
    }
}

/// Prefixes an entry's issue with its position, so the sender can find it.
pub(crate) fn at_entry(i: usize, e: ServiceError) -> ServiceError {
    let tag = |mut issue: Issue| {
        issue.diagnostics = format!("Bundle.entry[{i}]: {}", issue.diagnostics);
        issue.expression = Some(match issue.expression {
            Some(x) => format!(
                "Bundle.entry[{i}].resource.{}",
                x.split_once('.').map_or(x.as_str(), |(_, r)| r)
            ),
            None => format!("Bundle.entry[{i}]"),
        });
        issue
    };
    match e {
        ServiceError::BadRequest(v) => ServiceError::BadRequest(v.into_iter().map(tag).collect()),
        ServiceError::Unprocessable(v) => {
            ServiceError::Unprocessable(v.into_iter().map(tag).collect())
        }
        ServiceError::NotFound(x) => ServiceError::NotFound(tag(x)),
        ServiceError::Gone(x) => ServiceError::Gone(tag(x)),
        ServiceError::Conflict(x) => ServiceError::Conflict(tag(x)),
        ServiceError::PreconditionFailed(x) => ServiceError::PreconditionFailed(tag(x)),
        other => other,
    }
}

fn run_transaction(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    mut ops: Vec<Op>,
) -> Result<Vec<EntryResult>, ServiceError> {
    let mut results: Vec<Option<EntryResult>> = vec![None; ops.len()];
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].method.rank());
    let mut ids: HashMap<String, String> = HashMap::new();
    // Pass 1: deletes, and the ids every POST/PUT will get.
    for &i in &order {
        let op = &mut ops[i];
        match op.method {
            Method::Delete => results[i] = Some(delete(tx, st, op).map_err(|e| at_entry(i, e))?),
            Method::Post | Method::Put => {
                assign_id(tx, op).map_err(|e| at_entry(i, e))?;
                op.record_full_url(&mut ids);
            }
            Method::Get => {}
        }
    }
    // Pass 2: rewrite references, then write in order.
    let mut cache: HashMap<String, String> = HashMap::new();
    for &i in &order {
        let op = &mut ops[i];
        if let Some(p) = op.prepared.as_mut() {
            rewrite_refs(&mut p.value, &mut |r| {
                resolve_ref(tx, st, r, &ids, &mut cache)
            })
            .map_err(|e| at_entry(i, e))?;
        }
        if matches!(op.method, Method::Post | Method::Put | Method::Get) {
            results[i] = Some(execute(tx, st, op).map_err(|e| at_entry(i, e))?);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every entry ran"))
        .collect())
}

fn run_batch(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    parsed: Vec<Result<Op, ServiceError>>,
) -> Vec<EntryResult> {
    parsed
        .into_iter()
        .map(|op| {
            let mut op = match op {
                Ok(op) => op,
                Err(e) => return error_result(e),
            };
            let mut out = None;
            let _ = tx.nested(&mut |tx| {
                let r = (|| {
                    if op.method == Method::Delete {
                        return delete(tx, st, &op);
                    }
                    let (empty, mut cache) = (HashMap::new(), HashMap::new());
                    if let Some(p) = op.prepared.as_mut() {
                        rewrite_refs(&mut p.value, &mut |r| {
                            resolve_ref(tx, st, r, &empty, &mut cache)
                        })?;
                    }
                    execute(tx, st, &mut op)
                })();
                let failed = r.is_err();
                out = Some(r);
                if failed {
                    Err(StoreError::Aborted)
                } else {
                    Ok(())
                }
            });
            match out {
                Some(Ok(r)) => r,
                Some(Err(e)) => error_result(e),
                None => error_result(ServiceError::Internal("batch entry did not run".into())),
            }
        })
        .collect()
}

fn delete(tx: &mut dyn WriteTx, st: &Stamper, op: &Op) -> Result<EntryResult, ServiceError> {
    let r = match (&op.cond, &op.id) {
        (Some(c), _) => tx_conditional_delete(tx, st, c.clone())?,
        (None, Some(id)) => tx_delete(tx, st, &op.resource_type, id)?,
        (None, None) => {
            return Err(ServiceError::bad(Issue::error(
                "not-supported",
                "DELETE needs Type/id or Type?criteria.",
            )));
        }
    };
    Ok(EntryResult::from_write(r, op.prefer_body))
}

/// Decides the id of a POST (new, or the match of ifNoneExist) or conditional PUT.
fn assign_id(tx: &mut dyn WriteTx, op: &mut Op) -> Result<(), ServiceError> {
    if op.method == Method::Post {
        if let Some(c) = &op.if_none_exist {
            let found = tx.find(&c.0, 2)?;
            if found.len() > 1 {
                return Err(ServiceError::PreconditionFailed(Issue::error(
                    "multiple-matches",
                    "ifNoneExist matches more than one resource; make it selective enough to match at most one.",
                )));
            }
            if let Some(existing) = found.into_iter().next() {
                op.id = Some(existing.id.clone());
                op.existing = Some(existing);
                return Ok(());
            }
        }
        op.id = Some(new_id());
    } else if let Some(c) = &op.cond {
        let found = tx.find(&c.0, 2)?;
        let body_id = op
            .prepared
            .as_ref()
            .and_then(|p| p.value.get("id"))
            .and_then(Value::as_str)
            .map(String::from);
        op.id = match found.as_slice() {
            [] => Some(body_id.unwrap_or_else(new_id)),
            [one] => Some(one.id.clone()),
            _ => {
                return Err(ServiceError::PreconditionFailed(Issue::error(
                    "multiple-matches",
                    "The conditional update criteria match more than one resource.",
                )));
            }
        };
    }
    Ok(())
}

fn execute(tx: &mut dyn WriteTx, st: &Stamper, op: &mut Op) -> Result<EntryResult, ServiceError> {
    match op.method {
        Method::Post => {
            if let Some(existing) = op.existing.take() {
                let r = WriteResult {
                    status: 200,
                    resource: Some(existing),
                    issues: vec![],
                };
                return Ok(EntryResult::from_write(r, op.prefer_body));
            }
            let p = op.prepared.take().expect("POST entries carry a resource");
            let id = op.id.clone().unwrap_or_else(new_id);
            let v = st.version(&p.resource_type, &id, 1, p.value, "POST");
            tx.write(v.clone())?;
            let r = WriteResult {
                status: 201,
                resource: Some(stored(&v)),
                issues: p.issues,
            };
            Ok(EntryResult::from_write(r, op.prefer_body))
        }
        Method::Put => {
            let p = op.prepared.take().expect("PUT entries carry a resource");
            let r = match (&op.cond, &op.id) {
                (Some(c), None) => tx_conditional_update(tx, st, p, c.clone(), op.if_match)?,
                (_, Some(id)) => tx_update(tx, st, p, &id.clone(), op.if_match)?,
                (None, None) => {
                    return Err(ServiceError::bad(Issue::error(
                        "invalid",
                        "PUT needs Type/id or Type?criteria.",
                    )));
                }
            };
            Ok(EntryResult::from_write(r, op.prefer_body))
        }
        Method::Get => crate::service::fhir_api::bundle_entry::get(tx, st, op),
        Method::Delete => delete(tx, st, op),
    }
}

impl EntryResult {
    fn into_entry(self, base: &str) -> Entry {
        let mut response = json!({"status": self.status});
        if let Some(l) = &self.location {
            response["location"] = json!(format!("{base}/{l}"));
        }
        if let Some(e) = &self.etag {
            response["etag"] = json!(e);
        }
        if let Some(m) = &self.last_modified {
            response["lastModified"] = json!(m);
        }
        if let Some(o) = &self.outcome {
            response["outcome"] = o.clone();
        }
        Entry {
            full_url: self.full_url.map(|u| format!("{base}/{u}")),
            resource: self.resource,
            response: Some(response),
            ..Default::default()
        }
    }
}
