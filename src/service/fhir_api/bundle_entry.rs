//! Parsing Bundle entries into operations, and the per-entry response.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::fhir::bundle::{Entry, etag, parse_etag, render};
use crate::fhir::datetime::format_instant_ms;
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::fhir::resource_types::is_known;
use crate::service::fhir_api::crud::{Conditional, parse_conditional};
use crate::service::fhir_api::resource::{Prepared, Stamper, WriteResult};
use crate::service::fhir_api::search::full_url;
use crate::service::{FhirService, ServiceError};
use crate::store::{StoredResource, WriteTx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// FHIR's processing order within a transaction.
    pub fn rank(self) -> u8 {
        match self {
            Method::Delete => 0,
            Method::Post => 1,
            Method::Put => 2,
            Method::Get => 3,
        }
    }
}

/// One Bundle entry, parsed and validated.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    pub resource_type: String,
    pub id: Option<String>,
    pub version: Option<String>,
    pub cond: Option<Conditional>,
    pub if_none_exist: Option<Conditional>,
    pub if_match: Option<i64>,
    pub prepared: Option<Prepared>,
    pub full_url: Option<String>,
    pub query: Option<String>,
    pub existing: Option<StoredResource>,
    pub prefer_body: bool,
}

impl Op {
    /// Maps the entry's fullUrl (and `Type/oldId` for absolute ones) to its new id.
    pub fn record_full_url(&self, ids: &mut HashMap<String, String>) {
        let (Some(full), Some(id)) = (&self.full_url, &self.id) else {
            return;
        };
        let local = format!("{}/{id}", self.resource_type);
        if let Some((_, tail)) = full.rsplit_once(&format!("/{}/", self.resource_type)) {
            ids.insert(format!("{}/{tail}", self.resource_type), local.clone());
        }
        ids.insert(full.clone(), local);
    }
}

/// The response part of one entry.
#[derive(Debug, Clone)]
pub struct EntryResult {
    pub status: String,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub resource: Option<String>,
    pub outcome: Option<Value>,
    pub full_url: Option<String>,
}

fn status_text(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    format!("{code} {reason}")
}

impl EntryResult {
    /// Appends issues to the entry's OperationOutcome (creating it if needed).
    pub fn add_issues(&mut self, issues: &[Issue]) {
        let extra = operation_outcome(issues);
        match self
            .outcome
            .as_mut()
            .and_then(|o| o.get_mut("issue"))
            .and_then(Value::as_array_mut)
        {
            Some(list) => list.extend(extra["issue"].as_array().cloned().unwrap_or_default()),
            None => self.outcome = Some(extra),
        }
    }

    pub fn from_write(r: WriteResult, include_body: bool) -> EntryResult {
        let outcome = (!r.issues.is_empty()).then(|| operation_outcome(&r.issues));
        let mut out = EntryResult {
            status: status_text(r.status),
            location: None,
            etag: None,
            last_modified: None,
            resource: None,
            outcome,
            full_url: None,
        };
        if let Some(s) = r.resource.filter(|s| !s.deleted) {
            out.location = Some(format!(
                "{}/{}/_history/{}",
                s.resource_type, s.id, s.version
            ));
            out.etag = Some(etag(s.version));
            out.last_modified = Some(format_instant_ms(s.last_updated_ms));
            out.full_url = Some(format!("{}/{}", s.resource_type, s.id));
            out.resource = include_body.then_some(s.body);
        }
        out
    }

    fn read(r: StoredResource) -> EntryResult {
        let mut out = EntryResult::from_write(
            WriteResult {
                status: 200,
                resource: Some(r),
                issues: vec![],
            },
            true,
        );
        out.location = None;
        out
    }
}

/// An entry that failed: its status and an OperationOutcome.
pub fn error_result(e: ServiceError) -> EntryResult {
    let (code, issues) = e.status_and_issues();
    EntryResult {
        status: status_text(code),
        location: None,
        etag: None,
        last_modified: None,
        resource: None,
        outcome: Some(operation_outcome(&issues)),
        full_url: None,
    }
}

/// Parses every entry; the first failure names its index.
pub fn parse_entries(
    svc: &FhirService,
    entries: Vec<Value>,
    prefer_body: bool,
) -> Result<Vec<Op>, (usize, ServiceError)> {
    // References to these are resolved by the transaction itself.
    let full_urls: HashSet<String> = entries
        .iter()
        .filter_map(|e| e.get("fullUrl").and_then(Value::as_str))
        .map(String::from)
        .collect();
    let local = |r: &str| full_urls.contains(r);
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| parse_entry(svc, e, prefer_body, &local).map_err(|err| (i, err)))
        .collect()
}

