//! Reconciling one payer list with the practice's panel: which members are
//! the practice's patients — by the payer's member id on the Patient, a
//! Patient reference, or (when `[transitions] demographic_match` is on)
//! the demographic rule of `rules::identity` applied to the member record
//! the list contains — and where list and panel disagree: the work a care
//! team does by hand today.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::contained_patient;
use crate::rules::identity::demographics;

/// What reconciliation needs of one patient of the practice.
#[derive(Debug, Clone)]
pub struct PanelEntry {
    /// `Patient/{id}`.
    pub patient: String,
    /// `system|value` of each identifier.
    pub identifiers: Vec<String>,
    /// Family, given, birth date, gender (`rules::identity`), when all known.
    pub demographics: Option<[String; 4]>,
    /// A PCP or care team in this practice.
    pub empaneled: bool,
    /// A `generalPractitioner` that is not one of this practice's clinicians.
    pub other_pcp: bool,
}

/// One list against the panel; every field a sorted list (its length is
/// the count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciliation {
    /// Every member, as the payer identifies it (`system|value`, `Patient/…`,
    /// or `#id` for a contained member record without an id).
    pub attributed: Vec<String>,
    /// Members that are patients of the practice (`Patient/…`).
    pub matched: Vec<String>,
    /// Matched and empaneled here.
    pub concordant: Vec<String>,
    /// Matched, not empaneled here.
    pub attributed_not_empaneled: Vec<String>,
    /// Empaneled here, not on the list.
    pub empaneled_not_attributed: Vec<String>,
    /// Matched, with a PCP outside the practice.
    pub other_practice: Vec<String>,
    /// Members no patient of the practice could be matched to.
    pub unmatched: Vec<String>,
}

/// `system|value` (`|value` without a system) of each identifier.
pub fn identifier_keys(identifiers: &Value) -> Vec<String> {
    identifiers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some(format!(
                "{}|{}",
                i["system"].as_str().unwrap_or(""),
                i["value"].as_str()?
            ))
        })
        .collect()
}

/// A member as the payer identifies it: its key (the first id, else the
/// reference), every id it carries, and its demographics when the list
/// contains its record.
struct Member {
    key: String,
    ids: Vec<String>,
    demographics: Option<[String; 4]>,
}

fn member(list: &Value, m: &Value) -> Option<Member> {
    let e = &m["entity"];
    if e["identifier"]["value"].is_string() {
        let ids = identifier_keys(&Value::Array(vec![e["identifier"].clone()]));
        return Some(Member {
            key: ids[0].clone(),
            ids,
            demographics: None,
        });
    }
    let r = e["reference"].as_str()?;
    match contained_patient(list, r) {
        Some(p) => {
            let ids = identifier_keys(&p["identifier"]);
            Some(Member {
                key: ids.first().cloned().unwrap_or_else(|| r.to_string()),
                ids,
                demographics: demographics(p),
            })
        }
        None => Some(Member {
            key: r.to_string(),
            ids: vec![r.to_string()],
            demographics: None,
        }),
    }
}

/// The one patient answering to a value or to demographics, if only one does.
fn only<'a>(found: Option<&Vec<&'a PanelEntry>>) -> Option<&'a PanelEntry> {
    match found.map(Vec::as_slice) {
        Some([one]) => Some(*one),
        _ => None,
    }
}

