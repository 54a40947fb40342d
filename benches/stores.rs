//! The stores side by side: the same HTTP workloads against SQLite, against
//! PostgreSQL with one node, and against PostgreSQL with two nodes sharing
//! the database (requests spread round-robin), in one run on this machine.
//!
//! Run: `cargo bench --bench stores` (Synthea sample and 2,000 generated
//! patients) or `-- --quick` (32 Synthea bundles, 500 patients);
//! `-- --rounds N` repeats the three configurations in turn. PostgreSQL is
//! the one `TEST_PG_URL` names (default: the local server with trust auth);
//! each configuration gets a fresh database, dropped afterwards. Results go
//! to `target/bench/stores-<unix time>.json`.

use std::process::Stdio;

use serde_json::{Value, json};
use tandem::config::Database;

#[allow(dead_code)]
#[path = "../tests/api/common/database.rs"]
mod database;
#[allow(dead_code)]
#[path = "suite_parts/http.rs"]
mod http;
#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;

use process::{Server, start_server_env, wait_ready};
use support::{arg, count_entries, ingest_http_nodes, report, synthea_bodies};

const MEDICAID: &str = "urn:tandem:generated:medicaid";

/// One configuration: which engine, how many nodes.
struct Setup {
    name: &'static str,
    postgres: bool,
    nodes: usize,
}

const SETUPS: [Setup; 3] = [
    Setup {
        name: "SQLite, 1 node",
        postgres: false,
        nodes: 1,
    },
    Setup {
        name: "PostgreSQL, 1 node",
        postgres: true,
        nodes: 1,
    },
    Setup {
        name: "PostgreSQL, 2 nodes",
        postgres: true,
        nodes: 2,
    },
];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = arg("--rounds").unwrap_or(1);
    // `--only K`: just the K-th configuration (0 SQLite, 1 and 2 PostgreSQL), for profiling.
    let only = arg("--only");
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    tandem::generate::run(
        &tandem::generate::Options {
            patients: if quick { 500 } else { 2_000 },
            practices: 1,
            seed: 2026,
            out: pop.clone(),
            year: 2026,
            unassigned: 0.15,
        },
        |_| {},
    )
    .unwrap();
    let (_, synthea) = synthea_bodies(quick);
    let mut runs: Vec<Value> = Vec::new();
    for round in 0..rounds {
        for (k, setup) in SETUPS.iter().enumerate() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            println!("\n== {} (round {})", setup.name, round + 1);
            let file = format!("stores-{round}-{k}.db");
            let db = if setup.postgres {
                database::fresh_postgres().await
            } else {
                database::fresh(dir.path(), &file).await
            };
            let results = workloads(setup, &db.db, &pop, &synthea, quick).await;
            runs.push(json!({"setup": setup.name, "round": round + 1, "results": results}));
        }
    }
    if only.is_none() {
        summary(&runs);
    }
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let file = out.join(format!("stores-{at}.json"));
    std::fs::write(&file, serde_json::to_string_pretty(&runs).unwrap()).unwrap();
    println!("results: {}", file.display());
}

