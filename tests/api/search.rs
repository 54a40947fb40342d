//! Search over real HTTP: parameter types, modifiers, prefixes, chains,
//! includes, sorting, paging while writes happen, and result shaping.

use crate::common;

use common::process::{fetch_json, next_link};
use common::{TestApp, spawn_app_with};

/// Search semantics are tested on exactly the seeded resources: derivations
/// (which add a screening result for the seeded PHQ-9 total) are off here.
async fn spawn_app() -> TestApp {
    spawn_app_with(|c| c.derivations.enabled = false).await
}
use serde_json::{Value, json};

async fn ids(app: &TestApp, q: &str) -> Vec<String> {
    let (status, b) = app.get_json(q).await;
    assert_eq!(status, 200, "{q}: {b}");
    let mut out: Vec<String> = b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

async fn seed(app: &TestApp) {
    let put = |v: Value| async move {
        let path = format!(
            "{}/{}",
            v["resourceType"].as_str().unwrap(),
            v["id"].as_str().unwrap()
        );
        assert!(app.put(&path, &v).await.status().is_success());
    };
    put(json!({"resourceType": "Organization", "id": "org1", "identifier": [{"system": "urn:npi", "value": "111"}], "name": "Clinic One"})).await;
    put(json!({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "House"}]})).await;
    put(json!({"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:mrn", "value": "A1"}], "name": [{"family": "Muñoz", "given": ["Ana"]}], "gender": "female", "birthDate": "1980-02-03", "managingOrganization": {"reference": "Organization/org1"}, "generalPractitioner": [{"reference": "Practitioner/dr1"}]})).await;
    put(json!({"resourceType": "Patient", "id": "p2", "identifier": [{"system": "urn:other", "value": "A1"}], "name": [{"family": "Munro", "given": ["Bob"]}], "gender": "male", "birthDate": "1975"})).await;
    put(json!({"resourceType": "Patient", "id": "p3", "name": [{"family": "Smith"}], "gender": "female"})).await;
    let obs = |id: &str, pat: &str, code: &str, when: &str, value: f64, cat: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": cat}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "Test display"}], "text": "Some test"},
               "subject": {"reference": format!("Patient/{pat}")}, "effectiveDateTime": when,
               "valueQuantity": {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})
    };
    put(obs(
        "o1",
        "p1",
        "8480-6",
        "2024-03-01T10:00:00Z",
        120.0,
        "vital-signs",
    ))
    .await;
    put(obs(
        "o2",
        "p1",
        "8480-6",
        "2024-06-15T23:30:00-05:00",
        145.0,
        "vital-signs",
    ))
    .await;
    put(obs("o3", "p2", "44261-6", "2023-12-31", 12.0, "survey")).await;
    put(json!({"resourceType": "Provenance", "id": "prov1", "target": [{"reference": "Patient/p1"}], "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"reference": "Practitioner/dr1"}}]})).await;
}

#[tokio::test]
async fn parameter_types_modifiers_and_prefixes() {
    let app = spawn_app().await;
    seed(&app).await;
    // token
    assert_eq!(ids(&app, "Patient?identifier=A1").await, ["p1", "p2"]);
    assert_eq!(ids(&app, "Patient?identifier=urn:mrn|A1").await, ["p1"]);
    assert_eq!(ids(&app, "Patient?identifier=urn:other|").await, ["p2"]);
    assert_eq!(
        ids(&app, "Patient?identifier=|A1").await,
        Vec::<String>::new()
    );
    assert_eq!(ids(&app, "Patient?gender:not=female").await, ["p2"]);
    assert_eq!(
        ids(&app, "Observation?code:text=test").await,
        ["o1", "o2", "o3"]
    );
    assert_eq!(
        ids(
            &app,
            "Observation?code=http://loinc.org|8480-6,http://loinc.org|44261-6"
        )
        .await,
        ["o1", "o2", "o3"]
    );
    // string: prefix (accent- and case-insensitive), exact, contains
    assert_eq!(ids(&app, "Patient?family=mun").await, ["p1", "p2"]);
    assert_eq!(ids(&app, "Patient?family=MUNOZ").await, ["p1"]);
    assert_eq!(ids(&app, "Patient?family:exact=Muñoz").await, ["p1"]);
    assert_eq!(
        ids(&app, "Patient?family:exact=munoz").await,
        Vec::<String>::new()
    );
    assert_eq!(ids(&app, "Patient?name:contains=nro").await, ["p2"]);
    assert_eq!(ids(&app, "Patient?given=ana").await, ["p1"]);
    // date: partial dates, prefixes, timezones
    assert_eq!(ids(&app, "Patient?birthdate=1980").await, ["p1"]);
    assert_eq!(
        ids(&app, "Patient?birthdate=1975-06-01").await,
        Vec::<String>::new(),
        "1975 is not within one day"
    );
    assert_eq!(ids(&app, "Patient?birthdate=lt1979").await, ["p2"]);
    assert_eq!(
        ids(&app, "Observation?date=ge2024-01-01").await,
        ["o1", "o2"]
    );
    assert_eq!(
        ids(&app, "Observation?date=2024-06-16").await,
        ["o2"],
        "23:30 at -05:00 is the 16th in UTC"
    );
    assert_eq!(ids(&app, "Observation?date=sa2024-03-01").await, ["o2"]);
    assert_eq!(ids(&app, "Observation?date=eb2024-01-01").await, ["o3"]);
    assert_eq!(
        ids(&app, "Observation?date=ge2024-01-01&date=le2024-03-31").await,
        ["o1"]
    );
    assert_eq!(
        ids(&app, "Observation?date=ne2023-12-31").await,
        ["o1", "o2"]
    );
    // quantity
    assert_eq!(ids(&app, "Observation?value-quantity=gt130").await, ["o2"]);
    assert_eq!(
        ids(
            &app,
            "Observation?value-quantity=120|http://unitsofmeasure.org|mm[Hg]"
        )
        .await,
        ["o1"]
    );
    assert_eq!(
        ids(&app, "Observation?value-quantity=120||kg").await,
        Vec::<String>::new()
    );
    assert_eq!(ids(&app, "Observation?value-quantity=le12").await, ["o3"]);
    // reference forms and chains
    assert_eq!(
        ids(&app, "Observation?subject=Patient/p1").await,
        ["o1", "o2"]
    );
    assert_eq!(ids(&app, "Observation?patient=p1").await, ["o1", "o2"]);
    assert_eq!(
        ids(
            &app,
            &format!("Observation?subject={}", app.url("Patient/p2"))
        )
        .await,
        ["o3"]
    );
    assert_eq!(
        ids(&app, "Observation?patient.identifier=urn:mrn|A1").await,
        ["o1", "o2"]
    );
    assert_eq!(
        ids(&app, "Observation?subject:Patient.family=munro").await,
        ["o3"]
    );
    assert_eq!(
        ids(&app, "Patient?general-practitioner=Practitioner/dr1").await,
        ["p1"]
    );
    assert_eq!(
        ids(&app, "Patient?organization.identifier=urn:npi|111").await,
        ["p1"]
    );
    // reverse chaining
    assert_eq!(
        ids(&app, "Patient?_has:Observation:patient:code=44261-6").await,
        ["p2"]
    );
    assert_eq!(
        ids(
            &app,
            "Patient?_has:Observation:subject:value-quantity=gt130"
        )
        .await,
        ["p1"]
    );
    assert_eq!(
        ids(&app, "Patient?_has:Observation:patient:code=0000-0").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.get("Patient?_has:Observation:status:code=x")
            .await
            .status(),
        400
    );
    // POST _search with a form body runs the same search
    let posted: Value = app
        .client
        .post(app.url("Patient/_search"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("family=mun&gender=male")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["total"], 1);
    assert_eq!(posted["entry"][0]["resource"]["id"], "p2");
    // :missing, _id
    assert_eq!(ids(&app, "Patient?birthdate:missing=true").await, ["p3"]);
    assert_eq!(
        ids(&app, "Patient?identifier:missing=false").await,
        ["p1", "p2"]
    );
    assert_eq!(ids(&app, "Patient?_id=p1,p3").await, ["p1", "p3"]);
    // US Core combinations
    assert_eq!(
        ids(
            &app,
            "Observation?patient=p1&category=vital-signs&date=ge2024-06-01"
        )
        .await,
        ["o2"]
    );
    assert_eq!(ids(&app, "Patient?name=smith&gender=female").await, ["p3"]);
    assert_eq!(
        ids(&app, "Patient?name=ana&birthdate=1980-02-03").await,
        ["p1"]
    );
    app.stop().await;
}

#[tokio::test]
async fn lastupdated_sort_summary_elements_includes() {
    let app = spawn_app().await;
    seed(&app).await;
    assert_eq!(
        ids(&app, "Observation?_lastUpdated=gt2000-01-01")
            .await
            .len(),
        3
    );
    assert_eq!(
        ids(&app, "Observation?_lastUpdated=lt2000-01-01")
            .await
            .len(),
        0
    );
    let (_, b) = app.get_json("Observation?_sort=-date").await;
    let order: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["o2", "o1", "o3"]);
    let (_, b) = app.get_json("Observation?_sort=date").await;
    let order: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["o3", "o1", "o2"]);
    let (_, c) = app.get_json("Patient?_summary=count").await;
    assert_eq!(
        (c["total"].as_u64(), c["entry"].as_array().map(Vec::len)),
        (Some(3), Some(0))
    );
    let (_, sum) = app.get_json("Patient?_id=p1&_summary=true").await;
    let r = &sum["entry"][0]["resource"];
    assert_eq!(r["birthDate"], "1980-02-03", "{sum}");
    assert!(
        r.get("generalPractitioner").is_none(),
        "not a summary element of Patient"
    );
    assert_eq!(r["meta"]["tag"][0]["code"], "SUBSETTED");
    let (_, t) = app.get_json("Patient?_total=none").await;
    assert!(t.get("total").is_none());
    let (_, e) = app.get_json("Patient?_id=p1&_elements=gender").await;
    let r = &e["entry"][0]["resource"];
    assert_eq!(r["gender"], "female");
    assert!(r.get("name").is_none());
    assert_eq!(r["meta"]["tag"][0]["code"], "SUBSETTED");
    let (_, inc) = app
        .get_json("Observation?_id=o1&_include=Observation:subject")
        .await;
    let modes: Vec<(String, String)> = inc["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["search"]["mode"].as_str().unwrap().into(),
                e["resource"]["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("match".into(), "o1".into()),
            ("include".into(), "p1".into())
        ]
    );
    let (_, rev) = app
        .get_json("Patient?_id=p1&_revinclude=Provenance:target")
        .await;
    assert!(
        rev["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["search"]["mode"] == "include" && e["resource"]["id"] == "prov1")
    );
    let (_, rev2) = app
        .get_json("Patient?_id=p1&_revinclude=Observation:patient")
        .await;
    assert_eq!(rev2["entry"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn paging_stays_correct_while_writes_happen() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.put(
            &format!("Patient/pg{i:02}"),
            &json!({"resourceType": "Patient", "id": format!("pg{i:02}"), "gender": "other"}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let (_, mut page) = app.get_json("Patient?gender=other&_count=10").await;
    assert_eq!(page["total"], 25);
    let mut round = 0;
    loop {
        seen.extend(
            page["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string()),
        );
        // Between pages: update an already-seen resource, delete nothing, add a new one.
        round += 1;
        app.put(&format!("Patient/pg{:02}", round - 1), &json!({"resourceType": "Patient", "id": format!("pg{:02}", round - 1), "gender": "other", "active": true})).await;
        app.put(
            &format!("Patient/new{round}"),
            &json!({"resourceType": "Patient", "id": format!("new{round}"), "gender": "other"}),
        )
        .await;
        let Some(next) = next_link(&page) else {
            break;
        };
        page = fetch_json(&app.client, &next).await;
    }
    let original: Vec<String> = seen
        .iter()
        .filter(|s| s.starts_with("pg"))
        .cloned()
        .collect();
    let mut dedup = original.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(
        original.len(),
        25,
        "every original resource exactly once: {seen:?}"
    );
    assert_eq!(dedup.len(), 25);
    assert_eq!(app.get("Patient?_cursor=garbage").await.status(), 400);
    app.stop().await;
}
