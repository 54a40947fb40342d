//! Risk stratification on a generated practice over HTTP: its charts and
//! its HIE notifications loaded, `$risk-registry` on the generator's day
//! puts every patient in the tier — with the points — the generator
//! computed from its own model; overseers see counts, payers and partners
//! nothing.

use std::collections::BTreeMap;

use crate::common;

use crate::attribution_generated::generated_practice;
use common::population::ndjson;
use serde_json::Value;
use tandem::auth::Role;

/// practice-0's answers, after loading each own patient's HIE
/// notifications in the order the HIE sends them.
pub async fn with_notifications(app: &common::TestApp, root: &std::path::Path) -> Vec<Value> {
    let answers: Vec<Value> = ndjson(root, "answers.ndjson")
        .into_iter()
        .filter(|a| a["practice"] == "practice-0")
        .collect();
    for a in &answers {
        let id = a["patient"].as_str().unwrap();
        for k in 0.. {
            let path = root.join(format!("notifications/{id}-{k}.json"));
            let Ok(bytes) = std::fs::read(&path) else {
                break;
            };
            let m: Value = serde_json::from_slice(&bytes).unwrap();
            let r = app.post("$process-message", &m).await;
            assert_eq!(r.status(), 200, "{}", path.display());
        }
    }
    answers
}

