//! High-risk care plans and outreach, kept by the risk pass inside its
//! own write. A patient in one of the method's high tiers gets (or keeps)
//! an active CarePlan (`risk-careplan-…`): physical goals for what the
//! patient has (HbA1c below the method's target for diabetes, blood
//! pressure below 140/90 for hypertension) beside the behavioral-health
//! Goals the screening capability already keeps, the patient's active care
//! teams (or one Tandem forms from the patient's PCPs), the
//! RiskAssessment as supporting information, and an outreach Task. A
//! patient on the high-risk BH registry (BB10.Y2.2) gets the outreach Task
//! too. People own what follows: a plan the care team completed or
//! revoked is left as it is, and the outreach Task is created once — its
//! status is the care team's to move.

use serde_json::{Value, json};

use crate::fhir::id::derived;
use crate::rules::risk::{Method, Stratum};
use crate::service::ServiceError;
use crate::service::fhir_api::resource::Stamper;
use crate::service::managed::{create_once, find, live, put};
use crate::service::screening::DERIVED_TAG;
use crate::store::WriteTx;

/// The code system of Tandem's care-management codes (plan category,
/// outreach Task code, care-team role).
pub const CARE_CS: &str = "http://tandem.health/fhir/CodeSystem/care-management";
pub const PLAN_TAG: &str = "high-risk-careplan";
pub const OUTREACH_TAG: &str = "risk-outreach";

pub fn plan_id(patient: &str) -> String {
    derived("risk-careplan", patient)
}

pub fn outreach_id(patient: &str) -> String {
    derived("risk-outreach", patient)
}

fn tag(code: &str) -> Value {
    json!({ "tag": [{ "system": DERIVED_TAG, "code": code }] })
}

fn below(code: &str, value: f64, unit: &str, ucum: &str) -> Value {
    json!({
        "measure": { "coding": [{ "system": "http://loinc.org", "code": code }] },
        "detailQuantity": { "value": value, "comparator": "<", "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum },
    })
}

/// The physical goals of a high-risk patient with `kinds`, by id.
fn physical_goals(patient: &str, kinds: &[String], method: &Method) -> Vec<(String, Value)> {
    let mut goals = Vec::new();
    let mut goal = |key: &str, text: String, targets: Vec<Value>| {
        let id = derived(&format!("risk-goal-{key}"), patient);
        goals.push((id.clone(), json!({
            "resourceType": "Goal", "id": id, "meta": tag("high-risk-goal"),
            "lifecycleStatus": "active",
            "category": [{ "coding": [{ "system": CARE_CS, "code": "physical-health", "display": "Physical health" }] }],
            "description": { "coding": [{ "system": CARE_CS, "code": key }], "text": text },
            "subject": { "reference": patient },
            "target": targets,
        })));
    };
    if kinds.iter().any(|k| k == "diabetes") {
        let t = method.hba1c_target;
        goal(
            "hba1c",
            format!("Diabetes: HbA1c below {t}%"),
            vec![below("4548-4", t, "%", "%")],
        );
    }
    if kinds.iter().any(|k| k == "hypertension") {
        goal(
            "blood-pressure",
            "Hypertension: blood pressure below 140/90 mmHg".into(),
            vec![
                below("8480-6", 140.0, "mmHg", "mm[Hg]"),
                below("8462-4", 90.0, "mmHg", "mm[Hg]"),
            ],
        );
    }
    goals
}

/// What one high-risk or BH-registry patient's plan is made of.
pub struct Keep<'a> {
    pub tx: &'a mut dyn WriteTx,
    pub st: &'a Stamper,
    pub method: &'a Method,
    /// Today, `YYYY-MM-DD`, and now as an instant.
    pub today: &'a str,
    pub now: &'a str,
}

