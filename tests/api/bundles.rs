//! Transaction and batch Bundles over HTTP.

use crate::common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn entry(full_url: &str, resource: Value, method: &str, url: &str) -> Value {
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": method, "url": url}})
}

#[tokio::test]
async fn transaction_resolves_urns_and_conditional_references() {
    let app = spawn_app().await;
    app.put("Organization/org1", &json!({"resourceType": "Organization", "id": "org1", "identifier": [{"system": "urn:npi", "value": "999"}]})).await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:obs-1", json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "urn:uuid:pat-1"}, "performer": [{"reference": "Organization?identifier=urn:npi|999"}]}), "POST", "Observation"),
        entry("urn:uuid:pat-1", json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "T1"}],
            "managingOrganization": {"reference": "Organization?identifier=urn:npi|999"}, "contained": [{"resourceType": "Practitioner", "id": "c1"}],
            "generalPractitioner": [{"reference": "#c1"}]}), "POST", "Patient"),
    ]});
    let r = app.post("", &bundle).await;
    assert_eq!(r.status(), StatusCode::OK);
    let resp: Value = r.json().await.unwrap();
    assert_eq!(resp["type"], "transaction-response");
    assert_eq!(resp["entry"][0]["response"]["status"], "201 Created");
    assert!(resp["entry"][0]["response"]["etag"].is_string());
    let pat_loc = resp["entry"][1]["response"]["location"].as_str().unwrap();
    let pat_id = pat_loc.split('/').rev().nth(2).unwrap();
    let (_, obs) = app
        .get_json(&format!("Observation?subject=Patient/{pat_id}"))
        .await;
    assert_eq!(
        obs["total"], 1,
        "urn:uuid reference rewritten to the new Patient id"
    );
    assert_eq!(
        obs["entry"][0]["resource"]["performer"][0]["reference"],
        "Organization/org1"
    );
    let (_, pat) = app.get_json(&format!("Patient/{pat_id}")).await;
    assert_eq!(
        pat["managingOrganization"]["reference"],
        "Organization/org1"
    );
    assert_eq!(
        pat["generalPractitioner"][0]["reference"], "#c1",
        "contained references untouched"
    );
    app.stop().await;
}

#[tokio::test]
async fn transaction_is_all_or_nothing() {
    let app = spawn_app().await;
    let before = app.history_total().await;
    for bad in [
        // an invalid resource
        json!({"resourceType": "Patient", "active": "yes"}),
        // a conditional reference that matches nothing
        json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization?identifier=urn:npi|none"}}),
    ] {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("urn:uuid:a", json!({"resourceType": "Patient", "gender": "male"}), "POST", "Patient"),
            entry("urn:uuid:b", bad, "POST", "Patient"),
        ]});
        let r = app.post("", &bundle).await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let oo: Value = r.json().await.unwrap();
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("Bundle.entry[1]"),
            "{oo}"
        );
    }
    // If-Match conflict inside a transaction also rolls everything back.
    app.put("Patient/x", &json!({"resourceType": "Patient", "id": "x"}))
        .await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:a", json!({"resourceType": "Patient", "gender": "male"}), "POST", "Patient"),
        {"resource": {"resourceType": "Patient", "id": "x", "gender": "female"}, "request": {"method": "PUT", "url": "Patient/x", "ifMatch": "W/\"7\""}},
    ]});
    assert_eq!(
        app.post("", &bundle).await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.history_total().await,
        before + 1,
        "only the separate PUT is stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn transaction_order_conditional_entries_and_get() {
    let app = spawn_app().await;
    app.put(
        "Patient/old",
        &json!({"resourceType": "Patient", "id": "old"}),
    )
    .await;
    app.put("Patient/keep", &json!({"resourceType": "Patient", "id": "keep", "identifier": [{"system": "s", "value": "k"}]})).await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient?identifier=s|new"}},
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "s", "value": "k"}]}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=s|k"}},
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "s", "value": "new"}]}, "request": {"method": "PUT", "url": "Patient?identifier=s|new"}},
        {"request": {"method": "DELETE", "url": "Patient/old"}},
    ]});
    let resp: Value = app.post("", &bundle).await.json().await.unwrap();
    assert_eq!(resp["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(
        resp["entry"][0]["resource"]["total"], 1,
        "GET runs after the PUT"
    );
    assert_eq!(
        resp["entry"][1]["response"]["status"], "200 OK",
        "ifNoneExist matched"
    );
    assert_eq!(resp["entry"][2]["response"]["status"], "201 Created");
    assert_eq!(resp["entry"][3]["response"]["status"], "204 No Content");
    assert_eq!(app.get("Patient/old").await.status(), StatusCode::GONE);
    app.stop().await;
}

