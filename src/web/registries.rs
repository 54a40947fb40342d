//! The registries page: the practice's risk tiers, care-gap registry and
//! payer-attribution reconciliation, each the Parameters its operation
//! (`$risk-registry`, `$care-gap-registry`, `$attribution`) returns, shown
//! as nested lists — numbers first, members capped so a page of a large
//! practice stays small (the operation itself gives every one).

use maud::{Markup, html};
use serde_json::Value;

/// Entries shown per level before "… and N more".
pub const CAP: usize = 50;

fn scalar(p: &Value) -> Option<String> {
    p.as_object()?.iter().find_map(|(k, v)| {
        if !k.starts_with("value") {
            return None;
        }
        Some(match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("reference")
                .or(o.get("start"))
                .and_then(Value::as_str)
                .map_or_else(|| v.to_string(), str::to_string),
            v => v.to_string(),
        })
    })
}

fn list(params: &[Value]) -> Markup {
    html! {
        ul {
            @for p in params.iter().take(CAP) {
                li {
                    span.name { (p["name"].as_str().unwrap_or("?")) }
                    @if let Some(v) = scalar(p) { ": " (v) }
                    @if let Some(parts) = p["part"].as_array() { (list(parts)) }
                }
            }
            @if params.len() > CAP {
                li.muted { "… and " (params.len() - CAP) " more (the operation lists every one)" }
            }
        }
    }
}

/// One registry section: its title, the operation, and what it returned
/// (or why it could not be read).
pub fn section(title: &str, operation: &str, result: &Result<Value, String>) -> Markup {
    html! {
        section.registry {
            h2 { (title) }
            p.muted { "From " code { (operation) } "." }
            @match result {
                Ok(v) => (list(v["parameter"].as_array().map(Vec::as_slice).unwrap_or_default())),
                Err(why) => p.message { (why) },
            }
        }
    }
}
