//! The transitions-of-care follow-up Tasks of a discharge, built and stamped
//! as new resources. Pure apart from the stamper's clock, so they can be made
//! before the message's transaction, off the single writer thread, for the
//! patient matched then (see `transitions::Stamped`).

use serde_json::{Value, json};

use super::resource::Stamper;
use super::transitions::TOC_CS;
use crate::fhir::datetime::{format_instant, parse_range};
use crate::fhir::id::derived;
use crate::rules::transitions::{FollowUp, follow_ups};
use crate::store::NewVersion;

/// The stored Encounter's id for a hospital encounter: derived from its first
/// identifier, so every message about the same stay names the same Encounter.
pub fn encounter_id(enc: &Value) -> String {
    let key = enc.pointer("/identifier/0").map(|i| {
        format!(
            "{}|{}",
            i["system"].as_str().unwrap_or_default(),
            i["value"].as_str().unwrap_or_default()
        )
    });
    let key = key.unwrap_or_else(|| format!("local|{}", enc["id"].as_str().unwrap_or_default()));
    derived("enc", &key)
}

/// Contact (7 days) and, after an inpatient stay, medication reconciliation
/// (72 h) Tasks for the discharge `enc` (stored as `enc_id`) of patient
/// `pid`, owned by the practice `tenant`; none without class or period end.
pub fn follow_up_tasks(
    st: &Stamper,
    tenant: &str,
    enc: &Value,
    enc_id: &str,
    pid: &str,
) -> Vec<NewVersion> {
    let (Some(class), Some(end)) = (
        enc["class"]["code"].as_str(),
        enc["period"]["end"].as_str().and_then(parse_range),
    ) else {
        return Vec::new();
    };
    let now = chrono::DateTime::from_timestamp_millis(st.now_ms).unwrap_or_default();
    follow_ups(class, end.start)
        .into_iter()
        .map(|(kind, due)| {
            let due = chrono::DateTime::from_timestamp_millis(due).unwrap_or_default();
            let id = derived("toc", &format!("{enc_id}|{}", kind.code()));
            let task = json!({
                "resourceType": "Task", "id": id,
                "meta": { "tag": [{ "system": TOC_CS, "code": kind.code() }] },
                "status": "requested", "intent": "order", "priority": "routine",
                "code": { "coding": [{ "system": TOC_CS, "code": kind.code() }], "text": match kind {
                    FollowUp::Contact => "Contact the patient within 7 days of discharge, including medication reconciliation",
                    FollowUp::MedicationReconciliation => "Reconcile medications within 72 hours of discharge",
                } },
                "for": { "reference": format!("Patient/{pid}") },
                "focus": { "reference": format!("Encounter/{enc_id}") },
                "owner": { "reference": format!("Organization/{tenant}") },
                "authoredOn": format_instant(now),
                "restriction": { "period": { "start": enc["period"]["end"], "end": format_instant(due) } },
            });
            st.version("Task", &id, 1, task, "PUT")
        })
        .collect()
}
