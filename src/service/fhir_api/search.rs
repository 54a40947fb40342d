//! Search: parse, run, and render a searchset Bundle with paging links.

use serde_json::{Value, json};

use crate::auth::policy::{Interaction, authorize};
use crate::caller::scopes::Allowance;
use crate::fhir::bundle::{Entry, render};
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::fhir::query::{SearchQuery, Summary, parse_client};
use crate::fhir::summary::is_summary_key;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, SearchPage, StoredResource};

/// A rendered searchset Bundle.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub bundle: String,
}

const SUBSETTED: &str =
    r#"{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}"#;

impl FhirService {
    /// Runs a type-level search. `strict` is `Prefer: handling=strict`.
    pub async fn search(
        &self,
        ctx: &AccessContext,
        rt: &str,
        pairs: Vec<(String, String)>,
        strict: bool,
    ) -> Result<SearchResult, ServiceError> {
        let allowance = self.allow(ctx, rt, Interaction::Search)?;
        if rt == "AuditEvent" {
            return self.search_audit(ctx, pairs).await;
        }
        if ctx.guest
            && pairs
                .iter()
                .any(|(k, _)| k.contains('.') || k.starts_with("_has"))
        {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Partner clients cannot use chained or _has searches.",
            )));
        }
        let mut q = self.parse_search(rt, &pairs, strict)?;
        let exact = self.scope_query(ctx, rt, &allowance, &mut q)?;
        let mut page = self.store.search(ctx, q.clone()).await?;
        let withheld = self.screen_page(ctx, &allowance, &mut page).await?;
        if withheld > 0 || ctx.guest || !exact {
            page.total = None;
        }
        let shown: Vec<&StoredResource> = page.matches.iter().chain(&page.included).collect();
        self.audit_read(
            ctx,
            Interaction::Search,
            rt,
            &shown,
            Some(encode(pairs.iter())),
        );
        let base = &self.settings.base_url;
        let mut entries: Vec<Entry> = Vec::new();
        for (mode, list) in [("match", &page.matches), ("include", &page.included)] {
            for r in list {
                entries.push(Entry {
                    full_url: Some(full_url(base, r)),
                    resource: Some(shape(r, &q)),
                    search_mode: Some(mode),
                    ..Default::default()
                });
            }
        }
        // A guest (a partner) always gets the same notice and never a count:
        // "N withheld" would tell it whether a person is a patient here, or
        // has a code. Practice clients are told how many.
        let notice = if ctx.guest {
            Some(GUEST_NOTICE.to_string())
        } else {
            (withheld > 0)
                .then(|| format!("{withheld} resource(s) were withheld by access policy."))
        };
        if let Some(notice) = notice {
            let oo = operation_outcome(&[Issue {
                code: "suppressed",
                ..Issue::info(notice)
            }]);
            entries.push(Entry {
                resource: Some(oo.to_string()),
                search_mode: Some("outcome"),
                ..Default::default()
            });
        }
        if !q.ignored.is_empty() {
            let oo = operation_outcome(&[Issue::warning(
                "not-supported",
                format!(
                    "Ignored unknown search parameter(s): {}.",
                    q.ignored.join(", ")
                ),
            )]);
            entries.push(Entry {
                resource: Some(oo.to_string()),
                search_mode: Some("outcome"),
                ..Default::default()
            });
        }
        let self_query = encode(pairs.iter().filter(|(k, _)| !q.ignored.contains(k)));
        let mut links = vec![("self", format!("{base}/{rt}?{self_query}"))];
        if let Some(cursor) = &page.next_cursor {
            let rest = encode(
                pairs
                    .iter()
                    .filter(|(k, _)| k != "_cursor" && !q.ignored.contains(k)),
            );
            links.push(("next", format!("{base}/{rt}?{rest}&_cursor={cursor}")));
        }
        Ok(SearchResult {
            bundle: render("searchset", page.total, &links, &entries),
        })
    }

    /// Drops what the caller may not see from a page: matches failing the
    /// scope restriction or the guest screen, included resources whose type
    /// the scopes do not allow reading. Returns how many were withheld.
    async fn screen_page(
        &self,
        ctx: &AccessContext,
        allowance: &Allowance,
        page: &mut SearchPage,
    ) -> Result<usize, ServiceError> {
        let viewer = self.viewer(ctx).await?;
        let mut decisions = Vec::new();
        let before = page.matches.len() + page.included.len();
        page.matches
            .retain(|r| self.visible(&viewer, allowance, r, &mut decisions));
        page.included.retain(|r| {
            authorize(&ctx.grant, &r.resource_type, Interaction::Read)
                .is_ok_and(|a| self.visible(&viewer, &a, r, &mut decisions))
        });
        self.audit_consents(ctx, decisions);
        Ok(before - page.matches.len() - page.included.len())
    }

    fn parse_search(
        &self,
        rt: &str,
        pairs: &[(String, String)],
        strict: bool,
    ) -> Result<SearchQuery, ServiceError> {
        let mut q = parse_client(&self.registry, &self.settings.base_url, rt, pairs)
            .map_err(|e| ServiceError::bad(Issue::error("invalid", e.0)))?;
        if strict && !q.ignored.is_empty() {
            return Err(ServiceError::bad(Issue::error(
                "not-supported",
                format!(
                    "Unknown search parameter(s): {} (Prefer: handling=strict).",
                    q.ignored.join(", ")
                ),
            )));
        }
        if q.summary == Summary::Count {
            q.count = 0;
        }
        Ok(q)
    }
}

/// The one notice every guest search carries, whatever was withheld.
const GUEST_NOTICE: &str =
    "Results are limited to what this practice shares with you (its referrals and consents).";

pub(crate) fn full_url(base: &str, r: &StoredResource) -> String {
    format!("{base}/{}/{}", r.resource_type, r.id)
}

pub(crate) fn encode<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Applies `_elements` / `_summary` to a stored body.
fn shape(r: &StoredResource, q: &SearchQuery) -> String {
    if q.elements.is_none() && q.summary == Summary::False {
        return r.body.clone();
    }
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&r.body) else {
        return r.body.clone();
    };
    let keep =
        |k: &str, extra: &[&str]| ["resourceType", "id", "meta"].contains(&k) || extra.contains(&k);
    match (&q.elements, q.summary) {
        (Some(els), _) => {
            let els: Vec<&str> = els.iter().map(String::as_str).collect();
            obj.retain(|k, _| keep(k, &els));
        }
        (None, Summary::Text) => obj.retain(|k, _| keep(k, &["text"])),
        (None, Summary::True) => {
            obj.retain(|k, _| keep(k, &[]) || is_summary_key(&r.resource_type, k))
        }
        (None, Summary::Data) => {
            obj.remove("text");
        }
        _ => {}
    }
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    let tags = meta
        .as_object_mut()
        .map(|m| m.entry("tag").or_insert_with(|| json!([])));
    if let Some(Value::Array(tags)) = tags {
        tags.push(serde_json::from_str(SUBSETTED).expect("constant JSON"));
    }
    Value::Object(obj).to_string()
}
