//! Parsing of FHIR search query strings into a typed [`SearchQuery`].
//!
//! This is pure: the store turns a `SearchQuery` into SQL, and the service decides
//! what to do with ignored parameters (lenient vs strict handling).

use std::sync::Arc;

use super::datetime::{DateRange, parse_range};
use super::index::normalize;
use super::params::{ParamType, Registry, SearchParam};
use super::reference::{Ref, parse as parse_ref};
use super::resource_types::is_known;

pub use super::search_terms::{Prefix, SystemMatch, Term};

/// Default and maximum page sizes.
pub const DEFAULT_COUNT: usize = 50;
pub const MAX_COUNT: usize = 1000;

/// A parsed search.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub resource_type: String,
    pub clauses: Vec<Clause>,
    pub sort: Vec<Sort>,
    pub count: usize,
    /// Opaque keyset cursor from a previous page's `next` link.
    pub cursor: Option<String>,
    pub total: bool,
    pub summary: Summary,
    pub elements: Option<Vec<String>>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
    /// Parameters that were not understood (reported, or rejected under strict handling).
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    False,
    True,
    Count,
    Data,
    Text,
}

#[derive(Debug, Clone)]
pub struct Include {
    pub source_type: String,
    pub param: String,
    pub target_type: Option<String>,
}

#[derive(Debug, Clone)]
pub enum SortKey {
    LastUpdated,
    Id,
    Param(Arc<SearchParam>),
}

#[derive(Debug, Clone)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

