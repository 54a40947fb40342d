//! Reading DEQM MeasureReports in tests: a population's count, and the
//! patients of a subject-list population (its contained List).

use std::collections::BTreeSet;

use serde_json::Value;

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
