//! Tenant isolation with real tokens: an EHR client of practice A can reach
//! practice B's data by no path, and can reach its own by every path.

use crate::common;

use common::{TestApp, spawn_app};
use reqwest::Client;
use serde_json::{Value, json};
use tandem::auth::Role;

async fn send(
    c: &Client,
    app: &TestApp,
    m: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = c.request(m, app.url(path));
    if let Some(b) = body {
        r = r
            .header("content-type", "application/fhir+json")
            .body(b.to_string());
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| {
                    Some(format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str()?,
                        e["resource"]["id"].as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn practice_b_reaches_practice_a_by_no_path() {
    let app = spawn_app().await;
    let a = app
        .client_for("ehr-a", Role::Ehr, "practice-a", "system/*.cruds")
        .await;
    let b = app
        .client_for("ehr-b", Role::Ehr, "practice-b", "system/*.cruds")
        .await;
    use reqwest::Method as M;
    let (s, _) = send(
        &a,
        &app,
        M::PUT,
        "Patient/pa",
        Some(json!({"resourceType": "Patient", "id": "pa",
        "identifier": [{"system": "urn:mrn", "value": "A1"}], "name": [{"family": "Alpha"}]})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = send(
        &a,
        &app,
        M::PUT,
        "Observation/oa",
        Some(json!({"resourceType": "Observation", "id": "oa",
        "status": "final", "code": {"text": "phq"}, "subject": {"reference": "Patient/pa"}})),
    )
    .await;
    assert_eq!(s, 201);

    let reads = ["Patient/pa", "Patient/pa/_history/1", "Patient/pa/_history"];
    let searches = [
        "Patient?identifier=urn:mrn|A1",
        "Patient?_id=pa",
        "Observation?_include=Observation:subject",
        "Patient?_revinclude=Observation:subject",
        "Observation?subject.family=Alpha",
        "Observation?subject:Patient.identifier=urn:mrn|A1",
        "Patient?_has:Observation:subject:code:text=phq",
        "Patient/_history",
        "_history",
    ];
    // Allowed: practice A sees its data by every path.
    for p in reads {
        assert_eq!(send(&a, &app, M::GET, p, None).await.0, 200, "A: {p}");
    }
    for p in searches {
        let (s, body) = send(&a, &app, M::GET, p, None).await;
        assert_eq!(s, 200, "A: {p}");
        assert!(!ids(&body).is_empty(), "A finds its own data via {p}");
    }
    // Refused: practice B sees nothing by any of them.
    for p in reads {
        assert_eq!(send(&b, &app, M::GET, p, None).await.0, 404, "B: {p}");
    }
    for p in searches {
        let (s, body) = send(&b, &app, M::GET, p, None).await;
        assert_eq!(s, 200, "B: {p}");
        assert!(ids(&body).is_empty(), "B found A's data via {p}: {body}");
    }
    // B naming A's tenant outright is refused.
    let r = b
        .get(app.url("Patient/pa"))
        .header("x-tandem-tenant", "practice-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Transaction GET entries, conditional create/update, conditional references.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient/pa"}}]});
    let (s, _) = send(&b, &app, M::POST, "", Some(tx.clone())).await;
    assert_eq!(s, 404, "B's transaction cannot read A's patient");
    let (s, _) = send(&a, &app, M::POST, "", Some(tx)).await;
    assert_eq!(s, 200);
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?identifier=urn:mrn|A1"}}]});
    let (_, out) = send(&b, &app, M::POST, "", Some(batch)).await;
    assert_eq!(out["entry"][0]["resource"]["total"], 0, "{out}");
    // Conditional create in B with A's identifier creates B's own patient (no match in A).
    let r = b.post(app.url("Patient")).header("content-type", "application/fhir+json")
        .header("if-none-exist", "identifier=urn:mrn|A1")
        .body(json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "A1"}]}).to_string())
        .send().await.unwrap();
    assert_eq!(r.status(), 201, "no match across tenants");
    let (s, _) = send(
        &b,
        &app,
        M::PUT,
        "Patient?identifier=urn:mrn|A1",
        Some(json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": "A1"}], "name": [{"family": "Bravo"}]})),
    )
    .await;
    assert_eq!(s, 200, "conditional update matches B's own patient only");
    let (_, pa) = send(&a, &app, M::GET, "Patient/pa", None).await;
    assert_eq!(pa["name"][0]["family"], "Alpha", "A's patient untouched");
    // Conditional reference from B resolves within B, never to Patient/pa.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
          "subject": {"reference": "Patient?identifier=urn:mrn|A1"}}, "request": {"method": "POST", "url": "Observation"}}]});
    let (s, out) = send(&b, &app, M::POST, "", Some(tx)).await;
    assert_eq!(s, 200, "{out}");
    let loc = out["entry"][0]["response"]["location"].as_str().unwrap();
    let obs_path = loc.split("/_history").next().unwrap();
    let (_, obs) = send(&b, &app, M::GET, obs_path, None).await;
    assert_ne!(obs["subject"]["reference"], "Patient/pa");
    // Writes by B to A's ids land in B's tenant and leave A's resource alone.
    let (s, _) = send(&b, &app, M::DELETE, "Patient/pa", None).await;
    assert!(s == 200 || s == 204, "{s}");
    assert_eq!(send(&a, &app, M::GET, "Patient/pa", None).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn reporting_and_hie_roles_both_ways() {
    let app = spawn_app().await;
    use reqwest::Method as M;
    let ehr = app
        .client_for("ehr-x", Role::Ehr, "practice-x", "system/*.cruds")
        .await;
    let report = json!({"resourceType": "MeasureReport", "id": "mr1", "status": "complete", "type": "summary",
        "measure": "http://example.org/Measure/cms2", "period": {"start": "2026-01-01", "end": "2026-12-31"}});
    assert_eq!(
        send(
            &ehr,
            &app,
            M::PUT,
            "MeasureReport/mr1",
            Some(report.clone())
        )
        .await
        .0,
        201
    );
    assert_eq!(
        send(
            &ehr,
            &app,
            M::PUT,
            "Patient/px",
            Some(json!({"resourceType": "Patient", "id": "px"}))
        )
        .await
        .0,
        201
    );
    // Reporting (program staff for practice-x): measure outputs only, read-only.
    let rep = app
        .client_for("rep", Role::Reporting, "practice-x", "system/*.rs")
        .await;
    assert_eq!(
        send(&rep, &app, M::GET, "MeasureReport/mr1", None).await.0,
        200
    );
    assert_eq!(send(&rep, &app, M::GET, "MeasureReport", None).await.0, 200);
    assert_eq!(send(&rep, &app, M::GET, "Patient/px", None).await.0, 403);
    assert_eq!(send(&rep, &app, M::GET, "Patient", None).await.0, 403);
    assert_eq!(
        send(&rep, &app, M::PUT, "MeasureReport/mr1", Some(report))
            .await
            .0,
        403
    );
    // HIE: writes land in its own partition and it reads back only those.
    let hie = app
        .client_for("hie-1", Role::Hie, "hie-org", "system/*.crus")
        .await;
    let (s, enc) = send(
        &hie,
        &app,
        M::POST,
        "Encounter",
        Some(json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}})),
    )
    .await;
    assert_eq!(s, 201);
    let path = format!("Encounter/{}", enc["id"].as_str().unwrap());
    assert_eq!(send(&hie, &app, M::GET, &path, None).await.0, 200);
    assert_eq!(send(&ehr, &app, M::GET, &path, None).await.0, 404);
    assert_eq!(send(&hie, &app, M::GET, "Patient/px", None).await.0, 404);
    app.stop().await;
}
