//! `$process-message` throughput with follow-up creation: 32 concurrent
//! senders post admit and discharge notifications (Da Vinci IG example shape,
//! each with its own MessageHeader id and stay) for patients the practice
//! knows by MRN; every discharge creates its transitions-of-care Tasks and an
//! outbox message, in the request's transaction.
//!
//! Run: `cargo bench --bench notifications` (add `-- --quick` for a short run).
//! `-- --wal-buffer-pairs N` runs N alternating pairs of full runs, the
//! writer's WAL layer off then on (`[sqlite] wal_buffer`), side by side.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};

#[path = "../tests/api/common/hook.rs"]
#[allow(dead_code)]
mod hook;
#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
use process::{fetch_json, start_server_env, wait_ready};
use support::{load, report};

const MRN: &str = "http://example.org/fhir/mrn";

fn template(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/davinci-notifications")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Message `i`: even = admit, odd = discharge of stay `i / 2` of patient `(i / 2) % patients`.
fn message(admit: &Value, discharge: &Value, i: usize, patients: usize) -> String {
    let mut b = if i.is_multiple_of(2) {
        admit.clone()
    } else {
        discharge.clone()
    };
    let stay = i / 2;
    b["id"] = json!(format!("bench-{i}"));
    b["entry"][0]["resource"]["id"] = json!(format!("bench-msg-{i}"));
    let entries = b["entry"].as_array_mut().unwrap();
    for e in entries.iter_mut() {
        match e["resource"]["resourceType"].as_str() {
            Some("Encounter") => {
                e["resource"]["identifier"][0]["value"] = json!(format!("stay-{stay}"))
            }
            Some("Patient") => {
                e["resource"]["identifier"] =
                    json!([{"system": MRN, "value": format!("mrn-{}", stay % patients)}]);
            }
            _ => {}
        }
    }
    b.to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let pairs: Option<usize> = args
        .iter()
        .position(|a| a == "--wal-buffer-pairs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let Some(pairs) = pairs else {
        let results = run(quick, false).await;
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-notifications.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({"quick": quick, "results": results})).unwrap(),
        )
        .unwrap();
        println!("results written to {}", path.display());
        return;
    };
    let mut rows = Vec::new();
    for pair in 0..pairs {
        for wal_buffer in [false, true] {
            println!("pair {pair}, wal_buffer = {wal_buffer}");
            let r = run(quick, wal_buffer).await;
            rows.push(json!({"pair": pair, "wal_buffer": wal_buffer, "rate": r[0]["rate"], "p99_ms": r[0]["p99_ms"]}));
        }
    }
    println!("\n| pair | wal_buffer off msg/s (p99 ms) | on msg/s (p99 ms) |\n|---|---|---|");
    for pair in rows.chunks(2) {
        println!(
            "| {} | {:.0} ({:.1}) | {:.0} ({:.1}) |",
            pair[0]["pair"],
            pair[0]["rate"].as_f64().unwrap_or_default(),
            pair[0]["p99_ms"].as_f64().unwrap_or_default(),
            pair[1]["rate"].as_f64().unwrap_or_default(),
            pair[1]["p99_ms"].as_f64().unwrap_or_default()
        );
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-wal-buffer.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    println!("results written to {}", path.display());
}

/// One full run on a fresh database; the report rows.
async fn run(quick: bool, wal_buffer: bool) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let client = support::client();
    // The practice's notification endpoint: every admit and discharge is
    // delivered to it through the outbox while the senders run.
    let practice = hook::Hook::start(0).await;
    let endpoints = format!("[{{tenant=\"default\",url=\"{}\"}}]", practice.url);
    let env = [
        (
            "TANDEM_TRANSITIONS__TRUSTED_IDENTIFIER_SYSTEMS",
            "[\"http://example.org/fhir/mrn\"]",
        ),
        ("TANDEM_NOTIFICATIONS__ENDPOINTS", endpoints.as_str()),
        (
            "TANDEM_SQLITE__WAL_BUFFER",
            if wal_buffer { "true" } else { "false" },
        ),
    ];
    let mut server = start_server_env(&dir.path().join("adt.db"), Stdio::null(), false, &env);
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    let patients = 2_000;
    let entries: Vec<Value> = (0..patients)
        .map(|i| json!({"resource": {"resourceType": "Patient", "identifier": [{"system": MRN, "value": format!("mrn-{i}")}]}, "request": {"method": "POST", "url": "Patient"}}))
        .collect();
    let r = client
        .post(&base)
        .header("content-type", "application/fhir+json")
        .body(
            json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let (admit, discharge) = (
        template("admit-notification-message-bundle-01.json"),
        template("discharge-notification-message-bundle-01.json"),
    );
    let n = if quick { 4_000 } else { 20_000 };
    let bodies: std::sync::Arc<Vec<String>> = std::sync::Arc::new(
        (0..n)
            .map(|i| message(&admit, &discharge, i, patients))
            .collect(),
    );
    let (c, b, bodies2) = (client.clone(), base.clone(), bodies.clone());
    // A stay's admit and discharge go to neighbouring senders, so some discharges
    // arrive before their admits (the merge is order-tolerant).
    let (rate, h) = load(32, n, move |i| {
        let req = c
            .post(format!("{b}/$process-message"))
            .header("content-type", "application/fhir+json")
            .body(bodies2[i].clone());
        async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
    })
    .await;
    let mut results = vec![report(
        "$process-message (admit/discharge), 32 senders",
        rate,
        "msg/s",
        Some(&h),
    )];
    let tasks = fetch_json(&client, &format!("{base}/Task?_summary=count")).await;
    let encs = fetch_json(&client, &format!("{base}/Encounter?_summary=count")).await;
    println!(
        "  stays: {}, encounters: {}, follow-up tasks: {}",
        n / 2,
        encs["total"],
        tasks["total"]
    );
    assert_eq!(
        encs["total"].as_u64(),
        Some((n / 2) as u64),
        "one Encounter per stay"
    );
    assert_eq!(
        tasks["total"].as_u64(),
        Some(n as u64),
        "two Tasks per inpatient discharge"
    );
    // Delivery runs behind the senders; wait for it to catch up.
    let start = std::time::Instant::now();
    practice.wait_accepted(n).await;
    println!(
        "  practice notifications delivered: {} ({:.1} s after the last message)",
        practice.accepted().len(),
        start.elapsed().as_secs_f64()
    );
    results.push(
        json!({"stays": n / 2, "tasks": tasks["total"], "delivered": practice.accepted().len()}),
    );
    server.kill();
    results
}
