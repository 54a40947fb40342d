//! `_summary=true`: which top-level elements R4 marks as summary elements.
//!
//! The list is data (`conformance/summary-elements.json`, generated from the R4
//! StructureDefinitions), read once.

use std::collections::HashMap;
use std::sync::OnceLock;

const SUMMARY_JSON: &str = include_str!("../../conformance/summary-elements.json");

fn table() -> &'static HashMap<String, Vec<String>> {
    static TABLE: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(SUMMARY_JSON)
            .expect("conformance/summary-elements.json is valid JSON");
        serde_json::from_value(v["elements"].clone())
            .expect("elements map type names to element lists")
    })
}

/// True when the JSON key `key` of a `resource_type` belongs in its summary.
/// Choice elements (`value[x]`) match their typed keys (`valueQuantity`);
/// a primitive's `_key` extension sibling follows its element.
pub fn is_summary_key(resource_type: &str, key: &str) -> bool {
    if key == "resourceType" {
        return true;
    }
    let key = key.strip_prefix('_').unwrap_or(key);
    table().get(resource_type).is_some_and(|elements| {
        elements.iter().any(|e| match e.strip_suffix("[x]") {
            Some(prefix) => key
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())),
            None => e == key,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_summary_elements() {
        assert!(is_summary_key("Patient", "birthDate"));
        assert!(is_summary_key("Patient", "_birthDate"));
        assert!(is_summary_key("Patient", "deceasedBoolean"));
        assert!(!is_summary_key("Patient", "photo"));
        assert!(!is_summary_key("Patient", "contact"));
        assert!(is_summary_key("Observation", "valueQuantity"));
        assert!(!is_summary_key("Observation", "note"));
        assert!(!is_summary_key("Observation", "text"));
    }
}
