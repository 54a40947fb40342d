//! Applying one classified input inside the transaction: score it, write or
//! retract its result, raise safety alerts, and note the patient whose care
//! plan must be recomputed.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate};
use serde_json::{Value, json};

use super::build::{self, ResultSpec, derived_id};
use super::extract::{Input, Source};
use super::{Deriver, Notes};
use crate::fhir::datetime::format_instant;
use crate::fhir::outcome::Issue;
use crate::rules::screening::score::{Answer, score};
use crate::rules::screening::value;
use crate::rules::screening::{Outcome, Rejection, Sex, rules};
use crate::service::fhir_api::resource::Stamper;
use crate::service::{ServiceError, managed};
use crate::store::outbox::OutboxMessage;
use crate::store::{StoreError, WriteTx};

/// The outbox topic of safety alerts.
pub const SAFETY_TOPIC: &str = "safety-alert";

pub struct Pass<'a> {
    pub d: &'a Deriver,
    pub tx: &'a mut dyn WriteTx,
    pub st: &'a Stamper,
    pub tenant: &'a str,
    pub notes: Notes,
    /// Patients whose behavioral-health care plan must be recomputed.
    pub patients: BTreeSet<String>,
    /// Positive, complete screens written in this pass (referral candidates).
    pub positives: Vec<crate::service::referrals::PositiveScreen>,
}

