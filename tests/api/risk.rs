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

#[tokio::test]
async fn generated_patients_land_in_the_generators_tiers() {
    let (app, _dir, root) = generated_practice().await;
    let answers: Vec<Value> = ndjson(&root, "answers.ndjson")
        .into_iter()
        .filter(|a| a["practice"] == "practice-0")
        .collect();
    // Each own patient's notifications, in the order the HIE sends them.
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
    let url = app.url(&format!("Organization/practice-0/$risk-registry?date={on}"));
    for (org, c) in app.overseers().await {
        let r = c
            .get(&url)
            .header("x-tandem-tenant", "practice-0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{org}");
        let b: Value = r.json().await.unwrap();
        assert!(
            b.to_string().contains("\"count\"") && !b.to_string().contains("Patient/"),
            "{org}: {b}"
        );
    }
    for (id, role, org, want) in [
        ("acme-1", Role::Payer, "acme-health", 403),
        ("bh-1", Role::BhPartner, "bh-org", 403),
    ] {
        let c = app.client_for(id, role, org, "system/*.rs").await;
        let r = c
            .get(&url)
            .header("x-tandem-tenant", "practice-0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{id}");
    }
    let (s, oo) = app
        .get_json("Organization/practice-0/$risk-registry?date=soon")
        .await;
    assert_eq!(
        (s.as_u16(), oo["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );
    app.stop().await;
}
