//! Processing a received ADT notification inside its transaction: match the
//! patient to the practice, keep one Encounter per hospital encounter
//! (identifier), create the transitions-of-care follow-up Tasks, record
//! readmissions, keep the HIE's forwarding Provenance and queue the practice
//! notification. Unmatched messages are held, never dropped.

use serde_json::{Value, json};

use crate::fhir::datetime::{format_instant, parse_range};
use crate::fhir::id::derived;
use crate::fhir::message::{Notification, check, focus_encounter, resolve};
use crate::rules::transitions::{Event, follow_ups, merge};
use crate::service::ServiceError;
use crate::service::fhir_api::resource::Stamper;
use crate::service::managed::{self, create_once, live, put};
use crate::service::transitions::followup_evidence;
pub use crate::service::transitions::patient_match::TransitionRules;
use crate::service::transitions::patient_match::the_one;
use crate::store::outbox::OutboxMessage;
use crate::store::{NewVersion, StoreError, WriteTx};

/// Tags on stored message Bundles: processed, or held for a patient not yet known.
pub const MESSAGE_TAG: &str = "http://tandem.health/fhir/CodeSystem/message-status";
pub const TOC_CS: &str = "http://tandem.health/fhir/CodeSystem/transitions-of-care";
/// The outbox topic of admit/discharge notifications to the practice.
pub const ADT_TOPIC: &str = "adt-notification";

/// A received message Bundle stamped (as processed, the usual outcome) before
/// its transaction, off the writer thread.
pub struct Stamped {
    pub entries: Vec<Value>,
    pub processed: NewVersion,
}

impl Stamped {
    pub fn new(st: &Stamper, n: &Notification, mut bundle: Value) -> Stamped {
        let id = derived("msg", &n.message_id);
        bundle["meta"]["tag"] = json!([{ "system": MESSAGE_TAG, "code": "processed" }]);
        let processed = st.stamp("Bundle", &id, 1, &mut bundle, "POST");
        // The body is serialized: the entries move out instead of being copied.
        let entries = match bundle["entry"].take() {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        Stamped { processed, entries }
    }

    /// The same message tagged as held (re-stamped: the rarer case).
    fn held(processed: &NewVersion, st: &Stamper) -> NewVersion {
        let mut b: Value = serde_json::from_str(&processed.body).unwrap_or_default();
        b["meta"]["tag"] = json!([{ "system": MESSAGE_TAG, "code": "held" }]);
        st.version("Bundle", &processed.id, 1, b, "POST")
    }
}

/// What happened to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Processed,
    Held,
    Replay,
}

/// A received message after its unit: what happened, the stored Bundle's id
/// (`None` on a replay) and the practice's patient it was filed under. The
/// message's entries come back too, to be dropped by the caller off the
/// writer thread.
pub struct Outcome {
    pub received: Received,
    pub kept: Option<String>,
    pub patient: Option<String>,
    /// Never read: carried out only so the caller drops it, not the writer.
    #[allow(dead_code)]
    pub entries: Vec<Value>,
}

pub struct Unit<'a> {
    pub tx: &'a mut dyn WriteTx,
    pub st: &'a Stamper,
    pub tenant: &'a str,
    pub rules: &'a TransitionRules,
}