impl Pass<'_> {
    pub fn apply(&mut self, input: Input) -> Result<(), ServiceError> {
        match input {
            Input::Retract(r) => self.retract(&r)?,
            Input::Rejected { source, reason } => {
                self.retract_result_only(&source.reference)?;
                self.warn(
                    &source.reference,
                    format!("No screening result was derived: {reason}"),
                );
                self.alert(&source, None, None)?;
            }
            Input::Alert(source) => self.alert(&source, None, None)?,
            Input::Score {
                source,
                instrument,
                responses,
                sent_total,
            } => {
                let inst = &self.d.instruments[instrument];
                let rule = rules::rule(&inst.key, &self.d.config).ok_or_else(|| {
                    ServiceError::Internal(format!("no rule for instrument {}", inst.key))
                })?;
                let sex = match rule.cutoff {
                    rules::Cutoff::BySex { .. } => self.sex(&source.subject)?,
                    rules::Cutoff::AtLeast(_) => Sex::Unknown,
                };
                let spec = ResultSpec {
                    key: &inst.key,
                    title: &inst.title,
                    code: &inst.total,
                    domain: rule.domain,
                    unit: ("{score}", "{score}"),
                    sensitive: rule.sensitive,
                    coded_value: None,
                };
                let outcome = score(inst, &rule, &responses, sent_total, sex);
                self.record(&source, &spec, outcome)?;
            }
            Input::Value {
                source,
                screen,
                value,
            } => {
                let vs = &self.d.values[screen];
                let age = self.age(&source)?;
                let (outcome, unit, coded) = match (vs.key, &value) {
                    ("tobacco", Answer::Coded { system, code, .. }) => (
                        value::tobacco(system.as_deref(), code).map(Some),
                        ("", ""),
                        Some(json!({ "coding": [{ "system": system, "code": code }] })),
                    ),
                    ("bmi", Answer::Number(n)) => (value::bmi(*n, age), ("kg/m2", "kg/m2"), None),
                    ("bmi-percentile", Answer::Number(n)) => {
                        (value::bmi_percentile(*n, age), ("%", "%"), None)
                    }
                    ("developmental", Answer::Coded { code, .. }) => (
                        value::development(Some(code.as_str()).filter(|c| !c.is_empty())).map(Some),
                        ("", ""),
                        None,
                    ),
                    _ => (
                        Err(Rejection(format!(
                            "{} has a value of the wrong type.",
                            vs.title
                        ))),
                        ("", ""),
                        None,
                    ),
                };
                let spec = ResultSpec {
                    key: vs.key,
                    title: vs.title,
                    code: &vs.code,
                    domain: vs.domain,
                    unit,
                    sensitive: false,
                    coded_value: coded,
                };
                match outcome {
                    Ok(Some(o)) => self.record(&source, &spec, Ok(o))?,
                    Ok(None) => self.retract(&source.reference)?,
                    Err(e) => self.record(&source, &spec, Err(e))?,
                }
            }
        }
        Ok(())
    }

    fn record(
        &mut self,
        source: &Source,
        spec: &ResultSpec,
        outcome: Result<Outcome, Rejection>,
    ) -> Result<(), ServiceError> {
        let out = match outcome {
            Ok(o) => o,
            Err(Rejection(reason)) => {
                self.retract_result_only(&source.reference)?;
                self.warn(
                    &source.reference,
                    format!("No screening result was derived: {reason}"),
                );
                return self.alert(source, None, None);
            }
        };
        for n in &out.notes {
            self.warn(&source.reference, n.clone());
        }
        // A panel supersedes results its members produced on their own.
        for member in &source.also {
            self.retract_result_only(member)?;
        }
        let id = derived_id("scr", &source.reference);
        let result = build::result(&id, spec, source, &out);
        self.put("Observation", &id, result.clone())?;
        let own = out
            .safety
            .as_ref()
            .map(|hit| format!("{} item '{}'", spec.title, hit.item));
        self.alert(source, Some((&id, &result)), own)?;
        if spec.domain.is_behavioral() {
            self.patients.insert(source.subject.clone());
        }
        if out.positive == Some(true) && out.complete {
            let age_years = self.age(source)?;
            self.positives
                .push(crate::service::referrals::PositiveScreen {
                    result_id: id,
                    subject: source.subject.clone(),
                    instrument: spec.key.to_string(),
                    total: out.total,
                    title: spec.title.to_string(),
                    age_years,
                });
        }
        Ok(())
    }

    /// Raises the safety alert of `source` when its scored result (`own`) or
    /// the scan of its answers (`source.safety`) found a safety item above
    /// zero. The alert points at the result when there is one, otherwise at
    /// the source itself (a response that could not be scored).
    fn alert(
        &mut self,
        source: &Source,
        result: Option<(&str, &Value)>,
        own: Option<String>,
    ) -> Result<(), ServiceError> {
        let mut what: Vec<String> = own.into_iter().collect();
        for (title, hit) in &source.safety {
            let w = format!("{title} item '{}'", hit.item);
            if !what.contains(&w) {
                what.push(w);
            }
        }
        if what.is_empty() {
            return Ok(());
        }
        let evidence = match result {
            Some((id, _)) => format!("Observation/{id}"),
            None => source.reference.clone(),
        };
        self.safety(source, &evidence, result.map(|(_, r)| r), &what.join(", "))
    }

    /// Flag + Task (created once) and one notification to the practice.
    fn safety(
        &mut self,
        source: &Source,
        evidence: &str,
        result: Option<&Value>,
        what: &str,
    ) -> Result<(), ServiceError> {
        let flag_id = derived_id("sfl", &source.reference);
        let task_id = derived_id("stk", &source.reference);
        let flag = build::flag(&flag_id, source, evidence, what);
        self.create_once("Flag", &flag_id, flag.clone())?;
        let now = DateTime::from_timestamp_millis(self.st.now_ms).unwrap_or_default();
        let due = now
            .date_naive()
            .and_hms_milli_opt(23, 59, 59, 999)
            .map(|d| d.and_utc())
            .unwrap_or(now);
        let task = build::task(
            &task_id,
            source,
            evidence,
            self.tenant,
            &format_instant(now),
            &format_instant(due),
            what,
        );
        if self.create_once("Task", &task_id, task.clone())? {
            self.tx.enqueue(OutboxMessage {
                topic: SAFETY_TOPIC.into(),
                key: task_id,
                destination: None,
                payload: build::notification(&task, &flag, result),
                created_ms: self.st.now_ms,
            })?;
        }
        Ok(())
    }

    /// Withdraws what `reference` produced: the result goes, the Flag is
    /// marked entered-in-error and an open safety Task is cancelled.
    pub fn retract(&mut self, reference: &str) -> Result<(), ServiceError> {
        self.retract_result_only(reference)?;
        let flag_id = derived_id("sfl", reference);
        if let Some(mut f) = self.live("Flag", &flag_id)? {
            f["status"] = json!("entered-in-error");
            self.put("Flag", &flag_id, f)?;
        }
        let task_id = derived_id("stk", reference);
        if let Some(mut t) = self.live("Task", &task_id)?
            && matches!(
                t["status"].as_str(),
                Some("requested" | "received" | "accepted" | "ready" | "draft")
            )
        {
            t["status"] = json!("cancelled");
            t["statusReason"] = json!({ "text": "The screening that raised this task was withdrawn or corrected." });
            self.put("Task", &task_id, t)?;
        }
        Ok(())
    }

    pub fn retract_result_only(&mut self, reference: &str) -> Result<(), ServiceError> {
        let id = derived_id("scr", reference);
        if let Some(old) = self.live("Observation", &id)? {
            if let Some(p) = old.pointer("/subject/reference").and_then(Value::as_str) {
                self.patients.insert(p.to_string());
            }
            let cur = self
                .tx
                .current("Observation", &id)?
                .map_or(0, |c| c.version);
            self.tx
                .write(self.st.deletion("Observation", &id, cur + 1))?;
        }
        Ok(())
    }

    /// The live resource `rt/id`, parsed.
    pub fn live(&mut self, rt: &str, id: &str) -> Result<Option<Value>, StoreError> {
        managed::live(self.tx, rt, id)
    }

    /// Writes `value` as `rt/id` unless the current version already says the same.
    pub fn put(&mut self, rt: &str, id: &str, value: Value) -> Result<bool, StoreError> {
        managed::put(self.tx, self.st, rt, id, value)
    }

    fn create_once(&mut self, rt: &str, id: &str, value: Value) -> Result<bool, StoreError> {
        managed::create_once(self.tx, self.st, rt, id, value)
    }

    pub fn warn(&mut self, reference: &str, text: String) {
        self.notes
            .0
            .push((reference.to_string(), Issue::warning("business-rule", text)));
    }

    fn patient(&mut self, subject: &str) -> Result<Option<Value>, StoreError> {
        let id = subject.trim_start_matches("Patient/");
        self.live("Patient", id)
    }

    fn sex(&mut self, subject: &str) -> Result<Sex, StoreError> {
        let p = self.patient(subject)?;
        Ok(Sex::from_gender(
            p.as_ref().and_then(|p| p["gender"].as_str()),
        ))
    }

    /// The patient's age in years at the administration (None when unknown).
    fn age(&mut self, source: &Source) -> Result<Option<f64>, StoreError> {
        let birth = self.patient(&source.subject)?.and_then(|p| {
            p["birthDate"]
                .as_str()
                .and_then(crate::fhir::datetime::date_written)
        });
        let now = DateTime::from_timestamp_millis(self.st.now_ms).unwrap_or_default();
        let on = administered_on(source).unwrap_or_else(|| now.date_naive());
        Ok(birth.map(|b| (on - b).num_days() as f64 / 365.25))
    }
}

/// The date an administration took place.
pub fn administered_on(source: &Source) -> Option<NaiveDate> {
    let e = source.effective.as_ref()?;
    let s = e
        .get("effectiveDateTime")
        .or_else(|| e.pointer("/effectivePeriod/start"))?
        .as_str()?;
    crate::fhir::datetime::date_written(s)
}
