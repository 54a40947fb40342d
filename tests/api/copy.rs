//! `tandem copy` from a SQLite file to PostgreSQL (always PostgreSQL as the
//! target): every version of every resource arrives with its id, version,
//! time, method and body; searches answer the same on both; a second run
//! moves only what the first did not.

use crate::common;

use std::process::Stdio;

use common::database::fresh_postgres;
use common::population::options;
use common::process::{cli, fetch_json, next_link, run_import, start_server, wait_ready};
use serde_json::Value;

/// Every entry of the system history, newest first: (method, url, resource).
async fn whole_history(client: &reqwest::Client, base: &str) -> Vec<(Value, Value, Value)> {
    let mut out = Vec::new();
    let mut url = Some(format!("{base}/_history?_count=500"));
    while let Some(u) = url {
        let page = fetch_json(client, &u).await;
        for e in page["entry"].as_array().into_iter().flatten() {
            out.push((
                e["request"]["method"].clone(),
                e["request"]["url"].clone(),
                e["resource"].clone(),
            ));
        }
        url = next_link(&page);
    }
    out
}

/// Updates `patient` (which exists) at `base`.
async fn put(client: &reqwest::Client, base: &str, patient: &Value) {
    let r = client
        .put(format!(
            "{base}/Patient/{}",
            patient["id"].as_str().unwrap()
        ))
        .header("content-type", "application/fhir+json")
        .body(patient.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_practice_moves_to_postgres_with_its_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    tandem::generate::run(&options(&root, 30, 1, 23), |_| {}).unwrap();
    let file = dir.path().join("source.db");
    run_import(&file, &[&root.join("practices"), &root.join("bundles")]);
    let client = reqwest::Client::new();

    // History beyond first versions: an update and a deletion.
    let mut source = start_server(&file, Stdio::null(), false);
    wait_ready(&client, &source.base).await;
    let patients = fetch_json(&client, &format!("{}/Patient?_count=2", source.base)).await;
    let mut patient = patients["entry"][0]["resource"].clone();
    let pid = patient["id"].as_str().unwrap().to_string();
    patient["gender"] = "unknown".into();
    put(&client, &source.base, &patient).await;
    let obs = fetch_json(&client, &format!("{}/Observation?_count=1", source.base)).await;
    let oid = obs["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .delete(format!("{}/Observation/{oid}", source.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let before = whole_history(&client, &source.base).await;
    source.kill();

    let database = fresh_postgres().await;
    let target = database.db.locator();
    let from = format!("sqlite:{}", file.display());
    let out = cli(
        &file,
        &["copy", "--from", &from, "--to", &target, "--batch", "97"],
    );
    let copied: u64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a line per practice: {out}"));
    assert_eq!(copied as usize, before.len(), "{out}");

    let mut source = start_server(&file, Stdio::null(), false);
    let mut moved = start_server(&database.db, Stdio::null(), false);
    wait_ready(&client, &source.base).await;
    wait_ready(&client, &moved.base).await;
    let after = whole_history(&client, &moved.base).await;
    assert_eq!(after.len(), before.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a, b, "the same version in the same order");
    }
    let gone = client
        .get(format!("{}/Observation/{oid}", moved.base))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410, "the deletion moved too");
    let v1 = format!("Patient/{pid}/_history/1");
    assert_eq!(
        fetch_json(&client, &format!("{}/{v1}", source.base)).await,
        fetch_json(&client, &format!("{}/{v1}", moved.base)).await,
    );
    // The target indexed what it received: the same searches find the same.
    for query in [
        format!("Observation?patient={pid}&_count=200&_sort=_id"),
        "Observation?code=http://loinc.org|44261-6&_count=200&_sort=_id".to_string(),
        "Patient?gender=unknown&_sort=_id".to_string(),
        "Encounter?date=ge2025-01-01&_summary=count".to_string(),
        "QuestionnaireResponse?_summary=count".to_string(),
    ] {
        let ids = |page: &Value| -> (Value, Vec<Value>) {
            let ids = page["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["resource"]["id"].clone())
                .collect();
            (page["total"].clone(), ids)
        };
        let a = ids(&fetch_json(&client, &format!("{}/{query}", source.base)).await);
        let b = ids(&fetch_json(&client, &format!("{}/{query}", moved.base)).await);
        assert_eq!(a, b, "{query}");
    }
    // A version written on the source after the copy (or one an interrupted
    // copy did not reach) is all a second run moves.
    patient["gender"] = "other".into();
    put(&client, &source.base, &patient).await;
    source.kill();
    moved.kill();
    let again = cli(&file, &["copy", "--from", &from, "--to", &target]);
    assert!(
        again.contains(&format!(
            ": 1 versions copied, {} already there",
            before.len()
        )),
        "{again}"
    );
    let mut moved = start_server(&database.db, Stdio::null(), false);
    wait_ready(&client, &moved.base).await;
    let p = fetch_json(&client, &format!("{}/Patient/{pid}", moved.base)).await;
    assert_eq!(
        (p["meta"]["versionId"].as_str(), p["gender"].as_str()),
        (Some("3"), Some("other"))
    );
    moved.kill();
}
