//! What a partner writes back inside the referring practice: every clinical
//! resource it writes (visit summary, treatment plan, appointment, its own
//! screening responses) must concern a patient referred to it, and is linked
//! to that referral as `Task.output`; the practice is told through the
//! outbox. A partner writing about a patient not referred to it is refused.

use serde_json::{Value, json};

use super::{Pass, REFERRAL_UPDATE_TOPIC, Written};
use crate::fhir::compartment::patients_in;
use crate::fhir::outcome::Issue;
use crate::service::ServiceError;
use crate::service::managed::{find, put};
use crate::store::outbox::OutboxMessage;

pub fn link_outputs(p: &mut Pass, written: &[Written]) -> Result<(), ServiceError> {
    for w in written.iter().filter(|w| !w.deleted) {
        let Ok(v) = serde_json::from_str::<Value>(&w.body) else {
            continue;
        };
        // Referral Tasks and ServiceRequests have their own guard (a partner
        // moves the ones it owns, or pushes in its own referral).
        let referral = match w.resource_type.as_str() {
            "Task" => super::is_referral_task(&v),
            "ServiceRequest" => super::is_referral_request(&v),
            _ => false,
        };
        if referral {
            continue;
        }
        for patient in patients_in(&p.st.registry, &p.st.base, &w.resource_type, &w.id, &v) {
            link(p, w, &patient)?;
        }
    }
    Ok(())
}

fn link(p: &mut Pass, w: &Written, patient: &str) -> Result<(), ServiceError> {
    let org = format!("Organization/{}", p.writer.org);
    let owned = find(
        p.tx,
        p.st,
        "Task",
        &[
            ("patient".into(), patient.into()),
            ("owner".into(), org.clone()),
        ],
        50,
    )?;
    let Some(mut task) = owned
        .into_iter()
        .filter(super::is_referral_task)
        .max_by(|a, b| a["authoredOn"].as_str().cmp(&b["authoredOn"].as_str()))
    else {
        // The referring side pushing its package in is the other legitimate writer.
        let requested = find(
            p.tx,
            p.st,
            "Task",
            &[
                ("patient".into(), patient.into()),
                ("requester".into(), org),
            ],
            1,
        )?;
        if requested.is_empty() {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!(
                    "{patient} has no referral to Organization/{}: nothing may be written about them.",
                    p.writer.org
                ),
            )));
        }
        return Ok(());
    };
    let reference = format!("{}/{}", w.resource_type, w.id);
    let outputs = task["output"].as_array().cloned().unwrap_or_default();
    if outputs
        .iter()
        .any(|o| o["valueReference"]["reference"] == reference.as_str())
    {
        return Ok(());
    }
    let mut outputs = outputs;
    outputs.push(json!({ "type": { "text": w.resource_type }, "valueReference": { "reference": reference } }));
    task["output"] = Value::Array(outputs);
    let id = task["id"].as_str().unwrap_or_default().to_string();
    put(p.tx, p.st, "Task", &id, task.clone())?;
    p.tx.enqueue(OutboxMessage {
        topic: REFERRAL_UPDATE_TOPIC.into(),
        key: format!("{id}|{reference}"),
        destination: None,
        payload: json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "fullUrl": format!("Task/{id}"), "resource": task }] }).to_string(),
        created_ms: p.st.now_ms,
    })?;
    Ok(())
}
