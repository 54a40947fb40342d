//! What the risk method reads of one patient's record on a day: conditions
//! by kind (ICD-10-CM categories or SNOMED CT codes), the latest PHQ-9 and
//! GAD-7 totals (Tandem's derived screening results), ED visits, inpatient
//! stays and 30-day readmissions in the look-back (Encounters and Flags
//! `$process-message` wrote), active medications, age, and positive
//! social-needs screens. Each fact keeps the resources behind it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};
use serde_json::Value;

use crate::fhir::datetime::date_written;
use crate::measure::qicore::{ICD10, SNOMED};
use crate::measure::record::{Record, as_list, codings, condition_stands};

/// The chronic condition kinds the method can give points for.
pub const CONDITION_KINDS: [&str; 5] = [
    "diabetes",
    "hypertension",
    "asthma-copd",
    "heart-failure",
    "ckd",
];

/// ICD-10-CM category prefixes and SNOMED CT codes of each kind (the two
/// behavioral ones too: serious mental illness, substance use disorder).
const KINDS: [(&str, &[&str], &[&str]); 7] = [
    (
        "diabetes",
        &["E10", "E11", "E13"],
        &["44054006", "46635009", "73211009"],
    ),
    (
        "hypertension",
        &["I10", "I11", "I12", "I13", "I15", "I16"],
        &["38341003", "59621000"],
    ),
    ("asthma-copd", &["J44", "J45"], &["195967001", "13645005"]),
    ("heart-failure", &["I50"], &["84114007"]),
    ("ckd", &["N18"], &["709044004"]),
    // Schizophrenia spectrum, bipolar disorder, severe recurrent or
    // psychotic major depression.
    (
        "serious-mental-illness",
        &[
            "F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29", "F30", "F31", "F32.3", "F33.3",
        ],
        &["58214004", "13746004"],
    ),
    // Alcohol and drug use disorders (nicotine, F17, is not one here).
    (
        "substance-use",
        &[
            "F10", "F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19",
        ],
        &["7200002", "66590003", "26416006"],
    ),
];

/// What the method reads of the two large types (see `reads`):
/// Observations are Tandem's derived results of these instruments
/// (`meta.tag` in [`INSTRUMENT_CS`]) and social-needs screens (category
/// [`SDOH`]); Encounters are of these classes. `of` reads through the same
/// constants, so the test on the stored text cannot drift from the method.
pub const INSTRUMENT_CS: &str = "http://tandem.health/fhir/CodeSystem/instrument";
pub const SCORED_INSTRUMENTS: [&str; 2] = ["phq-9", "gad-7"];
pub const SDOH: &str = "sdoh";
pub const ED_CLASSES: [&str; 1] = ["EMER"];
pub const STAY_CLASSES: [&str; 3] = ["IMP", "ACUTE", "NONAC"];

/// One patient's facts (each a list of `Type/id` behind it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskFacts {
    pub conditions: BTreeMap<String, Vec<String>>,
    pub smi: Vec<String>,
    pub sud: Vec<String>,
    /// The latest total and its Observation.
    pub phq9: Option<(f64, String)>,
    pub gad7: Option<(f64, String)>,
    pub ed_visits: Vec<String>,
    pub inpatient_stays: Vec<String>,
    pub readmissions: Vec<String>,
    /// One MedicationRequest per distinct medication.
    pub active_meds: Vec<String>,
    pub age: Option<i32>,
    pub social_needs: Vec<String>,
    /// Inpatient stays for a mental-health or substance-use reason within
    /// the method's `bh_admission_days`.
    pub recent_bh_stays: Vec<String>,
    /// The sensitivity labels of the resources above that carry any.
    pub labels: BTreeMap<String, Vec<Value>>,
}

/// Whether an encounter's reason is a mental-health or substance-use
/// condition (ICD-10-CM chapter F, or a behavioral kind above).
pub fn behavioral_reason(e: &Value) -> bool {
    as_list(&e["reasonCode"]).any(|c| {
        codings(c).any(|(system, code)| system == ICD10 && code.starts_with('F'))
            || matches!(kind_of(c), Some("serious-mental-illness" | "substance-use"))
    })
}

fn reference(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or_default(),
        r["id"].as_str().unwrap_or_default()
    )
}

/// The kind a Condition's code is, if any.
fn kind_of(code: &Value) -> Option<&'static str> {
    codings(code).find_map(|(system, c)| {
        KINDS.iter().find_map(|(kind, icd, snomed)| {
            let hit = match system {
                ICD10 => icd.iter().any(|p| c.starts_with(p)),
                SNOMED => snomed.contains(&c),
                _ => false,
            };
            hit.then_some(*kind)
        })
    })
}

/// A condition that stands and had begun by `on` when it says when.
fn standing(c: &Value, on: NaiveDate) -> bool {
    let onset = c["onsetDateTime"]
        .as_str()
        .or(c["recordedDate"].as_str())
        .and_then(date_written);
    condition_stands(c) && onset.is_none_or(|d| d <= on)
}

fn start_day(r: &Value, periods: &[&str]) -> Option<NaiveDate> {
    periods
        .iter()
        .find_map(|p| r.pointer(p).and_then(Value::as_str))
        .and_then(date_written)
}

