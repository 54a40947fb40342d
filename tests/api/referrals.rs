//! The referral loop between two real Tandem servers: a positive PHQ-9 at the
//! practice becomes a ServiceRequest + Task, pushed to the CMHC's server as
//! Tandem's own SMART client; the CMHC works the Task inside the practice
//! (accept, schedule, visit summary, its own PHQ-9, complete) and every step
//! is checked against the workflow.

use crate::common;
use crate::common::param;

use common::referral::{
    cmhc_partner, eventually_ok, pair, partner_update, patient, referral_tasks, total,
};
use common::screening::phq9;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::rules::referral::compact::Mode;

const BSER: &str = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS";

fn business(code: &str) -> Value {
    json!({"coding": [{"system": BSER, "code": code}]})
}

#[tokio::test]
async fn positive_phq9_is_referred_pushed_worked_and_closed() {
    let pair = pair(|base, key| cmhc_partner(Some(base), Some(key), Mode::Auto)).await;
    let (practice, cmhc) = (&pair.practice, &pair.cmhc);
    patient(practice, "p1").await;
    // Below the compact's threshold: no referral.
    practice.create(&total("p1", "44261-6", 8)).await;
    assert!(
        referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1"))
            .await
            .is_empty()
    );
    // PHQ-9 16 (item 9 unanswered-as-zero): positive under the compact's ≥ 10.
    let mut answers = [Some(2); 9];
    answers[8] = Some(0);
    practice.create(&phq9("p1", answers)).await;
    let tasks = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1")).await;
    assert_eq!(tasks.len(), 1, "one referral");
    let task = &tasks[0];
    assert_eq!(task["status"], "requested");
    assert_eq!(task["owner"]["reference"], "Organization/cmhc");
    assert_eq!(task["requester"]["reference"], "Organization/default");
    assert_eq!(task["businessStatus"]["coding"][0]["code"], "2.0");
    let sr_ref = task["focus"]["reference"].as_str().unwrap().to_string();
    let (status, sr) = practice.get_json(&sr_ref).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sr["performer"][0]["reference"], "Organization/cmhc");
    let result_ref = sr["reasonReference"][0]["reference"]
        .as_str()
        .unwrap()
        .to_string();

    // Pushed: the package lands at the CMHC's server, in its tenant.
    let id = task["id"].as_str().unwrap();
    let pushed = eventually_ok(&cmhc.client, &cmhc.url(&format!("Task/{id}"))).await;
    assert_eq!(pushed["status"], "requested");
    for r in ["Patient/p1", sr_ref.as_str(), result_ref.as_str()] {
        assert_eq!(cmhc.get(r).await.status(), StatusCode::OK, "{r} pushed");
    }

    // The partner accepts, schedules, sends a visit summary and its own PHQ-9, completes.
    assert_eq!(
        partner_update(&pair, task, |t| {
            t["status"] = json!("accepted");
            t["businessStatus"] = business("3.0");
        })
        .await,
        200
    );
    let (_, t) = practice.get_json(&format!("Task/{id}")).await;
    assert_eq!(
        partner_update(&pair, &t, |t| {
            t["status"] = json!("in-progress");
            t["businessStatus"] = business("5.1.1");
        })
        .await,
        200
    );
    let summary = json!({"resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]},
        "subject": {"reference": "Patient/p1"}, "content": [{"attachment": {"contentType": "text/plain", "data": "VmlzaXQgc3VtbWFyeQ=="}}]});
    let r = pair
        .partner
        .post(practice.url("DocumentReference"))
        .header("content-type", "application/fhir+json")
        .body(summary.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    let r = pair
        .partner
        .post(practice.url("Observation"))
        .header("content-type", "application/fhir+json")
        .body(total("p1", "44261-6", 6).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, t) = practice.get_json(&format!("Task/{id}")).await;
    let outputs: Vec<&str> = t["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["valueReference"]["reference"].as_str())
        .collect();
    assert!(
        outputs.contains(&format!("DocumentReference/{}", doc["id"].as_str().unwrap()).as_str()),
        "{outputs:?}"
    );
    assert_eq!(outputs.len(), 2, "summary and the partner's PHQ-9");
    // The partner's PHQ-9 was scored like the practice's own: two results now.
    assert_eq!(practice.screening_results("p1").await.len(), 3);
    assert_eq!(
        partner_update(&pair, &t, |t| {
            t["status"] = json!("completed");
            t["businessStatus"] = business("7.0");
        })
        .await,
        200
    );
    // Closed: a second positive screen may refer again, the first stays completed.
    let (_, t) = practice.get_json(&format!("Task/{id}")).await;
    assert_eq!(t["status"], "completed");

    // The referring practice was told of each of the partner's steps.
    let admin = practice.admin().await;
    let sent = practice
        .json_as(&admin, "$outbox?state=all&_count=1000")
        .await;
    let updates = sent["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| common::part(m, "topic")["valueString"] == "referral-update")
        .count();
    assert!(
        updates >= 4,
        "accept, schedule, summary, PHQ-9, completion: {updates}"
    );
    // The numbers: one positive screen, connected; its referral exchanged both ways in time.
    let (status, n) = practice
        .get_json("Organization/default/$referrals?periodStart=2026-01-01&periodEnd=2026-12-31")
        .await;
    assert_eq!(status, StatusCode::OK, "{n}");
    let connected = param(&n, "positive-screens-connected");
    assert_eq!(common::part(&connected, "denominator")["valueInteger"], 1);
    assert_eq!(common::part(&connected, "numerator")["valueInteger"], 1);
    assert_eq!(
        common::part(&connected, "numeratorPatient")["valueReference"]["reference"],
        "Patient/p1"
    );
    let two_way = param(&n, "two-way-exchange-within-7-days");
    assert_eq!(common::part(&two_way, "numerator")["valueInteger"], 1);
    assert_eq!(
        common::part(&param(&n, "open-past-agreed-days"), "count")["valueInteger"],
        0
    );
    let referral = param(&n, "referral");
    for step in [
        "made",
        "package-delivered",
        "accepted",
        "first-visit-scheduled",
        "first-visit",
        "summary-received",
    ] {
        assert!(
            common::part(&referral, step)["valueDateTime"].is_string(),
            "{step} in {referral}"
        );
    }
    assert!(
        common::part(&referral, "plan-received").is_null(),
        "no CarePlan came back"
    );
    // Outside the period there is nothing to count.
    let (_, none) = practice
        .get_json("Organization/default/$referrals?period=2025Q1")
        .await;
    assert_eq!(
        common::part(&param(&none, "positive-screens-connected"), "denominator")["valueInteger"],
        0
    );
    pair.stop().await;
}

#[tokio::test]
async fn illegal_moves_are_conflicts_and_change_nothing() {
    let pair = pair(|_, _| cmhc_partner(None, None, Mode::Auto)).await;
    let practice = &pair.practice;
    patient(practice, "p1").await;
    practice.create(&total("p1", "44261-6", 20)).await;
    let task = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1"))
        .await
        .remove(0);
    let id = task["id"].as_str().unwrap().to_string();
    // A status jump by the owner.
    assert_eq!(
        partner_update(&pair, &task, |t| t["status"] = json!("completed")).await,
        409
    );
    // The requester accepting on the partner's behalf.
    let mut t = task.clone();
    t["status"] = json!("accepted");
    assert_eq!(
        practice.put(&format!("Task/{id}"), &t).await.status(),
        StatusCode::CONFLICT
    );
    // The owner cancelling; rejecting without a reason.
    assert_eq!(
        partner_update(&pair, &task, |t| {
            t["status"] = json!("cancelled");
            t["statusReason"] = json!({"text": "x"});
        })
        .await,
        409
    );
    assert_eq!(
        partner_update(&pair, &task, |t| t["status"] = json!("rejected")).await,
        422
    );
    // Re-pointing the referral at another patient.
    assert_eq!(
        partner_update(&pair, &task, |t| t["for"] =
            json!({"reference": "Patient/p2"}))
        .await,
        409
    );
    let (_, now) = practice.get_json(&format!("Task/{id}")).await;
    assert_eq!(now["status"], "requested");
    assert_eq!(
        now["meta"]["versionId"], task["meta"]["versionId"],
        "nothing changed"
    );
    // A rejection with its reason is the partner's to make.
    assert_eq!(
        partner_update(&pair, &task, |t| {
            t["status"] = json!("rejected");
            t["statusReason"] = json!({"text": "Outside our catchment area"});
            t["businessStatus"] = business("4.0");
        })
        .await,
        200
    );
    // Rejected is final; the closed referral is no longer shared with the
    // partner at all.
    let (_, t) = practice.get_json(&format!("Task/{id}")).await;
    assert_eq!(
        partner_update(&pair, &t, |t| t["status"] = json!("accepted")).await,
        404
    );
    let mut reopened = t.clone();
    reopened["status"] = json!("requested");
    assert_eq!(
        practice
            .put(&format!("Task/{id}"), &reopened)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    pair.stop().await;
}

#[tokio::test]
async fn bad_referral_writes_are_refused_with_an_outcome_and_audited() {
    let pair = pair(|_, _| cmhc_partner(None, None, Mode::Auto)).await;
    let practice = &pair.practice;
    patient(practice, "p1").await;
    patient(practice, "p2").await;
    patient(practice, "p3").await;
    let sr = |performer: &str| {
        json!({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "subject": {"reference": "Patient/p1"}, "requester": {"reference": "Organization/default"},
        "performer": [{"reference": format!("Organization/{performer}")}]})
    };
    // A ServiceRequest to an unknown partner.
    let r = practice.post("ServiceRequest", &sr("nobody")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let oo: Value = r.json().await.unwrap();
    assert!(
        oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("not a partner")
    );
    // A referral Task whose focus is not a ServiceRequest.
    let bad = json!({"resourceType": "Task", "status": "requested", "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": "Patient/p1"}, "for": {"reference": "Patient/p1"},
        "requester": {"reference": "Organization/default"}, "owner": {"reference": "Organization/cmhc"}});
    assert_eq!(
        practice.post("Task", &bad).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(
        referral_tasks(&practice.client, practice.url("Task"))
            .await
            .is_empty(),
        "nothing stored"
    );
    // The EHR's own ServiceRequest to the partner gets its Task.
    let r = practice.post("ServiceRequest", &sr("cmhc")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let tasks = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1")).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["status"], "requested");
    // An EHR's ServiceRequest sent with its own Task: still one Task.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c4b4d3e-0000-4000-8000-000000000001", "resource": sr("cmhc").as_object().cloned().map(|mut o| { o.insert("subject".into(), json!({"reference": "Patient/p2"})); o }).unwrap(),
         "request": {"method": "POST", "url": "ServiceRequest"}},
        {"resource": {"resourceType": "Task", "status": "requested", "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": "urn:uuid:0c4b4d3e-0000-4000-8000-000000000001"}, "for": {"reference": "Patient/p2"},
            "requester": {"reference": "Organization/default"}, "owner": {"reference": "Organization/cmhc"}},
         "request": {"method": "POST", "url": "Task"}}]});
    assert_eq!(practice.post("", &bundle).await.status(), StatusCode::OK);
    let p2 = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p2")).await;
    assert_eq!(p2.len(), 1, "the EHR's Task, no second one");
    // The partner writing about a patient not referred to it.
    let r = pair
        .partner
        .post(practice.url("Observation"))
        .header("content-type", "application/fhir+json")
        .body(total("p3", "44261-6", 3).to_string())
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 403 | 404), "{}", r.status());
    // Each refusal is on record (the audit queue writes in batches: wait
    // until the last refusal has landed, at most 5 s).
    let admin = practice.admin().await;
    let mut refused: Vec<String> = Vec::new();
    for _ in 0..100 {
        let page: Value = practice
            .json_as(&admin, "AuditEvent?outcome=4&_count=100")
            .await;
        refused = page["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["resource"]["outcomeDesc"].as_str().map(String::from))
            .collect();
        if refused.iter().any(|d| d.contains("has no referral")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused.iter().any(|d| d.contains("not a partner")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|d| d.contains("focus must reference")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|d| d.contains("has no referral")),
        "{refused:?}"
    );
    pair.stop().await;
}

#[tokio::test]
async fn a_proposed_referral_waits_for_the_practice_to_confirm_it() {
    let pair = pair(|base, key| cmhc_partner(Some(base), Some(key), Mode::Propose)).await;
    let (practice, cmhc) = (&pair.practice, &pair.cmhc);
    patient(practice, "p1").await;
    practice.create(&total("p1", "44261-6", 16)).await;
    let task = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1"))
        .await
        .remove(0);
    assert_eq!(task["status"], "draft");
    let id = task["id"].as_str().unwrap().to_string();
    // Nothing was queued for the partner: a draft is not sent.
    let queued = practice.outbox_settled().await;
    assert!(
        !queued
            .iter()
            .any(|m| m.to_string().contains("\"referral\"")),
        "{queued:?}"
    );
    assert_eq!(
        cmhc.get(&format!("Task/{id}")).await.status(),
        StatusCode::NOT_FOUND,
        "a draft is not sent"
    );
    // A draft is not shared with the partner (it cannot even see it); the practice confirms it.
    assert_eq!(
        partner_update(&pair, &task, |t| t["status"] = json!("accepted")).await,
        404
    );
    let mut confirmed = task.clone();
    confirmed["status"] = json!("requested");
    assert_eq!(
        practice
            .put(&format!("Task/{id}"), &confirmed)
            .await
            .status(),
        StatusCode::OK
    );
    let pushed = eventually_ok(&cmhc.client, &cmhc.url(&format!("Task/{id}"))).await;
    assert_eq!(pushed["status"], "requested");
    let (_, sr) = practice
        .get_json(task["focus"]["reference"].as_str().unwrap())
        .await;
    assert_eq!(
        sr["status"], "active",
        "confirming the Task activates its ServiceRequest"
    );
    pair.stop().await;
}
