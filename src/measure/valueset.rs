//! Value set expansions, loaded as data from the measure bundles Tandem ships
//! (`conformance/measures/`). Measures name value sets by OID; every OID a
//! measure uses must be present when it is loaded, so a missing expansion is a
//! start-up error and never a silently empty code list.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The VSAC prefix eCQM value set canonicals share.
pub const VSAC: &str = "http://cts.nlm.nih.gov/fhir/ValueSet/";

/// Codes of one expansion: system → codes, so a lookup borrows `&str`s and
/// allocates nothing (it runs for every coding a measure tests).
type Codes = HashMap<String, HashSet<String>>;

/// Expansions by OID (the last path segment of the canonical URL).
#[derive(Debug, Default, Clone)]
pub struct ValueSets {
    by_oid: HashMap<String, Codes>,
}

impl ValueSets {
    /// Adds every `ValueSet` with an expansion found in a Bundle.
    pub fn add_bundle(&mut self, bundle: &Value) {
        let entries = bundle["entry"].as_array().into_iter().flatten();
        for r in entries.map(|e| &e["resource"]) {
            if r["resourceType"] == "ValueSet" {
                self.add(r);
            }
        }
    }

    /// Adds one expanded ValueSet.
    pub fn add(&mut self, vs: &Value) {
        let Some(url) = vs["url"].as_str() else {
            return;
        };
        let oid = url.rsplit('/').next().unwrap_or(url).to_string();
        let codes = self.by_oid.entry(oid).or_default();
        collect(&vs["expansion"]["contains"], codes);
    }

    /// Whether the set with this OID holds `system|code`.
    pub fn has(&self, oid: &str, system: &str, code: &str) -> bool {
        self.by_oid
            .get(oid)
            .and_then(|s| s.get(system))
            .is_some_and(|codes| codes.contains(code))
    }

    /// Copies from `other` every set this one lacks (a set one version of a
    /// measure does not use but the transcription names for another).
    pub fn fill_from(&mut self, other: &ValueSets) {
        for (oid, codes) in &other.by_oid {
            if !self.by_oid.contains_key(oid) {
                self.by_oid.insert(oid.clone(), codes.clone());
            }
        }
    }

    /// Whether an expansion for `oid` is loaded.
    pub fn knows(&self, oid: &str) -> bool {
        self.by_oid.contains_key(oid)
    }

    /// The OIDs in `wanted` that are not loaded.
    pub fn missing<'a>(&self, wanted: &[&'a str]) -> Vec<&'a str> {
        wanted.iter().copied().filter(|o| !self.knows(o)).collect()
    }
}

fn collect(contains: &Value, into: &mut Codes) {
    for c in contains.as_array().into_iter().flatten() {
        if let (Some(s), Some(code)) = (c["system"].as_str(), c["code"].as_str()) {
            into.entry(s.to_string())
                .or_default()
                .insert(code.to_string());
        }
        collect(&c["contains"], into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_expansions_are_flattened_and_lookups_are_exact() {
        let mut v = ValueSets::default();
        v.add(
            &json!({"url": format!("{VSAC}1.2.3"), "expansion": {"contains": [
            {"system": "http://loinc.org", "code": "4548-4"},
            {"system": "http://snomed.info/sct", "code": "1", "contains": [
                {"system": "http://snomed.info/sct", "code": "2"}]}]}}),
        );
        assert!(v.has("1.2.3", "http://loinc.org", "4548-4"));
        assert!(v.has("1.2.3", "http://snomed.info/sct", "2"));
        assert!(!v.has("1.2.3", "http://snomed.info/sct", "4548-4"));
        assert_eq!(v.missing(&["1.2.3", "9.9"]), vec!["9.9"]);
    }
}