impl RiskFacts {
    /// The facts on day `on`, reading utilization and results from the
    /// method's look-back before it.
    pub fn of(record: &Record, on: NaiveDate, method: &super::Method) -> RiskFacts {
        let from = on
            .checked_sub_months(Months::new(method.lookback_months))
            .unwrap_or(NaiveDate::MIN);
        let within = |d: Option<NaiveDate>| d.is_some_and(|d| from < d && d <= on);
        let recent = on - chrono::Days::new(u64::from(method.bh_admission_days));
        let mut f = RiskFacts {
            age: record.age_at(on),
            ..RiskFacts::default()
        };
        for c in record.all("Condition").iter().filter(|c| standing(c, on)) {
            match kind_of(&c["code"]) {
                Some("serious-mental-illness") => f.smi.push(reference(c)),
                Some("substance-use") => f.sud.push(reference(c)),
                Some(k) => f
                    .conditions
                    .entry(k.to_string())
                    .or_default()
                    .push(reference(c)),
                None => {}
            }
        }
        let mut latest: BTreeMap<&str, (NaiveDate, f64, String)> = BTreeMap::new();
        for o in record.all("Observation") {
            let day = start_day(o, &["/effectiveDateTime", "/effectivePeriod/start"]);
            if !within(day) || o["status"] == "entered-in-error" {
                continue;
            }
            let instrument = as_list(&o["meta"]["tag"])
                .find(|t| t["system"] == INSTRUMENT_CS)
                .and_then(|t| t["code"].as_str())
                .filter(|i| SCORED_INSTRUMENTS.contains(i));
            if let (Some(i), Some(total), Some(day)) =
                (instrument, o["valueQuantity"]["value"].as_f64(), day)
                // The latest; of several that day, the highest (the worse reading).
                && latest
                    .get(i)
                    .is_none_or(|(d, t, _)| day > *d || (day == *d && total > *t))
            {
                latest.insert(i, (day, total, reference(o)));
            }
            let sdoh = as_list(&o["category"]).any(|c| codings(c).any(|(_, k)| k == SDOH));
            let positive = as_list(&o["interpretation"])
                .any(|i| codings(i).any(|(_, k)| matches!(k, "POS" | "A")));
            if sdoh && positive {
                f.social_needs.push(reference(o));
            }
        }
        f.phq9 = latest.remove("phq-9").map(|(_, t, r)| (t, r));
        f.gad7 = latest.remove("gad-7").map(|(_, t, r)| (t, r));
        for e in record.all("Encounter") {
            if !within(start_day(e, &["/period/start"])) || e["status"] == "entered-in-error" {
                continue;
            }
            match e["class"]["code"].as_str() {
                Some(c) if ED_CLASSES.contains(&c) => f.ed_visits.push(reference(e)),
                Some(c) if STAY_CLASSES.contains(&c) => {
                    f.inpatient_stays.push(reference(e));
                    let day = start_day(e, &["/period/start"]);
                    if behavioral_reason(e) && day.is_some_and(|d| d > recent) {
                        f.recent_bh_stays.push(reference(e));
                    }
                }
                _ => {}
            }
        }
        for flag in record.all("Flag") {
            let readmission =
                as_list(&flag["code"]["coding"]).any(|c| c["code"] == "readmission-30d");
            if readmission && within(start_day(flag, &["/period/start"])) {
                f.readmissions.push(reference(flag));
            }
        }
        let mut meds = BTreeSet::new();
        for m in record.all("MedicationRequest") {
            let key = codings(&m["medicationCodeableConcept"])
                .next()
                .map(|(s, c)| format!("{s}|{c}"))
                .or_else(|| {
                    m["medicationReference"]["reference"]
                        .as_str()
                        .map(str::to_string)
                });
            if m["status"] == "active" && key.is_some_and(|k| meds.insert(k)) {
                f.active_meds.push(reference(m));
            }
        }
        for ty in [
            "Condition",
            "Observation",
            "Encounter",
            "Flag",
            "MedicationRequest",
        ] {
            for r in record.all(ty) {
                let labels = sensitive(r);
                if !labels.is_empty() {
                    f.labels.insert(reference(r), labels);
                }
            }
        }
        f
    }

    /// Why the facts put a patient on the high-risk BH registry: serious
    /// mental illness, a substance use disorder, a latest PHQ-9 of 20 or
    /// more, a recent mental-health or substance-use admission.
    pub fn bh_reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.smi.is_empty() {
            why.push("serious-mental-illness");
        }
        if !self.sud.is_empty() {
            why.push("substance-use");
        }
        if self.phq9.as_ref().is_some_and(|(t, _)| *t >= SEVERE_PHQ9) {
            why.push("phq-9-severe");
        }
        if !self.recent_bh_stays.is_empty() {
            why.push("bh-admission");
        }
        why.into_iter().map(str::to_string).collect()
    }
}

/// A PHQ-9 total this high is severe depression (Kroenke 2001).
pub const SEVERE_PHQ9: f64 = 20.0;

/// The sensitive security labels of a resource, as written.
fn sensitive(r: &Value) -> Vec<Value> {
    let codes = crate::auth::policy::sensitive_labels(r);
    as_list(&r["meta"]["security"])
        .filter(|l| {
            l["code"]
                .as_str()
                .is_some_and(|c| codes.iter().any(|x| x == c))
        })
        .cloned()
        .collect()
}
