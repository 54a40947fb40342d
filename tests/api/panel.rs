//! PCP assignment changes (BB3.Y1.3) over HTTP on a generated practice:
//! each write that changes a patient's PCP is recorded with who, when and
//! from what to what, in the same transaction (a refused write records
//! nothing); a practice user confirms; the milestone counts confirmed
//! changes; overseers see counts, payers and partners nothing.

use crate::attribution_generated::generated_practice;
use crate::common;
use crate::milestones::milestone;

use common::part;
use reqwest::Client;
use serde_json::{Value, json};
use tandem::auth::Role;

const ORG: &str = "Organization/practice-0";

async fn post(c: &Client, app: &common::TestApp, path: &str) -> (u16, Value) {
    let r = c
        .post(app.url(path))
        .header("x-tandem-tenant", "practice-0")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A top-level parameter's integer.
fn count(report: &Value, name: &str) -> Value {
    report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map_or(Value::Null, |p| p["valueInteger"].clone())
}

fn changes(report: &Value) -> Vec<Value> {
    report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "change")
        .cloned()
        .collect()
}

fn refs(change: &Value, name: &str) -> Vec<String> {
    change["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| {
            p["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn pcp_changes_are_recorded_listed_and_confirmed() {
    let (app, _dir, root) = generated_practice().await;
    // A generated patient with a PCP, moved to another of the practice's
    // clinicians. Registration (version 1) was not a change.
    let a = common::population::ndjson(&root, "answers.ndjson")
        .into_iter()
        .find(|a| a["practice"] == "practice-0" && !a["continuity"].is_null())
        .unwrap();
    let id = a["patient"].as_str().unwrap();
    let was = a["continuity"]["pcp"].as_str().unwrap();
    let now = if was == "Practitioner/prac-0-0" {
        "Practitioner/prac-0-1"
    } else {
        "Practitioner/prac-0-0"
    };
    let (_, report) = app.get_json(&format!("{ORG}/$panel-changes")).await;
    assert_eq!(count(&report, "changes"), 0, "{report}");
    let (_, mut patient) = app.get_json(&format!("Patient/{id}")).await;
    patient["generalPractitioner"] = json!([{ "reference": now }]);
    for _ in 0..2 {
        // The second PUT changes nothing: no second change.
        let r = app.put(&format!("Patient/{id}"), &patient).await;
        assert_eq!(r.status(), 200);
    }
    // A transaction refused after the change was recorded (its attribution
    // list names a patient the practice does not have) records nothing.
    let mut back = patient.clone();
    back["generalPractitioner"] = json!([{ "reference": was }]);
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": back, "request": {"method": "PUT", "url": format!("Patient/{id}")}},
        {"resource": {"resourceType": "Group", "meta": {"profile": [tandem::rules::attribution::ATR_PROFILE]},
            "type": "person", "actual": true, "member": [{"entity": {"reference": "Patient/nobody"}}]},
         "request": {"method": "POST", "url": "Group"}}]});
    let r = app.post("", &bad).await;
    assert_eq!(r.status(), 422);
    // A care team naming a PCP is a change too.
    let team = json!({"resourceType": "CareTeam", "status": "active", "subject": {"reference": format!("Patient/{id}")},
        "participant": [{"member": {"reference": was}, "role": [{"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PCP"}]}]}]});
    assert_eq!(app.post("CareTeam", &team).await.status(), 201);

    let (status, report) = app.get_json(&format!("{ORG}/$panel-changes")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(count(&report, "changes"), 2, "{report}");
    assert_eq!(count(&report, "confirmed"), 0);
    let listed = changes(&report);
    assert_eq!(refs(&listed[0], "from"), [was]);
    assert_eq!(refs(&listed[0], "to"), [now]);
    assert_eq!(
        refs(&listed[0], "version"),
        [format!("Patient/{id}/_history/2")]
    );
    assert_eq!(part(&listed[0], "by")["valueString"], "test-ehr");
    assert!(refs(&listed[1], "from").is_empty());
    assert_eq!(refs(&listed[1], "to"), [was]);
    for c in &listed {
        assert_eq!(refs(c, "patient"), [format!("Patient/{id}")]);
    }
    let bb3 = |r: &Value| milestone(r, "BB3.Y1.3").clone();
    let year1 = format!("{ORG}/$milestones?projectYear=1");
    let m = bb3(&app.get_json(&year1).await.1);
    assert_eq!(
        (
            part(&m, "numerator")["valueInteger"].clone(),
            part(&m, "denominator")["valueInteger"].clone()
        ),
        (json!(0), json!(2)),
        "{m}"
    );
    assert_ne!(part(&m, "status")["valueCode"], "met");

    // Overseers: counts, not the changes; they cannot confirm. Payers and
    // partners: nothing.
    for b in app
        .overseers_see_numbers_only(&format!("{ORG}/$panel-changes"))
        .await
    {
        assert_eq!(count(&b, "changes"), 2);
        assert!(changes(&b).is_empty(), "{b}");
    }
    for (_, c) in app.overseers().await {
        assert_eq!(
            post(&c, &app, &format!("{ORG}/$panel-confirm?patient={id}"))
                .await
                .0,
            403
        );
    }
    for (cid, role, org) in [
        ("acme-1", Role::Payer, "acme-health"),
        ("bh-1", Role::BhPartner, "bh-org"),
    ] {
        let c = app.client_for(cid, role, org, "system/*.cruds").await;
        let r = c
            .get(app.url(&format!("{ORG}/$panel-changes")))
            .header("x-tandem-tenant", "practice-0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{cid}");
        assert_eq!(
            post(&c, &app, &format!("{ORG}/$panel-confirm?patient={id}"))
                .await
                .0,
            403,
            "{cid}"
        );
    }
    // Bad input changes nothing.
    assert_eq!(
        post(&app.client, &app, &format!("{ORG}/$panel-confirm"))
            .await
            .0,
        400
    );
    let (s, oo) = post(
        &app.client,
        &app,
        &format!("{ORG}/$panel-confirm?patient=nobody"),
    )
    .await;
    assert_eq!(
        (s, oo["resourceType"].as_str()),
        (404, Some("OperationOutcome"))
    );
    assert_eq!(
        app.get_json(&format!("{ORG}/$panel-changes?start=yesterday"))
            .await
            .0,
        400
    );

    // The practice confirms: both changes, once.
    let (s, done) = post(
        &app.client,
        &app,
        &format!("{ORG}/$panel-confirm?patient=Patient/{id}"),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(count(&done, "confirmed"), 2, "{done}");
    let (_, again) = post(
        &app.client,
        &app,
        &format!("{ORG}/$panel-confirm?patient={id}"),
    )
    .await;
    assert_eq!(count(&again, "confirmed"), 0);
    let (_, report) = app.get_json(&format!("{ORG}/$panel-changes")).await;
    assert_eq!(count(&report, "confirmed"), 2);
    for c in changes(&report) {
        assert_eq!(part(&c, "confirmedBy")["valueString"], "test-ehr", "{c}");
    }
    let m = bb3(&app.get_json(&year1).await.1);
    assert_eq!(part(&m, "numerator")["valueInteger"], 2, "{m}");
    assert_eq!(part(&m, "status")["valueCode"], "met", "{m}");
    app.stop().await;
}
