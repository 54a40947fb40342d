//! The FHIR resources a derivation writes: the screening result Observation,
//! the safety Flag and Task, and the practice notification. Ids are derived
//! from the source reference, so re-processing a source rewrites the same
//! resources instead of adding new ones.

use serde_json::{Value, json};

use super::extract::Source;
use crate::rules::screening::catalog::{Code, TANDEM_BASE};
use crate::rules::screening::{Domain, Outcome};

pub use crate::rules::DERIVED_TAG;
/// Tags the instrument of a screening result.
pub const INSTRUMENT_TAG: &str = "http://tandem.health/fhir/CodeSystem/instrument";
/// Component codes of screening results.
pub const RESULT_CS: &str = "http://tandem.health/fhir/CodeSystem/screening-result";
pub const RESULT_PROFILE: &str =
    "http://tandem.health/fhir/StructureDefinition/tandem-screening-result";

pub use crate::fhir::id::derived as derived_id;

/// A JSON number, integral when the value is.
pub fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn coding(c: &Code) -> Value {
    json!({ "system": c.system, "code": c.code, "display": c.display })
}

fn component(code: &str, display: &str, value: (&str, Value)) -> Value {
    let mut c = json!({ "code": { "coding": [{ "system": RESULT_CS, "code": code, "display": display }] } });
    c[value.0] = value.1;
    c
}

/// What the result reports besides the outcome.
pub struct ResultSpec<'a> {
    pub key: &'a str,
    pub title: &'a str,
    pub code: &'a Code,
    pub domain: Domain,
    pub unit: (&'a str, &'a str),
    pub sensitive: bool,
    /// The sent coded value (smoking status), copied as the result's value.
    pub coded_value: Option<Value>,
}

/// The screening result Observation of one administration.
pub fn result(id: &str, spec: &ResultSpec, source: &Source, out: &Outcome) -> Value {
    let mut meta = json!({
        "profile": [RESULT_PROFILE],
        "tag": [
            { "system": DERIVED_TAG, "code": "screening-result" },
            { "system": INSTRUMENT_TAG, "code": spec.key },
        ],
    });
    if spec.sensitive && out.positive == Some(true) {
        meta["security"] = crate::auth::policy::part2_labels();
    }
    let mut r = json!({
        "resourceType": "Observation",
        "id": id,
        "meta": meta,
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey", "display": "Survey" }] }],
        "code": { "coding": [coding(spec.code)], "text": spec.title },
        "subject": { "reference": source.subject },
    });
    if let Some(e) = &source.encounter {
        r["encounter"] = e.clone();
    }
    if let Some(Value::Object(eff)) = &source.effective {
        for (k, v) in eff {
            r[k.as_str()] = v.clone();
        }
    }
    r["performer"] = json!([{ "identifier": { "system": format!("{TANDEM_BASE}/derivation"), "value": "screening" }, "display": "Tandem screening derivation" }]);
    match (&spec.coded_value, out.total) {
        (Some(cv), _) => r["valueCodeableConcept"] = cv.clone(),
        (None, Some(t)) => {
            r["valueQuantity"] = json!({ "value": num(t), "unit": spec.unit.0, "system": "http://unitsofmeasure.org", "code": spec.unit.1 })
        }
        (None, None) => {}
    }
    if !out.complete {
        r["dataAbsentReason"] = json!({
            "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown", "display": "Unknown" }],
            "text": "Incomplete screening: not counted as a completed screen",
        });
        if spec.coded_value.is_some() {
            r.as_object_mut().map(|o| o.remove("dataAbsentReason"));
        }
    }
    if let Some(p) = out.positive {
        let (code, display) = if p {
            ("POS", "Positive")
        } else {
            ("NEG", "Negative")
        };
        r["interpretation"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": code, "display": display }] }]);
    }
    if !out.notes.is_empty() {
        r["note"] = Value::Array(out.notes.iter().map(|n| json!({ "text": n })).collect());
    }
    let mut from = vec![json!({ "reference": source.reference })];
    from.extend(source.also.iter().map(|a| json!({ "reference": a })));
    r["derivedFrom"] = Value::Array(from);
    r["component"] = Value::Array(components(spec, out));
    r
}

