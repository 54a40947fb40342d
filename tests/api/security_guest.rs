//! The partner guest model: what a partner writes never widens what it sees
//! (only the practice's referrals share), it works only where a compact
//! names it, it writes only about referred patients (every compartment
//! path), and it changes only what it created and the Tasks it owns — so
//! access ends with the referral.

use crate::common;
use crate::security_partner::{TENANT, partner_get, partner_write, setup, spawn_practice};

use common::TestApp;
use common::process::fetch_json;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use tandem::auth::Role;

const FULFILL: &str = "http://hl7.org/fhir/CodeSystem/task-code";

/// Statuses of reads of what the practice never shared with the partner.
async fn hidden(partner: &Client, app: &TestApp) -> Vec<u16> {
    let mut out = Vec::new();
    for p in ["Patient/p2", "Observation/bp", "Observation/audit-c"] {
        out.push(partner_get(partner, app, p).await.0);
    }
    out
}

async fn write(partner: &Client, app: &TestApp, m: Method, path: &str, body: &Value) -> u16 {
    partner_write(partner, app, m, path, body)
        .await
        .status()
        .as_u16()
}

/// Item 1: Tasks and ServiceRequests a partner writes itself, of any code,
/// owned by itself, never add to the shared set.
#[tokio::test]
async fn a_partners_own_writes_never_widen_what_it_sees() {
    let app = spawn_practice().await;
    let (_ehr, partner) = setup(&app).await;
    assert_eq!(hidden(&partner, &app).await, vec![404, 404, 404]);
    // Some other Task it owns, for the referred patient, focused on an
    // unshared result: stored (it is about p1), but it shares nothing.
    let own = json!({"resourceType": "Task", "id": "mine", "status": "requested", "intent": "order",
        "code": {"coding": [{"system": FULFILL, "code": "approve"}]},
        "for": {"reference": "Patient/p1"}, "focus": {"reference": "Observation/bp"},
        "owner": {"reference": "Organization/bh-org"}});
    assert_eq!(
        write(&partner, &app, Method::PUT, "Task/mine", &own).await,
        201
    );
    // Turning it into a referral Task is a new referral, which only the
    // requester may create.
    let mut as_referral = own.clone();
    as_referral["code"]["coding"][0]["code"] = json!("fulfill");
    as_referral["status"] = json!("accepted");
    let s = write(&partner, &app, Method::PUT, "Task/mine", &as_referral).await;
    assert!(s == 403 || s == 409 || s == 422, "{s}");
    // A referral Task it owns, about its own ServiceRequest listing the
    // unshared results: refused.
    let sr = json!({"resourceType": "ServiceRequest", "id": "own-sr", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "supportingInfo": [{"reference": "Observation/bp"}, {"reference": "Observation/audit-c"}]});
    assert_eq!(
        write(&partner, &app, Method::PUT, "ServiceRequest/own-sr", &sr).await,
        201
    );
    let task = json!({"resourceType": "Task", "status": "requested", "intent": "order",
        "code": {"coding": [{"system": FULFILL, "code": "fulfill"}]},
        "for": {"reference": "Patient/p1"}, "focus": {"reference": "ServiceRequest/own-sr"},
        "requester": {"reference": format!("Organization/{TENANT}")},
        "owner": {"reference": "Organization/bh-org"}});
    let s = write(&partner, &app, Method::POST, "Task", &task).await;
    assert!(s == 403 || s == 409 || s == 422, "{s}");
    // The practice's referral ServiceRequest is read-only to it: adding
    // supporting data to it is refused.
    let (_, mut shared_sr) = partner_get(&partner, &app, "ServiceRequest/sr1").await;
    shared_sr["supportingInfo"] = json!([{"reference": "Observation/bp"}]);
    let s = write(
        &partner,
        &app,
        Method::PUT,
        "ServiceRequest/sr1",
        &shared_sr,
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(hidden(&partner, &app).await, vec![404, 404, 404]);
    app.stop().await;
}

/// Item 2: without a compact naming it, a partner is refused in the tenant
/// (read and write), nothing is stored, and the attempt is on the
/// practice's audit trail.
#[tokio::test]
async fn a_partner_without_a_compact_is_refused_and_audited() {
    let app = spawn_practice().await;
    let (ehr, _) = setup(&app).await;
    let stranger = app
        .client_for("bh-x", Role::BhPartner, "bh-elsewhere", "system/*.cruds")
        .await;
    let (s, b) = partner_get(&stranger, &app, "Patient/p1").await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["resourceType"], "OperationOutcome");
    assert!(
        b["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("care compact"),
        "{b}"
    );
    let obs = json!({"resourceType": "Observation", "id": "planted", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
    assert_eq!(
        write(&stranger, &app, Method::PUT, "Observation/planted", &obs).await,
        403
    );
    assert_eq!(
        common::get_status(&ehr, app.url("Observation/planted")).await,
        404
    );
    let ops = app
        .client_for("ops", Role::Operator, "ops", "system/*.rs")
        .await;
    let url = app.url("AuditEvent?agent=bh-x&outcome=4");
    let mut refused = 0;
    for _ in 0..50 {
        let page = fetch_json(&ops, &format!("{url}&_count=10")).await;
        refused = page["entry"].as_array().map_or(0, Vec::len);
        if refused >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(refused, 2, "both attempts audited in {TENANT}");
    // The partner with a compact still works there.
    let (_, partner) = (
        ehr,
        app.client_for("bh-1", Role::BhPartner, "bh-org", "system/*.crus")
            .await,
    );
    assert_eq!(partner_get(&partner, &app, "Patient/p1").await.0, 200);
    app.stop().await;
}

/// Item 5: a write naming an unreferred patient on any compartment path —
/// an absolute reference to this server, `Appointment.participant.actor`,
/// `Observation.performer`, `Task.for` — is refused; the referred patient's
/// are accepted.
#[tokio::test]
async fn writes_about_unreferred_patients_are_refused_on_every_path() {
    let app = spawn_practice().await;
    let (ehr, partner) = setup(&app).await;
    let absolute = app.url("Patient/p2");
    let appointment = |who: &str| {
        json!({"resourceType": "Appointment", "status": "booked", "participant": [
            {"actor": {"reference": "Organization/bh-org"}, "status": "accepted"},
            {"actor": {"reference": who}, "status": "accepted"}]})
    };
    let observation = |subject: &str, performer: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "visit"},
            "subject": {"reference": subject}, "performer": [{"reference": performer}]})
    };
    let task = json!({"resourceType": "Task", "status": "requested", "intent": "order",
        "code": {"text": "outreach"}, "for": {"reference": "Patient/p2"},
        "owner": {"reference": "Organization/bh-org"}});
    for (rt, body) in [
        ("Appointment", appointment("Patient/p2")),
        ("Appointment", appointment(&absolute)),
        ("Observation", observation(&absolute, "Organization/bh-org")),
        ("Observation", observation("Patient/p1", "Patient/p2")),
        ("Task", task),
        // Types no derivation reads are checked too.
        (
            "Condition",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/p2"},
                "code": {"text": "anxiety"}}),
        ),
        (
            "MedicationRequest",
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "medicationCodeableConcept": {"text": "sertraline"}, "subject": {"reference": "Patient/p2"}}),
        ),
    ] {
        let r = partner_write(&partner, &app, Method::POST, rt, &body).await;
        let status = r.status().as_u16();
        let b: Value = r.json().await.unwrap();
        assert_eq!(status, 403, "{body}: {b}");
        assert!(
            b["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("no referral"),
            "{b}"
        );
    }
    let page = fetch_json(&ehr, &app.url("Appointment")).await;
    assert_eq!(page["total"], 0, "nothing stored: {page}");
    for (rt, body) in [
        ("Appointment", appointment("Patient/p1")),
        (
            "Observation",
            observation(&app.url("Patient/p1"), "Organization/bh-org"),
        ),
    ] {
        assert_eq!(
            write(&partner, &app, Method::POST, rt, &body).await,
            201,
            "{body}"
        );
    }
    app.stop().await;
}

