//! The referral package pushed to a partner: Patient, supporting resources,
//! ServiceRequest and Task, as PUTs with Tandem's ids (kept in the outbox as a
//! transaction Bundle; `exchange::partner` sends them one by one, Task last).
//! PUTs make redelivery harmless: a retried package overwrites the same
//! resources and never creates a second referral at the partner. (A BSeR
//! message Bundle would need the partner to de-duplicate on the message id
//! and to run a message processor; PUTs need neither.)
//!
//! Supporting data labelled sensitive (42 CFR Part 2) goes only when an
//! active Consent of the patient names the partner; otherwise it stays
//! behind, the package's Task says so, and the decision is audited. The
//! whole disclosure is audited too. All of it is decided inside the write
//! transaction that queued the package.

use serde_json::{Value, json};

use super::{Pass, REFERRAL_TOPIC, org_of};
use crate::auth::audit::Event;
use crate::auth::consent::{Disclosure, verdict};
use crate::auth::policy::sensitive_labels;
use crate::service::ServiceError;
use crate::service::managed::{find, live};
use crate::service::security::audit_record::{row, system_record};
use crate::store::outbox::OutboxMessage;

/// Queues the package of referral Task `task_id` for a partner Tandem pushes to.
pub fn queue(p: &mut Pass, task_id: &str, task: &Value) -> Result<(), ServiceError> {
    let Some(partner) = org_of(&task["owner"])
        .and_then(|o| p.referrals.partner(p.tenant, o))
        .cloned()
    else {
        return Ok(());
    };
    if !partner.pushes() {
        return Ok(()); // pull-only: the partner polls for requested Tasks
    }
    let patient_ref = task["for"]["reference"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sr_id = task["focus"]["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("ServiceRequest/"))
        .unwrap_or_default()
        .to_string();
    let sr = live(p.tx, "ServiceRequest", &sr_id)?.unwrap_or_default();
    let mut refs: Vec<String> = vec![patient_ref.clone()];
    for field in ["reasonReference", "supportingInfo"] {
        refs.extend(
            sr[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["reference"].as_str().map(String::from)),
        );
    }
    refs.dedup();
    let consents = find(
        p.tx,
        p.st,
        "Consent",
        &[("patient".to_string(), patient_ref.clone())],
        100,
    )?;
    let mut entries = Vec::new();
    let mut disclosed = Vec::new();
    let mut withheld = Vec::new();
    for r in &refs {
        let Some((rt, id)) = r.split_once('/') else {
            continue;
        };
        let Some(v) = live(p.tx, rt, id)? else {
            continue;
        };
        let labels = sensitive_labels(&v);
        if !labels.is_empty() {
            let d = Disclosure {
                org: &partner.id,
                resource_type: rt,
                id,
                resource: &v,
                labels: &labels,
                now_ms: p.st.now_ms,
            };
            let (permit, deciding) = verdict(&consents, &d);
            audit_consent(
                p,
                r,
                &patient_ref,
                deciding.and_then(|c| c["id"].as_str()),
                permit,
            )?;
            if !permit {
                withheld.push(r.clone());
                continue;
            }
        }
        disclosed.push((
            r.clone(),
            v["meta"]["security"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        ));
        entries.push(put_entry(rt, id, v));
    }
    let mut sent_task = task.clone();
    if !withheld.is_empty() {
        sent_task["note"] = json!([{ "text": format!(
            "Withheld from this package (42 CFR Part 2: no active consent names Organization/{}): {}",
            partner.id, withheld.join(", ")) }]);
    }
    entries.push(put_entry("ServiceRequest", &sr_id, sr));
    entries.push(put_entry("Task", task_id, sent_task));
    disclosed.push((format!("ServiceRequest/{sr_id}"), Vec::new()));
    disclosed.push((format!("Task/{task_id}"), Vec::new()));
    audit_disclosure(p, &partner.id, &patient_ref, disclosed)?;
    let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries });
    p.tx.enqueue(OutboxMessage {
        topic: REFERRAL_TOPIC.into(),
        key: task_id.to_string(),
        destination: Some(partner.id.clone()),
        payload: bundle.to_string(),
        created_ms: p.st.now_ms,
    })?;
    Ok(())
}

fn put_entry(rt: &str, id: &str, mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
    }
    json!({ "fullUrl": format!("{rt}/{id}"), "resource": v, "request": { "method": "PUT", "url": format!("{rt}/{id}") } })
}

fn audit_consent(
    p: &mut Pass,
    what: &str,
    patient: &str,
    consent: Option<&str>,
    permit: bool,
) -> Result<(), ServiceError> {
    let mut rec = system_record(
        Event::Consent {
            consent: consent.map(|c| format!("Consent/{c}")),
        },
        p.st.now_ms,
    );
    rec.outcome = if permit { "0" } else { "4" }.into();
    rec.outcome_desc = Some(if permit {
        "permit: disclosed in a referral package under the patient's consent".into()
    } else {
        "deny: withheld from a referral package, no active consent names the partner".into()
    });
    rec.entities.push((what.to_string(), Vec::new()));
    rec.patients = vec![patient.to_string()];
    p.tx.audit(row(&rec, p.tenant))?;
    Ok(())
}

fn audit_disclosure(
    p: &mut Pass,
    partner: &str,
    patient: &str,
    what: Vec<(String, Vec<Value>)>,
) -> Result<(), ServiceError> {
    let mut rec = system_record(
        Event::Disclosure {
            recipient: format!("Organization/{partner}"),
        },
        p.st.now_ms,
    );
    rec.outcome_desc = Some("referral package queued for the partner".into());
    rec.entities = what;
    rec.patients = vec![patient.to_string()];
    p.tx.audit(row(&rec, p.tenant))?;
    Ok(())
}
