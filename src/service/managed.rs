//! Writing resources Tandem manages itself (derived results, care plans,
//! follow-up Tasks, merged Encounters) inside a unit of work: read the live
//! version, write only when the content changes, or create only once.

use serde_json::Value;

use crate::service::fhir_api::resource::Stamper;
use crate::store::{StoreError, WriteTx};

/// The live resource `rt/id`, parsed.
pub fn live(tx: &mut dyn WriteTx, rt: &str, id: &str) -> Result<Option<Value>, StoreError> {
    Ok(tx
        .current(rt, id)?
        .filter(|c| !c.deleted)
        .and_then(|c| serde_json::from_str(&c.body).ok()))
}

/// Live resources of `rt` matching `pairs`, parsed; at most `limit`.
/// A query that does not parse finds nothing (callers build their own).
pub fn find(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    rt: &str,
    pairs: &[(String, String)],
    limit: usize,
) -> Result<Vec<Value>, StoreError> {
    let Ok(q) = crate::fhir::query::parse(&st.registry, &st.base, rt, pairs) else {
        return Ok(Vec::new());
    };
    Ok(tx
        .find(&q, limit)?
        .iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect())
}

/// Writes `value` as `rt/id` unless the current version already says the same.
pub fn put(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    rt: &str,
    id: &str,
    value: Value,
) -> Result<bool, StoreError> {
    let current = tx.current(rt, id)?;
    if let Some(c) = current.as_ref().filter(|c| !c.deleted)
        && let Ok(old) = serde_json::from_str::<Value>(&c.body)
        && same_content(&old, &value)
    {
        return Ok(false);
    }
    let version = current.map_or(1, |c| c.version + 1);
    tx.write(st.version(rt, id, version, value, "PUT"))?;
    Ok(true)
}

/// Writes `value` only when `rt/id` does not exist yet; true when written.
pub fn create_once(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    rt: &str,
    id: &str,
    value: Value,
) -> Result<bool, StoreError> {
    let version = match tx.current(rt, id)? {
        Some(c) if !c.deleted => return Ok(false),
        Some(c) => c.version + 1,
        None => 1,
    };
    tx.write(st.version(rt, id, version, value, "PUT"))?;
    Ok(true)
}

/// Equal apart from `meta.versionId` / `meta.lastUpdated`. Compares in
/// place: only `meta` (small) is copied.
pub fn same_content(old: &Value, new: &Value) -> bool {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return old == new;
    };
    let meta = |m: Option<&Value>| {
        let mut m = m
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(o) = m.as_object_mut() {
            o.remove("versionId");
            o.remove("lastUpdated");
        }
        m
    };
    let others = |x: &serde_json::Map<String, Value>| x.keys().filter(|k| *k != "meta").count();
    others(a) == others(b)
        && a.iter()
            .filter(|(k, _)| *k != "meta")
            .all(|(k, v)| b.get(k) == Some(v))
        && meta(a.get("meta")) == meta(b.get("meta"))
}
