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

/// The practice's EHR client and the payer's client.
async fn clients(app: &TestApp) -> (Client, Client) {
    let ehr = app
        .client_for("ehr-a", Role::Ehr, PRACTICE, "system/*.cruds")
        .await;
    let payer = app
        .client_for("acme-1", Role::Payer, "acme-health", "system/Group.crus")
        .await;
    (ehr, payer)
}

/// The status of a GET by `c` in the practice.
async fn read(c: &Client, app: &TestApp, path: &str) -> u16 {
    send(c, app, PRACTICE, Method::GET, path, &Value::Null)
        .await
        .0
}

/// The `$attribution` report's one list.
pub fn only_list(report: &Value) -> Value {
    let lists: Vec<&Value> = report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "list")
        .collect();
    assert_eq!(lists.len(), 1, "{report}");
    lists[0].clone()
}

/// A part of a list by name (Null when absent).
pub fn figure(list: &Value, name: &str) -> Value {
    list["part"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The patients (`Patient/…`) or member ids behind a figure, in order.
pub fn people(list: &Value, name: &str) -> Vec<String> {
    figure(list, &format!("{name}List"))["resource"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["item"]["reference"].as_str() {
            Some(r) => r.to_string(),
            None => e["item"]["identifier"]["value"]
                .as_str()
                .unwrap()
                .to_string(),
        })
        .collect()
}

#[tokio::test]
async fn payers_send_attribution_lists_to_the_practices_they_serve() {
    let app = spawn().await;
    let (ehr, payer) = clients(&app).await;
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
    let s = read(&payer, &app, "Group/atr-acme").await;
    assert_eq!(s, 200);
    let s = read(&payer, &app, "Patient/p1").await;
    assert_eq!(s, 403);
    let s = read(&ehr, &app, "Group/atr-acme").await;
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
    let (ehr, payer) = clients(&app).await;
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
    let s = read(&ehr, &app, "Group/atr-acme").await;
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

/// `$attribution`: the list in effect at the month's end against the
/// panel, hand-worked: a (PCP here, on the list by member id), b (no PCP,
/// on the list), c (a PCP elsewhere, on the list by reference), d (care
/// team here, not on the list), e (nothing); member M9 is nobody here.
#[tokio::test]
async fn the_attribution_report_reconciles_the_list_with_the_panel() {
    let app = spawn().await;
    let (ehr, payer) = clients(&app).await;
    let medicaid = |v: &str| json!([{"system": "urn:medicaid:co", "value": v}]);
    let pcp = "http://snomed.info/sct";
    for r in [
        json!({"resourceType": "Practitioner", "id": "dr1"}),
        json!({"resourceType": "Patient", "id": "a", "identifier": medicaid("M1"), "generalPractitioner": [{"reference": "Practitioner/dr1"}]}),
        json!({"resourceType": "Patient", "id": "b", "identifier": medicaid("M2")}),
        json!({"resourceType": "Patient", "id": "c", "identifier": medicaid("M3"), "generalPractitioner": [{"reference": "Practitioner/elsewhere"}]}),
        json!({"resourceType": "Patient", "id": "d", "identifier": medicaid("M4")}),
        json!({"resourceType": "Patient", "id": "e", "identifier": medicaid("M5")}),
        json!({"resourceType": "CareTeam", "id": "team-d", "status": "active", "subject": {"reference": "Patient/d"},
               "participant": [{"member": {"reference": "Practitioner/dr1"}, "role": [{"coding": [{"system": pcp, "code": "446050000"}]}]}]}),
    ] {
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let (s, b) = send(&ehr, &app, PRACTICE, Method::PUT, &path, &r).await;
        assert_eq!(s, 201, "{b}");
    }
    let members = json!([
        {"entity": {"identifier": {"system": "urn:medicaid:co", "value": "M1"}}},
        {"entity": {"identifier": {"system": "urn:medicaid:co", "value": "M2"}}},
        {"entity": {"reference": "Patient/c"}},
        {"entity": {"identifier": {"system": "urn:medicaid:co", "value": "M9"}}}]);
    let (s, _) = send(
        &payer,
        &app,
        PRACTICE,
        Method::PUT,
        "Group/atr-acme",
        &list(members),
    )
    .await;
    assert_eq!(s, 201);
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    let url = |m: &str| app.url(&format!("Organization/{PRACTICE}/$attribution?month={m}"));
    let report = fetch_json(&ehr, &url(&this_month)).await;
    let list = only_list(&report);
    for (name, n, who) in [
        ("attributed", 4, vec![]),
        ("matched", 3, vec!["Patient/a", "Patient/b", "Patient/c"]),
        ("concordant", 1, vec!["Patient/a"]),
        ("attributedNotEmpaneled", 2, vec!["Patient/b", "Patient/c"]),
        ("empaneledNotAttributed", 1, vec!["Patient/d"]),
        ("otherPractice", 1, vec!["Patient/c"]),
        ("unmatched", 1, vec!["M9"]),
    ] {
        assert_eq!(figure(&list, name)["valueInteger"], n, "{name}: {report}");
        if !who.is_empty() {
            assert_eq!(people(&list, name), who, "{name}");
        }
    }
    assert_eq!(
        figure(&list, "received")["valueString"],
        this_month.as_str()
    );
    // Before the list arrived, no list was in effect.
    let earlier = fetch_json(&ehr, &url("2020-01")).await;
    assert!(
        earlier["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "list"),
        "{earlier}"
    );
    // A practice user marks the month's reconciliation reviewed: who and
    // when show on the report; the payer cannot, and a month without the
    // list in effect has nothing to review.
    let review =
        |m: &str| format!("Organization/{PRACTICE}/$attribution-review?group=atr-acme&month={m}");
    let (s, b) = send(
        &ehr,
        &app,
        PRACTICE,
        Method::POST,
        &review(&this_month),
        &Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let reviewed = figure(
        &only_list(&fetch_json(&ehr, &url(&this_month)).await),
        "reviewed",
    );
    assert_eq!(reviewed["part"][0]["valueString"], "ehr-a", "{reviewed}");
    assert!(reviewed["part"][1]["valueDateTime"].is_string());
    let (s, _) = send(
        &payer,
        &app,
        PRACTICE,
        Method::POST,
        &review(&this_month),
        &Value::Null,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = send(
        &ehr,
        &app,
        PRACTICE,
        Method::POST,
        &review("2020-01"),
        &Value::Null,
    )
    .await;
    assert_eq!(s, 404);
    // Bad month: 400; the payer cannot read the practice's reconciliation.
    let s = read(
        &ehr,
        &app,
        &format!("Organization/{PRACTICE}/$attribution?month=2026-13"),
    )
    .await;
    assert_eq!(s, 400);
    let s = read(
        &payer,
        &app,
        &format!("Organization/{PRACTICE}/$attribution"),
    )
    .await;
    assert!(s == 403 || s == 404, "{s}");
    app.stop().await;
}

/// A member the payer sends as a record contained in the list (its own
/// member id, name, birth date, gender) is matched by the demographic rule
/// `$process-message` uses — when `[transitions] demographic_match` is on,
/// and only to the one patient who has those demographics.
#[tokio::test]
async fn contained_members_match_by_the_demographic_rule_when_it_is_on() {
    for on in [false, true] {
        let app = spawn_app_with(|c| {
            c.payers = vec![Payer {
                id: "acme-health".into(),
                name: None,
                tenants: vec![PRACTICE.into()],
            }];
            c.transitions.demographic_match = on;
        })
        .await;
        let (ehr, payer) = clients(&app).await;
        let person = |id: &str, family: &str| {
            json!({"resourceType": "Patient", "id": id, "name": [{"family": family, "given": ["Ana"]}],
                   "birthDate": "1980-02-03", "gender": "female"})
        };
        for p in [
            person("a", "Rivera"),
            person("t1", "Twin"),
            person("t2", "Twin"),
        ] {
            let path = format!("Patient/{}", p["id"].as_str().unwrap());
            assert_eq!(
                send(&ehr, &app, PRACTICE, Method::PUT, &path, &p).await.0,
                201
            );
        }
        let record = |id: &str, family: &str| {
            let mut r = person(id, family);
            r["identifier"] = json!([{"system": "urn:acme:member", "value": format!("X-{id}")}]);
            r
        };
        let mut group =
            list(json!([{"entity": {"reference": "#m1"}}, {"entity": {"reference": "#m2"}}]));
        group["contained"] = json!([record("m1", "Rivera"), record("m2", "Twin")]);
        let (s, b) = send(
            &payer,
            &app,
            PRACTICE,
            Method::PUT,
            "Group/atr-acme",
            &group,
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        let report = fetch_json(
            &ehr,
            &app.url(&format!(
                "Organization/{PRACTICE}/$attribution?month={month}"
            )),
        )
        .await;
        let l = only_list(&report);
        let (matched, unmatched) = (people(&l, "matched"), people(&l, "unmatched"));
        if on {
            assert_eq!(matched, ["Patient/a"], "{l}");
            assert_eq!(unmatched, ["X-m2"], "the twins decide nothing");
        } else {
            assert!(matched.is_empty(), "{l}");
            assert_eq!(unmatched, ["X-m1", "X-m2"]);
        }
        // A member naming a record the list does not contain: refused
        // (FHIR's own rule for contained references), nothing stored.
        let mut bad = group.clone();
        bad["member"] = json!([{"entity": {"reference": "#m9"}}]);
        let (s, oo) = send(&payer, &app, PRACTICE, Method::PUT, "Group/atr-acme", &bad).await;
        assert_eq!(
            (s, oo["resourceType"].as_str()),
            (400, Some("OperationOutcome")),
            "{oo}"
        );
        let (_, stored) = send(
            &payer,
            &app,
            PRACTICE,
            Method::GET,
            "Group/atr-acme",
            &Value::Null,
        )
        .await;
        assert_eq!(stored["meta"]["versionId"], "1");
        app.stop().await;
    }
}