#[tokio::test]
async fn generated_patients_land_in_the_generators_tiers() {
    let (app, _dir, root) = generated_practice().await;
    let answers = with_notifications(&app, &root).await;
    let on = answers[0]["risk"]["asOf"].as_str().unwrap().to_string();
    let (status, report) = app
        .get_json(&format!("Organization/practice-0/$risk-registry?date={on}"))
        .await;
    assert_eq!(status, 200, "{report}");
    let mut got: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for tier in report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "tier")
    {
        let code = common::part(tier, "code")["valueCode"]
            .as_str()
            .unwrap()
            .to_string();
        let members: Vec<&Value> = tier["part"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "member")
            .collect();
        assert_eq!(common::part(tier, "count")["valueInteger"], members.len());
        for m in members {
            let patient = common::part(m, "patient")["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string();
            let points = common::part(m, "points")["valueInteger"].as_u64().unwrap();
            got.insert(patient, (code.clone(), points));
        }
    }
    let want: BTreeMap<String, (String, u64)> = answers
        .iter()
        .map(|a| {
            (
                format!("Patient/{}", a["patient"].as_str().unwrap()),
                (
                    a["risk"]["tier"].as_str().unwrap().to_string(),
                    a["risk"]["points"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    for (p, w) in &want {
        assert_eq!(got.get(p), Some(w), "{p}");
    }
    assert_eq!(got.len(), want.len());
    let mut per_tier: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, _) in want.values() {
        *per_tier.entry(t).or_default() += 1;
    }
    assert!(
        per_tier.len() >= 3,
        "the population spreads over the tiers: {per_tier:?}"
    );

    // Overseers: counts only. Payers and partners: nothing. A bad date: 400.
    let path = format!("Organization/practice-0/$risk-registry?date={on}");
    for b in app.overseers_see_numbers_only(&path).await {
        assert!(b.to_string().contains("\"count\""), "{b}");
    }
    app.guests_refused(&path, "practice-0").await;
    let (s, oo) = app
        .get_json("Organization/practice-0/$risk-registry?date=soon")
        .await;
    assert_eq!(
        (s.as_u16(), oo["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );
    app.stop().await;
}

/// `$stratify` keeps each patient's stratum as a RiskAssessment — tier,
/// points, basis — writes again only what changed, so an ADT admission
/// shows as a new version of the patient's assessment; the periodic pass
/// does the same on its own.
#[tokio::test]
async fn strata_are_kept_as_risk_assessments_with_their_history() {
    let (app, _dir, root) = generated_practice().await;
    let answers: Vec<Value> = ndjson(&root, "answers.ndjson")
        .into_iter()
        .filter(|a| a["practice"] == "practice-0")
        .collect();
    let stratify = || async {
        let b = app.stratify("practice-0", "careGaps=false").await;
        (
            b["parameter"][0]["valueInteger"].as_u64().unwrap(),
            b["parameter"][1]["valueInteger"].as_u64().unwrap(),
        )
    };
    // BB6.Y2.1: empaneled patients with an assessment — none before the
    // pass, all after it.
    let bb6 = || async {
        let (_, r) = app
            .get_json("Organization/practice-0/$milestones?projectYear=2")
            .await;
        let m = crate::milestones::milestone(&r, "BB6.Y2.1").clone();
        (
            common::part(&m, "numerator")["valueInteger"]
                .as_u64()
                .unwrap(),
            common::part(&m, "denominator")["valueInteger"]
                .as_u64()
                .unwrap(),
        )
    };
    let (n, d) = bb6().await;
    assert!(n == 0 && d > 0, "{n}/{d}");
    assert_eq!(stratify().await, (answers.len() as u64, 0));
    assert_eq!(bb6().await, (d, d));
    assert_eq!(
        stratify().await,
        (0, answers.len() as u64),
        "nothing changed"
    );
    // A patient with no stay: its assessment names its tier and points.
    let quiet = answers
        .iter()
        .find(|a| {
            let id = a["patient"].as_str().unwrap();
            !root.join(format!("notifications/{id}-0.json")).exists()
        })
        .unwrap();
    let pid = quiet["patient"].as_str().unwrap();
    let found = app
        .search_resources(&format!("RiskAssessment?subject=Patient/{pid}"))
        .await;
    assert_eq!(found.len(), 1);
    let a = &found[0];
    let tier = a["prediction"][0]["qualitativeRisk"]["coding"][0]["code"].clone();
    let before = a["extension"][0]["valueInteger"].as_u64().unwrap();
    // The stored stratum is the registry's for today (the tiers themselves
    // are checked against the generator above, on its own day).
    let (_, registry) = app.get_json("Organization/practice-0/$risk-registry").await;
    let (code, member) = common::reports::registry_member(&registry, pid).unwrap();
    assert_eq!(
        (tier, serde_json::json!(before)),
        (
            serde_json::json!(code),
            common::part(&member, "points")["valueInteger"].clone()
        )
    );
    // An inpatient admission (2 points) for that patient, by Medicaid id.
    let medicaid = quiet["attribution"]["medicaid"].as_str().unwrap();
    let template = std::fs::read_dir(root.join("notifications"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let m: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            m["entry"][1]["resource"]["class"]["code"] == "IMP"
        })
        .unwrap();
    let mut m: Value = serde_json::from_slice(&std::fs::read(template).unwrap()).unwrap();
    m["id"] = "risk-test-admit".into();
    m["entry"][0]["resource"]["id"] = "risk-test-admit-header".into();
    m["entry"][1]["resource"]["identifier"][0]["value"] = "risk-test-stay".into();
    let today = chrono::Utc::now();
    m["entry"][1]["resource"]["period"] =
        serde_json::json!({"start": (today - chrono::Duration::days(2)).to_rfc3339()});
    m["entry"][2]["resource"]["identifier"] = serde_json::json!([{"system": tandem::generate::model::MEDICAID_SYSTEM, "value": medicaid}]);
    let r = app.post("$process-message", &m).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(stratify().await.0, 1, "only that patient changed");
    let id = a["id"].as_str().unwrap();
    let history = app
        .get_json(&format!("RiskAssessment/{id}/_history"))
        .await
        .1;
    assert_eq!(history["total"], 2, "{history}");
    let now = app.get_json(&format!("RiskAssessment/{id}")).await.1;
    assert_eq!(
        now["extension"][0]["valueInteger"].as_u64().unwrap(),
        before + 2
    );
    assert!(now["basis"].to_string().contains("Encounter/"), "{now}");
    // Another practice's user, or a guest, may not run the pass.
    let partner = app
        .client_for("bh-1", Role::BhPartner, "bh-org", "system/*.cruds")
        .await;
    let r = partner
        .post(app.url("Organization/practice-0/$stratify"))
        .header("x-tandem-tenant", "practice-0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

/// The periodic pass (`[risk] restratify_secs`) keeps strata without anyone
/// asking: a patient with heart failure gets a RiskAssessment on its own.
#[tokio::test]
async fn the_periodic_pass_stratifies_on_its_own() {
    let app = common::spawn_app_with(|c| c.risk.restratify_secs = 1).await;
    let p = app
        .create(&serde_json::json!({"resourceType": "Patient", "birthDate": "1950-01-01"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    app.create(&serde_json::json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84114007"}]},
        "subject": {"reference": format!("Patient/{pid}")}}))
        .await;
    // Heart failure 3 + age 75 or more 2 = 5 points: high.
    let search = format!("RiskAssessment?subject=Patient/{pid}");
    let mut found = Vec::new();
    for _ in 0..100 {
        found = app.search_resources(&search).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "no assessment within 10 s");
    assert_eq!(
        found[0]["prediction"][0]["qualitativeRisk"]["coding"][0]["code"],
        "high"
    );
    assert_eq!(found[0]["extension"][0]["valueInteger"], 5);

    // Later passes that day read only the patients whose records changed:
    // diabetes (2 more points) shows within seconds.
    app.create(&serde_json::json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
        "subject": {"reference": format!("Patient/{pid}")}}))
        .await;
    let id = found[0]["id"].as_str().unwrap();
    let mut now = found[0].clone();
    for _ in 0..100 {
        now = app.get_json(&format!("RiskAssessment/{id}")).await.1;
        if now["meta"]["versionId"] != found[0]["meta"]["versionId"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(now["extension"][0]["valueInteger"], 7, "{now}");
    assert_eq!(
        now["prediction"][0]["qualitativeRisk"]["coding"][0]["code"],
        "complex"
    );
    app.stop().await;
}
