//! References inside a Bundle — the core both transaction paths share
//! (`bundle.rs`, the general one, and `bundle_fast.rs`): rewriting every
//! `reference`, resolving `urn:uuid:` fullUrls to assigned ids and
//! conditional references (`Type?query`) to the one resource they match, and
//! the errors when they cannot be.

use std::collections::HashMap;

use serde_json::Value;

use crate::fhir::outcome::Issue;
use crate::fhir::reference::{Ref, parse as parse_ref};
use crate::service::ServiceError;
use crate::service::fhir_api::crud::parse_conditional;
use crate::service::fhir_api::resource::Stamper;
use crate::store::{StoredResource, WriteTx};

/// Rewrites every `reference` in `value` with what `resolve` maps it to
/// (Bundle-local fullUrls to their assigned `Type/id`, conditional references
/// to the one resource they match); `None` leaves a reference as it is.
pub(crate) fn rewrite_refs(
    value: &mut Value,
    resolve: &mut dyn FnMut(&str) -> Result<Option<String>, ServiceError>,
) -> Result<(), ServiceError> {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get_mut("reference")
                && let Some(new) = resolve(r)?
            {
                *r = new;
            }
            for (k, v) in obj.iter_mut() {
                if k != "reference" && (v.is_object() || v.is_array()) {
                    rewrite_refs(v, resolve)?;
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_refs(v, resolve)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Resolves one reference inside the transaction: an entry of this Bundle,
/// a conditional reference already resolved, or a conditional reference
/// searched now (and cached).
pub(crate) fn resolve_ref(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    r: &str,
    ids: &HashMap<String, String>,
    cache: &mut HashMap<String, String>,
) -> Result<Option<String>, ServiceError> {
    if let Some(local) = ids.get(r) {
        return Ok(Some(local.clone()));
    }
    if let Some(hit) = cache.get(r) {
        return Ok(Some(hit.clone()));
    }
    match parse_ref(r, &st.base) {
        Ref::Conditional {
            resource_type,
            query,
        } => {
            let c = parse_conditional(&st.registry, &st.base, resource_type, query)?;
            let local = conditional_target(r, &tx.find(&c.0, 2)?)?;
            cache.insert(r.to_string(), local.clone());
            Ok(Some(local))
        }
        Ref::Urn(u) => unknown_urn(u),
        _ => Ok(None),
    }
}

/// What a conditional reference `r` resolves to, given (up to two of) its
/// matches: exactly one, or 412. The one rule of both transaction paths.
pub(crate) fn conditional_target(
    r: &str,
    found: &[StoredResource],
) -> Result<String, ServiceError> {
    match found {
        [one] => Ok(format!("{}/{}", one.resource_type, one.id)),
        [] => Err(ServiceError::PreconditionFailed(Issue::error(
            "not-found",
            format!(
                "The conditional reference '{r}' matches no resource; create the target first."
            ),
        ))),
        _ => Err(ServiceError::PreconditionFailed(Issue::error(
            "multiple-matches",
            format!("The conditional reference '{r}' matches more than one resource."),
        ))),
    }
}

/// A `urn:uuid:` reference that names no entry is an error; `urn:oid:` values
/// are identifiers in their own right and stay as they are.
pub(crate) fn unknown_urn(u: &str) -> Result<Option<String>, ServiceError> {
    if u.starts_with("urn:oid:") {
        return Ok(None);
    }
    Err(ServiceError::bad(Issue::error(
        "not-found",
        format!("The reference '{u}' names no entry of this Bundle."),
    )))
}