/// Parses every entry independently (batch: entries do not resolve each
/// other's fullUrls).
pub fn parse_each(
    svc: &FhirService,
    entries: Vec<Value>,
    prefer_body: bool,
) -> Vec<Result<Op, ServiceError>> {
    entries
        .into_iter()
        .map(|e| parse_entry(svc, e, prefer_body, &|_| false))
        .collect()
}

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::bad(Issue::error("invalid", msg))
}

/// Takes the entry by value: its resource moves into the operation, uncopied.
fn parse_entry(
    svc: &FhirService,
    mut entry: Value,
    prefer_body: bool,
    local: &dyn Fn(&str) -> bool,
) -> Result<Op, ServiceError> {
    let resource = entry.get_mut("resource").map(Value::take);
    let request = entry
        .get("request")
        .ok_or_else(|| invalid("The entry has no request; add request.method and request.url."))?;
    let method = match request.get("method").and_then(Value::as_str) {
        Some("GET") => Method::Get,
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("DELETE") => Method::Delete,
        other => {
            return Err(invalid(format!(
                "request.method {other:?} is not supported; use GET, POST, PUT or DELETE."
            )));
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("The entry has no request.url."))?;
    let base = &svc.settings().base_url;
    let url = url
        .strip_prefix(base.as_str())
        .map(|u| u.trim_start_matches('/'))
        .unwrap_or(url);
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (url, None),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rt = segs
        .first()
        .copied()
        .filter(|t| is_known(t))
        .ok_or_else(|| {
            invalid(format!(
                "request.url '{url}' does not start with a resource type."
            ))
        })?;
    let mut op = Op {
        method,
        resource_type: rt.to_string(),
        id: segs.get(1).map(|s| s.to_string()),
        version: (segs.get(2) == Some(&"_history"))
            .then(|| segs.get(3).map(|s| s.to_string()))
            .flatten(),
        cond: None,
        if_none_exist: None,
        if_match: request
            .get("ifMatch")
            .and_then(Value::as_str)
            .and_then(parse_etag),
        prepared: None,
        full_url: entry
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(String::from),
        query: query.clone(),
        existing: None,
        prefer_body,
    };
    match method {
        Method::Post | Method::Put => {
            let resource =
                resource.ok_or_else(|| invalid(format!("A {method:?} entry needs a resource.")))?;
            op.prepared = Some(svc.prepare_in(
                resource,
                Some(rt),
                if method == Method::Put {
                    op.id.as_deref()
                } else {
                    None
                },
                local,
            )?);
            if let Some(q) = request.get("ifNoneExist").and_then(Value::as_str) {
                op.if_none_exist = Some(svc.conditional(rt, q.trim_start_matches('?'))?);
            }
            if method == Method::Put && op.id.is_none() {
                op.cond = Some(svc.conditional(rt, query.as_deref().unwrap_or_default())?);
            }
        }
        Method::Delete if op.id.is_none() => {
            op.cond = Some(svc.conditional(rt, query.as_deref().unwrap_or_default())?)
        }
        _ => {}
    }
    Ok(op)
}

/// A GET entry inside a transaction: read, vread or search against the
/// transaction's own view of the data.
pub fn get(tx: &mut dyn WriteTx, st: &Stamper, op: &Op) -> Result<EntryResult, ServiceError> {
    let rt = &op.resource_type;
    if let Some(id) = &op.id {
        let current = tx
            .current(rt, id)?
            .filter(|c| !c.deleted)
            .ok_or_else(|| crate::service::fhir_api::crud::not_found(rt, id))?;
        if let Some(v) = &op.version
            && v != &current.version.to_string()
        {
            return Err(crate::service::fhir_api::crud::not_found(
                rt,
                &format!("{id}/_history/{v}"),
            ));
        }
        return Ok(EntryResult::read(current));
    }
    let q = parse_conditional(
        &st.registry,
        &st.base,
        rt,
        op.query.as_deref().unwrap_or("_count=50"),
    )
    .map(|c| c.0)?;
    let found = tx.find(&q, q.count)?;
    let entries: Vec<Entry> = found
        .iter()
        .map(|r| Entry {
            full_url: Some(full_url(&st.base, r)),
            resource: Some(r.body.clone()),
            search_mode: Some("match"),
            ..Default::default()
        })
        .collect();
    let bundle = render("searchset", Some(found.len() as u64), &[], &entries);
    Ok(EntryResult {
        status: status_text(200),
        location: None,
        etag: None,
        last_modified: None,
        resource: Some(bundle),
        outcome: None,
        full_url: None,
    })
}
