//! Creating referrals: one ServiceRequest + one Task per referral, from a
//! positive screen under a partner's care compact, or for a ServiceRequest an
//! EHR posted (with or without its Task). Ids derive from their source, so
//! re-processing never refers twice; a patient with an open referral to a
//! partner gets no second one.

use chrono::{DateTime, Duration};
use serde_json::{Value, json};

use super::{
    Pass, REFERRAL_UPDATE_TOPIC, Written, is_referral_request, is_referral_task, org_of, package,
};
use crate::fhir::datetime::{format_instant, format_instant_ms};
use crate::fhir::id::derived;
use crate::rules::referral::compact::{Mode, Partner, Screen};
use crate::rules::referral::workflow::OPEN;
use crate::rules::referral::{BUSINESS_STATUS_CS, REFERRAL_CATEGORY, TASK_CODE_CS};
use crate::service::ServiceError;
use crate::service::managed::{create_once, find, live, put};
use crate::store::outbox::OutboxMessage;

/// A positive screening result a derivation just wrote.
#[derive(Debug, Clone)]
pub struct PositiveScreen {
    pub result_id: String,
    pub subject: String,
    pub instrument: String,
    pub total: Option<f64>,
    pub title: String,
    pub age_years: Option<f64>,
}

impl Pass<'_> {
    pub(super) fn refer_screen(&mut self, s: &PositiveScreen) -> Result<(), ServiceError> {
        let (payers, places) = self.coverage_and_places(&s.subject)?;
        let screen = Screen {
            instrument: &s.instrument,
            total: s.total,
            positive: true,
            age_years: s.age_years,
            payers: &payers,
            places: &places,
        };
        let partners: Vec<Partner> = self
            .referrals
            .partners
            .iter()
            .filter(|p| p.accepts(self.tenant, &screen))
            .cloned()
            .collect();
        for partner in partners {
            if self.open_referral(&s.subject, &partner.id)? {
                continue;
            }
            let key = format!("{}|{}", s.result_id, partner.id);
            let sr_id = derived("rsr", &key);
            let status = if partner.mode == Mode::Auto {
                "active"
            } else {
                "draft"
            };
            let sr = json!({
                "resourceType": "ServiceRequest", "id": sr_id, "status": status, "intent": "order",
                "category": [{ "coding": [{ "system": REFERRAL_CATEGORY.0, "code": REFERRAL_CATEGORY.1, "display": "Patient referral" }] }],
                "code": { "text": "Behavioral health services" },
                "subject": { "reference": s.subject },
                "authoredOn": self.now(),
                "requester": { "reference": format!("Organization/{}", self.tenant) },
                "performer": [{ "reference": format!("Organization/{}", partner.id) }],
                "reasonCode": [{ "text": format!("Positive {} screen", s.title) }],
                "reasonReference": [{ "reference": format!("Observation/{}", s.result_id) }],
                "supportingInfo": [{ "reference": format!("Observation/{}", s.result_id) }],
            });
            if create_once(self.tx, self.st, "ServiceRequest", &sr_id, sr.clone())? {
                let task_status = if partner.mode == Mode::Auto {
                    "requested"
                } else {
                    "draft"
                };
                self.new_task(&sr_id, &sr, &partner, task_status)?;
            }
        }
        Ok(())
    }

    /// An EHR's referral ServiceRequest without a Task gets one, `requested`.
    pub(super) fn refer_request(&mut self, w: &Written) -> Result<(), ServiceError> {
        let Ok(sr) = serde_json::from_str::<Value>(&w.body) else {
            return Ok(());
        };
        let performer = sr["performer"]
            .as_array()
            .and_then(|p| p.first())
            .and_then(org_of);
        let Some(partner) = performer
            .and_then(|id| self.referrals.partner(self.tenant, id))
            .cloned()
        else {
            return Ok(());
        };
        if !is_referral_request(&sr) || w.previous.is_some() || sr["status"] != "active" {
            return Ok(());
        }
        let pairs = [("focus".to_string(), format!("ServiceRequest/{}", w.id))];
        if !find(self.tx, self.st, "Task", &pairs, 1)?.is_empty() {
            return Ok(());
        }
        self.new_task(&w.id, &sr, &partner, "requested")
    }

    fn new_task(
        &mut self,
        sr_id: &str,
        sr: &Value,
        partner: &Partner,
        status: &str,
    ) -> Result<(), ServiceError> {
        let id = derived("rtk", sr_id);
        let now = DateTime::from_timestamp_millis(self.st.now_ms).unwrap_or_default();
        let due = now + Duration::days(i64::from(partner.days_to_first_visit));
        let mut task = json!({
            "resourceType": "Task", "id": id, "status": status, "intent": "order",
            "code": { "coding": [{ "system": TASK_CODE_CS, "code": "fulfill" }] },
            "focus": { "reference": format!("ServiceRequest/{sr_id}") },
            "for": sr["subject"],
            "authoredOn": format_instant(now),
            "requester": sr["requester"],
            "owner": { "reference": format!("Organization/{}", partner.id) },
            "restriction": { "period": { "start": format_instant(now), "end": format_instant(due) } },
        });
        if status == "requested" {
            task["businessStatus"] = json!({ "coding": [{ "system": BUSINESS_STATUS_CS, "code": "2.0", "display": "Service Request Created" }] });
        }
        if create_once(self.tx, self.st, "Task", &id, task.clone())? && status == "requested" {
            package::queue(self, &id, &task)?;
        }
        Ok(())
    }

    /// After a referral Task was written by someone else than this module:
    /// the requester sending it (draft → requested) queues the package; a
    /// change by the owner is reported to the referring practice.
    pub(super) fn task_changed(&mut self, w: &Written) -> Result<(), ServiceError> {
        let Ok(task) = serde_json::from_str::<Value>(&w.body) else {
            return Ok(());
        };
        if !is_referral_task(&task) {
            return Ok(());
        }
        let old: Option<Value> = w
            .previous
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let was = old.as_ref().and_then(|o| o["status"].as_str());
        if task["status"] == "requested" && was != Some("requested") {
            self.activate_request(&task)?;
            package::queue(self, &w.id, &task)?;
        }
        let owner = org_of(&task["owner"]).unwrap_or_default();
        if owner == self.writer.org && owner != self.tenant {
            self.tx.enqueue(OutboxMessage {
                topic: REFERRAL_UPDATE_TOPIC.into(),
                key: format!("{}|{}", w.id, self.st.now_ms),
                destination: None,
                payload: json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "fullUrl": format!("Task/{}", w.id), "resource": task }] }).to_string(),
                created_ms: self.st.now_ms,
            })?;
        }
        Ok(())
    }

    /// A proposed referral the practice confirms: its draft ServiceRequest
    /// becomes active with the Task.
    fn activate_request(&mut self, task: &Value) -> Result<(), ServiceError> {
        let Some(sr_id) = task["focus"]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("ServiceRequest/"))
        else {
            return Ok(());
        };
        if let Some(mut sr) = live(self.tx, "ServiceRequest", sr_id)?
            && sr["status"] == "draft"
        {
            sr["status"] = json!("active");
            put(self.tx, self.st, "ServiceRequest", sr_id, sr)?;
        }
        Ok(())
    }

    fn open_referral(&mut self, subject: &str, partner: &str) -> Result<bool, ServiceError> {
        let pairs = [
            ("patient".to_string(), subject.to_string()),
            ("owner".to_string(), format!("Organization/{partner}")),
            ("status".to_string(), OPEN.join(",")),
        ];
        Ok(!find(self.tx, self.st, "Task", &pairs, 1)?.is_empty())
    }

    /// Payer Organization ids of the patient's Coverage, and the states and
    /// postal codes of their addresses.
    fn coverage_and_places(
        &mut self,
        subject: &str,
    ) -> Result<(Vec<String>, Vec<String>), ServiceError> {
        let pairs = [("beneficiary".to_string(), subject.to_string())];
        let payers = find(self.tx, self.st, "Coverage", &pairs, 20)?
            .iter()
            .flat_map(|c| c["payor"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| org_of(&p).map(String::from))
            .collect();
        let patient = subject
            .strip_prefix("Patient/")
            .map(|id| live(self.tx, "Patient", id))
            .transpose()?
            .flatten()
            .unwrap_or_default();
        let places = patient["address"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| [a["state"].as_str(), a["postalCode"].as_str()])
            .flatten()
            .map(String::from)
            .collect();
        Ok((payers, places))
    }

    pub(super) fn now(&self) -> String {
        format_instant_ms(self.st.now_ms)
    }
}
