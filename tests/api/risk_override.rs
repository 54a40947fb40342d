//! A care team's tier override over HTTP: one Tandem cannot apply is
//! refused with 422 and nothing is stored; a valid one wins over the
//! computed tier through its last day, beside the computed assessment
//! Tandem keeps; retracting it restores the computed tier; Tandem's own
//! assessments are not the sender's to write. A client that may not write
//! RiskAssessments cannot override.

use serde_json::{Value, json};
use tandem::auth::Role;

use crate::common::{self, TestApp};

const PRACTICE: &str = "practice-r";

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

/// The tier `pid` is listed under in the registry on `date`, with the
/// member's parts.
async fn listed(app: &TestApp, pid: &str, date: &str) -> (String, Value) {
    let (s, r) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$risk-registry?date={date}"
        ))
        .await;
    assert_eq!(s, 200, "{r}");
    common::reports::registry_member(&r, pid).expect("the patient is listed")
}

fn override_of(pid: &str, tier: &str) -> Value {
    json!({"resourceType": "RiskAssessment", "status": "final",
    "subject": {"reference": format!("Patient/{pid}")},
    "performer": {"reference": "Practitioner/dr-care"},
    "reasonCode": [{"text": "Heart failure stable on therapy; seen monthly"}],
    "occurrenceDateTime": day(0),
    "prediction": [{
        "qualitativeRisk": {"coding": [{"system": "http://tandem.health/fhir/CodeSystem/risk-tier", "code": tier}]},
        "whenPeriod": {"start": day(0), "end": day(30)}
    }]})
}

#[tokio::test]
async fn an_override_wins_until_it_expires_and_bad_ones_change_nothing() {
    let app = common::spawn_app_with(|c| c.default_tenant = PRACTICE.into()).await;
    let p = app
        .create(&json!({"resourceType": "Patient", "birthDate": "1940-01-01"}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    app.create(&json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84114007"}]},
        "subject": {"reference": format!("Patient/{pid}")}}))
        .await;
    // Heart failure 3 + age 75 or more 2 = 5: high.
    assert_eq!(listed(&app, &pid, &day(0)).await.0, "high");

    let good = override_of(&pid, "rising");
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("reasonCode");
    cases.push(("reasonCode", v));
    let mut v = good.clone();
    v["prediction"][0]["whenPeriod"]
        .as_object_mut()
        .unwrap()
        .remove("end");
    cases.push(("whenPeriod.end", v));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("performer");
    cases.push(("performer", v));
    cases.push((
        "not one of the method's tiers",
        override_of(&pid, "extreme"),
    ));
    let mut v = good.clone();
    v["meta"] = json!({"tag": [{"system": "http://tandem.health/fhir/CodeSystem/derived", "code": "risk-stratification"}]});
    cases.push(("Tandem keeps", v));
    for (why, body) in cases {
        let r = app.post("RiskAssessment", &body).await;
        assert_eq!(r.status(), 422, "{why}");
        let oo: Value = r.json().await.unwrap();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert!(oo.to_string().contains(why), "{why}: {oo}");
    }
    assert!(
        app.search_resources(&format!("RiskAssessment?subject=Patient/{pid}"))
            .await
            .is_empty(),
        "nothing stored"
    );

    // A client without write access to RiskAssessment cannot override.
    let reader = app
        .client_for("ehr-r", Role::Ehr, PRACTICE, "system/*.rs")
        .await;
    let r = reader
        .post(app.url("RiskAssessment"))
        .header("content-type", "application/fhir+json")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A valid override holds through its last day, then the points rule.
    let r = app.post("RiskAssessment", &good).await;
    assert_eq!(r.status(), 201);
    let written: Value = r.json().await.unwrap();
    let (tier, member) = listed(&app, &pid, &day(0)).await;
    assert_eq!(tier, "rising");
    assert_eq!(common::part(&member, "computed")["valueCode"], "high");
    let o = common::part(&member, "override");
    assert_eq!(common::part(&o, "until")["valueDate"], day(30));
    assert_eq!(
        common::part(&o, "performer")["valueReference"]["reference"],
        "Practitioner/dr-care"
    );
    assert_eq!(listed(&app, &pid, &day(30)).await.0, "rising");
    assert_eq!(listed(&app, &pid, &day(31)).await.0, "high");

    // The kept assessment keeps the computed tier; the override is beside it.
    app.stratify(PRACTICE, "").await;
    let all = app
        .search_resources(&format!("RiskAssessment?subject=Patient/{pid}"))
        .await;
    assert_eq!(all.len(), 2);
    let kept = all.iter().find(|a| a["id"] != written["id"]).unwrap();
    assert_eq!(
        kept["prediction"][0]["qualitativeRisk"]["coding"][0]["code"],
        "high"
    );
    // Tandem's own assessment is not the sender's to change.
    let mut changed = kept.clone();
    changed["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] = json!("low");
    changed["meta"] = json!({});
    let kid = kept["id"].as_str().unwrap();
    let r = app.put(&format!("RiskAssessment/{kid}"), &changed).await;
    assert_eq!(r.status(), 422);
    let now = app.get_json(&format!("RiskAssessment/{kid}")).await.1;
    assert_eq!(now["meta"]["versionId"], kept["meta"]["versionId"]);

    // Retracted (entered in error), the override no longer holds.
    let mut retracted = written.clone();
    retracted["status"] = json!("entered-in-error");
    let id = written["id"].as_str().unwrap();
    let r = app.put(&format!("RiskAssessment/{id}"), &retracted).await;
    assert_eq!(r.status(), 200);
    assert_eq!(listed(&app, &pid, &day(0)).await.0, "high");
    app.stop().await;
}

/// A stay for a mental-health reason within `[risk] bh_admission_days`
/// (90) puts a patient on the high-risk BH registry with an outreach Task,
/// though its tier is not high (so no high-risk plan); an older one does not.
#[tokio::test]
async fn a_recent_bh_admission_puts_a_patient_on_the_bh_registry() {
    let app = common::spawn_app_with(|c| c.default_tenant = PRACTICE.into()).await;
    let mut ids = Vec::new();
    for days_ago in [10, 120] {
        let p = app
            .create(&json!({"resourceType": "Patient", "birthDate": "1990-05-05"}))
            .await;
        let pid = p["id"].as_str().unwrap().to_string();
        app.create(&json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": format!("Patient/{pid}")},
            "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F32.2"}]}],
            "period": {"start": day(-days_ago), "end": day(-days_ago + 3)}}))
            .await;
        ids.push(format!("Patient/{pid}"));
    }
    app.stratify(PRACTICE, "").await;
    let (s, registry) = app
        .get_json(&format!("Organization/{PRACTICE}/$bh-registry"))
        .await;
    assert_eq!(s, 200, "{registry}");
    let members: Vec<&Value> = registry["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "member")
        .collect();
    assert_eq!(members.len(), 1, "{registry}");
    let m = members[0];
    assert_eq!(
        common::part(m, "patient")["valueReference"]["reference"],
        ids[0]
    );
    assert_eq!(common::part(m, "reason")["valueCode"], "bh-admission");
    assert_eq!(common::part(m, "tier")["valueCode"], "rising");
    assert_eq!(common::part(m, "outreachStatus")["valueCode"], "requested");
    let plans = app
        .search_resources(&format!("CarePlan?subject={}", ids[0]))
        .await;
    assert!(plans.is_empty(), "not high risk: no high-risk plan");
    app.stop().await;
}
