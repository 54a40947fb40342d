//! The method as a FHIR PlanDefinition (`PlanDefinition/risk-method`): the
//! documented methodology BB6.Y1.1 asks for, generated from the method in
//! force so the document and the scoring cannot drift apart. One action per
//! driver says what scores and how much; the tiers are in the description.

use serde_json::{Value, json};

use super::{Band, Method};

pub const PLAN_ID: &str = "risk-method";
pub const PLAN_URL: &str = "http://tandem.health/fhir/PlanDefinition/risk-method";

fn bands(bands: &[Band], unit: &str) -> String {
    bands
        .iter()
        .map(|b| format!("{} point(s) from {} {unit}", b.points, b.from))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Method {
    /// The PlanDefinition documenting this method.
    pub fn plan_definition(&self) -> Value {
        let mut drivers: Vec<(String, String)> = self
            .conditions
            .iter()
            .map(|(kind, p)| (kind.clone(), format!("{p} point(s) when an active {kind} condition is recorded (ICD-10-CM or SNOMED CT)")))
            .collect();
        drivers.extend([
            ("serious-mental-illness".into(), format!("{} point(s): schizophrenia spectrum, bipolar disorder, or severe/psychotic major depression", self.serious_mental_illness)),
            ("substance-use".into(), format!("{} point(s): an alcohol or drug use disorder (not nicotine)", self.substance_use)),
            ("phq-9".into(), format!("the latest PHQ-9 total in the look-back (the highest of that day): {}", bands(&self.phq9, "points"))),
            ("gad-7".into(), format!("the latest GAD-7 total in the look-back (the highest of that day): {}", bands(&self.gad7, "points"))),
            ("ed-visits".into(), format!("{} point(s) per ED visit in the look-back, at most {} visits", self.ed_visit, self.ed_visits_max)),
            ("inpatient-stays".into(), format!("{} point(s) per inpatient stay in the look-back, at most {} stays", self.inpatient_stay, self.inpatient_stays_max)),
            ("readmissions".into(), format!("{} point(s) per 30-day readmission in the look-back", self.readmission)),
            ("polypharmacy".into(), format!("distinct active medications: {}", bands(&self.polypharmacy, "medications"))),
            ("age".into(), format!("age in years: {}", bands(&self.age, "years"))),
            ("social-needs".into(), format!("{} point(s): a positive social-needs screen in the look-back", self.social_need)),
        ]);
        let tiers: Vec<String> = self
            .tiers
            .iter()
            .map(|t| {
                let high = if self.is_high(&t.code) {
                    ", high risk"
                } else {
                    ""
                };
                format!(
                    "{} ({}) from {} points{high}",
                    t.display, t.code, t.min_points
                )
            })
            .collect();
        json!({
            "resourceType": "PlanDefinition", "id": PLAN_ID, "url": PLAN_URL,
            "name": "TandemRiskStratification", "title": "Risk stratification method",
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type", "code": "clinical-protocol" }] },
            "status": "active",
            "description": format!(
                "Each patient's points are the sum of the drivers below, read from the record on the day stratified with a {}-month look-back; the total falls in a tier: {}.",
                self.lookback_months,
                tiers.join("; ")
            ),
            "action": drivers
                .into_iter()
                .map(|(code, text)| json!({ "title": code, "description": text }))
                .collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document follows the configuration: a changed weight shows.
    #[test]
    fn the_plan_documents_the_method_in_force() {
        let m = Method::default();
        let plan = m.plan_definition();
        let text = plan.to_string();
        assert!(
            text.contains("High (high) from 4 points, high risk"),
            "{text}"
        );
        let action = |p: &Value, code: &str| {
            p["action"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["title"] == code)
                .unwrap()["description"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(action(&plan, "heart-failure").starts_with("3 point(s)"));
        let mut changed = m.clone();
        changed.conditions.insert("heart-failure".into(), 5);
        assert!(action(&changed.plan_definition(), "heart-failure").starts_with("5 point(s)"));
    }
}
