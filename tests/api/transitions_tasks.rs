//! Transitions-of-care follow-up Tasks over their life: completed by each kind
//! of evidence, marked overdue by the sweep only once past due, and the HIE's
//! forwarding Provenance kept with the stored message.

use crate::common;

use common::adt::{MRN, PATIENT_ID, example, our_patient, send, start, start_with};
use serde_json::{Value, json};

#[tokio::test]
async fn follow_up_tasks_complete_when_the_evidence_arrives() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    let status = |tasks: &[Value], code: &str| {
        tasks
            .iter()
            .find(|t| t["code"]["coding"][0]["code"] == code)
            .unwrap()["status"]
            .clone()
    };
    // An office visit before the discharge is not follow-up.
    let visit = |start: &str| common::encounter(&pid, "AMB", start, None);
    app.create(&visit("2018-10-22T09:00:00Z")).await;
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    assert_eq!(status(&tasks, "toc-contact"), "requested");
    // A visit after it completes the contact; the reconciliation waits for its own evidence.
    let v = app.create(&visit("2018-10-25T09:00:00Z")).await;
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    assert_eq!(status(&tasks, "toc-contact"), "completed");
    assert_eq!(status(&tasks, "toc-medication-reconciliation"), "requested");
    let contact = tasks
        .iter()
        .find(|t| t["code"]["coding"][0]["code"] == "toc-contact")
        .unwrap();
    assert_eq!(
        contact["output"][0]["valueReference"]["reference"],
        format!("Encounter/{}", v["id"].as_str().unwrap())
    );
    app.create(&json!({"resourceType": "Procedure", "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430193006", "display": "Medication reconciliation"}]},
        "subject": {"reference": format!("Patient/{pid}")}, "performedDateTime": "2018-10-25T09:30:00Z"})).await;
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    assert_eq!(status(&tasks, "toc-medication-reconciliation"), "completed");
    app.stop().await;
}

/// The EHR's follow-up can be on file before the HIE's discharge message
/// arrives: the Tasks are then created done, by the earliest evidence at or
/// after the discharge — not by a visit before it.
#[tokio::test]
async fn evidence_already_on_file_completes_the_tasks_as_they_are_created() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    let visit = |start: &str| common::encounter(&pid, "VR", start, None);
    app.create(&visit("2018-10-22T09:00:00Z")).await;
    // Written out of order: the later one first.
    app.create(&visit("2018-10-29T09:00:00Z")).await;
    let first = app.create(&visit("2018-10-26T09:00:00Z")).await;
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    let tasks = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    let task = |code: &str| {
        tasks
            .iter()
            .find(|t| t["code"]["coding"][0]["code"] == code)
            .unwrap()
            .clone()
    };
    let contact = task("toc-contact");
    assert_eq!(contact["status"], "completed");
    assert_eq!(
        contact["output"][0]["valueReference"]["reference"],
        format!("Encounter/{}", first["id"].as_str().unwrap())
    );
    assert_eq!(
        contact["executionPeriod"]["end"].as_str().unwrap()[..10],
        *"2018-10-26"
    );
    assert_eq!(task("toc-medication-reconciliation")["status"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn past_due_tasks_are_marked_overdue_and_on_time_ones_are_not() {
    // No periodic sweep: the test runs it with $sweep-overdue and awaits it.
    let (app, _hook) = start_with(false, |c| c.transitions.overdue_sweep_secs = 0).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    let admin = app.admin().await;
    let sweep = || async {
        let r = admin.post(app.url("$sweep-overdue")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let p: Value = r.json().await.unwrap();
        p["parameter"][0]["valueInteger"].as_u64().unwrap()
    };
    // The IG example was discharged in 2018: both follow-ups are long past due.
    send(
        &app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    assert_eq!(
        sweep().await,
        2,
        "both follow-ups of the 2018 stay are overdue"
    );
    let overdue = app.search_resources("Task?business-status=overdue").await;
    assert_eq!(overdue.len(), 2);
    assert!(overdue.iter().all(|t| t["status"] == "requested"));

    // A stay discharged an hour ago: due in 72 h / 7 days, not overdue after several sweeps.
    let mut recent = example("discharge-notification-message-bundle-01.json");
    recent["entry"][0]["resource"]["id"] = json!("recent-discharge");
    let end = chrono::Utc::now() - chrono::Duration::hours(1);
    for e in recent["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Encounter" {
            e["resource"]["identifier"][0]["value"] = json!("recent-stay");
            e["resource"]["period"] = json!({"start": (end - chrono::Duration::days(2)).to_rfc3339(), "end": end.to_rfc3339()});
        }
    }
    send(&app, &recent).await;
    for _ in 0..3 {
        assert_eq!(sweep().await, 0, "nothing newly overdue");
    }
    let all = app
        .search_resources(&format!("Task?patient=Patient/{pid}"))
        .await;
    assert_eq!(all.len(), 4);
    let marked: Vec<_> = all
        .iter()
        .filter(|t| t["businessStatus"]["coding"][0]["code"] == "overdue")
        .collect();
    assert_eq!(marked.len(), 2, "only the 2018 stay's Tasks are overdue");
    // The practice's EHR client may not run the sweep.
    assert_eq!(
        app.post("$sweep-overdue", &json!({})).await.status(),
        reqwest::StatusCode::FORBIDDEN
    );

    // Late evidence completes an overdue Task and says it was late.
    app.create(&common::encounter(&pid, "VR", "2018-11-20T09:00:00Z", None))
        .await;
    let contact = app
        .search_resources("Task?business-status=completed-late")
        .await;
    assert_eq!(contact.len(), 1);
    assert_eq!(contact[0]["status"], "completed");
    assert_eq!(contact[0]["code"]["coding"][0]["code"], "toc-contact");
    app.stop().await;
}

#[tokio::test]
async fn the_forwarding_provenance_is_kept_and_points_at_the_stored_message() {
    let (app, _hook) = start(false).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    let mut b = example("admit-notification-intermediate-transmit-bundle.json");
    for e in b["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Patient" {
            e["resource"]["identifier"] = json!([{"system": MRN, "value": PATIENT_ID}]);
        }
    }
    assert!(send(&app, &b).await.contains("fully processed"));
    let prov = app.search_resources("Provenance").await;
    assert_eq!(prov.len(), 1);
    let target = prov[0]["target"][0]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(target.starts_with("Bundle/msg-"), "{target}");
    assert_eq!(prov[0]["activity"]["coding"][0]["code"], "transmit");
    assert_eq!(prov[0]["recorded"], "2020-08-18T03:30:38.388714Z");
    // References into the message are dropped, not left dangling.
    assert!(!prov[0].to_string().contains("urn:uuid:"));
    let stored = app.get(&target).await;
    assert_eq!(stored.status(), reqwest::StatusCode::OK);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["type"], "message");
    // The Encounter is filed under our patient.
    let encs = app
        .search_resources(&format!("Encounter?patient=Patient/{pid}"))
        .await;
    assert_eq!(encs.len(), 1);
    // Replaying the message adds no second Provenance.
    assert!(send(&app, &b).await.contains("received before"));
    assert_eq!(app.search_resources("Provenance").await.len(), 1);
    app.stop().await;
}
