//! Create, read, vread, update, delete and their conditional forms.
//!
//! The `tx_*` functions run inside a write transaction and are shared with
//! transaction/batch Bundle processing, so a Bundle entry behaves exactly like
//! the same request sent alone.

use serde_json::Value;

use crate::auth::policy::Interaction;
use crate::fhir::id::new_id;
use crate::fhir::outcome::Issue;
use crate::fhir::params::Registry;
use crate::fhir::query::{SearchQuery, parse_client};
use crate::service::fhir_api::resource::{Prepared, Stamper, WriteResult, stored};
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, WriteTx, transact};

/// Conditions of a write taken from headers or the URL.
#[derive(Debug, Clone, Default)]
pub struct WriteRequest {
    /// `If-Match: W/"n"`.
    pub if_match: Option<i64>,
    /// `If-None-Exist: query` on create.
    pub if_none_exist: Option<String>,
}

/// A conditional URL's search (`Type?query`).
#[derive(Debug, Clone)]
pub struct Conditional(pub SearchQuery);

impl FhirService {
    /// Parses the search of a conditional interaction. Unknown parameters are an
    /// error here: ignoring one would widen the match and touch the wrong resource.
    pub fn conditional(&self, rt: &str, query: &str) -> Result<Conditional, ServiceError> {
        parse_conditional(&self.registry, &self.settings.base_url, rt, query)
    }

    pub async fn create(
        &self,
        ctx: &AccessContext,
        rt: &str,
        body: Value,
        req: WriteRequest,
    ) -> Result<WriteResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Create)?;
        if req.if_none_exist.is_some() {
            self.no_guest_conditionals(ctx)?;
        }
        let prepared = self.prepare(body, Some(rt), None)?;
        self.check_body(ctx, &allowance, rt, &prepared.value)?;
        let cond = req
            .if_none_exist
            .as_deref()
            .map(|q| self.conditional(rt, q))
            .transpose()?;
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Create, rt),
        );
        let du = self.write_hooks(ctx);
        let r = transact(self.store.as_ref(), ctx, move |tx| {
            let (mut r, notes) = du.run(tx, |tx| tx_create(tx, &st, prepared, cond))?;
            notes.attach(&mut r);
            audit.commit(tx, r.resource.iter())?;
            Ok(r)
        })
        .await;
        self.audit_if_refused(ctx, Interaction::Create, rt, r)
    }

    pub async fn update(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
        body: Value,
        req: WriteRequest,
    ) -> Result<WriteResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Update)?;
        let prepared = self.prepare(body, Some(rt), Some(id))?;
        self.check_body(ctx, &allowance, rt, &prepared.value)?;
        self.guest_may_touch(ctx, &allowance, Interaction::Update, rt, id)
            .await?;
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Update, rt),
        );
        let id = id.to_string();
        let du = self.write_hooks(ctx);
        let r = transact(self.store.as_ref(), ctx, move |tx| {
            let (mut r, notes) =
                du.run(tx, |tx| tx_update(tx, &st, prepared, &id, req.if_match))?;
            notes.attach(&mut r);
            audit.commit(tx, r.resource.iter())?;
            Ok(r)
        })
        .await;
        self.audit_if_refused(ctx, Interaction::Update, rt, r)
    }

    pub async fn conditional_update(
        &self,
        ctx: &AccessContext,
        rt: &str,
        query: &str,
        body: Value,
        req: WriteRequest,
    ) -> Result<WriteResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Update)?;
        self.no_guest_conditionals(ctx)?;
        self.require_unrestricted(&allowance, rt)?;
        let prepared = self.prepare(body, Some(rt), None)?;
        let cond = self.conditional(rt, query)?;
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Update, rt),
        );
        let du = self.write_hooks(ctx);
        transact(self.store.as_ref(), ctx, move |tx| {
            let (mut r, notes) = du.run(tx, |tx| {
                tx_conditional_update(tx, &st, prepared, cond, req.if_match)
            })?;
            notes.attach(&mut r);
            audit.commit(tx, r.resource.iter())?;
            Ok(r)
        })
        .await
    }

    pub async fn delete(
        &self,
        ctx: &AccessContext,
        rt: &str,
        id: &str,
    ) -> Result<WriteResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Delete)?;
        self.require_unrestricted(&allowance, rt)?;
        self.guest_may_touch(ctx, &allowance, Interaction::Delete, rt, id)
            .await?;
        let (st, rt, id) = (self.stamper(), rt.to_string(), id.to_string());
        let audit = self.audit_unit(ctx, Interaction::Delete, &rt);
        let du = self.write_hooks(ctx);
        transact(self.store.as_ref(), ctx, move |tx| {
            let (r, _) = du.run(tx, |tx| tx_delete(tx, &st, &rt, &id))?;
            audit.commit(tx, r.resource.iter())?;
            Ok(r)
        })
        .await
    }

    pub async fn conditional_delete(
        &self,
        ctx: &AccessContext,
        rt: &str,
        query: &str,
    ) -> Result<WriteResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Delete)?;
        self.no_guest_conditionals(ctx)?;
        self.require_unrestricted(&allowance, rt)?;
        let cond = self.conditional(rt, query)?;
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Delete, rt),
        );
        let du = self.write_hooks(ctx);
        transact(self.store.as_ref(), ctx, move |tx| {
            let (r, _) = du.run(tx, |tx| tx_conditional_delete(tx, &st, cond))?;
            audit.commit(tx, r.resource.iter())?;
            Ok(r)
        })
        .await
    }
}