/// Item 7: the practice's records are read-only to the partner, so writing
/// to one never makes it the partner's; when the referral closes, the
/// practice's records disappear from its view and its own writes stay.
#[tokio::test]
async fn access_ends_with_the_referral() {
    let app = spawn_practice().await;
    let (ehr, partner) = setup(&app).await;
    let (_, mut p1) = partner_get(&partner, &app, "Patient/p1").await;
    p1["name"][0]["family"] = json!("Changed");
    assert_eq!(
        write(&partner, &app, Method::PUT, "Patient/p1", &p1).await,
        403
    );
    assert_eq!(
        write(
            &partner,
            &app,
            Method::DELETE,
            "Observation/phq9",
            &json!({})
        )
        .await,
        403
    );
    let stored = fetch_json(&ehr, &app.url("Patient/p1")).await;
    assert_eq!(stored["name"][0]["family"], "Shared", "unchanged");
    let summary = json!({"resourceType": "DocumentReference", "id": "visit-1", "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "dmlzaXQ="}}]});
    assert_eq!(
        write(
            &partner,
            &app,
            Method::PUT,
            "DocumentReference/visit-1",
            &summary
        )
        .await,
        201
    );
    let mut t1 = partner_get(&partner, &app, "Task/t1").await.1;
    t1["status"] = json!("accepted");
    assert_eq!(
        write(&partner, &app, Method::PUT, "Task/t1", &t1).await,
        200
    );
    let mut t1 = partner_get(&partner, &app, "Task/t1").await.1;
    t1["status"] = json!("completed");
    assert_eq!(
        write(&partner, &app, Method::PUT, "Task/t1", &t1).await,
        200
    );
    for p in [
        "Patient/p1",
        "ServiceRequest/sr1",
        "Observation/phq9",
        "Task/t1",
    ] {
        assert_eq!(partner_get(&partner, &app, p).await.0, 404, "closed: {p}");
    }
    assert_eq!(
        partner_get(&partner, &app, "DocumentReference/visit-1")
            .await
            .0,
        200
    );
    app.stop().await;
}