impl Keep<'_> {
    fn search(&mut self, rt: &str, pairs: &[(&str, String)]) -> Result<Vec<Value>, ServiceError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Ok(find(self.tx, self.st, rt, &pairs, 200)?)
    }

    /// The patient's active care teams, or one formed from its PCPs.
    fn care_teams(&mut self, patient: &str) -> Result<Vec<String>, ServiceError> {
        let teams: Vec<String> = self
            .search(
                "CareTeam",
                &[("patient", patient.into()), ("status", "active".into())],
            )?
            .iter()
            .filter_map(|t| t["id"].as_str().map(|id| format!("CareTeam/{id}")))
            .collect();
        if !teams.is_empty() {
            return Ok(teams);
        }
        let pid = patient.trim_start_matches("Patient/");
        let pcps: Vec<Value> = live(self.tx, "Patient", pid)?
            .and_then(|p| p["generalPractitioner"].as_array().cloned())
            .unwrap_or_default();
        let id = derived("risk-careteam", patient);
        let team = json!({
            "resourceType": "CareTeam", "id": id, "meta": tag("high-risk-careteam"),
            "status": "active", "name": "High-risk care team",
            "subject": { "reference": patient },
            "participant": pcps.iter().map(|r| json!({
                "role": [{ "coding": [{ "system": CARE_CS, "code": "care-coordination", "display": "Care coordination" }] }],
                "member": r,
            })).collect::<Vec<_>>(),
        });
        put(self.tx, self.st, "CareTeam", &id, team)?;
        Ok(vec![format!("CareTeam/{id}")])
    }

    /// Keeps `patient`'s high-risk plan (when `s` is in a high tier) and
    /// outreach Task (high tier or BH registry).
    pub fn patient(&mut self, patient: &str, s: &Stratum) -> Result<(), ServiceError> {
        let high = self.method.is_high(&s.tier);
        if !high && s.bh.is_empty() {
            return Ok(());
        }
        let pid = plan_id(patient);
        let plan = live(self.tx, "CarePlan", &pid)?;
        if high && plan.as_ref().is_some_and(|p| p["status"] != "active") {
            // The care team closed it: theirs to reopen.
            return self.outreach(patient, s, None);
        }
        let teams = self.care_teams(patient)?;
        if !high {
            return self.outreach(patient, s, teams.first().cloned());
        }
        let mut goals = Vec::new();
        let mut security = s.security.clone();
        for (id, g) in physical_goals(patient, &s.kinds, self.method) {
            put(self.tx, self.st, "Goal", &id, g)?;
            goals.push(format!("Goal/{id}"));
        }
        let bh = self.search(
            "Goal",
            &[
                ("patient", patient.into()),
                ("_tag", format!("{DERIVED_TAG}|bh-goal")),
                ("lifecycle-status", "active".into()),
            ],
        )?;
        for g in &bh {
            goals.push(format!("Goal/{}", g["id"].as_str().unwrap_or_default()));
            security.extend(
                g["meta"]["security"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        security.sort_by_key(|l| l.to_string());
        security.dedup();
        let start = plan
            .as_ref()
            .and_then(|p| p["period"]["start"].as_str().map(str::to_string))
            .unwrap_or_else(|| self.today.to_string());
        let mut care_plan = json!({
            "resourceType": "CarePlan", "id": pid, "meta": tag(PLAN_TAG),
            "status": "active", "intent": "plan",
            "category": [
                { "coding": [{ "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan" }] },
                { "coding": [{ "system": CARE_CS, "code": "high-risk", "display": "High-risk care management" }], "text": "High-risk care management" },
            ],
            "title": "High-risk care plan",
            "subject": { "reference": patient },
            "period": { "start": start },
            "careTeam": teams.iter().map(|t| json!({ "reference": t })).collect::<Vec<_>>(),
            "supportingInfo": [{ "reference": format!("RiskAssessment/{}", derived("risk", patient)) }],
            "goal": goals.iter().map(|g| json!({ "reference": g })).collect::<Vec<_>>(),
            "activity": [{ "reference": { "reference": format!("Task/{}", outreach_id(patient)) } }],
        });
        if !security.is_empty() {
            care_plan["meta"]["security"] = json!(security);
        }
        put(self.tx, self.st, "CarePlan", &pid, care_plan)?;
        self.outreach(patient, s, teams.first().cloned())
    }

    /// The outreach Task, created once.
    fn outreach(
        &mut self,
        patient: &str,
        s: &Stratum,
        owner: Option<String>,
    ) -> Result<(), ServiceError> {
        let id = outreach_id(patient);
        let mut why = Vec::new();
        if self.method.is_high(&s.tier) {
            why.push(format!("risk tier {}", s.tier));
        }
        if !s.bh.is_empty() {
            why.push(format!("high-risk behavioral health ({})", s.bh.join(", ")));
        }
        let mut task = json!({
            "resourceType": "Task", "id": id, "meta": tag(OUTREACH_TAG),
            "status": "requested", "intent": "order", "priority": "urgent",
            "code": { "coding": [{ "system": CARE_CS, "code": "outreach", "display": "Outreach to a high-risk patient" }] },
            "description": format!("Reach out to the patient: {}", why.join("; ")),
            "for": { "reference": patient },
            "focus": { "reference": format!("RiskAssessment/{}", derived("risk", patient)) },
            "authoredOn": self.now,
        });
        if let Some(o) = owner {
            task["owner"] = json!({ "reference": o });
        }
        if !s.security.is_empty() {
            task["meta"]["security"] = json!(s.security);
        }
        create_once(self.tx, self.st, "Task", &id, task)?;
        Ok(())
    }
}
