//! Profile checks: the US Core constraints Tandem enforces, read from `profiles/`.
//!
//! Each StructureDefinition's differential lists mandatory elements (`min`) and
//! required category slices (`patternCodeableConcept`). A resource is checked
//! against the profiles it claims in `meta.profile`, plus any default profiles
//! configured per resource type. Whether a failure rejects the write (strict,
//! 422) or is returned as a warning is the caller's decision.

use serde_json::Value;

use super::outcome::Issue;

/// The StructureDefinitions shipped in `profiles/`, embedded at build time.
pub const PROFILE_SOURCES: &[&str] = &[
    include_str!("../../profiles/StructureDefinition-us-core-patient.json"),
    include_str!("../../profiles/StructureDefinition-us-core-encounter.json"),
    include_str!(
        "../../profiles/StructureDefinition-us-core-observation-screening-assessment.json"
    ),
    include_str!("../../profiles/StructureDefinition-us-core-vital-signs.json"),
    include_str!("../../profiles/StructureDefinition-us-core-observation-lab.json"),
    include_str!(
        "../../profiles/StructureDefinition-us-core-condition-problems-health-concerns.json"
    ),
    include_str!("../../profiles/StructureDefinition-us-core-condition-encounter-diagnosis.json"),
    include_str!("../../profiles/StructureDefinition-us-core-questionnaireresponse.json"),
    include_str!("../../profiles/StructureDefinition-tandem-screening-result.json"),
];

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    steps: Vec<String>,
    min: usize,
    pattern: Option<Value>,
}

/// One enforceable profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub url: String,
    pub resource_type: String,
    rules: Vec<Rule>,
}

/// All loaded profiles.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

impl Profiles {
    pub fn builtin() -> Profiles {
        let profiles = PROFILE_SOURCES
            .iter()
            .map(|s| {
                Profile::from_definition(
                    &serde_json::from_str(s).expect("profiles/ hold valid JSON"),
                )
            })
            .collect();
        Profiles { profiles }
    }

    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.url.as_str())
    }

    pub fn get(&self, url: &str) -> Option<&Profile> {
        let url = url.split('|').next().unwrap_or(url);
        self.profiles.iter().find(|p| p.url == url)
    }

    /// Checks `resource` against its claimed profiles and `defaults` (profile URLs).
    pub fn check(&self, resource_type: &str, resource: &Value, defaults: &[String]) -> Vec<Issue> {
        let claimed = resource["meta"]["profile"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let mut urls: Vec<&str> = claimed.chain(defaults.iter().map(String::as_str)).collect();
        urls.dedup();
        let mut issues = Vec::new();
        for url in urls {
            if let Some(p) = self.get(url).filter(|p| p.resource_type == resource_type) {
                issues.extend(p.check(resource));
            }
        }
        issues
    }
}

impl Profile {
    fn from_definition(sd: &Value) -> Profile {
        let rules = sd["differential"]["element"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let path = e["path"].as_str()?;
                let min = e["min"].as_u64().unwrap_or(0) as usize;
                let steps = path.split('.').skip(1).map(String::from).collect();
                Some(Rule {
                    id: e["id"].as_str().unwrap_or(path).to_string(),
                    steps,
                    min,
                    pattern: e.get("patternCodeableConcept").cloned(),
                })
            })
            .filter(|r| r.min > 0)
            .collect();
        Profile {
            url: sd["url"].as_str().unwrap_or_default().to_string(),
            resource_type: sd["type"].as_str().unwrap_or_default().to_string(),
            rules,
        }
    }

    /// The issues of `resource` against this profile.
    pub fn check(&self, resource: &Value) -> Vec<Issue> {
        let mut issues = Vec::new();
        for rule in &self.rules {
            let (last, parents) = rule
                .steps
                .split_last()
                .expect("rules have at least one step");
            let mut owners = vec![resource];
            for step in parents {
                owners = owners.into_iter().flat_map(|o| children(o, step)).collect();
            }
            for owner in owners {
                let found = children(owner, last)
                    .into_iter()
                    .filter(|c| rule.pattern.as_ref().is_none_or(|p| matches_pattern(c, p)))
                    .count();
                if found < rule.min {
                    issues.push(self.issue(rule));
                    break;
                }
            }
        }
        issues
    }

    fn issue(&self, rule: &Rule) -> Issue {
        let what = match &rule.pattern {
            Some(p) => format!(
                "at least {} {} with coding {}",
                rule.min, rule.id, p["coding"][0]
            ),
            None => format!("{} (minimum {})", rule.id, rule.min),
        };
        Issue::error(
            "required",
            format!(
                "Profile {} requires {what}; add it or drop the profile claim.",
                self.url
            ),
        )
        .at(rule.id.split(':').next().unwrap_or(&rule.id).to_string())
    }
}

fn children<'a>(v: &'a Value, step: &str) -> Vec<&'a Value> {
    let Some(obj) = v.as_object() else {
        return Vec::new();
    };
    let flat = |x: &'a Value| -> Vec<&'a Value> {
        match x {
            Value::Array(a) => a.iter().filter(|i| !i.is_null()).collect(),
            Value::Null => Vec::new(),
            other => vec![other],
        }
    };
    if let Some(prefix) = step.strip_suffix("[x]") {
        return obj
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(prefix)
                    .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
            })
            .flat_map(|(_, x)| flat(x))
            .collect();
    }
    obj.get(step).map(flat).unwrap_or_default()
}

/// A CodeableConcept matches a pattern when it has every coding of the pattern.
fn matches_pattern(value: &Value, pattern: &Value) -> bool {
    let codings = value["coding"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    pattern["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|want| {
            codings
                .iter()
                .any(|c| c["system"] == want["system"] && c["code"] == want["code"])
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn us_core_patient_and_screening_rules() {
        let ps = Profiles::builtin();
        let uc = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient".to_string();
        let bad =
            json!({"resourceType": "Patient", "identifier": [{"value": "1"}], "gender": "female"});
        let issues = ps.check("Patient", &bad, std::slice::from_ref(&uc));
        let exprs: Vec<_> = issues.iter().filter_map(|i| i.expression.clone()).collect();
        assert_eq!(exprs, vec!["Patient.identifier.system", "Patient.name"]);
        let good = json!({"resourceType": "Patient", "identifier": [{"system": "s", "value": "1"}], "name": [{"family": "X"}], "gender": "female"});
        assert!(ps.check("Patient", &good, &[uc]).is_empty());

        let screening = json!({"resourceType": "Observation", "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-screening-assessment"]},
            "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"text": "x"}, "subject": {"reference": "Patient/1"}});
        let issues = ps.check("Observation", &screening, &[]);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].diagnostics.contains("survey"));
    }
}
