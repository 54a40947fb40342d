//! The Synthea sample (120 patients, ~92k resources) loaded by HTTP transactions
//! and by `tandem import`: resource counts match the source and conditional
//! references resolved to stored resources.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use common::process::run_import;
use common::{TestApp, shared_data, spawn_app, spawn_app_with};
use futures::StreamExt;
use serde_json::Value;

fn synthea_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(shared_data().join("synthea/blaze-r4-120-patients"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    files.sort(); // the 0-hospital/0-practitioner batches come first
    files
}

fn read_bz2(p: &PathBuf) -> String {
    let mut s = String::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn expected_counts(files: &[PathBuf]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for f in files {
        let b: Value = serde_json::from_str(&read_bz2(f)).unwrap();
        for e in b["entry"].as_array().unwrap() {
            *counts
                .entry(e["resource"]["resourceType"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    counts
}

async fn stored_counts(
    app: &TestApp,
    types: impl Iterator<Item = &String>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for t in types {
        let (_, b) = app.get_json(&format!("{t}?_summary=count")).await;
        out.insert(t.clone(), b["total"].as_u64().unwrap());
    }
    out
}

async fn check_references_resolve(app: &TestApp) {
    let (_, enc) = app.get_json("Encounter?_count=20&_include=Encounter:service-provider&_include=Encounter:participant").await;
    let entries = enc["entry"].as_array().unwrap();
    for e in entries.iter().filter(|e| e["search"]["mode"] == "match") {
        let r = e["resource"]["serviceProvider"]["reference"]
            .as_str()
            .unwrap();
        assert!(
            r.starts_with("Organization/") && !r.contains('?'),
            "conditional reference rewritten: {r}"
        );
        assert_eq!(app.get(r).await.status(), 200, "{r} resolves");
    }
    assert!(
        entries.iter().any(|e| e["search"]["mode"] == "include"),
        "includes found the referenced resources"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn synthea_by_http_transactions() {
    let app = spawn_app().await;
    let files = synthea_files();
    let expected = expected_counts(&files);
    // Reference data first (sequentially), then patient bundles 4 at a time.
    for f in &files[..2] {
        let r = app
            .client
            .post(&app.base)
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(read_bz2(f))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let results: Vec<u16> = futures::stream::iter(files[2..].iter())
        .map(|f| {
            let req = app
                .client
                .post(&app.base)
                .header("content-type", "application/fhir+json")
                .header("prefer", "return=minimal")
                .body(read_bz2(f));
            async move { req.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200), "{results:?}");
    assert_eq!(stored_counts(&app, expected.keys()).await, expected);
    check_references_resolve(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn synthea_by_tandem_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("import.db");
    let stdout = run_import(&db, &[&shared_data().join("synthea/blaze-r4-120-patients")]);
    let expected = expected_counts(&synthea_files());
    let total: u64 = expected.values().sum();
    assert!(
        stdout.contains(&format!("loaded {total} resources, rejected 0")),
        "{stdout}"
    );
    let app = spawn_app_with(|c| c.database = db.clone()).await;
    assert_eq!(stored_counts(&app, expected.keys()).await, expected);
    check_references_resolve(&app).await;
    app.stop().await;
}
