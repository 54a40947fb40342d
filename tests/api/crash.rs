//! Crash safety: `kill -9` the server while clients load data, restart it on the
//! same database, and check every 2xx-acknowledged write is there and no
//! transaction is half-applied.

use crate::common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::process::{Server, fetch_json, next_link, start_server, wait_ready};

use parking_lot::Mutex;
use serde_json::{Value, json};

/// A transaction of one Patient and 9 Observations that all carry `tag`.
fn tx(tag: &str) -> Value {
    let mut entries = vec![
        json!({"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:crash", "value": tag}]}, "request": {"method": "POST", "url": "Patient"}}),
    ];
    for i in 0..9 {
        entries.push(json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "urn:crash", "code": tag}]}, "subject": {"reference": "urn:uuid:p"}, "valueInteger": i}, "request": {"method": "POST", "url": "Observation"}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database::fresh(dir.path(), "crash.db").await;
    let db = &database.db;
    let client = reqwest::Client::new();
    let mut server = start_server(&db, Stdio::null(), false);
    wait_ready(&client, &server.base).await;
    let acked = load_then_kill(&client, &mut server).await;

    let mut server = start_server(&db, Stdio::null(), false);
    wait_ready(&client, &server.base).await;
    assert_survived(&client, &server.base, &acked).await;
    server.kill();
}

/// Eight clients write Patients and transactions to `server`; once 50 are
/// acknowledged it is killed (`kill -9`) mid-load. Returns what was
/// acknowledged: (kind, tag).
pub async fn load_then_kill(
    client: &reqwest::Client,
    server: &mut Server,
) -> Vec<(String, String)> {
    let base = server.base.clone();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, base, acked, stop) =
            (client.clone(), base.clone(), acked.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let tag = format!("w{w}n{n}");
                let (path, body) = if n % 2 == 0 { (String::new(), tx(&tag)) } else { ("Patient".to_string(), json!({"resourceType": "Patient", "identifier": [{"system": "urn:crash", "value": tag}]})) };
                let r = client.post(format!("{base}/{path}")).header("content-type", "application/fhir+json").body(body.to_string()).send().await;
                if let Ok(r) = r
                    && r.status().is_success() {
                        acked.lock().push((if path.is_empty() { "tx".into() } else { "single".into() }, tag));
                    }
            }
        }));
    }
    // Kill in the middle of the load, once it has acknowledged writes.
    while acked.lock().len() < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill(); // std's kill sends SIGKILL on Unix
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().clone();
    assert!(
        acked.len() > 20,
        "the load ran before the kill ({} acknowledged)",
        acked.len()
    );
    acked
}

/// Every acknowledged write is readable at `base`, and no transaction is
/// half-applied: every stored transaction Patient has all 9 Observations.
pub async fn assert_survived(client: &reqwest::Client, base: &str, acked: &[(String, String)]) {
    for (kind, tag) in acked {
        let pats: Value = fetch_json(
            client,
            &format!("{base}/Patient?identifier=urn:crash|{tag}"),
        )
        .await;
        assert_eq!(pats["total"], 1, "acknowledged {kind} {tag} survived");
    }
    let all: Value = fetch_json(client, &format!("{base}/Observation?_summary=count")).await;
    assert_eq!(all["total"].as_u64().unwrap() % 9, 0);
    let mut url = Some(format!("{base}/Patient?identifier=urn:crash|&_count=500"));
    while let Some(u) = url {
        let page: Value = fetch_json(client, &u).await;
        for e in page["entry"].as_array().into_iter().flatten() {
            let tag = e["resource"]["identifier"][0]["value"].as_str().unwrap();
            let obs: Value = fetch_json(
                client,
                &format!("{base}/Observation?code=urn:crash|{tag}&_summary=count"),
            )
            .await;
            let n = obs["total"].as_u64().unwrap();
            assert!(
                n == 0 || n == 9,
                "{tag}: {n} observations (half-applied transaction)"
            );
        }
        url = next_link(&page);
    }
}
