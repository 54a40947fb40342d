//! Reading the audit trail (a practice's admins its own tenant's records, the
//! hosting operator every tenant's): `GET AuditEvent/{id}` and
//! `GET AuditEvent?patient=&agent=&date=&outcome=&type=&subtype=&_count=`,
//! newest first, paged. Other search parameters are refused with 400, since
//! the trail is kept in its own table (see `store::audit`).

use crate::auth::policy::Interaction;
use crate::caller::grant::Role;
use crate::fhir::bundle::{Entry, render};
use crate::fhir::datetime::parse_range;
use crate::fhir::outcome::Issue;
use crate::fhir::query::{DEFAULT_COUNT, MAX_COUNT};
use crate::service::fhir_api::search::SearchResult;
use crate::service::security::audit_record::render_row;
use crate::service::{FhirService, ServiceError};
use crate::store::audit::AuditQuery;
use crate::store::{AccessContext, StoredResource};

fn bad(msg: String) -> ServiceError {
    ServiceError::bad(Issue::error("invalid", msg))
}

/// The token value without its system (`system|code` → `code`).
fn code(v: &str) -> String {
    v.rsplit('|').next().unwrap_or(v).to_string()
}

fn apply_date(q: &mut AuditQuery, v: &str) -> Result<(), ServiceError> {
    let (prefix, rest) = match v.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &v[2..]),
        _ => ("eq", v),
    };
    let r = parse_range(rest).ok_or_else(|| bad(format!("date '{v}' is not a valid date")))?;
    let (from, to) = match prefix {
        "ge" => (Some(r.start), None),
        "gt" => (Some(r.end), None),
        "le" => (None, Some(r.end)),
        "lt" => (None, Some(r.start)),
        _ => (Some(r.start), Some(r.end)),
    };
    if let Some(f) = from {
        q.from_ms = Some(q.from_ms.map_or(f, |x| x.max(f)));
    }
    if let Some(t) = to {
        q.to_ms = Some(q.to_ms.map_or(t, |x| x.min(t)));
    }
    Ok(())
}

pub(crate) fn parse(pairs: &[(String, String)]) -> Result<AuditQuery, ServiceError> {
    let mut q = AuditQuery {
        count: DEFAULT_COUNT,
        ..Default::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "patient" => {
                let id = v.rsplit('/').next().unwrap_or(v);
                q.patient = Some(format!("Patient/{id}"));
            }
            "agent" => q.client = Some(v.strip_prefix("Device/").unwrap_or(v).to_string()),
            "date" => apply_date(&mut q, v)?,
            "outcome" => q.outcome = Some(code(v)),
            "type" => q.type_code = Some(code(v)),
            "subtype" => q.subtype = Some(code(v)),
            "_count" => {
                q.count = v
                    .parse::<usize>()
                    .map_err(|_| bad(format!("_count must be a number (got '{v}')")))?
                    .min(MAX_COUNT)
            }
            "_before_seq" => {
                q.before_seq = Some(
                    v.parse()
                        .map_err(|_| bad("invalid paging position".into()))?,
                )
            }
            other => {
                return Err(bad(format!(
                    "AuditEvent search supports patient, agent, date, outcome, type, subtype and _count (not '{other}')."
                )));
            }
        }
    }
    Ok(q)
}

/// The tenant whose trail the caller reads: its own, except the hosting
/// operator's, who reads every tenant's (and is audited doing so, like
/// every audit read).
fn audit_tenant(ctx: &AccessContext) -> Option<&str> {
    (ctx.grant.role != Role::Operator).then_some(ctx.tenant.as_str())
}

impl FhirService {
    pub(crate) async fn read_audit(
        &self,
        ctx: &AccessContext,
        id: &str,
    ) -> Result<StoredResource, ServiceError> {
        let facts = self.store.audit_read(id, audit_tenant(ctx)).await?;
        self.audit_read(ctx, Interaction::Read, "AuditEvent", &[], None);
        let body = facts
            .and_then(|f| render_row(id, &f))
            .ok_or_else(|| crate::service::fhir_api::crud::not_found("AuditEvent", id))?;
        Ok(StoredResource {
            resource_type: "AuditEvent".into(),
            id: id.to_string(),
            version: 1,
            last_updated_ms: 0,
            deleted: false,
            method: "POST".into(),
            body,
        })
    }

    pub(crate) async fn search_audit(
        &self,
        ctx: &AccessContext,
        pairs: Vec<(String, String)>,
    ) -> Result<SearchResult, ServiceError> {
        let mut q = parse(&pairs)?;
        q.tenant = audit_tenant(ctx).map(str::to_string);
        let page = self.store.audit_search(q).await?;
        let query = crate::service::fhir_api::search::encode(
            pairs.iter().filter(|(k, _)| k != "_before_seq"),
        );
        self.audit_read(
            ctx,
            Interaction::Search,
            "AuditEvent",
            &[],
            Some(query.clone()),
        );
        let base = &self.settings.base_url;
        let entries: Vec<Entry> = page
            .rows
            .iter()
            .filter_map(|(id, facts)| {
                Some(Entry {
                    full_url: Some(format!("{base}/AuditEvent/{id}")),
                    resource: Some(render_row(id, facts)?),
                    search_mode: Some("match"),
                    ..Default::default()
                })
            })
            .collect();
        let mut links = vec![("self", format!("{base}/AuditEvent?{query}"))];
        if let Some(seq) = page.next_before_seq {
            links.push((
                "next",
                format!("{base}/AuditEvent?{query}&_before_seq={seq}"),
            ));
        }
        Ok(SearchResult {
            bundle: render("searchset", None, &links, &entries),
        })
    }
}
