//! Dead letters: a message that keeps failing is given up after
//! `max_attempts` and listed for admins; a message with no endpoint to go to
//! is given up at once; an admin's `$outbox-retry` delivers it, once. Other
//! clients may neither list nor retry.

use crate::common;

use common::adt::{MRN, PATIENT_ID, example, our_patient, send};
use common::hook::Hook;
use common::{TestApp, part, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start(hook: Option<&Hook>) -> TestApp {
    let url = hook.map(|h| h.url.clone());
    spawn_app_with(move |c| {
        c.transitions.trusted_identifier_systems = vec![MRN.into()];
        c.notifications.retry_base_ms = 20;
        c.notifications.retry_max_ms = 40;
        c.notifications.max_attempts = 3;
        if let Some(url) = url {
            c.notifications.endpoints = vec![tandem::exchange::practice::Endpoint {
                tenant: "default".into(),
                url,
                bearer_token_env: None,
            }];
        }
    })
    .await
}

/// The tenant's messages in `state`, as an admin lists them.
async fn listed(app: &TestApp, admin: &reqwest::Client, state: &str) -> Vec<Value> {
    for _ in 0..100 {
        let r = admin
            .get(app.url(&format!("$outbox?state={state}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let p: Value = r.json().await.unwrap();
        let found: Vec<Value> = p["parameter"].as_array().cloned().unwrap_or_default();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_failing_endpoint_dead_letters_after_max_attempts_and_retry_delivers_once() {
    let hook = Hook::start(usize::MAX).await;
    let app = start(Some(&hook)).await;
    let admin = app.admin().await;
    our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(&app, &example("admit-notification-message-bundle-01.json")).await;

    let dead = listed(&app, &admin, "dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(part(&dead[0], "attempts")["valueInteger"], 3);
    assert_eq!(part(&dead[0], "topic")["valueString"], "adt-notification");
    assert!(
        part(&dead[0], "lastError")["valueString"]
            .as_str()
            .unwrap()
            .contains("503")
    );
    assert!(
        !dead[0].to_string().contains(PATIENT_ID),
        "no payload in the listing"
    );
    // Settled: nothing pending, so no worker pass will pick the dead letter up.
    app.outbox_settled().await;
    assert_eq!(
        hook.log.lock().len(),
        3,
        "three attempts, then no more: a dead letter is not retried by itself"
    );

    // The practice's EHR client may neither list nor retry.
    let seq = part(&dead[0], "seq")["valueInteger"].as_i64().unwrap();
    let ehr = app.get("$outbox?state=dead").await;
    assert_eq!(ehr.status(), StatusCode::FORBIDDEN);
    let r = app
        .post(&format!("$outbox-retry?seq={seq}"), &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    hook.set_failures(0);
    let r = admin
        .post(app.url(&format!("$outbox-retry?seq={seq}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hook.wait_accepted(1).await.len(), 1);
    let delivered = listed(&app, &admin, "delivered").await;
    assert_eq!(delivered.len(), 1);
    // Retrying what is not dead is refused.
    let again = admin
        .post(app.url(&format!("$outbox-retry?seq={seq}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.outbox_settled().await;
    assert_eq!(hook.accepted().len(), 1, "delivered once");
    app.stop().await;
}

#[tokio::test]
async fn without_an_endpoint_a_message_is_dead_lettered_at_once() {
    let app = start(None).await;
    let admin = app.admin().await;
    our_patient(&app, json!({"system": MRN, "value": PATIENT_ID})).await;
    send(&app, &example("admit-notification-message-bundle-01.json")).await;
    let dead = listed(&app, &admin, "dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(part(&dead[0], "attempts")["valueInteger"], 1);
    assert!(
        part(&dead[0], "lastError")["valueString"]
            .as_str()
            .unwrap()
            .contains("no notification endpoint")
    );
    let bad = admin
        .get(app.url("$outbox?state=lost"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let oo: Value = bad.json().await.unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    app.stop().await;
}
