//! The outbox survives a crash: a safety notification queued in the same
//! transaction as its write is delivered after `kill -9` and a restart, once,
//! under the same key as the attempts before the crash.

use crate::common;

use std::process::Stdio;

use common::hook::Hook;
use common::process::{fetch_json, start_server_env, wait_ready};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notification_is_delivered_after_kill_9_and_restart() {
    let hook = Hook::start(usize::MAX).await; // down until told otherwise
    let dir = tempfile::tempdir().unwrap();
    let database = common::database::fresh(dir.path(), "outbox.db").await;
    let db = &database.db;
    let endpoints = format!("[{{tenant=\"default\",url=\"{}\"}}]", hook.url);
    let env = [
        ("TANDEM_NOTIFICATIONS__ENDPOINTS", endpoints.as_str()),
        ("TANDEM_NOTIFICATIONS__RETRY_BASE_MS", "50"),
        ("TANDEM_NOTIFICATIONS__RETRY_MAX_MS", "200"),
    ];
    let client = reqwest::Client::new();
    let mut server = start_server_env(&db, Stdio::null(), false, &env);
    let base = server.base.clone();
    wait_ready(&client, &base).await;

    let qr = safety_response("p1");
    let r = client
        .post(format!("{base}/QuestionnaireResponse"))
        .header("content-type", "application/fhir+json")
        .body(qr.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Wait for a refused attempt, then crash the server.
    for _ in 0..100 {
        if !hook.log.lock().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = hook.log.lock().clone();
    assert!(
        !before.is_empty(),
        "delivery was attempted while the endpoint was down"
    );
    server.kill();

    hook.set_failures(0);
    let mut server = start_server_env(&db, Stdio::null(), false, &env);
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    let accepted = hook.wait_accepted(1).await;
    // Delivered and recorded (nothing pending): the worker sends it no more.
    for _ in 0..400 {
        let pending = fetch_json(&client, &format!("{base}/$outbox?state=pending")).await;
        if pending["parameter"].as_array().is_none_or(|p| p.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(hook.accepted().len(), 1, "delivered once after the restart");
    assert_eq!(
        accepted[0].key, before[0].key,
        "same message key as before the crash"
    );
    assert_eq!(accepted[0].topic, "safety-alert");
    server.kill();
}

/// A completed PHQ-9 for `patient` whose item 9 (self-harm) is positive:
/// its write queues a safety alert.
pub fn safety_response(patient: &str) -> serde_json::Value {
    let la = ["LA6568-5", "LA6569-3"];
    let items: Vec<_> = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
        .iter()
        .enumerate()
        .map(|(k, c)| json!({"linkId": c, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": la[usize::from(k == 8)]}}]}))
        .collect();
    json!({"resourceType": "QuestionnaireResponse", "questionnaire": "http://tandem.health/fhir/Questionnaire/phq-9",
        "status": "completed", "subject": {"reference": format!("Patient/{patient}")}, "authored": "2026-11-20T09:00:00Z", "item": items})
}
