//! History at instance, type and system level, with `_since`, `_count` and paging.

use serde_json::json;

use crate::auth::policy::{Interaction, authorize};
use crate::caller::scopes::{Allowance, Perms};
use crate::fhir::bundle::{Entry, etag, render};
use crate::fhir::datetime::{format_instant_ms, parse_range};
use crate::fhir::outcome::Issue;
use crate::fhir::query::{DEFAULT_COUNT, MAX_COUNT};
use crate::service::fhir_api::search::full_url;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, HistoryQuery, HistoryScope};

impl FhirService {
    pub async fn history(
        &self,
        ctx: &AccessContext,
        scope: HistoryScope,
        pairs: Vec<(String, String)>,
    ) -> Result<String, ServiceError> {
        let mut q = HistoryQuery {
            scope: scope.clone(),
            since_ms: None,
            count: DEFAULT_COUNT,
            before_seq: None,
        };
        for (k, v) in &pairs {
            match k.as_str() {
                "_since" => {
                    q.since_ms = Some(
                        parse_range(v)
                            .ok_or_else(|| {
                                bad(format!(
                                    "_since '{v}' is not a valid instant, e.g. 2024-01-01T00:00:00Z"
                                ))
                            })?
                            .start,
                    )
                }
                "_count" => {
                    q.count = v
                        .parse::<usize>()
                        .map_err(|_| {
                            bad(format!("_count must be a non-negative integer (got '{v}')"))
                        })?
                        .min(MAX_COUNT)
                }
                "_before_seq" => {
                    q.before_seq = Some(
                        v.parse()
                            .map_err(|_| bad("invalid paging position".into()))?,
                    )
                }
                _ => {}
            }
        }
        let q_was_first_page = q.before_seq.is_none() && q.since_ms.is_none() && q.count > 0;
        let (rt, i) = match &scope {
            HistoryScope::System => ("*".to_string(), Interaction::HistorySystem),
            HistoryScope::Type(t) => (t.clone(), Interaction::HistoryType),
            HistoryScope::Instance(t, _) => (t.clone(), Interaction::HistoryInstance),
        };
        if rt == "AuditEvent" {
            return Err(bad(
                "AuditEvent records have no history; search them instead.".into(),
            ));
        }
        let allowance = if rt == "*" {
            self.allow_system(ctx)?
        } else {
            self.allow(ctx, &rt, i)?
        };
        let mut page = self.store.history(ctx, q).await?;
        let viewer = self.viewer(ctx).await?;
        let mut decisions = Vec::new();
        let before = page.entries.len();
        page.entries.retain(|r| {
            let a = if rt == "*" {
                authorize(&ctx.grant, &r.resource_type, Interaction::Read)
                    .unwrap_or(Allowance::Denied)
            } else {
                allowance.clone()
            };
            !matches!(a, Allowance::Denied) && self.visible(&viewer, &a, r, &mut decisions)
        });
        self.audit_consents(ctx, decisions);
        // A total counting entries the caller may not see would leak them.
        let total = (page.entries.len() == before && !ctx.guest).then_some(page.total);
        if let HistoryScope::Instance(t, id) = &scope
            && page.entries.is_empty()
            && q_was_first_page
        {
            return Err(crate::service::fhir_api::crud::not_found(t, id));
        }
        let shown: Vec<&crate::store::StoredResource> = page.entries.iter().collect();
        self.audit_read(ctx, i, &rt, &shown, None);
        let base = &self.settings.base_url;
        let path = match &scope {
            HistoryScope::System => format!("{base}/_history"),
            HistoryScope::Type(t) => format!("{base}/{t}/_history"),
            HistoryScope::Instance(t, id) => format!("{base}/{t}/{id}/_history"),
        };
        let entries: Vec<Entry> = page
            .entries
            .iter()
            .map(|r| {
                let url = if r.method == "POST" { r.resource_type.clone() } else { format!("{}/{}", r.resource_type, r.id) };
                let status = match r.method.as_str() {
                    "POST" => "201 Created",
                    "DELETE" => "204 No Content",
                    _ if r.version == 1 => "201 Created",
                    _ => "200 OK",
                };
                Entry {
                    full_url: Some(full_url(base, r)),
                    resource: (!r.deleted).then(|| r.body.clone()),
                    request: Some(json!({"method": r.method, "url": url})),
                    response: Some(json!({"status": status, "etag": etag(r.version), "lastModified": format_instant_ms(r.last_updated_ms)})),
                    ..Default::default()
                }
            })
            .collect();
        let keep: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| k != "_before_seq")
            .collect();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(keep.iter())
            .finish();
        let mut links = vec![("self", format!("{path}?{query}"))];
        if let Some(seq) = page.next_before_seq {
            links.push(("next", format!("{path}?{query}&_before_seq={seq}")));
        }
        Ok(render("history", total, &links, &entries))
    }
}

fn bad(msg: String) -> ServiceError {
    ServiceError::bad(Issue::error("invalid", msg))
}

impl FhirService {
    /// System history needs a `system/*` scope with `s`; entries are then
    /// screened per type.
    fn allow_system(&self, ctx: &AccessContext) -> Result<Allowance, ServiceError> {
        let wildcard = ctx
            .grant
            .scopes
            .0
            .iter()
            .any(|s| s.resource_type.is_none() && s.perms.contains(Perms::S));
        if wildcard && !ctx.guest {
            return Ok(Allowance::All);
        }
        self.audit_refusal(ctx, Interaction::HistorySystem, "*");
        Err(ServiceError::Forbidden(Issue::error(
            "forbidden",
            "System history needs a system/*.s scope.",
        )))
    }
}