/// See [`FhirService::conditional`]; usable inside units of work.
pub(crate) fn parse_conditional(
    registry: &Registry,
    base: &str,
    rt: &str,
    query: &str,
) -> Result<Conditional, ServiceError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if pairs.is_empty() {
        return Err(ServiceError::bad(Issue::error(
            "invalid",
            format!(
                "A conditional {rt} request needs search criteria, e.g. identifier=system|value."
            ),
        )));
    }
    let q = parse_client(registry, base, rt, &pairs)
        .map_err(|e| ServiceError::bad(Issue::error("invalid", e.0)))?;
    if !q.ignored.is_empty() {
        return Err(ServiceError::bad(Issue::error(
            "not-supported",
            format!(
                "Unknown search parameter(s) in conditional request: {}.",
                q.ignored.join(", ")
            ),
        )));
    }
    Ok(Conditional(q))
}

pub(crate) fn not_found(rt: &str, id: &str) -> ServiceError {
    ServiceError::NotFound(Issue::error(
        "not-found",
        format!("{rt}/{id} is not known to this server."),
    ))
}

pub(crate) fn tx_create(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    p: Prepared,
    cond: Option<Conditional>,
) -> Result<WriteResult, ServiceError> {
    if let Some(Conditional(q)) = cond {
        let found = tx.find(&q, 2)?;
        match found.len() {
            0 => {}
            1 => {
                return Ok(WriteResult {
                    status: 200,
                    resource: found.into_iter().next(),
                    issues: vec![Issue::info(
                        "A resource matching If-None-Exist already exists; nothing was created.",
                    )],
                });
            }
            _ => return Err(multiple("If-None-Exist", &q)),
        }
    }
    let id = new_id();
    let v = st.version(&p.resource_type, &id, 1, p.value, "POST");
    tx.write(v.clone())?;
    Ok(WriteResult {
        status: 201,
        resource: Some(stored(&v)),
        issues: p.issues,
    })
}

pub(crate) fn tx_update(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    p: Prepared,
    id: &str,
    if_match: Option<i64>,
) -> Result<WriteResult, ServiceError> {
    let rt = p.resource_type.clone();
    let current = tx.current(&rt, id)?;
    let live = current.as_ref().filter(|c| !c.deleted);
    if let Some(expected) = if_match {
        let actual = live.map(|c| c.version);
        if actual != Some(expected) {
            let now = actual.map_or("does not exist".to_string(), |v| {
                format!("is at version {v}")
            });
            return Err(ServiceError::PreconditionFailed(Issue::error(
                "conflict",
                format!(
                    "If-Match expected version {expected} but {rt}/{id} {now}; re-read it and retry."
                ),
            )));
        }
    }
    let version = current.as_ref().map_or(1, |c| c.version + 1);
    let status = if live.is_some() { 200 } else { 201 };
    let v = st.version(&rt, id, version, p.value, "PUT");
    tx.write(v.clone())?;
    Ok(WriteResult {
        status,
        resource: Some(stored(&v)),
        issues: p.issues,
    })
}

pub(crate) fn tx_conditional_update(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    p: Prepared,
    cond: Conditional,
    if_match: Option<i64>,
) -> Result<WriteResult, ServiceError> {
    let found = tx.find(&cond.0, 2)?;
    let body_id = p.value.get("id").and_then(Value::as_str).map(String::from);
    match found.as_slice() {
        [] => {
            let id = body_id.unwrap_or_else(new_id);
            if tx
                .current(&p.resource_type, &id)?
                .is_some_and(|c| !c.deleted)
            {
                return Err(ServiceError::Conflict(Issue::error(
                    "conflict",
                    format!(
                        "{}/{id} exists but does not match the conditional criteria.",
                        p.resource_type
                    ),
                )));
            }
            tx_update(tx, st, p, &id, if_match)
        }
        [one] => {
            if body_id.as_ref().is_some_and(|b| *b != one.id) {
                return Err(ServiceError::bad(
                    Issue::error(
                        "invalid",
                        format!(
                            "The body id differs from the matched resource {}/{}.",
                            one.resource_type, one.id
                        ),
                    )
                    .at("id"),
                ));
            }
            let id = one.id.clone();
            tx_update(tx, st, p, &id, if_match)
        }
        _ => Err(multiple("the conditional update", &cond.0)),
    }
}

pub(crate) fn tx_delete(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    rt: &str,
    id: &str,
) -> Result<WriteResult, ServiceError> {
    match tx.current(rt, id)? {
        Some(c) if !c.deleted => {
            let v = st.deletion(rt, id, c.version + 1);
            tx.write(v.clone())?;
            Ok(WriteResult {
                status: 204,
                resource: Some(stored(&v)),
                issues: vec![],
            })
        }
        _ => Ok(WriteResult {
            status: 204,
            resource: None,
            issues: vec![Issue::info(format!(
                "{rt}/{id} does not exist or is already deleted."
            ))],
        }),
    }
}

pub(crate) fn tx_conditional_delete(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    cond: Conditional,
) -> Result<WriteResult, ServiceError> {
    let found = tx.find(&cond.0, 2)?;
    match found.as_slice() {
        [] => Ok(WriteResult {
            status: 204,
            resource: None,
            issues: vec![Issue::info("No resource matched the conditional delete.")],
        }),
        [one] => {
            let (rt, id) = (one.resource_type.clone(), one.id.clone());
            tx_delete(tx, st, &rt, &id)
        }
        _ => Err(multiple("the conditional delete", &cond.0)),
    }
}

fn multiple(what: &str, q: &SearchQuery) -> ServiceError {
    ServiceError::PreconditionFailed(Issue::error(
        "multiple-matches",
        format!(
            "The criteria of {what} match more than one {}; make them selective enough to match at most one.",
            q.resource_type
        ),
    ))
}
