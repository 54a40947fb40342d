//! Payer attribution lists in (issue 27, first part): a payer sends Da Vinci
//! ATR Groups only to the practices `[[payers]]` names, reads back what it
//! sent and nothing else; a Group that is not an attribution list, or whose
//! members name Patients the practice does not have, is refused whole; each
//! month's list is a new version of its Group.

use crate::common;

use common::process::fetch_json;
use common::{TestApp, spawn_app_with};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::rules::attribution::{ATR_PROFILE, Payer};

const PRACTICE: &str = "practice-a";

async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.payers = vec![Payer {
            id: "acme-health".into(),
            name: None,
            tenants: vec![PRACTICE.into()],
        }];
    })
    .await
}

fn list(members: Value) -> Value {
    json!({"resourceType": "Group", "id": "atr-acme", "meta": {"profile": [ATR_PROFILE]},
        "identifier": [{"system": "urn:acme:contract", "value": "C-1"}],
        "type": "person", "actual": true, "name": "Acme attribution list", "member": members})
}

async fn send(
    c: &Client,
    app: &TestApp,
    tenant: &str,
    m: Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = c
        .request(m, app.url(path))
        .header("x-tandem-tenant", tenant)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn payers_send_attribution_lists_to_the_practices_they_serve() {
    let app = spawn().await;
    let ehr = app
        .client_for("ehr-a", Role::Ehr, PRACTICE, "system/*.cruds")
        .await;
    let payer = app
        .client_for("acme-1", Role::Payer, "acme-health", "system/Group.crus")
        .await;
    let r = ehr
        .put(app.url("Patient/p1"))
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Patient", "id": "p1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let members = json!([
        {"entity": {"identifier": {"system": "urn:medicaid:co", "value": "M0001"}}},
        {"entity": {"reference": "Patient/p1"}}]);
    let (s, b) = send(
        &payer,
        &app,
        PRACTICE,
        Method::PUT,
        "Group/atr-acme",
        &list(members.clone()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    // Next month's list is a new version; both are kept.
    let mut next = list(members);
    next["member"]
        .as_array_mut()
        .unwrap()
        .push(json!({"entity": {"identifier": {"system": "urn:medicaid:co", "value": "M0002"}}}));
    let (s, _) = send(&payer, &app, PRACTICE, Method::PUT, "Group/atr-acme", &next).await;
    assert_eq!(s, 200);
    let history = fetch_json(&ehr, &app.url("Group/atr-acme/_history")).await;
    assert_eq!(history["total"], 2, "{history}");
    // The payer reads back its list, nothing else of the practice.
    let (s, _) = send(
        &payer,
        &app,
        PRACTICE,
        Method::GET,
        "Group/atr-acme",
        &Value::Null,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(
        &payer,
        &app,
        PRACTICE,
        Method::GET,
        "Patient/p1",
        &Value::Null,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = send(
        &ehr,
        &app,
        PRACTICE,
        Method::GET,
        "Group/atr-acme",
        &Value::Null,
    )
    .await;
    assert_eq!(s, 200, "the practice reads the lists sent to it");
    // A practice the payer does not serve: 403, nothing stored.
    let (s, b) = send(
        &payer,
        &app,
        "practice-b",
        Method::PUT,
        "Group/atr-b",
        &list(json!([])),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("payers")
    );
    app.stop().await;
}

#[tokio::test]
async fn lists_tandem_cannot_reconcile_are_refused_whole() {
    let app = spawn().await;
    let ehr = app
        .client_for("ehr-a", Role::Ehr, PRACTICE, "system/*.cruds")
        .await;
    let payer = app
        .client_for("acme-1", Role::Payer, "acme-health", "system/Group.crus")
        .await;
    let mut not_atr = list(json!([]));
    not_atr["meta"] = json!({});
    let mut devices = list(json!([]));
    devices["type"] = json!("device");
    for (why, body) in [
        ("not an attribution list", not_atr),
        ("not a Group of persons", devices),
        (
            "a member on another server",
            list(json!([{"entity": {"reference": "http://other.example/fhir/Patient/9"}}])),
        ),
        (
            "a member this practice does not have",
            list(json!([{"entity": {"reference": "Patient/nobody"}}])),
        ),
        (
            "a member without an id",
            list(json!([{"entity": {"display": "J. Doe"}}])),
        ),
    ] {
        let (s, b) = send(&payer, &app, PRACTICE, Method::PUT, "Group/atr-acme", &body).await;
        assert_eq!(s, 422, "{why}: {b}");
        assert_eq!(b["resourceType"], "OperationOutcome", "{why}");
    }
    let (s, _) = send(
        &ehr,
        &app,
        PRACTICE,
        Method::GET,
        "Group/atr-acme",
        &Value::Null,
    )
    .await;
    assert_eq!(s, 404, "nothing stored");
    // The same checks hold for an ATR list the practice loads itself.
    let bad = list(json!([{"entity": {"reference": "Patient/nobody"}}]));
    let (s, _) = send(&ehr, &app, PRACTICE, Method::PUT, "Group/atr-acme", &bad).await;
    assert_eq!(s, 422);
    // Other Groups of the practice are not attribution lists and pass.
    let team =
        json!({"resourceType": "Group", "id": "team", "type": "practitioner", "actual": true});
    let (s, _) = send(&ehr, &app, PRACTICE, Method::PUT, "Group/team", &team).await;
    assert_eq!(s, 201);
    app.stop().await;
}
