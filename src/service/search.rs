//! Search: parse, run, and render a searchset Bundle with paging links.

use serde_json::{Value, json};

use super::{FhirService, ServiceError};
use crate::fhir::bundle::{Entry, render};
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::fhir::query::{SearchQuery, Summary, parse as parse_query};
use crate::fhir::summary::is_summary_key;
use crate::store::{AccessContext, StoredResource};

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
        let q = self.parse_search(rt, &pairs, strict)?;
        let page = self.store.search(ctx, q.clone()).await?;
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

    fn parse_search(
        &self,
        rt: &str,
        pairs: &[(String, String)],
        strict: bool,
    ) -> Result<SearchQuery, ServiceError> {
        let mut q = parse_query(&self.registry, &self.settings.base_url, rt, pairs)
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

pub(crate) fn full_url(base: &str, r: &StoredResource) -> String {
    format!("{base}/{}/{}", r.resource_type, r.id)
}

fn encode<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
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
