//! ADT notification helpers: the Da Vinci IG examples, a server that trusts
//! the examples' MRN system with a practice endpoint, and sending a message.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::hook::Hook;
use super::{TestApp, shared_data, spawn_app_with};

pub const MRN: &str = "http://example.org/fhir/mrn";
pub const PATIENT_ID: &str = "06e1f0dd-5fbe-4480-9bb4-6b54ec02d31b";

pub fn example(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(shared_data().join("davinci-notifications").join(name)).unwrap(),
    )
    .unwrap()
}

/// An IG example under a new message id (a different message about the same stay).
pub fn message(name: &str, message_id: &str) -> Value {
    let mut b = example(name);
    b["entry"][0]["resource"]["id"] = json!(message_id);
    b
}

pub async fn start(demographic: bool) -> (TestApp, Hook) {
    start_with(demographic, |_| {}).await
}

/// As [`start`], with further config changes.
pub async fn start_with(
    demographic: bool,
    tweak: impl FnOnce(&mut tandem::config::Config) + Send + 'static,
) -> (TestApp, Hook) {
    let hook = Hook::start(1).await;
    let url = hook.url.clone();
    let app = spawn_app_with(move |c| {
        c.transitions.trusted_identifier_systems = vec![MRN.into()];
        c.transitions.demographic_match = demographic;
        c.notifications.retry_base_ms = 40;
        c.notifications.endpoints = vec![tandem::exchange::practice::Endpoint {
            tenant: "default".into(),
            url,
            bearer_token_env: None,
        }];
        tweak(c);
    })
    .await;
    (app, hook)
}

pub async fn send(app: &TestApp, b: &Value) -> String {
    let r = app.post("$process-message", b).await;
    assert_eq!(r.status(), StatusCode::OK);
    let oo: Value = r.json().await.unwrap();
    oo["issue"][0]["diagnostics"].as_str().unwrap().to_string()
}

pub async fn our_patient(app: &TestApp, identifier: Value) -> String {
    let p = app.create(&json!({"resourceType": "Patient", "identifier": [identifier], "name": [{"family": "Halvorson124", "given": ["Elden718"]}], "birthDate": "2000-10-15", "gender": "male"})).await;
    p["id"].as_str().unwrap().to_string()
}

const HELD: &str = "Bundle?_tag=http://tandem.health/fhir/CodeSystem/message-status|held";

/// Held messages as an admin sees them; asserts the practice's EHR client
/// (the harness's default client) sees none of them.
pub async fn held_messages(app: &TestApp) -> Vec<Value> {
    assert!(
        app.search_resources(HELD).await.is_empty(),
        "held messages are for admins, not the practice's clients"
    );
    let admin = app
        .client_for(
            "ops",
            tandem::caller::grant::Role::Admin,
            "default",
            "system/*.rs",
        )
        .await;
    let page: Value = app.json_as(&admin, HELD).await;
    page["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["resource"].clone())
        .collect()
}