impl Unit<'_> {
    /// Stores and processes one validated message.
    /// `stamped` holds the message Bundle ready to store (see [`Stamped`]).
    /// `prematched` is the patient matched before the transaction (confirmed
    /// here).
    pub fn receive(
        &mut self,
        n: &Notification,
        stamped: Stamped,
        prematched: Option<String>,
    ) -> Result<Outcome, ServiceError> {
        let id = derived("msg", &n.message_id);
        let Stamped { entries, processed } = stamped;
        if self.tx.current("Bundle", &id)?.is_some_and(|c| !c.deleted) {
            return Ok(Outcome {
                received: Received::Replay,
                kept: None,
                patient: None,
                entries,
            });
        }
        let event = Event::from_code(&n.event);
        let matched = match prematched {
            Some(pid) if live(self.tx, "Patient", &pid)?.is_some() => Some(pid),
            _ => match message_patient(&entries) {
                Some(p) => self.match_patient(p)?,
                None => None,
            },
        };
        let held = matched.is_none() && event.is_some();
        let version = if held {
            Stamped::held(&processed, self.st)
        } else {
            processed
        };
        self.tx.write(version)?;
        let received = match &matched {
            Some(pid) => {
                self.process(n, &entries, pid)?;
                Received::Processed
            }
            None if held => Received::Held,
            None => Received::Processed,
        };
        Ok(Outcome {
            received,
            kept: Some(id),
            patient: matched.map(|p| format!("Patient/{p}")),
            entries,
        })
    }

    /// Files a matched message: Encounter, Provenance, follow-up, readmission, notification.
    fn process(
        &mut self,
        n: &Notification,
        entries: &[Value],
        pid: &str,
    ) -> Result<(), ServiceError> {
        let header = &entries[0]["resource"];
        let (Some(event), Some(enc)) =
            (Event::from_code(&n.event), focus_encounter(header, entries))
        else {
            return Ok(());
        };
        let id = derived("msg", &n.message_id);
        let (enc_id, stored) = self.upsert_encounter(enc, pid, &n.timestamp)?;
        self.provenance(entries, &id, &n.message_id)?;
        if event == Event::Discharge {
            self.follow_up(enc, &enc_id, pid)?;
            self.readmitted_after(enc, &enc_id, pid)?;
        }
        if event == Event::Admit {
            self.readmission(enc, &enc_id, pid)?;
        }
        if matches!(event, Event::Admit | Event::Discharge) {
            // The stored Encounter's JSON text goes in as it is (ids are
            // derived hex, nothing to escape): building a Value around it and
            // serializing that copied the Encounter twice on the writer.
            let payload = format!(
                r#"{{"resourceType":"Bundle","type":"collection","entry":[{{"fullUrl":"Encounter/{enc_id}","resource":{stored}}}]}}"#
            );
            self.tx.enqueue(OutboxMessage {
                topic: ADT_TOPIC.into(),
                key: n.message_id.clone(),
                destination: None,
                payload,
                created_ms: self.st.now_ms,
            })?;
        }
        Ok(())
    }

    /// After a Patient was written: files the held messages that now match a
    /// patient of the practice, oldest event first.
    pub fn release_held(&mut self) -> Result<usize, ServiceError> {
        let mut held = self.find(
            "Bundle",
            vec![("_tag".into(), format!("{MESSAGE_TAG}|held"))],
            500,
        )?;
        held.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
        let mut released = 0;
        for mut b in held {
            let (Ok(n), Some(id)) = (check(&b), b["id"].as_str().map(String::from)) else {
                continue;
            };
            let entries: Vec<Value> = b["entry"].as_array().cloned().unwrap_or_default();
            let Some(pid) = message_patient(&entries)
                .map(|p| self.match_patient(p))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            b["meta"]["tag"] = json!([{ "system": MESSAGE_TAG, "code": "processed" }]);
            put(self.tx, self.st, "Bundle", &id, b)?;
            self.process(&n, &entries, &pid)?;
            released += 1;
        }
        Ok(released)
    }

    pub(super) fn find(
        &mut self,
        rt: &str,
        pairs: Vec<(String, String)>,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        managed::find(self.tx, self.st, rt, &pairs, limit)
    }

    /// The practice's Patient id for the message's Patient, if exactly one matches.
    fn match_patient(&mut self, p: &Value) -> Result<Option<String>, StoreError> {
        for q in self.rules.queries(p) {
            let found = self.find("Patient", q, 2)?;
            if let Some(id) = the_one(&found) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// One stored Encounter per hospital encounter identifier; the latest
    /// event wins. Returns its id and the Encounter as stored now, as JSON
    /// text (`null` when there is none). The stored version is read and
    /// parsed once (this runs on the writer).
    fn upsert_encounter(
        &mut self,
        enc: &Value,
        pid: &str,
        event_time: &str,
    ) -> Result<(String, String), ServiceError> {
        let key = enc.pointer("/identifier/0").map(|i| {
            format!(
                "{}|{}",
                i["system"].as_str().unwrap_or_default(),
                i["value"].as_str().unwrap_or_default()
            )
        });
        let key =
            key.unwrap_or_else(|| format!("local|{}", enc["id"].as_str().unwrap_or_default()));
        let id = derived("enc", &key);
        let current = self.tx.current("Encounter", &id)?;
        let live = current.as_ref().filter(|c| !c.deleted);
        let stored = live.and_then(|c| serde_json::from_str::<Value>(&c.body).ok());
        // Unchanged: the stored text (serde_json wrote it from a Value).
        let unchanged = || {
            stored
                .as_ref()
                .and(live)
                .map_or_else(|| "null".to_string(), |c| c.body.clone())
        };
        let mut incoming = enc.clone();
        strip_bundle_refs(&mut incoming);
        incoming["subject"] = json!({ "reference": format!("Patient/{pid}") });
        let Some(mut merged) = merge(stored.as_ref(), incoming, event_time) else {
            return Ok((id, unchanged()));
        };
        if stored
            .as_ref()
            .is_some_and(|old| managed::same_content(old, &merged))
        {
            return Ok((id, unchanged()));
        }
        let version = current.as_ref().map_or(1, |c| c.version + 1);
        let v = self.st.stamp("Encounter", &id, version, &mut merged, "PUT");
        let text = v.body.clone();
        self.tx.write(v)?;
        Ok((id, text))
    }

    /// The HIE's forwarding Provenance, kept and pointed at the stored message.
    fn provenance(
        &mut self,
        entries: &[Value],
        bundle_id: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        for (i, e) in entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e["resource"]["resourceType"] == "Provenance")
        {
            let mut p = e["resource"].clone();
            strip_bundle_refs(&mut p);
            p["target"] = json!([{ "reference": format!("Bundle/{bundle_id}") }]);
            let id = derived("prov", &format!("{message_id}|{i}"));
            create_once(self.tx, self.st, "Provenance", &id, p)?;
        }
        Ok(())
    }

    /// Contact (7 days) and, after an inpatient stay, medication reconciliation (72 h) Tasks.
    fn follow_up(&mut self, enc: &Value, enc_id: &str, pid: &str) -> Result<(), StoreError> {
        let (Some(class), Some(end)) = (
            enc["class"]["code"].as_str(),
            enc["period"]["end"].as_str().and_then(parse_range),
        ) else {
            return Ok(());
        };
        let now = chrono::DateTime::from_timestamp_millis(self.st.now_ms).unwrap_or_default();
        for (kind, due) in follow_ups(class, end.start) {
            let due = chrono::DateTime::from_timestamp_millis(due).unwrap_or_default();
            let id = derived("toc", &format!("{enc_id}|{}", kind.code()));
            let mut task = json!({
                "resourceType": "Task", "id": id,
                "meta": { "tag": [{ "system": TOC_CS, "code": kind.code() }] },
                "status": "requested", "intent": "order", "priority": "routine",
                "code": { "coding": [{ "system": TOC_CS, "code": kind.code() }], "text": match kind {
                    crate::rules::transitions::FollowUp::Contact => "Contact the patient within 7 days of discharge, including medication reconciliation",
                    crate::rules::transitions::FollowUp::MedicationReconciliation => "Reconcile medications within 72 hours of discharge",
                } },
                "for": { "reference": format!("Patient/{pid}") },
                "focus": { "reference": format!("Encounter/{enc_id}") },
                "owner": { "reference": format!("Organization/{}", self.tenant) },
                "authoredOn": format_instant(now),
                "restriction": { "period": { "start": enc["period"]["end"], "end": format_instant(due) } },
            });
            if self.tx.current("Task", &id)?.is_some() {
                continue;
            }
            let patient = format!("Patient/{pid}");
            if let Some((evidence, when)) =
                followup_evidence::on_file(self.tx, self.st, kind, &patient, end.start)?
            {
                followup_evidence::completed_by(&mut task, &evidence, when);
            }
            create_once(self.tx, self.st, "Task", &id, task)?;
        }
        Ok(())
    }
}

/// The Patient of a message's focus Encounter, resolved inside the message.
pub fn message_patient(entries: &[Value]) -> Option<&Value> {
    let header = &entries.first()?["resource"];
    focus_encounter(header, entries).and_then(|e| resolve(&e["subject"], entries))
}

/// References into the message (`urn:uuid:`) mean nothing once stored: keep
/// their display and identifier, drop the reference.
fn strip_bundle_refs(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("reference")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with("urn:"))
            {
                o.remove("reference");
            }
            for (_, x) in o.iter_mut() {
                strip_bundle_refs(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_bundle_refs),
        _ => {}
    }
}
