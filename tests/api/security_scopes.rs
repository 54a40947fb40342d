//! Item 10: a scope-restricted client's counts, `_has`, chains and
//! `_include` are evaluated only over what its scopes permit, or refused;
//! an unrestricted client gets the same queries answered in full.

use crate::common;

use common::TestApp;
use common::process::fetch_json;
use reqwest::Client;
use serde_json::{Value, json};
use tandem::auth::Role;

const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

async fn seed(app: &TestApp) {
    app.put(
        "Patient/p1",
        &json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]}),
    )
    .await;
    let obs = |cat: &str, code: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": cat}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/p1"}})
    };
    for (cat, code) in [
        ("vital-signs", "8867-4"),
        ("vital-signs", "8480-6"),
        ("laboratory", "4548-4"),
        ("laboratory", "2093-3"),
        ("laboratory", "4548-4"),
    ] {
        app.create(&obs(cat, code)).await;
    }
    app.create(
        &json!({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}}),
    )
    .await;
}

async fn status_and_body(c: &Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn restricted_scopes_bound_counts_has_chains_and_includes() {
    let app = common::spawn_app().await;
    seed(&app).await;
    let vitals = app
        .client_for(
            "vitals",
            Role::Ehr,
            "default",
            "system/Observation.rs?category=vital-signs system/Patient.rs",
        )
        .await;
    let full = app
        .client_for(
            "full",
            Role::Ehr,
            "default",
            "system/Observation.rs system/Patient.rs system/Condition.rs",
        )
        .await;
    // Counts: only the permitted subset (5 Observations, 2 vital signs).
    for (q, want_full, want_vitals) in [
        ("Observation?_summary=count", 5, 2),
        ("Observation?_total=accurate&patient=p1", 5, 2),
        ("Observation?_summary=count&code=4548-4", 2, 0),
    ] {
        let b = fetch_json(&full, &app.url(q)).await;
        assert_eq!(b["total"], want_full, "{q} unrestricted: {b}");
        let b = fetch_json(&vitals, &app.url(q)).await;
        assert_eq!(b["total"], want_vitals, "{q} restricted: {b}");
    }
    // _has into a restricted type and into a type without any scope: refused.
    for q in [
        "Patient?_has:Observation:subject:code=4548-4",
        "Patient?_has:Condition:subject:code=44054006",
    ] {
        let (s, b) = status_and_body(&vitals, app.url(q)).await;
        assert_eq!(s, 403, "{q}: {b}");
        assert_eq!(b["resourceType"], "OperationOutcome");
        let b = fetch_json(&full, &app.url(q)).await;
        assert_eq!(
            b["entry"][0]["resource"]["id"], "p1",
            "{q} unrestricted: {b}"
        );
    }
    // A chain into an unrestricted type is fine and still only shows the
    // permitted Observations; a chain from Patient into Observation is not.
    let b = fetch_json(
        &vitals,
        &app.url("Observation?subject.family=Smith&_total=accurate"),
    )
    .await;
    assert_eq!(b["total"], 2, "{b}");
    let (s, _) = status_and_body(&vitals, app.url("Condition?subject.family=Smith")).await;
    assert_eq!(s, 403, "no Condition scope at all");
    // _revinclude of Observations brings only the permitted ones.
    let b = fetch_json(
        &vitals,
        &app.url("Patient?_id=p1&_revinclude=Observation:subject"),
    )
    .await;
    let included: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .collect();
    assert_eq!(included.len(), 2, "{b}");
    assert!(
        included
            .iter()
            .all(|e| e["resource"]["category"][0]["coding"][0]["code"] == "vital-signs")
    );
    app.stop().await;
}

#[tokio::test]
async fn several_restrictions_give_no_total_and_refuse_counts() {
    let app = common::spawn_app().await;
    seed(&app).await;
    let two = app
        .client_for(
            "two-subsets",
            Role::Ehr,
            "default",
            "system/Observation.rs?category=vital-signs system/Observation.rs?code=2093-3",
        )
        .await;
    let b = fetch_json(&two, &app.url("Observation?_total=accurate")).await;
    let shown = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    assert_eq!(shown, 3, "two vital signs and the one 2093-3: {b}");
    assert!(b.get("total").is_none(), "{b}");
    let (s, b) = status_and_body(&two, app.url("Observation?_summary=count")).await;
    assert_eq!(s, 403, "{b}");
    app.stop().await;
}
