//! The benchmark suite: every headline figure from one command, against a
//! release server started on loopback with a fresh SQLite store, on a
//! population from `tandem generate` (plus the Synthea sample).
//!
//! Run: `cargo bench --bench suite` (10,000 generated patients; measures also
//! on 100,000 in memory) or `cargo bench --bench suite -- --quick` (1,000
//! patients, under two minutes once built). The table is printed and written
//! as JSON to `target/bench/suite-<unix time>.json` (and `suite-latest.json`)
//! so commits can be compared.

use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;

#[path = "suite_parts/http.rs"]
mod http;
#[path = "suite_parts/measures.rs"]
mod measures;
#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
#[path = "suite_parts/system.rs"]
mod system;

use process::{run_import, start_server_env, wait_ready};
use support::{count_entries, ingest_http, report, synthea_bodies};

const MEDICAID: &str = "urn:tandem:generated:medicaid";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let client = support::client();
    let mut results: Vec<Value> = Vec::new();
    let patients = if quick { 1_000 } else { 10_000 };

    // The population.
    let pop = dir.path().join("pop");
    let opts = tandem::generate::Options {
        patients,
        practices: 1,
        seed: 2026,
        out: pop.clone(),
        year: 2026,
        unassigned: 0.15,
    };
    let t = Instant::now();
    let summary = tandem::generate::run(&opts, |_| {}).unwrap();
    results.push(report(
        "generate: tandem generate",
        summary.resources as f64 / t.elapsed().as_secs_f64(),
        "resources/s",
        None,
    ));

    // The server, on a fresh store, matching HIE patients by Medicaid id.
    let db = dir.path().join("suite.db");
    let trusted = format!("[\"{MEDICAID}\"]");
    let env = [(
        "TANDEM_TRANSITIONS__TRUSTED_IDENTIFIER_SYSTEMS",
        trusted.as_str(),
    )];
    let mut server = start_server_env(&db, Stdio::null(), false, &env);
    let base = server.base.clone();
    let nodes = std::slice::from_ref(&base);
    wait_ready(&client, &base).await;

    // Ingest: Synthea and the generated practice over HTTP transactions.
    let (_, bodies) = synthea_bodies(quick);
    let synthea = count_entries(&bodies);
    let rate = ingest_http(&client, &base, &bodies).await;
    results.push(report(
        "ingest: Synthea via HTTP transactions",
        rate,
        "resources/s",
        None,
    ));
    let files = http::bundle_files(&pop);
    let (rate, loaded) = http::post_files(&client, nodes, &files, 4).await;
    results.push(report(
        "ingest: generated via HTTP transactions",
        rate,
        "resources/s",
        None,
    ));
    // Size per resource right after ingest (history, indexes, audit and
    // derived resources included; the workloads below add their own).
    let per_thousand =
        system::database_bytes(&db) as f64 / 1024.0 / ((synthea + loaded) as f64 / 1000.0);

    // Writes at 1, 8, 32 and 128 clients; reads; the US Core searches.
    for clients in [1, 8, 32, 128] {
        let n = if quick {
            300 * clients.min(8)
        } else {
            1_500 * clients.min(8)
        };
        let (rate, h) = http::post_observations(&client, nodes, clients, n).await;
        results.push(report(
            &format!("POST Observation, {clients} clients"),
            rate,
            "req/s",
            Some(&h),
        ));
    }
    let ids = http::patient_ids(&client, &base).await;
    let (rate, h) =
        http::read_by_id(&client, nodes, &ids, if quick { 10_000 } else { 50_000 }).await;
    results.push(report(
        "GET Patient/{id}, 32 clients",
        rate,
        "req/s",
        Some(&h),
    ));
    for (name, query) in http::SEARCHES {
        let (rate, h) = http::search(
            &client,
            nodes,
            &ids,
            query,
            if quick { 2_000 } else { 10_000 },
        )
        .await;
        results.push(report(name, rate, "req/s", Some(&h)));
    }

    // HIE notifications, and a screening write until its result is readable.
    let messages = http::notification_files(&pop);
    let (rate, h) = http::process_messages(&client, nodes, &messages).await;
    results.push(report(
        "$process-message, 32 senders",
        rate,
        "msgs/s",
        Some(&h),
    ));
    let (rate, h) =
        http::screening_round_trips(&client, &base, &ids, if quick { 400 } else { 2_000 }).await;
    results.push(report(
        "PHQ-9 response → derived result readable, 8 clients",
        rate,
        "req/s",
        Some(&h),
    ));

    // Memory of the server after all of it.
    let rss = system::peak_rss_mib(server.child.id());
    server.kill();
    results.push(report("server peak RSS", rss, "MiB", None));
    results.push(report(
        "database size per 1,000 resources ingested",
        per_thousand,
        "KiB",
        None,
    ));

    // `tandem import` of the same generated bundles into another store.
    let import_db = dir.path().join("import.db");
    let t = Instant::now();
    let (practices, bundles) = (pop.join("practices"), pop.join("bundles"));
    run_import(&import_db, &[&practices, &bundles]);
    results.push(report(
        "ingest: generated via `tandem import`",
        loaded as f64 / t.elapsed().as_secs_f64(),
        "resources/s",
        None,
    ));

    // Measures: every measure over the stored practice, then in memory.
    results.push(measures::store_run(&db, patients));
    for n in if quick {
        vec![10_000]
    } else {
        vec![10_000, 100_000]
    } {
        results.push(measures::in_memory(n));
    }

    let out = system::write_results(&results, quick, started.elapsed().as_secs_f64());
    println!("results: {}", out.display());
}
