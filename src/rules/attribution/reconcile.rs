//! Reconciling one payer list with the practice's panel: which members are
//! the practice's patients (by the payer's member id on the Patient, or a
//! Patient reference), and where list and panel disagree — the work a care
//! team does by hand today.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// What reconciliation needs of one patient of the practice.
#[derive(Debug, Clone)]
pub struct PanelEntry {
    /// `Patient/{id}`.
    pub patient: String,
    /// `system|value` of each identifier.
    pub identifiers: Vec<String>,
    /// A PCP or care team in this practice.
    pub empaneled: bool,
    /// A `generalPractitioner` that is not one of this practice's clinicians.
    pub other_pcp: bool,
}

/// One list against the panel; every field a sorted list (its length is
/// the count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciliation {
    /// Every member, as the payer identifies it (`system|value` or `Patient/…`).
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
    /// Members no patient of the practice carries the id of.
    pub unmatched: Vec<String>,
}

/// The payer's key for a member: its identifier, else its Patient reference.
pub fn member_key(member: &Value) -> Option<String> {
    let e = &member["entity"];
    match (
        e["identifier"]["system"].as_str(),
        e["identifier"]["value"].as_str(),
    ) {
        (Some(s), Some(v)) => Some(format!("{s}|{v}")),
        (None, Some(v)) => Some(format!("|{v}")),
        _ => e["reference"].as_str().map(str::to_string),
    }
}

pub fn reconcile(members: &[Value], panel: &[PanelEntry]) -> Reconciliation {
    let mut by_id: HashMap<&str, &PanelEntry> = HashMap::new();
    let mut by_value: HashMap<&str, Vec<&PanelEntry>> = HashMap::new();
    for p in panel {
        by_id.insert(p.patient.as_str(), p);
        for i in &p.identifiers {
            by_id.insert(i.as_str(), p);
            if let Some((_, v)) = i.split_once('|') {
                by_value.entry(v).or_default().push(p);
            }
        }
    }
    let mut r = Reconciliation::default();
    let mut on_list: HashSet<&str> = HashSet::new();
    for key in members.iter().filter_map(member_key) {
        // A member id without a system matches a patient only when exactly
        // one patient carries that value.
        let found = by_id.get(key.as_str()).copied().or_else(|| {
            let v = key.strip_prefix('|')?;
            match by_value.get(v).map(Vec::as_slice) {
                Some([one]) => Some(*one),
                _ => None,
            }
        });
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
            None => r.unmatched.push(key.clone()),
        }
        r.attributed.push(key);
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

    fn entry(id: &str, medicaid: &str, empaneled: bool, other_pcp: bool) -> PanelEntry {
        PanelEntry {
            patient: format!("Patient/{id}"),
            identifiers: vec![format!("urn:medicaid|{medicaid}")],
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
        let r = reconcile(&members, &panel);
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
        let r = reconcile(&members, &panel);
        assert_eq!(r.matched, ["Patient/b"]);
        assert_eq!(r.unmatched, ["|M1"]);
    }
}
