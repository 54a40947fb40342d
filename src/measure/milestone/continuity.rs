//! The panel and continuity (building block 3): who a patient's PCPs in the
//! practice are, and month by month whether a patient seen by the practice
//! was seen by one of them. BB3.Y2.2 (Colorado guide, Appendix F): for
//! provider X, of X's patients seen in a month (denominator), those seen by
//! X (numerator); target 75%. Pure: the service folds every record through
//! [`months_seen`] and adds the results up in [`Continuity`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde_json::Value;

use crate::measure::record::{Record, as_list, codings};

/// SNOMED CT 446050000 "Primary care physician" and v3 RoleCode `PCP`: the
/// CareTeam participant roles that make a patient empaneled.
const PCP_ROLES: [(&str, &str); 2] = [
    ("http://snomed.info/sct", "446050000"),
    ("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "PCP"),
];

/// The practice's clinicians: every `Practitioner/…` and `PractitionerRole/…`
/// reference, each mapped to the clinician it stands for (a role to its
/// practitioner), so a PCP named by role and a visit by the practitioner
/// are the same person.
#[derive(Debug, Clone, Default)]
pub struct Staff {
    clinician: HashMap<String, String>,
}

impl Staff {
    /// Adds a reference standing for `clinician` (itself, for a Practitioner).
    pub fn add(&mut self, reference: String, clinician: String) {
        self.clinician.insert(reference, clinician);
    }

    pub fn contains(&self, reference: &str) -> bool {
        self.clinician.contains_key(reference)
    }

    /// The clinician a reference of the practice stands for.
    pub fn clinician(&self, reference: &str) -> Option<&str> {
        self.clinician.get(reference).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.clinician.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clinician.is_empty()
    }
}

impl FromIterator<String> for Staff {
    /// Practitioners only, each standing for itself.
    fn from_iter<I: IntoIterator<Item = String>>(refs: I) -> Staff {
        let mut s = Staff::default();
        for r in refs {
            s.add(r.clone(), r);
        }
        s
    }
}

/// The patient's PCPs in the practice, as clinicians: each
/// `generalPractitioner` that is one of the practice's, and each PCP
/// participant of an active CareTeam.
pub fn pcps(record: &Record, staff: &Staff) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = as_list(&record.patient["generalPractitioner"])
        .filter_map(|r| staff.clinician(r["reference"].as_str()?))
        .map(str::to_string)
        .collect();
    for t in record.all("CareTeam") {
        out.extend(
            pcp_members(t)
                .filter_map(|r| staff.clinician(r))
                .map(str::to_string),
        );
    }
    out
}

/// The members an active CareTeam holds in a PCP role (references as
/// written); none for a team that is not active.
pub fn pcp_members(team: &Value) -> impl Iterator<Item = &str> {
    let active = team["status"] == "active";
    as_list(&team["participant"])
        .filter(move |_| active)
        .filter(|p| {
            as_list(&p["role"]).any(|r| codings(r).any(|(s, c)| PCP_ROLES.contains(&(s, c))))
        })
        .filter_map(|p| p["member"]["reference"].as_str())
}

/// The month (`YYYY-MM`) of each visit from `first` to `last`, with the
/// practice's clinicians seen that month. A visit is what makes a patient
/// active (`visit_day`); who saw them is each `participant.individual` of
/// the practice (a visit naming none still counts as seen).
pub fn months_seen(
    record: &Record,
    staff: &Staff,
    visit_day: impl Fn(&Value) -> Option<NaiveDate>,
    (first, last): (NaiveDate, NaiveDate),
) -> BTreeMap<String, BTreeSet<String>> {
    let mut months: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in record.all("Encounter") {
        let Some(day) = visit_day(e).filter(|d| first <= *d && *d <= last) else {
            continue;
        };
        let by = as_list(&e["participant"])
            .filter_map(|p| staff.clinician(p["individual"]["reference"].as_str()?))
            .map(str::to_string);
        months
            .entry(day.format("%Y-%m").to_string())
            .or_default()
            .extend(by);
    }
    months
}

/// Continuity added up: per clinician and month, their panel's patients
/// seen by the practice and, of them, those seen by their PCP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Continuity {
    /// clinician → month → cell.
    pub by_provider: BTreeMap<String, BTreeMap<String, Cell>>,
    /// Practice-wide, per patient-month: each empaneled patient seen in a
    /// month once, own when seen by any of their PCPs.
    pub practice: BTreeMap<String, Cell>,
}

/// Patients (`Patient/…`) seen, and of them seen by their own PCP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    pub seen: Vec<String>,
    pub own: Vec<String>,
}

