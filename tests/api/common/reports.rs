//! Reading reports in tests: a DEQM MeasureReport population's count and
//! the patients of a subject-list population (its contained List); the
//! DetectedIssues of a gaps-in-care document; a patient's place in
//! `$risk-registry`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::part;

/// The count of population `code` in a report group.
pub fn count(group: &Value, code: &str) -> u64 {
    population(group, code)["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {code} count in {group}"))
}

fn population<'a>(group: &'a Value, code: &str) -> &'a Value {
    group["population"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"]["coding"][0]["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {group}"))
}

/// The patient ids listed for population `code` of group `g` in a
/// subject-list report.
pub fn subjects(report: &Value, g: usize, code: &str) -> BTreeSet<String> {
    let list = population(&report["group"][g], code)["subjectResults"]["reference"]
        .as_str()
        .unwrap()
        .trim_start_matches('#');
    let contained = report["contained"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == list)
        .unwrap();
    contained["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            e["item"]["reference"]
                .as_str()
                .unwrap()
                .trim_start_matches("Patient/")
                .to_string()
        })
        .collect()
}

/// The DetectedIssues of a DEQM gaps-in-care document, checking its shape:
/// a `document` Bundle opening with its Composition (LOINC 96315-7), whose
/// sections point at a MeasureReport (`focus`) and DetectedIssues (`entry`)
/// in the Bundle, all about the Patient the Bundle holds.
pub fn gaps_document(doc: &Value) -> Vec<Value> {
    assert_eq!(doc["type"], "document", "{doc}");
    assert!(doc["identifier"]["value"].is_string() && doc["timestamp"].is_string());
    let entries = doc["entry"].as_array().expect("entries");
    let by_url = |u: &Value| {
        entries
            .iter()
            .find(|e| &e["fullUrl"] == u)
            .map(|e| e["resource"].clone())
            .unwrap_or_else(|| panic!("{u} is not in the document"))
    };
    let composition = &entries[0]["resource"];
    assert_eq!(composition["resourceType"], "Composition");
    assert_eq!(composition["type"]["coding"][0]["code"], "96315-7");
    let subject = composition["subject"]["reference"].clone();
    assert!(
        entries
            .iter()
            .any(|e| e["resource"]["resourceType"] == "Patient"
                && format!("Patient/{}", e["resource"]["id"].as_str().unwrap()) == subject),
        "the Patient is in the document"
    );
    let mut issues = Vec::new();
    for section in composition["section"].as_array().expect("sections") {
        let report = by_url(&section["focus"]["reference"]);
        assert_eq!(report["resourceType"], "MeasureReport");
        assert_eq!(report["subject"]["reference"], subject);
        for e in section["entry"].as_array().expect("section entries") {
            let issue = by_url(&e["reference"]);
            assert_eq!(issue["resourceType"], "DetectedIssue");
            assert_eq!(issue["patient"]["reference"], subject);
            issues.push(issue);
        }
    }
    issues
}

/// Where `$risk-registry` lists `Patient/{pid}`: its tier's code and its
/// `member` part.
pub fn registry_member(registry: &Value, pid: &str) -> Option<(String, Value)> {
    let patient = format!("Patient/{pid}");
    registry["parameter"]
        .as_array()?
        .iter()
        .filter(|p| p["name"] == "tier")
        .find_map(|t| {
            let m = t["part"].as_array()?.iter().find(|m| {
                m["name"] == "member"
                    && part(m, "patient")["valueReference"]["reference"] == patient
            })?;
            Some((
                part(t, "code")["valueCode"].as_str()?.to_string(),
                m.clone(),
            ))
        })
}
