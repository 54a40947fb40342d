//! Building response Bundles (searchset, history, transaction/batch-response)
//! around stored resource JSON without re-parsing it.

use serde_json::{Value, json};

use super::datetime::format_instant;

/// One entry of a response Bundle; `resource` is raw JSON text.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub full_url: Option<String>,
    pub resource: Option<String>,
    pub search_mode: Option<&'static str>,
    pub request: Option<Value>,
    pub response: Option<Value>,
}

/// A transaction Bundle that PUTs each resource at its own type and id (so
/// sending it again is idempotent): how the generator and the tests load data.
pub fn put_transaction(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({"resource": r, "request": {"method": "PUT", "url": url}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
}

/// Serializes a Bundle. Entries' resources are spliced in as they are stored.
pub fn render(
    bundle_type: &str,
    total: Option<u64>,
    links: &[(&str, String)],
    entries: &[Entry],
) -> String {
    let mut head = json!({"resourceType": "Bundle", "id": crate::fhir::id::new_id(), "meta": {"lastUpdated": format_instant(chrono::Utc::now())}, "type": bundle_type});
    if let Some(t) = total {
        head["total"] = json!(t);
    }
    if !links.is_empty() {
        head["link"] = Value::Array(
            links
                .iter()
                .map(|(rel, url)| json!({"relation": rel, "url": url}))
                .collect(),
        );
    }
    let mut out = head.to_string();
    out.pop(); // reopen the object to append the entries
    out.push_str(",\"entry\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        render_entry(&mut out, e);
    }
    out.push_str("]}");
    out
}

fn render_entry(out: &mut String, e: &Entry) {
    let mut parts: Vec<String> = Vec::new();
    if let Some(u) = &e.full_url {
        parts.push(format!("\"fullUrl\":{}", Value::String(u.clone())));
    }
    if let Some(r) = &e.resource {
        parts.push(format!("\"resource\":{r}"));
    }
    if let Some(m) = e.search_mode {
        parts.push(format!("\"search\":{{\"mode\":\"{m}\"}}"));
    }
    if let Some(r) = &e.request {
        parts.push(format!("\"request\":{r}"));
    }
    if let Some(r) = &e.response {
        parts.push(format!("\"response\":{r}"));
    }
    out.push('{');
    out.push_str(&parts.join(","));
    out.push('}');
}

/// `W/"n"`, the weak ETag of version n.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Parses `W/"n"` (or `"n"`, or `n`) into n.
pub fn parse_etag(v: &str) -> Option<i64> {
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_json_with_spliced_resources() {
        let e = Entry {
            full_url: Some("http://x/Patient/1".into()),
            resource: Some("{\"resourceType\":\"Patient\",\"id\":\"1\"}".into()),
            search_mode: Some("match"),
            ..Default::default()
        };
        let text = render(
            "searchset",
            Some(1),
            &[("self", "http://x/Patient".into())],
            &[e],
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["entry"][0]["resource"]["id"], "1");
        assert_eq!(v["total"], 1);
        assert_eq!(v["link"][0]["relation"], "self");
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(etag(3), "W/\"3\"");
    }
}