impl Cell {
    fn add(&mut self, patient: &str, own: bool) {
        self.seen.push(patient.to_string());
        if own {
            self.own.push(patient.to_string());
        }
    }
}

impl Continuity {
    /// Adds one patient: its PCPs and who saw it each month. A patient
    /// without a PCP here is on no panel and counts nowhere.
    pub fn add(
        &mut self,
        patient: &str,
        pcps: &BTreeSet<String>,
        months: &BTreeMap<String, BTreeSet<String>>,
    ) {
        if pcps.is_empty() {
            return;
        }
        for (month, by) in months {
            self.practice
                .entry(month.clone())
                .or_default()
                .add(patient, !by.is_disjoint(pcps));
        }
        for pcp in pcps {
            let cells = self.by_provider.entry(pcp.clone()).or_default();
            for (month, by) in months {
                cells
                    .entry(month.clone())
                    .or_default()
                    .add(patient, by.contains(pcp));
            }
        }
    }

    /// Every patient-month seen (`Patient/x YYYY-MM`) and those seen by
    /// their PCP: the practice-wide rate over a period.
    pub fn patient_months(&self) -> (Vec<String>, Vec<String>) {
        let (mut seen, mut own) = (Vec::new(), Vec::new());
        for (month, c) in &self.practice {
            seen.extend(c.seen.iter().map(|p| format!("{p} {month}")));
            own.extend(c.own.iter().map(|p| format!("{p} {month}")));
        }
        (own, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(e: &Value) -> Option<NaiveDate> {
        e["period"]["start"].as_str()?.get(..10)?.parse().ok()
    }

    fn visit(day: &str, by: &str) -> Value {
        json!({"resourceType": "Encounter", "period": {"start": format!("{day}T09:00:00Z")},
               "participant": [{"individual": {"reference": by}}]})
    }

    /// Hand-worked: dr-a (also named by role r-a) and dr-b; one patient with
    /// PCP dr-a by role, another with dr-a and, through a CareTeam, dr-b.
    #[test]
    fn continuity_per_clinician_and_practice() {
        let mut staff: Staff = [
            "Practitioner/dr-a".to_string(),
            "Practitioner/dr-b".to_string(),
        ]
        .into_iter()
        .collect();
        staff.add("PractitionerRole/r-a".into(), "Practitioner/dr-a".into());
        let one = Record::new(vec![
            json!({"resourceType": "Patient", "id": "one",
                   "generalPractitioner": [{"reference": "PractitionerRole/r-a"}]}),
            visit("2026-03-02", "Practitioner/dr-a"),
            visit("2026-04-02", "Practitioner/dr-b"),
            visit("2026-04-20", "Practitioner/elsewhere"),
        ])
        .unwrap();
        let two = Record::new(vec![
            json!({"resourceType": "Patient", "id": "two",
                   "generalPractitioner": [{"reference": "Practitioner/dr-a"}]}),
            json!({"resourceType": "CareTeam", "status": "active", "participant": [
                {"member": {"reference": "Practitioner/dr-b"},
                 "role": [{"coding": [{"system": "http://snomed.info/sct", "code": "446050000"}]}]}]}),
            visit("2026-04-03", "Practitioner/dr-b"),
            visit("2026-06-03", "Practitioner/dr-b"),
        ])
        .unwrap();
        let nobody = Record::new(vec![
            json!({"resourceType": "Patient", "id": "three"}),
            visit("2026-04-03", "Practitioner/dr-b"),
        ])
        .unwrap();
        let window = (
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 5, 31).unwrap(),
        );
        let mut c = Continuity::default();
        for r in [&one, &two, &nobody] {
            let p = pcps(r, &staff);
            c.add(
                &format!("Patient/{}", r.id()),
                &p,
                &months_seen(r, &staff, day, window),
            );
        }
        assert_eq!(pcps(&two, &staff).len(), 2);
        let cell = |who: &str, m: &str| {
            let c = &c.by_provider[who][m];
            (c.seen.len(), c.own.len())
        };
        assert_eq!(cell("Practitioner/dr-a", "2026-03"), (1, 1));
        assert_eq!(cell("Practitioner/dr-a", "2026-04"), (2, 0));
        assert_eq!(cell("Practitioner/dr-b", "2026-04"), (1, 1));
        assert!(
            !c.by_provider["Practitioner/dr-a"].contains_key("2026-06"),
            "outside"
        );
        // Practice-wide: patient two in April was seen by one of its PCPs.
        let (own, seen) = c.patient_months();
        assert_eq!(
            seen,
            [
                "Patient/one 2026-03",
                "Patient/one 2026-04",
                "Patient/two 2026-04"
            ]
        );
        assert_eq!(own, ["Patient/one 2026-03", "Patient/two 2026-04"]);
    }
}
