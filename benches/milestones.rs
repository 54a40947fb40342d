//! Program milestones and the quarterly feed at practice scale: a generated
//! population imported with `tandem import`, the release server on loopback
//! with the generated program configuration, then
//! - `GET Organization/{id}/$milestones?projectYear=1` for one practice
//!   (target: under 2 s for 10,000 patients), and
//! - the feed's pass (`POST /$run-feed` per practice: the required CQMs over
//!   the trailing year, every milestone, packaging, the ledger) and delivery
//!   to a local program endpoint, with the server's peak memory.
//!
//! Run: `cargo bench --bench milestones [-- --patients N --practices P]`
//! (default 10,000 patients in 1 practice; `--quick`: 1,000).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::Value;

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;

use process::{cli, serve_with, wait_ready};
use support::arg;

/// A `/proc/{pid}/status` figure in MiB (`VmHWM`: peak resident; `RssAnon`:
/// resident heap and stacks now, without the database pages SQLite maps).
fn status_mib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let patients = arg("--patients").unwrap_or(if quick { 1_000 } else { 10_000 });
    let practices = arg("--practices").unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let t = Instant::now();
    tandem::generate::run(
        &tandem::generate::Options {
            patients,
            practices,
            seed: 2026,
            out: pop.clone(),
            year: 2026,
            unassigned: 0.15,
        },
        |_| {},
    )
    .unwrap();
    println!(
        "generated {patients} patients in {practices} practice(s) in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // A local program endpoint that accepts every submission.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/Bundle", post(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The generated program, one quarter owed (2026Q3), delivered locally.
    let config = dir.path().join("program.toml");
    let text = std::fs::read_to_string(pop.join("program.toml"))
        .unwrap()
        .replace("start = \"2026-01-01\"", "start = \"2026-07-01\"");
    // Delivered even when a pre-send check fails (the bench's practices
    // have no HIE feed); the checks still run.
    let text = text.replacen(
        "[programs.reporting]",
        "[programs.reporting]\non_failed_checks = \"send\"",
        1,
    );
    let text = text.replacen(
        "[[programs.tracks]]",
        &format!("[programs.submission]\nendpoint = \"{endpoint}\"\n\n[[programs.tracks]]"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let db = dir.path().join("bench.db");
    let c = config.to_str().unwrap();
    let t = Instant::now();
    for k in 0..practices {
        let p = format!("practice-{k}");
        let files = [
            pop.join("practices").join(format!("{p}.json")),
            pop.join("bundles").join(&p),
        ];
        let mut args = vec!["--config", c, "import", "--tenant", &p];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        cli(&db, &args);
    }
    println!("imported in {:.1}s", t.elapsed().as_secs_f64());

    let mut server = serve_with(
        &db,
        Some(&config),
        &[
            ("TANDEM_AUTH__ENABLED", "false"),
            ("TANDEM_FEED__ENABLED", "false"),
        ],
    );
    let pid = server.child.id();
    // The peak of anonymous memory, sampled every 20 ms.
    let anon_peak = std::sync::Arc::new(parking_lot::Mutex::new(0f64));
    let sampler = {
        let peak = anon_peak.clone();
        tokio::spawn(async move {
            loop {
                let now = status_mib(pid, "RssAnon:");
                {
                    let mut p = peak.lock();
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let get = |path: String, tenant: String| {
        let client = client.clone();
        let url = format!("{base}/{path}");
        async move {
            let r = client
                .get(url)
                .header("x-tandem-tenant", tenant)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };

    // $milestones for the first practice, three times.
    let per_practice = patients / practices;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = get(
            "Organization/practice-0/$milestones?projectYear=1".into(),
            "practice-0".into(),
        )
        .await;
        times.push(t.elapsed().as_secs_f64());
        assert!(r["parameter"].as_array().unwrap().len() > 30);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "$milestones, projectYear=1, practice of {per_practice} patients: median {:.2}s (runs {:?})",
        times[1],
        times.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>()
    );

    // The feed: every practice's 2026Q3 submission, built and delivered.
    let t = Instant::now();
    for k in 0..practices {
        let r = client
            .post(format!("{base}/$run-feed"))
            .header("x-tandem-tenant", format!("practice-{k}"))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["parameter"][0]["valueInteger"], 1, "{body}");
    }
    let built = t.elapsed().as_secs_f64();
    for k in 0..practices {
        loop {
            let l = get(
                format!("Organization/practice-{k}/$submissions"),
                format!("practice-{k}"),
            )
            .await;
            let state = l["parameter"][0]["part"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "state")
                .and_then(|p| p["valueCode"].as_str())
                .unwrap_or_default()
                .to_string();
            if state == "accepted" {
                break;
            }
            assert!(state == "queued", "submission of practice-{k} is {state}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let delivered = t.elapsed().as_secs_f64();
    sampler.abort();
    println!(
        "feed, {patients} patients in {practices} practice(s): built {built:.1}s, delivered {delivered:.1}s ({:.0} patients/s); server peak RSS {:.0} MiB, of it anonymous at most {:.0} MiB (the rest: database pages SQLite maps)",
        patients as f64 / delivered,
        status_mib(pid, "VmHWM:"),
        *anon_peak.lock()
    );
    server.kill();
}