#[tokio::test]
async fn batch_entries_are_independent() {
    let app = spawn_app().await;
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "id": "b1"}, "request": {"method": "PUT", "url": "Patient/b1"}},
        {"resource": {"resourceType": "Patient", "active": "nope"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/b1"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
    ]});
    let r = app.post("", &bundle).await;
    assert_eq!(r.status(), StatusCode::OK);
    let resp: Value = r.json().await.unwrap();
    let statuses: Vec<&str> = resp["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "201 Created",
            "400 Bad Request",
            "200 OK",
            "404 Not Found",
            "201 Created"
        ]
    );
    assert_eq!(
        resp["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(app.history_total().await, 2);
    let not_bundle = app
        .post("", &json!({"resourceType": "Bundle", "type": "collection"}))
        .await;
    assert_eq!(not_bundle.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// A resource naming a patient on another server is stored as sent, and the
/// sender is told it is in no patient's compartment here — on a single
/// write, in both transaction paths, and in a batch (whose entries do not
/// resolve each other's fullUrls). References a transaction resolves are
/// not warned about.
#[tokio::test]
async fn a_patient_on_another_server_is_stored_with_a_warning_on_every_write_path() {
    let app = spawn_app().await;
    let foreign = "http://GoodHealthcare.com/fhir/Patient/46464646";
    let order = |subject: &str| {
        json!({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "code": {"text": "hospice"}, "subject": {"reference": subject}})
    };
    let warns = |outcome: &Value| outcome.to_string().contains("another server");

    // A single create: the warning is the response (no Prefer given).
    let r = app.post("ServiceRequest", &order(foreign)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "warning", "{outcome}");
    assert!(outcome.to_string().contains(foreign), "{outcome}");
    let path = location.split("/_history").next().unwrap();
    let path = &path[path.find("ServiceRequest/").unwrap()..];
    let (_, stored) = app.get_json(path).await;
    assert_eq!(stored["subject"]["reference"], foreign, "stored as sent");
    // Ours: no warning.
    let ours = app.create(&json!({"resourceType": "Patient"})).await;
    let r = app
        .post(
            "ServiceRequest",
            &order(&format!("Patient/{}", ours["id"].as_str().unwrap())),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "ServiceRequest", "{body}");

    // Transactions: POST-only (the fast path) and with a PUT (the general
    // path). An absolute fullUrl in the Bundle is resolved, not foreign.
    let local = "https://ehr.example/fhir/Patient/p-1";
    for (method, url) in [("POST", "Patient"), ("PUT", "Patient/p-1")] {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry(local, json!({"resourceType": "Patient", "id": "p-1"}), method, url),
            entry("urn:uuid:a", order(local), "POST", "ServiceRequest"),
            entry("urn:uuid:b", order(foreign), "POST", "ServiceRequest"),
        ]});
        let resp: Value = app.post("", &bundle).await.json().await.unwrap();
        let e = resp["entry"].as_array().unwrap();
        assert_eq!(e.len(), 3, "{resp}");
        assert!(!warns(&e[0]) && !warns(&e[1]), "{method}: {resp}");
        assert!(warns(&e[2]["response"]["outcome"]), "{method}: {resp}");
        assert_eq!(e[2]["response"]["status"], "201 Created");
    }
    // A batch does not resolve fullUrls between entries: both are foreign.
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        entry(local, json!({"resourceType": "Patient", "id": "p-2"}), "PUT", "Patient/p-2"),
        entry("urn:uuid:c", order(local), "POST", "ServiceRequest"),
    ]});
    let resp: Value = app.post("", &bundle).await.json().await.unwrap();
    assert!(warns(&resp["entry"][1]["response"]["outcome"]), "{resp}");
    assert!(!warns(&resp["entry"][0]), "{resp}");
    app.stop().await;
}
