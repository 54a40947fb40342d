//! `$process-message` with Da Vinci notification Bundles: the IG examples are
//! received, replays change nothing, broken messages are refused whole, and
//! only clients allowed to send messages may.

use crate::common;

use common::{shared_data, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;

fn example(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(shared_data().join("davinci-notifications").join(name)).unwrap(),
    )
    .unwrap()
}

const EXAMPLES: &[&str] = &[
    "admit-notification-message-bundle-01.json",
    "admit-notification-message-bundle-02.json",
    "discharge-notification-message-bundle-01.json",
    "transfer-notification-message-bundle-01.json",
    "admit-notification-intermediate-translate-bundle.json",
    "admit-notification-intermediate-transmit-bundle.json",
];

async fn send(c: &reqwest::Client, base: &str, b: &Value) -> (StatusCode, Value) {
    let r = c
        .post(format!("{base}/$process-message"))
        .header("content-type", "application/fhir+json")
        .body(b.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ig_examples_are_received_once_and_replays_change_nothing() {
    let app = spawn_app().await;
    let hie = app
        .client_for("hie-1", Role::Hie, "default", "system/MessageHeader.c")
        .await;
    for name in EXAMPLES {
        let (s, oo) = send(&hie, &app.base, &example(name)).await;
        assert_eq!(s, StatusCode::OK, "{name}: {oo}");
        assert_eq!(oo["issue"][0]["severity"], "information");
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("The message was received"),
            "no patient of this practice matches the IG's example patient: received and held"
        );
    }
    let stored = app.history_total().await;
    let (_, bundles) = app.get_json("Bundle?_summary=count").await;
    assert_eq!(bundles["total"], EXAMPLES.len());
    // The same message again (even with a new Bundle.id): 200, nothing written.
    let mut again = example(EXAMPLES[2]);
    again["id"] = json!("resent-copy");
    let (s, oo) = send(&hie, &app.base, &again).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("received before")
    );
    assert_eq!(app.history_total().await, stored, "a replay writes nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_broken_message_is_refused_whole() {
    let app = spawn_app().await;
    let before = app.history_total().await;
    let mut tx = example("admit-notification-message-bundle-01.json");
    tx["type"] = json!("transaction");
    let (s, oo) = send(&app.client, &app.base, &tx).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        oo.to_string().contains("Bundle.type must be 'message'"),
        "{oo}"
    );
    let mut outside = example("discharge-notification-message-bundle-01.json");
    outside["entry"][0]["resource"]["focus"][0]["reference"] = json!("Encounter/not-in-bundle");
    outside["entry"][1]["resource"]["period"]
        .as_object_mut()
        .unwrap()
        .remove("end");
    let (s, oo) = send(&app.client, &app.base, &outside).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let text = oo.to_string();
    assert!(text.contains("does not resolve"), "{text}");
    assert_eq!(
        app.history_total().await,
        before,
        "nothing stored from a rejected message"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_clients_allowed_to_send_messages_may() {
    let app = spawn_app().await;
    let msg = example("admit-notification-message-bundle-01.json");
    let anonymous = reqwest::Client::new();
    assert_eq!(
        send(&anonymous, &app.base, &msg).await.0,
        StatusCode::UNAUTHORIZED
    );
    let reporting = app
        .client_for("rep", Role::Reporting, "default", "system/*.rs")
        .await;
    assert_eq!(
        send(&reporting, &app.base, &msg).await.0,
        StatusCode::FORBIDDEN
    );
    let read_only_hie = app
        .client_for("hie-ro", Role::Hie, "default", "system/Patient.r")
        .await;
    assert_eq!(
        send(&read_only_hie, &app.base, &msg).await.0,
        StatusCode::FORBIDDEN
    );
    let hie = app
        .client_for("hie-ok", Role::Hie, "default", "system/MessageHeader.c")
        .await;
    assert_eq!(send(&hie, &app.base, &msg).await.0, StatusCode::OK);
    app.stop().await;
}
