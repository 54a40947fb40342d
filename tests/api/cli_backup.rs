//! `tandem backup` and `tandem restore` on the SQLite database: a backup
//! taken while the server serves (and keeps writing) holds every write
//! acknowledged before it began, byte for byte with versions and history,
//! and a restored database serves them; neither command overwrites a file.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::process::{fetch_json, run, start_server, wait_ready};

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let client = reqwest::Client::new();
    let mut server = start_server(&db, Stdio::null(), false);
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    let post = {
        let (client, base) = (client.clone(), base.clone());
        move |body: Value| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let r = client
                    .post(format!("{base}/Patient"))
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.json::<Value>().await.unwrap()
            }
        }
    };
    let mut before = Vec::new();
    for i in 0..50 {
        before.push(
            post(
                json!({"resourceType": "Patient", "name": [{"family": format!("Before{i}")}],
            "extension": [{"url": "urn:unknown", "valueString": "kept"}]}),
            )
            .await,
        );
    }
    // One patient with a second version, so history travels too.
    let mut updated = before[0].clone();
    updated["gender"] = json!("female");
    let id = updated["id"].as_str().unwrap().to_string();
    let r = client
        .put(format!("{base}/Patient/{id}"))
        .header("content-type", "application/fhir+json")
        .body(updated.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let current: Value = fetch_json(&client, &format!("{base}/Patient/{id}")).await;

    // Writes keep arriving while the backup runs.
    let writer = {
        let post = post.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                post(
                    json!({"resourceType": "Patient", "name": [{"family": format!("During{i}")}]}),
                )
                .await;
            }
        })
    };
    let copy = dir.path().join("copy.db");
    let out = tokio::task::spawn_blocking({
        let (db, copy) = (db.clone(), copy.clone());
        move || run(&db, &["backup", "--out", copy.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    writer.await.unwrap();
    // Never over an existing file: the copy stays as it was.
    let size = std::fs::metadata(&copy).unwrap().len();
    let again = run(&db, &["backup", "--out", copy.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);
    server.kill();

    // Restored under a new name and served.
    let restored = dir.path().join("restored.db");
    let out = run(&restored, &["restore", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = run(&restored, &["restore", copy.to_str().unwrap()]);
    assert!(!refused.status.success(), "a restore never overwrites");
    let mut server = start_server(&restored, Stdio::null(), false);
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    for p in &before[1..] {
        let id = p["id"].as_str().unwrap();
        let read: Value = fetch_json(&client, &format!("{base}/Patient/{id}")).await;
        assert_eq!(&read, p, "acknowledged before the backup, exactly");
    }
    let read: Value = fetch_json(&client, &format!("{base}/Patient/{id}")).await;
    assert_eq!(read, current);
    let history: Value = fetch_json(&client, &format!("{base}/Patient/{id}/_history")).await;
    assert_eq!(history["total"], 2, "{history}");
    let all: Value = fetch_json(&client, &format!("{base}/Patient?_summary=count")).await;
    let n = all["total"].as_u64().unwrap();
    assert!(
        (50..=150).contains(&n),
        "{n}: the 50 before, and whatever of the rest it caught"
    );
    server.kill();
}
