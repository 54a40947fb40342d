//! Hand-built patient records for the boundary tests of the measures written
//! from a specification: small resource builders and one call that evaluates
//! a catalog measure over a period.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::measure::GroupResult;
use crate::measure::catalog::Catalog;
use crate::measure::qicore::Libs;
use crate::measure::record::Record;

pub use crate::measure::qicore::{CPT, HCPCS, LOINC, SNOMED};
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a test date")
}

/// Evaluates catalog measure `id` for a patient born on `born` (gender
/// female unless a resource list sets a Patient of its own).
pub fn eval(
    id: &str,
    born: &str,
    resources: Vec<Value>,
    first: &str,
    last: &str,
) -> Vec<GroupResult> {
    eval_as(
        id,
        json!({"resourceType": "Patient", "id": "p", "birthDate": born, "gender": "female"}),
        resources,
        first,
        last,
    )
}

/// As `eval`, with a given Patient resource.
pub fn eval_as(
    id: &str,
    patient: Value,
    resources: Vec<Value>,
    first: &str,
    last: &str,
) -> Vec<GroupResult> {
    eval_with(id, None, patient, resources, first, last)
}

/// As `eval_as`, with other library versions than the measure includes
/// (`None`: its own).
pub fn eval_with(
    id: &str,
    libs: Option<Libs>,
    patient: Value,
    mut resources: Vec<Value>,
    first: &str,
    last: &str,
) -> Vec<GroupResult> {
    let catalog = Catalog::get();
    let def = catalog.by_id(id).expect("a catalog measure");
    resources.push(patient);
    for (i, r) in resources.iter_mut().enumerate() {
        if r["id"].is_null() {
            r["id"] = json!(format!("r{i}"));
        }
    }
    let rec = Record::new(resources).expect("a record with a Patient");
    let mut ctx = catalog.context(def, &rec, date(first), date(last));
    if let Some(libs) = libs {
        ctx = ctx.with_libs(libs);
    }
    (def.evaluate)(&ctx)
}

fn cc(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

/// A finished encounter of one type on one day.
pub fn encounter(system: &str, code: &str, day: &str) -> Value {
    json!({"resourceType": "Encounter", "status": "finished", "type": [cc(system, code)],
           "subject": {"reference": "Patient/p"}, "period": {"start": day, "end": day}})
}

/// A completed procedure on one day.
pub fn procedure(system: &str, code: &str, day: &str) -> Value {
    json!({"resourceType": "Procedure", "status": "completed", "code": cc(system, code),
           "subject": {"reference": "Patient/p"}, "performedDateTime": day})
}

/// A final observation on one day, with a numeric value when given.
pub fn observation(system: &str, code: &str, day: &str, value: Option<f64>) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final", "code": cc(system, code),
                       "subject": {"reference": "Patient/p"}, "effectiveDateTime": day});
    if let Some(v) = value {
        o["valueQuantity"] =
            json!({"value": v, "system": "http://unitsofmeasure.org", "code": "{score}"});
    }
    o
}

/// An active, confirmed problem-list condition with an onset date.
pub fn condition(system: &str, code: &str, onset: &str) -> Value {
    json!({"resourceType": "Condition", "code": cc(system, code), "onsetDateTime": onset,
           "subject": {"reference": "Patient/p"},
           "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
           "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
           "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")})
}

/// A completed dispensing of an RxNorm drug for `days` days.
pub fn dispense(code: &str, day: &str, days: u32) -> Value {
    json!({"resourceType": "MedicationDispense", "status": "completed",
           "medicationCodeableConcept": cc(RXNORM, code), "subject": {"reference": "Patient/p"},
           "whenHandedOver": day, "daysSupply": {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}})
}

/// `r` with one top-level member replaced.
pub fn with(mut r: Value, key: &str, value: impl Into<Value>) -> Value {
    r[key] = value.into();
    r
}