/// One AND-ed condition: a target, a modifier and OR-ed values.
#[derive(Debug, Clone)]
pub struct Clause {
    pub target: Target,
    pub modifier: Modifier,
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone)]
pub enum Target {
    Id,
    LastUpdated,
    Param(Arc<SearchParam>),
    /// `ref.param=...`: one inner clause per candidate target type.
    Chain {
        param: Arc<SearchParam>,
        links: Vec<(String, Box<Clause>)>,
    },
    /// `_has:Source:ref:param=...`: resources some `Source` points at through
    /// `ref` while matching the inner clause.
    Has {
        source_type: String,
        ref_param: Arc<SearchParam>,
        inner: Box<Clause>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modifier {
    None,
    Exact,
    Contains,
    Text,
    Not,
    Missing(bool),
}

/// A search the sender got wrong; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

/// Parameters that control the result rather than filter it.
const RESULT_PARAMS: &[&str] = &["_format", "_pretty", "_cursor"];

/// Bounds on one client search, so its cost (and SQLite's expression depth)
/// stays bounded whatever a client sends; each is answered with 400 naming it
/// ([`parse_client`]).
pub const MAX_CLAUSES: usize = 32;
pub const MAX_OR_VALUES: usize = 100;
/// `_has` and chained parameters together (each one a join).
pub const MAX_JOINS: usize = 8;
pub const MAX_INCLUDES: usize = 16;

/// Parses the query pairs of a search on `resource_type`.
pub fn parse(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    pairs: &[(String, String)],
) -> Result<SearchQuery, QueryError> {
    let mut q = SearchQuery {
        resource_type: resource_type.to_string(),
        clauses: Vec::new(),
        sort: Vec::new(),
        count: DEFAULT_COUNT,
        cursor: None,
        total: true,
        summary: Summary::False,
        elements: None,
        include: Vec::new(),
        revinclude: Vec::new(),
        ignored: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "_count" => q.count = parse_count(value)?,
            "_cursor" => q.cursor = Some(value.clone()),
            "_sort" => q.sort = parse_sort(registry, resource_type, value)?,
            "_total" => q.total = parse_total(value)?,
            "_summary" => q.summary = parse_summary(value)?,
            "_elements" => {
                q.elements = Some(value.split(',').map(|s| s.trim().to_string()).collect())
            }
            "_include" => q.include.push(parse_include(registry, value, "_include")?),
            "_revinclude" => q
                .revinclude
                .push(parse_include(registry, value, "_revinclude")?),
            k if RESULT_PARAMS.contains(&k) => {}
            _ => match parse_clause(registry, base, resource_type, key, value)? {
                Some(c) => q.clauses.push(c),
                None => q.ignored.push(key.clone()),
            },
        }
    }
    Ok(q)
}

/// [`parse`] for a search a client sent: also within the bounds above
/// (Tandem's own searches, e.g. a partner's shared set by `_id`, use
/// [`parse`] and are not bounded by them).
pub fn parse_client(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    pairs: &[(String, String)],
) -> Result<SearchQuery, QueryError> {
    let q = parse(registry, base, resource_type, pairs)?;
    check_bounds(&q)?;
    Ok(q)
}

fn check_bounds(q: &SearchQuery) -> Result<(), QueryError> {
    if q.clauses.len() > MAX_CLAUSES {
        return err(format!(
            "This search has {} parameters; the limit is {MAX_CLAUSES}. Split it into several searches.",
            q.clauses.len()
        ));
    }
    fn or_values(c: &Clause) -> usize {
        match &c.target {
            Target::Chain { links, .. } => {
                links.iter().map(|(_, l)| or_values(l)).max().unwrap_or(0)
            }
            Target::Has { inner, .. } => or_values(inner),
            _ => c.terms.len(),
        }
    }
    if let Some(n) = q.clauses.iter().map(or_values).max()
        && n > MAX_OR_VALUES
    {
        return err(format!(
            "A parameter lists {n} values; the limit is {MAX_OR_VALUES} comma-separated values per parameter."
        ));
    }
    let joins = q
        .clauses
        .iter()
        .filter(|c| matches!(c.target, Target::Chain { .. } | Target::Has { .. }))
        .count();
    if joins > MAX_JOINS {
        return err(format!(
            "This search has {joins} _has and chained parameters; the limit is {MAX_JOINS}."
        ));
    }
    let includes = q.include.len() + q.revinclude.len();
    if includes > MAX_INCLUDES {
        return err(format!(
            "This search has {includes} _include and _revinclude parameters; the limit is {MAX_INCLUDES}."
        ));
    }
    Ok(())
}

fn parse_count(v: &str) -> Result<usize, QueryError> {
    match v.parse::<usize>() {
        Ok(n) => Ok(n.min(MAX_COUNT)),
        Err(_) => err(format!("_count must be a non-negative integer (got '{v}')")),
    }
}

fn parse_total(v: &str) -> Result<bool, QueryError> {
    match v {
        "none" => Ok(false),
        "estimate" | "accurate" => Ok(true),
        _ => err(format!(
            "_total must be none, estimate or accurate (got '{v}')"
        )),
    }
}

fn parse_summary(v: &str) -> Result<Summary, QueryError> {
    Ok(match v {
        "count" => Summary::Count,
        "data" => Summary::Data,
        "text" => Summary::Text,
        "false" => Summary::False,
        "true" => Summary::True,
        _ => {
            return err(format!(
                "_summary must be true, false, count, data or text (got '{v}')"
            ));
        }
    })
}

fn parse_sort(registry: &Registry, rt: &str, v: &str) -> Result<Vec<Sort>, QueryError> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (descending, name) = match item.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, item),
        };
        let key = match name {
            "_lastUpdated" => SortKey::LastUpdated,
            "_id" => SortKey::Id,
            _ => match registry.get(rt, name) {
                Some(p)
                    if matches!(
                        p.kind,
                        ParamType::Date
                            | ParamType::String
                            | ParamType::Token
                            | ParamType::Number
                            | ParamType::Quantity
                    ) =>
                {
                    SortKey::Param(p.clone())
                }
                _ => {
                    return err(format!(
                        "_sort: '{name}' is not a sortable search parameter of {rt}"
                    ));
                }
            },
        };
        out.push(Sort { key, descending });
    }
    Ok(out)
}

