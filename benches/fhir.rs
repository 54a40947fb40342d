//! Headline benchmarks of the FHIR server, driven over loopback HTTP against the
//! release binary (a separate process, on its own temporary SQLite file):
//!
//! - Synthea ingest through HTTP transactions and through `tandem import` (resources/s)
//! - single-resource POST throughput and p50/p99 at 32 concurrent clients
//! - read-by-id throughput and p50/p99 at 32 concurrent clients
//!
//! Run: `cargo bench --bench fhir` (add `-- --quick` for a short run).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
use process::{cli, fetch_json, run_import, start_secure_server, start_server, wait_ready};
use support::{count_entries, ingest_http, load, report, synthea_bodies};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().unwrap();
    let client = support::client();
    let mut results = Vec::new();

    let (files, bodies) = synthea_bodies(quick);
    let resources = count_entries(&bodies);
    println!(
        "Synthea sample: {} bundles, {resources} resources{}",
        bodies.len(),
        if quick { " (quick)" } else { "" }
    );

    // 1. Ingest through HTTP transactions (4 concurrent senders).
    let db = dir.path().join("http.db");
    let mut server = start_server(&db, Stdio::null(), false);
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    let rate = ingest_http(&client, &base, &bodies).await;
    results.push(report(
        "ingest: Synthea via HTTP transactions",
        rate,
        "resources/s",
        None,
    ));

    // 2. Single-resource POST at 32 concurrent clients.
    let n = if quick { 4_000 } else { 20_000 };
    let (c2, b2) = (client.clone(), base.clone());
    let (rate, h) = load(32, n, move |i| {
        let body = json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "subject": {"reference": format!("Patient/bench-{}", i % 500)}, "effectiveDateTime": "2024-01-01T10:00:00Z", "valueQuantity": {"value": i % 200, "unit": "mm[Hg]"}});
        let req = c2.post(format!("{b2}/Observation")).header("content-type", "application/fhir+json").header("prefer", "return=minimal").body(body.to_string());
        async move { req.send().await.map(|r| r.status() == 201).unwrap_or(false) }
    })
    .await;
    results.push(report(
        "POST Observation, 32 clients",
        rate,
        "req/s",
        Some(&h),
    ));

    // 3. Read by id at 32 concurrent clients.
    let page: Value =
        fetch_json(&client, &format!("{base}/Patient?_count=1000&_elements=id")).await;
    let ids: Arc<Vec<String>> = Arc::new(
        page["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect(),
    );
    let n = if quick { 20_000 } else { 100_000 };
    let (c3, b3, ids3) = (client.clone(), base.clone(), ids.clone());
    let (rate, h) = load(32, n, move |i| {
        let req = c3.get(format!("{b3}/Patient/{}", ids3[i % ids3.len()]));
        async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
    })
    .await;
    results.push(report(
        "GET Patient/{id}, 32 clients",
        rate,
        "req/s",
        Some(&h),
    ));
    server.kill();

    // 3b. Read by id with auth off and on, alternating restarts on the same data.
    let n = if quick { 20_000 } else { 100_000 };
    let key = dir.path().join("bench.pem");
    cli(
        &db,
        &[
            "client",
            "add",
            "bench",
            "--role",
            "ehr",
            "--organization",
            "default",
            "--generate-key",
            key.to_str().unwrap(),
        ],
    );
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let secure = round % 2 == 1;
        let mut s = if secure {
            start_secure_server(&db)
        } else {
            start_server(&db, Stdio::null(), false)
        };
        let base = s.base.clone();
        wait_ready(&client, &base).await;
        let c = if secure {
            let token = cli(
                &db,
                &[
                    "token",
                    "bench",
                    "--key",
                    key.to_str().unwrap(),
                    "--server",
                    &base,
                ],
            );
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(
                "authorization",
                format!("Bearer {}", token.trim()).parse().unwrap(),
            );
            reqwest::Client::builder()
                .default_headers(h)
                .pool_max_idle_per_host(256)
                .build()
                .unwrap()
        } else {
            client.clone()
        };
        let (b4, ids4) = (base.clone(), ids.clone());
        let (rate, _) = load(32, n, move |i| {
            let req = c.get(format!("{b4}/Patient/{}", ids4[i % ids4.len()]));
            async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
        })
        .await;
        rates[secure as usize].push(rate);
        s.kill();
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (off, on) = (mean(&rates[0]), mean(&rates[1]));
    results.push(report(
        "GET Patient/{id}, auth off (mean of 2)",
        off,
        "req/s",
        None,
    ));
    results.push(report(
        "GET Patient/{id}, auth on (mean of 2)",
        on,
        "req/s",
        None,
    ));
    println!(
        "auth overhead on read-by-id: {:.1}%",
        (off - on) / off * 100.0
    );

    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("http.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!("database size after runs: {:.1} MB", size as f64 / 1e6);

    // 4. `tandem import` of the same bundles (decompressed first, as for HTTP).
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    for (f, b) in files.iter().zip(&bodies) {
        std::fs::write(
            plain.join(f.file_name().unwrap().to_string_lossy().replace(".bz2", "")),
            b,
        )
        .unwrap();
    }
    let import_db = dir.path().join("import.db");
    let started = Instant::now();
    run_import(&import_db, &[&plain]);
    results.push(report(
        "ingest: Synthea via `tandem import`",
        resources as f64 / started.elapsed().as_secs_f64(),
        "resources/s",
        None,
    ));
    let size = std::fs::metadata(&import_db).map(|m| m.len()).unwrap_or(0);
    println!(
        "database size after import: {:.1} MB ({:.1} KB per resource)",
        size as f64 / 1e6,
        size as f64 / 1e3 / resources as f64
    );

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"quick": quick, "results": results})).unwrap(),
    )
    .unwrap();
    println!("results written to {}", path.display());
}
