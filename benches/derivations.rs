//! What screening derivations cost, measured against the release binary over
//! loopback (same machine as the load generator):
//!
//! - Synthea ingest through HTTP transactions with derivations off and on,
//!   alternating on fresh databases (the sample yields ~2,400 results from
//!   smoking status, BMI and BMI percentile);
//! - PHQ-9 QuestionnaireResponse POSTs at 32 clients, off and on: every write
//!   derives a result (and updates a care plan when positive) in the write's own
//!   transaction, so the write latency is the write → screening-result latency.
//!
//! Run: `cargo bench --bench derivations` (add `-- --quick` for a short run).

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
use process::{fetch_json, start_server_env, wait_ready};
use support::{ingest_http, load, report, synthea_bodies};

fn env(on: bool) -> [(&'static str, &'static str); 1] {
    [(
        "TANDEM_DERIVATIONS__ENABLED",
        if on { "true" } else { "false" },
    )]
}

fn phq9(i: usize) -> Value {
    const LA: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    let items: Vec<Value> = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let a = if k == 8 { 0 } else { (i + k) % 4 };
            json!({"linkId": c, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": LA[a]}}]})
        })
        .collect();
    json!({"resourceType": "QuestionnaireResponse", "questionnaire": "http://tandem.health/fhir/Questionnaire/phq-9",
        "status": "completed", "subject": {"reference": format!("Patient/bench-{}", i % 2000)},
        "authored": format!("2026-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28), "item": items})
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().unwrap();
    let client = support::client();
    let (_, bodies) = synthea_bodies(quick);
    let mut results = Vec::new();

    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let on = round % 2 == 1;
        let db = dir.path().join(format!("ingest-{round}.db"));
        let mut s = start_server_env(&db, Stdio::null(), false, &env(on));
        let base = s.base.clone();
        wait_ready(&client, &base).await;
        rates[on as usize].push(ingest_http(&client, &base, &bodies).await);
        if on {
            let b = fetch_json(&client, &format!("{base}/Observation?_tag=http://tandem.health/fhir/CodeSystem/derived|screening-result&_summary=count")).await;
            println!("  derived results in round {round}: {}", b["total"]);
        }
        s.kill();
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (off, on) = (mean(&rates[0]), mean(&rates[1]));
    results.push(report(
        "ingest: Synthea, derivations off (mean of 2)",
        off,
        "resources/s",
        None,
    ));
    results.push(report(
        "ingest: Synthea, derivations on (mean of 2)",
        on,
        "resources/s",
        None,
    ));
    println!(
        "derivation cost on Synthea ingest: {:.1}%",
        (off - on) / off * 100.0
    );

    let n = if quick { 4_000 } else { 20_000 };
    let mut p99 = Vec::new();
    for on in [false, true] {
        let db = dir.path().join(format!("phq-{on}.db"));
        let mut s = start_server_env(&db, Stdio::null(), false, &env(on));
        let base = s.base.clone();
        wait_ready(&client, &base).await;
        let (c, b) = (client.clone(), base.clone());
        let (rate, h) = load(32, n, move |i| {
            let req = c
                .post(format!("{b}/QuestionnaireResponse"))
                .header("content-type", "application/fhir+json")
                .header("prefer", "return=minimal")
                .body(phq9(i).to_string());
            async move { req.send().await.map(|r| r.status() == 201).unwrap_or(false) }
        })
        .await;
        let name = format!(
            "POST PHQ-9 QuestionnaireResponse, derivations {}",
            if on { "on" } else { "off" }
        );
        results.push(report(&name, rate, "req/s", Some(&h)));
        p99.push(h.value_at_quantile(0.99) as f64 / 1000.0);
        if on {
            let b = fetch_json(&client, &format!("{base}/Observation?_tag=http://tandem.health/fhir/CodeSystem/derived|screening-result&_summary=count")).await;
            assert_eq!(
                b["total"].as_u64(),
                Some(n as u64),
                "one result per response"
            );
        }
        s.kill();
    }
    println!(
        "p99 write latency: off {:.2} ms, on {:.2} ms",
        p99[0], p99[1]
    );

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-derivations.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"quick": quick, "results": results})).unwrap(),
    )
    .unwrap();
    println!("results written to {}", path.display());
}