fn parse_include(registry: &Registry, v: &str, what: &str) -> Result<Include, QueryError> {
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 || !is_known(parts[0]) {
        return err(format!(
            "{what}={v}: expected SourceType:param[:TargetType]"
        ));
    }
    match registry.get(parts[0], parts[1]) {
        Some(p) if p.kind == ParamType::Reference => {}
        _ => {
            return err(format!(
                "{what}={v}: '{}' is not a reference parameter of {}",
                parts[1], parts[0]
            ));
        }
    }
    Ok(Include {
        source_type: parts[0].to_string(),
        param: parts[1].to_string(),
        target_type: parts.get(2).map(|s| s.to_string()),
    })
}

/// Parses one `name[:modifier][.chain]=value` pair; `None` when the parameter is unknown.
pub(super) fn parse_clause(
    registry: &Registry,
    base: &str,
    rt: &str,
    key: &str,
    value: &str,
) -> Result<Option<Clause>, QueryError> {
    if let Some(spec) = key.strip_prefix("_has:") {
        return super::query_links::parse_has(registry, base, spec, value).map(Some);
    }
    if let Some((head, rest)) = key.split_once('.') {
        return super::query_links::parse_chain(registry, base, rt, head, rest, value);
    }
    let (name, modifier) = match key.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (key, None),
    };
    let (target, kind) = match name {
        "_id" => (Target::Id, ParamType::Token),
        "_lastUpdated" => (Target::LastUpdated, ParamType::Date),
        _ => match registry.get(rt, name) {
            Some(p) => (Target::Param(p.clone()), p.kind),
            None => return Ok(None),
        },
    };
    let (modifier, type_filter) = parse_modifier(key, modifier, kind, value)?;
    let terms = match modifier {
        Modifier::Missing(_) => Vec::new(),
        _ => super::search_terms::parse_terms(
            kind,
            &modifier,
            type_filter.as_deref(),
            base,
            key,
            value,
        )?,
    };
    Ok(Some(Clause {
        target,
        modifier,
        terms,
    }))
}

fn parse_modifier(
    key: &str,
    modifier: Option<&str>,
    kind: ParamType,
    value: &str,
) -> Result<(Modifier, Option<String>), QueryError> {
    let Some(m) = modifier else {
        return Ok((Modifier::None, None));
    };
    let ok = |m| Ok((m, None));
    match (m, kind) {
        ("missing", _) => match value {
            "true" => ok(Modifier::Missing(true)),
            "false" => ok(Modifier::Missing(false)),
            _ => err(format!(
                "{key}: :missing takes true or false (got '{value}')"
            )),
        },
        ("exact", ParamType::String) => ok(Modifier::Exact),
        ("contains", ParamType::String) => ok(Modifier::Contains),
        ("text", ParamType::Token) => ok(Modifier::Text),
        ("not", ParamType::Token) => ok(Modifier::Not),
        (ty, ParamType::Reference) if is_known(ty) => Ok((Modifier::None, Some(ty.to_string()))),
        _ => err(format!(
            "{key}: modifier ':{m}' is not supported for this {} parameter",
            kind.code()
        )),
    }
}

/// Parses a reference search value into a term, honouring a `:Type` modifier.
pub(super) fn reference_term(base: &str, type_filter: Option<&str>, v: &str) -> Term {
    match parse_ref(v, base) {
        Ref::Local {
            resource_type, id, ..
        } => Term::Reference {
            ty: Some(resource_type.to_string()),
            id: Some(id.to_string()),
            url: None,
        },
        Ref::External(url) if url.contains("://") || url.contains('/') || url.contains(':') => {
            Term::Reference {
                ty: None,
                id: None,
                url: Some(url.to_string()),
            }
        }
        _ => Term::Reference {
            ty: type_filter.map(String::from),
            id: Some(v.to_string()),
            url: None,
        },
    }
}

/// Normalized string for `:text` token searches.
pub(super) fn text_term(v: &str) -> Term {
    Term::Text(normalize(v))
}

/// Parses a date search value (after its prefix).
pub(super) fn date_value(key: &str, v: &str) -> Result<DateRange, QueryError> {
    parse_range(v).ok_or_else(|| QueryError(format!("{key}: '{v}' is not a valid FHIR date or dateTime (e.g. 2024-05-01 or 2024-05-01T10:00:00Z)")))
}
