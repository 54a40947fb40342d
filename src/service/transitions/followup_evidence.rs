//! Transitions-of-care Tasks complete themselves when the evidence arrives in
//! the same transaction as its write: an office, telephone/virtual or home
//! Encounter (class AMB, VR, HH) or a completed Communication to the patient
//! completes the 7-day contact; a medication-reconciliation Procedure or
//! Observation (SNOMED 430193006, CPT II 1111F) completes the 72-hour
//! reconciliation. Only evidence dated at or after the discharge counts.
//! Evidence already on file when the discharge arrives (the HIE's message
//! came after the EHR's visit) completes the Task as it is created
//! (`on_file`), so the numbers do not depend on which arrived first.

use serde_json::{Value, json};

use crate::fhir::datetime::parse_range;
use crate::fhir::query::parse as parse_query;
use crate::rules::transitions::FollowUp;
use crate::service::ServiceError;
use crate::service::fhir_api::resource::Stamper;
use crate::service::managed::put;
use crate::service::screening::Written;
use crate::service::transitions::receive::TOC_CS;
use crate::store::WriteTx;

const MED_REC: &[&str] = &["430193006", "1111F"];

/// Resource types whose writes may be follow-up evidence.
pub fn may_be_evidence(w: &Written) -> bool {
    !w.deleted
        && match w.resource_type.as_str() {
            "Encounter" | "Communication" => true,
            "Procedure" | "Observation" => MED_REC.iter().any(|c| w.body.contains(c)),
            _ => false,
        }
}

/// What a written resource is evidence of: (follow-up, patient reference, time).
fn evidence(w: &Written) -> Option<(FollowUp, String, i64)> {
    let v: Value = serde_json::from_str(&w.body).ok()?;
    evidence_of(&w.resource_type, &v)
}

fn evidence_of(rt: &str, v: &Value) -> Option<(FollowUp, String, i64)> {
    let (kind, patient, when) = match rt {
        "Encounter"
            if matches!(v["class"]["code"].as_str(), Some("AMB" | "VR" | "HH"))
                && !matches!(
                    v["status"].as_str(),
                    Some("cancelled" | "entered-in-error" | "planned")
                ) =>
        {
            (
                FollowUp::Contact,
                v["subject"]["reference"].as_str()?,
                v["period"]["start"].as_str()?,
            )
        }
        "Communication" if v["status"] == "completed" => (
            FollowUp::Contact,
            v["subject"]["reference"].as_str()?,
            v["sent"].as_str()?,
        ),
        "Procedure" if v["status"] == "completed" && is_med_rec(v) => (
            FollowUp::MedicationReconciliation,
            v["subject"]["reference"].as_str()?,
            v["performedDateTime"]
                .as_str()
                .or_else(|| v.pointer("/performedPeriod/start")?.as_str())?,
        ),
        "Observation"
            if matches!(
                v["status"].as_str(),
                Some("final" | "amended" | "corrected")
            ) && is_med_rec(v) =>
        {
            (
                FollowUp::MedicationReconciliation,
                v["subject"]["reference"].as_str()?,
                v["effectiveDateTime"].as_str()?,
            )
        }
        _ => return None,
    };
    if !patient.starts_with("Patient/") {
        return None;
    }
    Some((kind, patient.to_string(), parse_range(when)?.start))
}

fn is_med_rec(v: &Value) -> bool {
    v["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["code"].as_str().is_some_and(|c| MED_REC.contains(&c)))
}

/// The earliest evidence of `kind` for `patient` (`Patient/…`) on file
/// from `from_ms` on: (`Type/id`, when).
pub fn on_file(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    kind: FollowUp,
    patient: &str,
    from_ms: i64,
) -> Result<Option<(String, i64)>, crate::store::StoreError> {
    let from = format!("ge{}", crate::fhir::datetime::format_instant_ms(from_ms));
    let codes = MED_REC.join(",");
    let searches: Vec<(&str, Vec<(&str, String)>)> = match kind {
        FollowUp::Contact => vec![
            (
                "Encounter",
                vec![("class", "AMB,VR,HH".into()), ("date", from.clone())],
            ),
            (
                "Communication",
                vec![("status", "completed".into()), ("sent", from)],
            ),
        ],
        FollowUp::MedicationReconciliation => vec![
            (
                "Procedure",
                vec![("code", codes.clone()), ("date", from.clone())],
            ),
            ("Observation", vec![("code", codes), ("date", from)]),
        ],
    };
    let mut best: Option<(String, i64)> = None;
    for (rt, pairs) in searches {
        let mut pairs: Vec<(String, String)> =
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        pairs.insert(0, ("subject".into(), patient.to_string()));
        for v in crate::service::managed::find(tx, st, rt, &pairs, 100)? {
            let Some((k, _, when)) = evidence_of(rt, &v) else {
                continue;
            };
            if k == kind && when >= from_ms && best.as_ref().is_none_or(|(_, b)| when < *b) {
                best = Some((
                    format!("{rt}/{}", v["id"].as_str().unwrap_or_default()),
                    when,
                ));
            }
        }
    }
    Ok(best)
}

/// A follow-up Task marked done by its evidence.
pub fn completed_by(task: &mut Value, evidence: &str, when_ms: i64) {
    task["status"] = json!("completed");
    // When the follow-up happened (the evidence's own time), for the on-time numbers.
    task["executionPeriod"] = json!({ "end": crate::fhir::datetime::format_instant_ms(when_ms) });
    task["output"] =
        json!([{ "type": { "text": "evidence" }, "valueReference": { "reference": evidence } }]);
}

/// Completes the open follow-up Tasks the written evidence satisfies.
pub fn complete(
    tx: &mut dyn WriteTx,
    st: &Stamper,
    written: &[Written],
) -> Result<(), ServiceError> {
    for w in written.iter().filter(|w| may_be_evidence(w)) {
        let Some((kind, patient, when)) = evidence(w) else {
            continue;
        };
        let pairs = vec![
            ("patient".to_string(), patient.clone()),
            ("_tag".to_string(), format!("{TOC_CS}|{}", kind.code())),
            ("status".to_string(), "requested".to_string()),
        ];
        let Ok(q) = parse_query(&st.registry, &st.base, "Task", &pairs) else {
            continue;
        };
        for t in tx.find(&q, 20)? {
            let Ok(mut task) = serde_json::from_str::<Value>(&t.body) else {
                continue;
            };
            let discharged = task
                .pointer("/restriction/period/start")
                .and_then(Value::as_str)
                .and_then(parse_range)
                .map(|r| r.start);
            if discharged.is_none_or(|d| when < d) {
                continue;
            }
            if task.pointer("/businessStatus/coding/0/code")
                == Some(&json!(crate::service::transitions::overdue::OVERDUE))
            {
                task["businessStatus"] = json!({ "coding": [{ "system": TOC_CS, "code": "completed-late", "display": "Completed after its due point" }] });
            }
            completed_by(&mut task, &format!("{}/{}", w.resource_type, w.id), when);
            put(tx, st, "Task", &t.id, task)?;
        }
    }
    Ok(())
}