/// Reconciles `list` (an ATR Group) with `panel`; `demographic`: whether
/// the demographic rule may match a member no id matches.
pub fn reconcile(list: &Value, panel: &[PanelEntry], demographic: bool) -> Reconciliation {
    let mut by_id: HashMap<&str, &PanelEntry> = HashMap::new();
    let mut by_value: HashMap<&str, Vec<&PanelEntry>> = HashMap::new();
    let mut by_person: HashMap<&[String; 4], Vec<&PanelEntry>> = HashMap::new();
    for p in panel {
        by_id.insert(p.patient.as_str(), p);
        for i in &p.identifiers {
            by_id.insert(i.as_str(), p);
            if let Some((_, v)) = i.split_once('|') {
                by_value.entry(v).or_default().push(p);
            }
        }
        if let Some(d) = p.demographics.as_ref().filter(|_| demographic) {
            by_person.entry(d).or_default().push(p);
        }
    }
    let mut r = Reconciliation::default();
    let mut on_list: HashSet<&str> = HashSet::new();
    for m in list["member"].as_array().into_iter().flatten() {
        let Some(m) = member(list, m) else { continue };
        // A member id without a system matches a patient only when exactly
        // one patient carries that value.
        let found = m
            .ids
            .iter()
            .find_map(|k| {
                by_id.get(k.as_str()).copied().or_else(|| {
                    let v = k.strip_prefix('|')?;
                    only(by_value.get(v))
                })
            })
            .or_else(|| only(by_person.get(m.demographics.as_ref()?)));
        match found {
            Some(p) if on_list.insert(p.patient.as_str()) => {
                r.matched.push(p.patient.clone());
                if p.empaneled {
                    r.concordant.push(p.patient.clone());
                } else {
                    r.attributed_not_empaneled.push(p.patient.clone());
                }
                if p.other_pcp {
                    r.other_practice.push(p.patient.clone());
                }
            }
            Some(_) => {}
            None => r.unmatched.push(m.key.clone()),
        }
        r.attributed.push(m.key);
    }
    r.empaneled_not_attributed = panel
        .iter()
        .filter(|p| p.empaneled && !on_list.contains(p.patient.as_str()))
        .map(|p| p.patient.clone())
        .collect();
    for l in [
        &mut r.attributed,
        &mut r.matched,
        &mut r.concordant,
        &mut r.attributed_not_empaneled,
        &mut r.empaneled_not_attributed,
        &mut r.other_practice,
        &mut r.unmatched,
    ] {
        l.sort();
        l.dedup();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(members: Vec<Value>) -> Value {
        json!({ "resourceType": "Group", "member": members })
    }

    fn entry(id: &str, medicaid: &str, empaneled: bool, other_pcp: bool) -> PanelEntry {
        PanelEntry {
            patient: format!("Patient/{id}"),
            identifiers: vec![format!("urn:medicaid|{medicaid}")],
            demographics: None,
            empaneled,
            other_pcp,
        }
    }

    /// Hand-worked: five patients, a list of four members (one unknown).
    #[test]
    fn a_list_against_the_panel() {
        let panel = vec![
            entry("a", "M1", true, false),
            entry("b", "M2", false, false),
            entry("c", "M3", false, true),
            entry("d", "M4", true, false),
            entry("e", "M5", false, false),
        ];
        let members = vec![
            json!({"entity": {"identifier": {"system": "urn:medicaid", "value": "M1"}}}),
            json!({"entity": {"identifier": {"system": "urn:medicaid", "value": "M2"}}}),
            json!({"entity": {"reference": "Patient/c"}}),
            json!({"entity": {"identifier": {"system": "urn:medicaid", "value": "M9"}}}),
        ];
        let r = reconcile(&list(members), &panel, false);
        assert_eq!(r.attributed.len(), 4);
        assert_eq!(r.matched, ["Patient/a", "Patient/b", "Patient/c"]);
        assert_eq!(r.concordant, ["Patient/a"]);
        assert_eq!(r.attributed_not_empaneled, ["Patient/b", "Patient/c"]);
        assert_eq!(r.other_practice, ["Patient/c"]);
        assert_eq!(r.empaneled_not_attributed, ["Patient/d"]);
        assert_eq!(r.unmatched, ["urn:medicaid|M9"]);
    }

    #[test]
    fn a_value_without_system_matches_only_when_unambiguous() {
        let mut twin = entry("t", "M1", false, false);
        twin.identifiers = vec!["urn:other|M1".into()];
        let panel = vec![
            entry("a", "M1", true, false),
            twin,
            entry("b", "M2", true, false),
        ];
        let members = vec![
            json!({"entity": {"identifier": {"value": "M1"}}}),
            json!({"entity": {"identifier": {"value": "M2"}}}),
        ];
        let r = reconcile(&list(members), &panel, false);
        assert_eq!(r.matched, ["Patient/b"]);
        assert_eq!(r.unmatched, ["|M1"]);
    }
}

#[cfg(test)]
mod demographic_tests {
    use super::*;
    use serde_json::json;

    fn person(id: &str, family: &str, birth: &str) -> PanelEntry {
        PanelEntry {
            patient: format!("Patient/{id}"),
            identifiers: vec![format!("urn:mrn|{id}")],
            demographics: Some([family, "Ana", birth, "female"].map(String::from)),
            empaneled: true,
            other_pcp: false,
        }
    }

    /// A member record the list contains, with a member id the practice
    /// does not hold: matched by demographics only when the switch is on,
    /// and only when exactly one patient has them.
    #[test]
    fn contained_member_records_match_by_demographics_when_allowed() {
        let panel = vec![
            person("a", "Rivera", "1980-02-03"),
            person("t1", "Twin", "1990-01-01"),
            person("t2", "Twin", "1990-01-01"),
        ];
        let record = |id: &str, family: &str, birth: &str| {
            json!({"resourceType": "Patient", "id": id,
                   "identifier": [{"system": "urn:acme:member", "value": format!("X-{id}")}],
                   "name": [{"family": family, "given": ["Ana"]}], "birthDate": birth, "gender": "female"})
        };
        let group = json!({"resourceType": "Group",
            "contained": [record("m1", "Rivera", "1980-02-03"), record("m2", "Twin", "1990-01-01"),
                          record("m3", "Rivera", "1980-02-04")],
            "member": [{"entity": {"reference": "#m1"}}, {"entity": {"reference": "#m2"}},
                       {"entity": {"reference": "#m3"}}]});
        let off = reconcile(&group, &panel, false);
        assert!(off.matched.is_empty());
        assert_eq!(
            off.unmatched,
            [
                "urn:acme:member|X-m1",
                "urn:acme:member|X-m2",
                "urn:acme:member|X-m3"
            ]
        );
        let on = reconcile(&group, &panel, true);
        assert_eq!(on.matched, ["Patient/a"]);
        assert_eq!(
            on.unmatched,
            ["urn:acme:member|X-m2", "urn:acme:member|X-m3"],
            "twins and a different birth date"
        );
        assert_eq!(on.empaneled_not_attributed, ["Patient/t1", "Patient/t2"]);
    }
}
