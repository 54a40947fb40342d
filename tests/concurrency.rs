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

/// A write whose commit is slow gets its real outcome, not 408: the request
/// timeout (1 s here) stops applying once the write reached the store, so a
/// client never retries a POST that succeeded. The commit is made slow by
/// another connection holding SQLite's write lock for 2.5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_commit_answers_its_outcome_not_a_timeout() {
    let app = common::spawn_app_with(|c| c.limits.request_timeout_secs = 1).await;
    let blocker = rusqlite::Connection::open(&app.db).unwrap();
    blocker
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let post = {
        let (client, url) = (app.client.clone(), app.url("Patient"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/fhir+json")
                .body(json!({"resourceType": "Patient", "identifier": [{"system": "urn:slow", "value": "1"}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The deliberately slow commit: the lock is held past the 1 s timeout.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(
        post.await.unwrap(),
        201,
        "the client learns its write committed"
    );
    let found = app.search_resources("Patient?identifier=urn:slow|1").await;
    assert_eq!(found.len(), 1);
    app.stop().await;
}
