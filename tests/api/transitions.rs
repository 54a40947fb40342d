//! ADT notifications processed: patient matching (identifier, demographics,
//! held when unknown), one Encounter per hospital encounter whatever the
//! arrival order, transitions-of-care Tasks, readmissions, and the practice
//! notification through the outbox.

use crate::common;

use common::adt::{MRN, PATIENT_ID, example, held_messages, message, our_patient, send, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The patient has one Encounter, finished (`why`), and the discharge's two follow-up Tasks.
async fn one_finished_stay_with_its_tasks(app: &common::TestApp, pid: &str, why: &str) {
    let encs = app
        .search_resources(&format!("Encounter?subject=Patient/{pid}"))
        .await;
    assert_eq!(encs.len(), 1);
    assert_eq!(encs[0]["status"], "finished", "{why}");
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    assert_eq!(tasks.len(), 2);
}

#[tokio::test]
async fn admit_then_discharge_by_mrn_gives_one_encounter_tasks_and_notifications() {
    let (app, hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    assert!(
        send(&app, &example("admit-notification-message-bundle-01.json"))
            .await
            .contains("fully processed")
    );
    assert!(
        send(
            &app,
            &example("discharge-notification-message-bundle-01.json")
        )
        .await
        .contains("fully processed")
    );
    // The processed messages are kept as sent (compressed before their
    // transaction, read back whole), tagged processed.
    let kept = app
        .search_resources(
            "Bundle?_tag=http://tandem.health/fhir/CodeSystem/message-status|processed",
        )
        .await;
    assert_eq!(kept.len(), 2);
    for name in [
        "admit-notification-message-bundle-01.json",
        "discharge-notification-message-bundle-01.json",
    ] {
        let sent = example(name);
        let back = kept.iter().find(|b| b["timestamp"] == sent["timestamp"]);
        assert_eq!(back.map(|b| &b["entry"]), Some(&sent["entry"]), "{name}");
    }
    let encs = app
        .search_resources(&format!("Encounter?subject=Patient/{pid}"))
        .await;
    assert_eq!(encs.len(), 1, "admit and discharge update one Encounter");
    assert_eq!(encs[0]["status"], "finished");
    assert_eq!(encs[0]["class"]["code"], "IMP");
    assert!(
        encs[0]["location"][0]["location"]["reference"].is_null(),
        "bundle-internal references are not kept dangling"
    );
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    let due = |code: &str| {
        tasks
            .iter()
            .find(|t| t["code"]["coding"][0]["code"] == code)
            .map(|t| t["restriction"]["period"]["end"].clone())
    };
    // Discharged 2018-10-23T22:22:15-07:00 = 2018-10-24T05:22:15Z.
    assert_eq!(due("toc-contact"), Some(json!("2018-10-31T05:22:15.000Z")));
    assert_eq!(
        due("toc-medication-reconciliation"),
        Some(json!("2018-10-27T05:22:15.000Z"))
    );
    assert!(
        tasks.iter().all(
            |t| t["owner"]["reference"] == "Organization/default" && t["status"] == "requested"
        )
    );
    // The Tasks point at the stored Encounter and the practice's patient.
    let stay = format!("Encounter/{}", encs[0]["id"].as_str().unwrap());
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| t["focus"]["reference"] == stay.as_str()
                && t["for"]["reference"] == format!("Patient/{pid}").as_str())
    );
    // Admit and discharge each reach the practice once (the first attempt is refused).
    let got = hook.wait_accepted(2).await;
    app.outbox_settled().await;
    assert_eq!(hook.accepted().len(), 2);
    assert!(got.iter().all(|r| r.topic == "adt-notification"));
    // Each carries the Encounter as stored by its message: the admit's first
    // version, the discharge's the current one, exactly.
    let mut versions: Vec<&str> = got
        .iter()
        .map(|r| {
            assert_eq!(r.body["type"], "collection");
            assert_eq!(r.body["entry"][0]["fullUrl"], stay.as_str());
            r.body["entry"][0]["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);
    let discharge = got
        .iter()
        .find(|r| r.body["entry"][0]["resource"]["meta"]["versionId"] == "2");
    assert_eq!(discharge.unwrap().body["entry"][0]["resource"], encs[0]);
    // Each message is in the patient's audit trail, though a message Bundle
    // names no patient itself.
    let admin = app
        .client_for(
            "ops",
            tandem::auth::Role::Operator,
            "tandem-ops",
            "system/*.cruds",
        )
        .await;
    let trail = common::process::fetch_json(
        &admin,
        &app.url(&format!("AuditEvent?patient=Patient/{pid}&_count=100")),
    )
    .await;
    let messages = trail["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resource"]["entity"].as_array().is_some_and(|es| {
                es.iter().any(|x| {
                    x["what"]["reference"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("Bundle/"))
                })
            })
        })
        .count();
    assert_eq!(
        messages, 2,
        "admit and discharge audited for the patient: {trail}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_discharge_before_its_admit_stays_a_discharge() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    send(&app, &example("admit-notification-message-bundle-01.json")).await;
    send(
        &app,
        &example("transfer-notification-message-bundle-01.json"),
    )
    .await;
    one_finished_stay_with_its_tasks(
        &app,
        &pid,
        "the admit and transfer are older than the discharge",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_patients_are_held_and_demographics_match_only_when_configured() {
    let (app, _hook) = start(false).await;
    // Same name, birth date and sex but no trusted identifier: held.
    our_patient(&app, json!({"system": "urn:other", "value": "x"})).await;
    assert!(
        send(&app, &example("admit-notification-message-bundle-01.json"))
            .await
            .contains("held")
    );
    let held = held_messages(&app).await;
    assert_eq!(held.len(), 1, "held, not dropped");
    assert!(app.search_resources("Encounter").await.is_empty());
    app.stop().await;

    let (app, _hook) = start(true).await;
    let pid = our_patient(&app, json!({"system": "urn:other", "value": "x"})).await;
    assert!(
        send(&app, &example("admit-notification-message-bundle-01.json"))
            .await
            .contains("fully processed")
    );
    assert_eq!(
        app.search_resources(&format!("Encounter?subject=Patient/{pid}"))
            .await
            .len(),
        1
    );
    app.stop().await;
}

/// The example admission as message `id` for the stay `stay`, admitted at
/// `start` and sent at `sent`.
fn admit(id: &str, stay: &str, start: &str, sent: &str) -> Value {
    let mut m = message("admit-notification-message-bundle-01.json", id);
    m["timestamp"] = json!(sent);
    let enc = &mut m["entry"][1]["resource"];
    enc["identifier"][0]["value"] = json!(stay);
    enc["period"] = json!({ "start": start });
    m
}

#[tokio::test]
async fn an_admission_within_30_days_of_a_discharge_is_a_readmission() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    // A stay admitted before that discharge (overlapping it, as after a
    // transfer) does not follow it: not a readmission.
    let mut overlapping = message(
        "admit-notification-message-bundle-01.json",
        "overlapping-stay-admit",
    );
    let enc = &mut overlapping["entry"][1]["resource"];
    enc["identifier"][0]["value"] = json!("overlapping-stay");
    enc["period"] = json!({"start": "2018-10-22T08:00:00-07:00"});
    send(&app, &overlapping).await;
    let flags = format!("Flag?patient=Patient/{pid}");
    assert!(app.search_resources(&flags).await.is_empty());
    // An office visit is not a discharge: an admission 5 days after one
    // (and 45 after the hospital stay) is not a readmission.
    let visit = common::encounter(
        &pid,
        "AMB",
        "2018-11-30T09:00:00Z",
        Some("2018-11-30T09:30:00Z"),
    );
    assert_eq!(app.post("Encounter", &visit).await.status(), 201);
    send(
        &app,
        &admit(
            "after-visit-admit",
            "after-visit-stay",
            "2018-12-05T08:00:00Z",
            "2018-12-05T10:00:00Z",
        ),
    )
    .await;
    assert!(
        app.search_resources(&flags).await.is_empty(),
        "an office visit is not a discharge"
    );
    send(
        &app,
        &admit(
            "second-stay-admit",
            "second-stay",
            "2018-11-10T08:00:00Z",
            "2018-11-10T10:00:00Z",
        ),
    )
    .await;
    let found = app.search_resources(&flags).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["code"]["coding"][0]["code"], "readmission-30d");
    // 40 days later is not a readmission.
    send(
        &app,
        &admit(
            "third-stay-admit",
            "third-stay",
            "2018-12-20T08:00:00Z",
            "2018-12-20T10:00:00Z",
        ),
    )
    .await;
    assert_eq!(app.search_resources(&flags).await.len(), 1);
    app.stop().await;
}

/// The HIE's messages can cross: a readmission's admission that arrives
/// before the earlier stay's discharge is flagged when the discharge comes,
/// once, naming that stay.
#[tokio::test]
async fn a_late_discharge_flags_the_readmission_already_on_file() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(
        &app,
        &admit(
            "second-stay-admit",
            "second-stay",
            "2018-11-10T08:00:00Z",
            "2018-11-10T10:00:00Z",
        ),
    )
    .await;
    // An office visit the EHR recorded after the stay is no admission.
    let visit = common::encounter(
        &pid,
        "AMB",
        "2018-11-01T09:00:00Z",
        Some("2018-11-01T09:30:00Z"),
    );
    assert_eq!(app.post("Encounter", &visit).await.status(), 201);
    let flags = format!("Flag?patient=Patient/{pid}");
    assert!(app.search_resources(&flags).await.is_empty());
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    let found = app.search_resources(&flags).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let stays = app
        .search_resources(&format!("Encounter?subject=Patient/{pid}"))
        .await;
    let first = stays
        .iter()
        .find(|e| e["class"]["code"] != "AMB" && e["identifier"][0]["value"] != "second-stay")
        .unwrap();
    assert_eq!(
        found[0]["extension"][0]["valueReference"]["reference"],
        format!("Encounter/{}", first["id"].as_str().unwrap())
    );
    // The same discharge again flags nothing more.
    let mut repeat = example("discharge-notification-message-bundle-01.json");
    repeat["id"] = json!("discharge-sent-again");
    send(&app, &repeat).await;
    assert_eq!(app.search_resources(&flags).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn held_messages_are_filed_when_the_patient_arrives() {
    let (app, _hook) = start(false).await;
    send(&app, &example("admit-notification-message-bundle-01.json")).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    assert_eq!(held_messages(&app).await.len(), 2);
    // The practice registers the patient with the MRN the HIE sent.
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    assert!(
        held_messages(&app).await.is_empty(),
        "both messages were filed"
    );
    one_finished_stay_with_its_tasks(&app, &pid, "filed in event order: the discharge wins").await;
    app.stop().await;
}

#[tokio::test]
async fn transitions_numbers_for_a_quarter_keep_their_patients() {
    use common::part;
    use tandem::auth::Role;
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    app.create(&json!({"resourceType": "Encounter", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
        "subject": {"reference": format!("Patient/{pid}")}, "period": {"start": "2018-10-26T09:00:00Z"}})).await;
    let reporting = app
        .client_for("program", Role::Reporting, "default", "system/*.rs")
        .await;
    let get = |c: &reqwest::Client, q: &str| {
        c.get(app.url(&format!("Organization/default/$transitions?{q}")))
            .send()
    };
    let r = get(&reporting, "period=2018Q4").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let param = |name: &str| {
        body["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    let contact = param("contact-within-7-days");
    assert_eq!(
        (
            part(&contact, "numerator")["valueInteger"].clone(),
            part(&contact, "percent")["valueDecimal"].clone()
        ),
        (json!(1), json!(100.0))
    );
    assert_eq!(
        part(&contact, "numeratorPatient")["valueReference"]["reference"],
        format!("Patient/{pid}")
    );
    let medrec = param("medication-reconciliation-within-72-hours");
    assert_eq!(
        (
            part(&medrec, "numerator")["valueInteger"].clone(),
            part(&medrec, "denominator")["valueInteger"].clone()
        ),
        (json!(0), json!(1))
    );
    assert_eq!(
        part(&param("overdue-follow-ups"), "count")["valueInteger"],
        1,
        "the reconciliation is past due"
    );
    assert!(
        part(&param("discharge-to-notification-hours"), "median")["valueDecimal"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Another quarter has no discharges.
    let other: Value = get(&reporting, "periodStart=2019-01-01&periodEnd=2019-03-31")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        part(&other["parameter"][0], "denominator")["valueInteger"],
        0
    );
    assert_eq!(
        get(&reporting, "period=2018Q5").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // Refused both ways: no reporting permission, or another practice.
    let narrow = app
        .client_for("narrow", Role::Ehr, "default", "system/Patient.r")
        .await;
    assert_eq!(
        get(&narrow, "period=2018Q4").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = reporting
        .get(app.url("Organization/elsewhere/$transitions?period=2018Q4"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