fn components(spec: &ResultSpec, out: &Outcome) -> Vec<Value> {
    let mut c = vec![component(
        "domain",
        "Screening domain",
        (
            "valueCodeableConcept",
            json!({ "coding": [{ "system": RESULT_CS, "code": spec.domain.code() }] }),
        ),
    )];
    if let Some(b) = &out.band {
        c.push(component(
            "severity-band",
            "Severity band",
            (
                "valueCodeableConcept",
                json!({ "coding": [coding(b)], "text": b.display }),
            ),
        ));
    }
    c.push(component("completion", "Completion", ("valueCodeableConcept", json!({ "coding": [{ "system": RESULT_CS, "code": if out.complete { "complete" } else { "incomplete" } }] }))));
    if out.expected > 1 {
        c.push(component(
            "items-answered",
            "Items answered",
            ("valueInteger", json!(out.answered)),
        ));
    }
    if out.prorated {
        c.push(component(
            "prorated",
            "Total prorated for missing items",
            ("valueBoolean", json!(true)),
        ));
    }
    if let Some(t) = out
        .item_total
        .filter(|_| out.sent_total.is_some() && out.sent_total != out.item_total)
    {
        c.push(component(
            "item-total",
            "Total of the items",
            ("valueInteger", num(t)),
        ));
    }
    if let Some(s) = out.sent_total {
        c.push(component(
            "sent-total",
            "Total as sent",
            ("valueInteger", num(s)),
        ));
    }
    if let Some(h) = &out.safety {
        c.push(component(
            "safety-item",
            "Safety item answered above zero",
            (
                "valueString",
                json!(match h.weight {
                    Some(w) => format!("{}: {} (score {})", h.item, h.text, num(w)),
                    None => format!("{}: {} (answer not in the answer list)", h.item, h.text),
                }),
            ),
        ));
    }
    c
}

/// The Flag a positive safety item raises.
/// `evidence` is `Type/id` of the result, or of the source when it could not be scored.
pub fn flag(id: &str, source: &Source, evidence: &str, what: &str) -> Value {
    let mut f = json!({
        "resourceType": "Flag",
        "id": id,
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": "safety-alert" }] },
        "status": "active",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "safety", "display": "Safety" }] }],
        "code": { "text": format!("Positive suicide/self-harm screening item ({what}): same-day safety assessment required") },
        "subject": { "reference": source.subject },
        "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/flag-detail", "valueReference": { "reference": evidence } }],
    });
    if let Some(start) = start_of(source) {
        f["period"] = json!({ "start": start });
    }
    f
}

/// The same-day safety-assessment Task for the practice, due by the end of `today`.
pub fn task(
    id: &str,
    source: &Source,
    evidence: &str,
    tenant: &str,
    now: &str,
    due: &str,
    what: &str,
) -> Value {
    json!({
        "resourceType": "Task",
        "id": id,
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": "safety-task" }] },
        "status": "requested",
        "intent": "order",
        "priority": "urgent",
        "code": { "coding": [{ "system": RESULT_CS, "code": "same-day-safety-assessment", "display": "Same-day safety assessment" }], "text": "Same-day safety assessment" },
        "description": format!("{what} was answered above zero: assess the patient's safety today."),
        "focus": { "reference": evidence },
        "for": { "reference": source.subject },
        "authoredOn": now,
        "owner": { "reference": format!("Organization/{tenant}") },
        "reasonReference": { "reference": evidence },
        "restriction": { "period": { "end": due } },
    })
}

/// The payload posted to the practice's endpoint: a FHIR collection Bundle
/// with the Task, the Flag and the result (when the source could be scored).
pub fn notification(task: &Value, flag: &Value, result: Option<&Value>) -> String {
    let entry = |r: &Value| json!({ "fullUrl": format!("{}/{}", r["resourceType"].as_str().unwrap_or_default(), r["id"].as_str().unwrap_or_default()), "resource": r });
    let mut entries = vec![entry(task), entry(flag)];
    entries.extend(result.map(entry));
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": entries,
    })
    .to_string()
}

fn start_of(source: &Source) -> Option<Value> {
    let e = source.effective.as_ref()?;
    e.get("effectiveDateTime")
        .cloned()
        .or_else(|| e.pointer("/effectivePeriod/start").cloned())
}
