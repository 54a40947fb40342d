//! The SearchParameter registry: which parameters exist per resource type.
//!
//! The registry is built from the SearchParameter resources checked in under
//! `conformance/search-parameters.json` (the R4 definitions, trimmed), so adding
//! a parameter means adding a resource there — no code and no per-parameter SQL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::fhirpath::CompiledPath;

/// The checked-in SearchParameter Bundle the server indexes by.
pub const SEARCH_PARAMETERS_JSON: &str = include_str!("../../conformance/search-parameters.json");

/// The kinds of search parameter Tandem indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Token,
    String,
    Date,
    Reference,
    Quantity,
    Number,
    Uri,
}

impl ParamType {
    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "token" => ParamType::Token,
            "string" => ParamType::String,
            "date" => ParamType::Date,
            "reference" => ParamType::Reference,
            "quantity" => ParamType::Quantity,
            "number" => ParamType::Number,
            "uri" => ParamType::Uri,
            _ => return None,
        })
    }

    /// The FHIR code of this type, as the CapabilityStatement lists it.
    pub fn code(self) -> &'static str {
        match self {
            ParamType::Token => "token",
            ParamType::String => "string",
            ParamType::Date => "date",
            ParamType::Reference => "reference",
            ParamType::Quantity => "quantity",
            ParamType::Number => "number",
            ParamType::Uri => "uri",
        }
    }
}

/// One search parameter as it applies to one resource type.
#[derive(Debug)]
pub struct SearchParam {
    pub code: String,
    pub url: String,
    pub kind: ParamType,
    pub path: CompiledPath,
    /// Target resource types of a reference parameter.
    pub targets: Vec<String>,
}

/// All search parameters, keyed by resource type and code.
#[derive(Debug, Default)]
pub struct Registry {
    by_type: HashMap<String, BTreeMap<String, Arc<SearchParam>>>,
    /// `for_type` results, computed once (indexing asks for every write).
    applicable: HashMap<String, Vec<Arc<SearchParam>>>,
    /// Parameters whose expression is outside the supported FHIRPath subset.
    pub unsupported: Vec<String>,
}

impl Registry {
    /// The registry built from the checked-in SearchParameter Bundle.
    pub fn builtin() -> Registry {
        let bundle: Value = serde_json::from_str(SEARCH_PARAMETERS_JSON)
            .expect("conformance/search-parameters.json is valid JSON");
        Registry::from_bundle(&bundle)
    }

    /// Builds a registry from a Bundle of SearchParameter resources.
    pub fn from_bundle(bundle: &Value) -> Registry {
        let mut reg = Registry::default();
        let entries = bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for sp in entries.iter().map(|e| &e["resource"]) {
            reg.add(sp);
        }
        for rt in crate::fhir::resource_types::R4_RESOURCE_TYPES {
            let list = reg.compute_for_type(rt);
            reg.applicable.insert(rt.to_string(), list);
        }
        reg
    }

    fn add(&mut self, sp: &Value) {
        let code = sp["code"].as_str().unwrap_or_default().to_string();
        let (Some(kind), Some(expr)) = (
            sp["type"].as_str().and_then(ParamType::parse),
            sp["expression"].as_str(),
        ) else {
            return;
        };
        let Some(path) = CompiledPath::compile(expr) else {
            self.unsupported.push(code);
            return;
        };
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let param = Arc::new(SearchParam {
            code: code.clone(),
            url: sp["url"].as_str().unwrap_or_default().to_string(),
            kind,
            path,
            targets: strings(&sp["target"]),
        });
        for base in strings(&sp["base"]) {
            self.by_type
                .entry(base)
                .or_default()
                .insert(code.clone(), param.clone());
        }
    }

    /// The parameter `code` on `resource_type` (including `Resource`-level ones).
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<SearchParam>> {
        self.by_type
            .get(resource_type)
            .and_then(|m| m.get(code))
            .or_else(|| self.by_type.get("DomainResource").and_then(|m| m.get(code)))
            .or_else(|| self.by_type.get("Resource").and_then(|m| m.get(code)))
    }

    /// Every parameter that applies to `resource_type`, sorted by code.
    pub fn for_type(&self, resource_type: &str) -> &[Arc<SearchParam>] {
        self.applicable
            .get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn compute_for_type(&self, resource_type: &str) -> Vec<Arc<SearchParam>> {
        let mut out: Vec<Arc<SearchParam>> = Vec::new();
        // The type's own definition wins over a Resource-level one of the same code.
        for key in [resource_type, "DomainResource", "Resource"] {
            if let Some(m) = self.by_type.get(key) {
                out.extend(
                    m.values()
                        .filter(|p| !out.iter().any(|o| o.code == p.code))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
            }
        }
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_has_the_us_core_parameters() {
        let reg = Registry::builtin();
        for (ty, code) in [
            ("Patient", "identifier"),
            ("Patient", "general-practitioner"),
            ("Observation", "value-quantity"),
            ("Observation", "derived-from"),
            ("Encounter", "service-provider"),
            ("Task", "business-status"),
            ("ServiceRequest", "authored"),
            ("QuestionnaireResponse", "questionnaire"),
            ("Patient", "_tag"),
        ] {
            assert!(reg.get(ty, code).is_some(), "{ty}.{code}");
        }
        assert_eq!(
            reg.get("Observation", "patient").unwrap().kind,
            ParamType::Reference
        );
        assert!(reg.get("Patient", "no-such").is_none());
    }
}

#[cfg(test)]
mod coverage {
    use super::*;

    /// Nearly every R4 parameter compiles; the rest are listed so a change in
    /// the FHIRPath subset that drops more of them fails here.
    #[test]
    fn few_parameters_fall_outside_the_fhirpath_subset() {
        let reg = Registry::builtin();
        // Bundle.entry[0] indexing, `(x as T).text` and `exists() and` are outside the subset.
        assert_eq!(
            reg.unsupported,
            ["composition", "message", "value-string", "deceased"]
        );
    }
}
