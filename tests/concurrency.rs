//! N concurrent writers on one resource with If-Match: exactly one wins per version.

mod common;

use common::spawn_app;
use futures::future::join_all;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_winner_per_version() {
    let app = spawn_app().await;
    app.put(
        "Patient/race",
        &json!({"resourceType": "Patient", "id": "race"}),
    )
    .await;
    const WRITERS: usize = 16;
    for version in 1..=5i64 {
        let attempts = (0..WRITERS).map(|w| {
            let body = json!({"resourceType": "Patient", "id": "race", "gender": "other", "active": w % 2 == 0});
            let req = app.client.put(app.url("Patient/race")).header("content-type", "application/fhir+json").header("if-match", format!("W/\"{version}\"")).body(body.to_string());
            async move { req.send().await.unwrap().status().as_u16() }
        });
        let statuses = join_all(attempts).await;
        let wins = statuses.iter().filter(|s| **s == 200).count();
        let lost = statuses.iter().filter(|s| **s == 412).count();
        assert_eq!(
            (wins, lost),
            (1, WRITERS - 1),
            "version {version}: {statuses:?}"
        );
    }
    let (_, hist) = app.get_json("Patient/race/_history").await;
    assert_eq!(hist["total"], 6);
    let versions: Vec<i64> = hist["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, [6, 5, 4, 3, 2, 1]);
    let (_, current): (_, Value) = app.get_json("Patient/race").await;
    assert_eq!(current["meta"]["versionId"], "6");
    app.stop().await;
}
