//! Each capability's post-write hook has its own switch: turning one off
//! turns off only that capability. Screening (`[derivations] enabled`),
//! transitions of care (`[transitions] enabled`) and referrals
//! (`[referrals] enabled`), each off in turn while the others keep working;
//! and the referral workflow is enforced with no partner configured.

use crate::common;

use common::TestApp;
use common::adt::{MRN, PATIENT_ID, example, held_messages, our_patient, send, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A referral to an organization that is no partner of the practice: the
/// referral workflow refuses it (422) when the referrals hook runs.
async fn refer_to_a_stranger(app: &TestApp, pid: &str) -> StatusCode {
    let sr = json!({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "subject": {"reference": format!("Patient/{pid}")},
        "requester": {"reference": "Organization/default"},
        "performer": [{"reference": "Organization/nobody-we-know"}],
    });
    app.post("ServiceRequest", &sr).await.status()
}

/// A positive PHQ-9 total; returns how many screening results the patient has.
async fn screen(app: &TestApp, pid: &str) -> usize {
    app.create(&json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": "2026-02-01", "valueInteger": 15,
    }))
    .await;
    app.screening_results(pid).await.len()
}

/// An unknown patient's admit is held; registering the patient files it.
/// Returns (held before, held after, patient id).
async fn hold_then_register(app: &TestApp) -> (usize, usize, String) {
    send(app, &example("admit-notification-message-bundle-01.json")).await;
    let before = held_messages(app).await.len();
    let pid = our_patient(app, json!({"system": MRN, "value": PATIENT_ID})).await;
    (before, held_messages(app).await.len(), pid)
}

/// A discharge's contact Task completes when an office visit after it is written.
async fn contact_completes(app: &TestApp, pid: &str) -> bool {
    send(
        app,
        &example("discharge-notification-message-bundle-01.json"),
    )
    .await;
    app.create(&json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": format!("Patient/{pid}")}, "period": {"start": "2018-10-25T09:00:00Z"}}))
        .await;
    app.search_resources(&format!("Task?patient=Patient/{pid}&code=toc-contact"))
        .await
        .iter()
        .any(|t: &Value| t["status"] == "completed")
}

#[tokio::test]
async fn the_referral_workflow_is_enforced_without_partners() {
    let (app, _hook) = start_with(false, |_| {}).await;
    let pid = our_patient(&app, json!({"system": MRN, "value": "other"})).await;
    assert_eq!(
        refer_to_a_stranger(&app, &pid).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.stop().await;
}

#[tokio::test]
async fn screening_off_leaves_transitions_and_referrals_working() {
    let (app, _hook) = start_with(false, |c| c.derivations.enabled = false).await;
    let (before, after, pid) = hold_then_register(&app).await;
    assert_eq!((before, after), (1, 0), "the held admit was filed");
    assert!(
        contact_completes(&app, &pid).await,
        "follow-up completed by its evidence"
    );
    assert_eq!(
        refer_to_a_stranger(&app, &pid).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(screen(&app, &pid).await, 0, "screening is off");
    app.stop().await;
}

#[tokio::test]
async fn transitions_off_leaves_screening_and_referrals_working() {
    let (app, _hook) = start_with(false, |c| c.transitions.enabled = false).await;
    let (before, after, pid) = hold_then_register(&app).await;
    assert_eq!(
        (before, after),
        (1, 1),
        "transitions off: the admit stays held"
    );
    assert_eq!(screen(&app, &pid).await, 1, "screening derives");
    assert_eq!(
        refer_to_a_stranger(&app, &pid).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.stop().await;
}

#[tokio::test]
async fn referrals_off_leaves_screening_and_transitions_working() {
    let (app, _hook) = start_with(false, |c| c.referrals.enabled = false).await;
    let (before, after, pid) = hold_then_register(&app).await;
    assert_eq!((before, after), (1, 0), "the held admit was filed");
    assert!(
        contact_completes(&app, &pid).await,
        "follow-up completed by its evidence"
    );
    assert_eq!(screen(&app, &pid).await, 1, "screening derives");
    assert_eq!(
        refer_to_a_stranger(&app, &pid).await,
        StatusCode::CREATED,
        "referrals off"
    );
    app.stop().await;
}