/// Every workload against `setup`'s nodes on a fresh `db`.
async fn workloads(
    setup: &Setup,
    db: &Database,
    pop: &std::path::Path,
    synthea: &[String],
    quick: bool,
) -> Vec<Value> {
    let client = support::client();
    let trusted = format!("[\"{MEDICAID}\"]");
    let env = [(
        "TANDEM_TRANSITIONS__TRUSTED_IDENTIFIER_SYSTEMS",
        trusted.as_str(),
    )];
    let mut servers: Vec<Server> = (0..setup.nodes)
        .map(|_| start_server_env(db, Stdio::null(), false, &env))
        .collect();
    let nodes: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    for n in &nodes {
        wait_ready(&client, n).await;
    }
    let mut results = Vec::new();
    let rate = ingest_http_nodes(&client, &nodes, synthea).await;
    results.push(report(
        &format!(
            "ingest: Synthea via HTTP ({} resources)",
            count_entries(synthea)
        ),
        rate,
        "resources/s",
        None,
    ));
    let (rate, _) = http::post_files(&client, &nodes, &http::bundle_files(pop), 4).await;
    results.push(report(
        "ingest: generated via HTTP",
        rate,
        "resources/s",
        None,
    ));
    let n = if quick { 2_000 } else { 8_000 };
    let (rate, h) = http::post_observations(&client, &nodes, 32, n).await;
    results.push(report(
        "POST Observation, 32 clients",
        rate,
        "req/s",
        Some(&h),
    ));
    let ids = http::patient_ids(&client, &nodes[0]).await;
    let n = if quick { 10_000 } else { 40_000 };
    let (rate, h) = http::read_by_id(&client, &nodes, &ids, n).await;
    results.push(report(
        "GET Patient/{id}, 32 clients",
        rate,
        "req/s",
        Some(&h),
    ));
    for (name, query) in http::SEARCHES {
        let n = if quick { 2_000 } else { 6_000 };
        let (rate, h) = http::search(&client, &nodes, &ids, query, n).await;
        results.push(report(name, rate, "req/s", Some(&h)));
    }
    let (rate, h) = http::process_messages(&client, &nodes, &http::notification_files(pop)).await;
    results.push(report(
        "$process-message, 32 senders",
        rate,
        "msgs/s",
        Some(&h),
    ));
    for s in &mut servers {
        s.kill();
    }
    // `tandem import` of the generated practice into a fresh database of
    // the same engine (index rows as array inserts on PostgreSQL).
    if setup.nodes == 1 {
        let dir = tempfile::tempdir().unwrap();
        let fresh = if setup.postgres {
            database::fresh_postgres().await
        } else {
            database::fresh(dir.path(), "import.db").await
        };
        let bundles = http::bundle_files(pop);
        let resources = count_entries(
            &bundles
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap())
                .collect::<Vec<_>>(),
        );
        let t = std::time::Instant::now();
        process::run_import(&fresh.db, &[&pop.join("practices"), &pop.join("bundles")]);
        results.push(report(
            "ingest: generated via `tandem import`",
            resources as f64 / t.elapsed().as_secs_f64(),
            "resources/s",
            None,
        ));
    }
    results
}

/// Each figure per setup, and PostgreSQL's ratio to SQLite (rates: higher is
/// better; the target columns of the issue are ingest ≥ 60 %, searches ≥ 50 %).
fn summary(runs: &[Value]) {
    println!(
        "\n{:<52} {:>14} {:>14} {:>14}",
        "figure (mean of rounds)", SETUPS[0].name, SETUPS[1].name, SETUPS[2].name
    );
    let names: Vec<String> = runs[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for name in names {
        let mean = |setup: &str, key: &str| {
            let v: Vec<f64> = runs
                .iter()
                .filter(|r| r["setup"] == setup)
                .flat_map(|r| r["results"].as_array().unwrap().iter())
                .filter(|r| r["name"] == name.as_str())
                .filter_map(|r| r[key].as_f64())
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let cells: Vec<String> = SETUPS
            .iter()
            .map(|s| match (mean(s.name, "rate"), mean(s.name, "p99_ms")) {
                (Some(rate), Some(p99)) => format!("{rate:.0} ({p99:.1} ms)"),
                (Some(rate), None) => format!("{rate:.0}"),
                (None, _) => "-".into(),
            })
            .collect();
        let ratio = |s: &Setup| {
            mean(s.name, "rate").unwrap_or(0.0) / mean(SETUPS[0].name, "rate").unwrap_or(1.0)
        };
        println!(
            "{name:<52} {:>14} {:>14} {:>14}   PG/SQLite {:.0}% / {:.0}%",
            cells[0],
            cells[1],
            cells[2],
            100.0 * ratio(&SETUPS[1]),
            100.0 * ratio(&SETUPS[2]),
        );
    }
}
