//! `Patient/{id}/$screening-status`: per instrument the last administration
//! and its reading, and per screening domain when the next one is due — the
//! input of care-gap lists. Built from the screening results the caller may
//! see (the search path applies the access policy and audits the read).

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::build::{DERIVED_TAG, INSTRUMENT_TAG, RESULT_CS};
use crate::rules::schedule::{Due, next_due};
use crate::rules::screening::Domain;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

const DOMAINS: &[Domain] = &[
    Domain::Depression,
    Domain::Anxiety,
    Domain::MaternalDepression,
    Domain::Alcohol,
    Domain::Drug,
    Domain::Tobacco,
    Domain::Weight,
    Domain::Development,
    Domain::Falls,
];

impl FhirService {
    /// The screening status of `Patient/{id}` as a Parameters resource.
    pub async fn screening_status(
        &self,
        ctx: &AccessContext,
        id: &str,
    ) -> Result<Value, ServiceError> {
        let patient: Value =
            serde_json::from_str(&self.read(ctx, "Patient", id).await?.body).unwrap_or_default();
        let pairs = vec![
            (
                "_tag".to_string(),
                format!("{DERIVED_TAG}|screening-result"),
            ),
            ("subject".to_string(), format!("Patient/{id}")),
            ("_sort".to_string(), "-date".to_string()),
            ("_count".to_string(), "1000".to_string()),
        ];
        let bundle: Value =
            serde_json::from_str(&self.search(ctx, "Observation", pairs, false).await?.bundle)
                .unwrap_or_default();
        let results: Vec<Value> = bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect();
        let birth = patient["birthDate"]
            .as_str()
            .and_then(crate::fhir::datetime::date_written);
        let today = self.today();
        Ok(summarize(&results, birth, today))
    }
}

/// The completed screens of `results`: (domain, day).
fn completed(results: &[Value]) -> Vec<(Domain, NaiveDate)> {
    results
        .iter()
        .filter_map(|r| {
            let when = r["effectiveDateTime"]
                .as_str()
                .or_else(|| r.pointer("/effectivePeriod/start").and_then(Value::as_str))?;
            complete(r).then_some((domain_of(r)?, crate::fhir::datetime::date_written(when)?))
        })
        .collect()
}

fn complete(r: &Value) -> bool {
    component(r, "completion")
        .and_then(|c| c.pointer("/valueCodeableConcept/coding/0/code"))
        .is_some_and(|c| c == "complete")
}

/// Pure: each screening domain's next due date for a patient born on
/// `birth`, from its screening results (any order) — the care-gap
/// registry's screening gaps are those due by today.
pub fn dues(results: &[Value], birth: Option<NaiveDate>, today: NaiveDate) -> Vec<Due> {
    let done = completed(results);
    DOMAINS
        .iter()
        .filter_map(|d| {
            let dates: Vec<NaiveDate> = done
                .iter()
                .filter(|(x, _)| x == d)
                .map(|(_, w)| *w)
                .collect();
            next_due(*d, birth, &dates, today)
        })
        .collect()
}

/// Pure: the Parameters body from the results (newest first), birth date and today.
pub fn summarize(results: &[Value], birth: Option<NaiveDate>, today: NaiveDate) -> Value {
    let mut params = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for r in results {
        let Some(key) = instrument(r) else { continue };
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let when = r["effectiveDateTime"]
            .as_str()
            .or_else(|| r.pointer("/effectivePeriod/start").and_then(Value::as_str));
        let mut part = vec![
            json!({ "name": "instrument", "valueCode": key }),
            json!({ "name": "code", "valueCoding": r.pointer("/code/coding/0").cloned().unwrap_or_default() }),
            json!({ "name": "result", "valueReference": { "reference": format!("Observation/{}", r["id"].as_str().unwrap_or_default()) } }),
            json!({ "name": "completed", "valueBoolean": complete(r) }),
        ];
        if let Some(d) = domain_of(r) {
            part.push(json!({ "name": "domain", "valueCode": d.code() }));
        }
        if let Some(w) = when {
            part.push(json!({ "name": "lastAdministered", "valueDateTime": w }));
        }
        if let Some(t) = r.pointer("/valueQuantity/value") {
            part.push(json!({ "name": "total", "valueDecimal": t }));
        }
        if let Some(code) = r
            .pointer("/interpretation/0/coding/0/code")
            .and_then(Value::as_str)
        {
            part.push(json!({ "name": "positive", "valueBoolean": code == "POS" }));
        }
        if let Some(b) = band(r) {
            part.push(json!({ "name": "band", "valueCoding": b }));
        }
        params.push(json!({ "name": "instrument", "part": part }));
    }
    for due in dues(results, birth, today) {
        params.push(json!({ "name": "due", "part": [
            { "name": "domain", "valueCode": due.domain.code() },
            { "name": "dueDate", "valueDate": due.due.to_string() },
            { "name": "overdue", "valueBoolean": due.due < today },
            { "name": "reason", "valueString": due.reason },
        ] }));
    }
    json!({ "resourceType": "Parameters", "parameter": params })
}

fn instrument(r: &Value) -> Option<String> {
    r["meta"]["tag"]
        .as_array()?
        .iter()
        .find(|t| t["system"] == INSTRUMENT_TAG)?["code"]
        .as_str()
        .map(String::from)
}

fn component<'a>(r: &'a Value, code: &str) -> Option<&'a Value> {
    r["component"].as_array()?.iter().find(|c| {
        c.pointer("/code/coding/0/system") == Some(&json!(RESULT_CS))
            && c.pointer("/code/coding/0/code") == Some(&json!(code))
    })
}

fn band(r: &Value) -> Option<Value> {
    component(r, "severity-band")?
        .pointer("/valueCodeableConcept/coding/0")
        .cloned()
}

fn domain_of(r: &Value) -> Option<Domain> {
    let code = component(r, "domain")?
        .pointer("/valueCodeableConcept/coding/0/code")?
        .as_str()?;
    DOMAINS.iter().copied().find(|d| d.code() == code)
}
