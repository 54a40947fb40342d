//! Chained (`subject.name=...`) and reverse-chained (`_has:Observation:patient:code=...`)
//! search parameters.

use super::params::{ParamType, Registry};
use super::query::{Clause, Modifier, QueryError, Target, parse_clause};
use super::resource_types::is_known;

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

pub(super) fn parse_chain(
    registry: &Registry,
    base: &str,
    rt: &str,
    head: &str,
    rest: &str,
    value: &str,
) -> Result<Option<Clause>, QueryError> {
    let (name, type_mod) = match head.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (head, None),
    };
    let Some(param) = registry.get(rt, name) else {
        return Ok(None);
    };
    if param.kind != ParamType::Reference {
        return err(format!(
            "{head}.{rest}: only reference parameters can be chained"
        ));
    }
    let candidates: Vec<String> = match type_mod {
        Some(t) if is_known(t) => vec![t.to_string()],
        Some(t) => return err(format!("{head}: '{t}' is not a resource type")),
        None => param.targets.clone(),
    };
    let mut links = Vec::new();
    for target in candidates {
        if let Some(inner) = parse_clause(registry, base, &target, rest, value)? {
            links.push((target, Box::new(inner)));
        }
    }
    if links.is_empty() {
        return err(format!(
            "{head}.{rest}: no target type of '{name}' has a search parameter '{rest}'"
        ));
    }
    Ok(Some(Clause {
        target: Target::Chain {
            param: param.clone(),
            links,
        },
        modifier: Modifier::None,
        terms: Vec::new(),
    }))
}

/// Parses `_has:Source:refParam:param[:modifier]` (the part after `_has:`).
pub(super) fn parse_has(
    registry: &Registry,
    base: &str,
    spec: &str,
    value: &str,
) -> Result<Clause, QueryError> {
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    let [source, ref_name, inner_key] = parts.as_slice() else {
        return err(format!(
            "_has:{spec}: expected _has:Type:reference:parameter"
        ));
    };
    if !is_known(source) {
        return err(format!("_has:{spec}: '{source}' is not a resource type"));
    }
    let ref_param = match registry.get(source, ref_name) {
        Some(p) if p.kind == ParamType::Reference => p.clone(),
        _ => {
            return err(format!(
                "_has:{spec}: '{ref_name}' is not a reference parameter of {source}"
            ));
        }
    };
    let Some(inner) = parse_clause(registry, base, source, inner_key, value)? else {
        return err(format!(
            "_has:{spec}: '{inner_key}' is not a search parameter of {source}"
        ));
    };
    Ok(Clause {
        target: Target::Has {
            source_type: source.to_string(),
            ref_param,
            inner: Box::new(inner),
        },
        modifier: Modifier::None,
        terms: Vec::new(),
    })
}
