//! Helpers shared by the benchmarks: the Synthea sample, a concurrent load
//! driver with a latency histogram, HTTP transaction ingest and the report line.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The number after `name` on the bench's command line (`--patients 500`).
pub fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/synthea/blaze-r4-120-patients")
}

pub fn read_bz2(p: &Path) -> String {
    let mut s = String::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

pub fn count_entries(bodies: &[String]) -> u64 {
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["entry"]
                .as_array()
                .unwrap()
                .len() as u64
        })
        .sum()
}

/// Runs `total` requests from `clients` concurrent tasks; returns (req/s, histogram in µs).
pub async fn load<F, Fut>(clients: usize, total: usize, make: F) -> (f64, Histogram<u64>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let make = Arc::new(make);
    let started = Instant::now();
    // Client c sends requests c, c + clients, c + 2·clients, …: all `total` of them.
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (hist, make) = (hist.clone(), make.clone());
            tokio::spawn(async move {
                for i in (c..total).step_by(clients) {
                    let t = Instant::now();
                    assert!(make(i).await, "request failed");
                    hist.lock().record(t.elapsed().as_micros() as u64).unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let h = hist.lock().clone();
    (total as f64 / secs, h)
}

pub fn report(name: &str, rate: f64, unit: &str, h: Option<&Histogram<u64>>) -> Value {
    match h {
        Some(h) => {
            let (p50, p99) = (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
            );
            println!("{name:<48} {rate:>10.0} {unit:<12} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms");
            json!({"name": name, "rate": rate, "unit": unit, "p50_ms": p50, "p99_ms": p99})
        }
        None => {
            println!("{name:<48} {rate:>10.0} {unit}");
            json!({"name": name, "rate": rate, "unit": unit})
        }
    }
}

/// The Synthea sample in file order (reference batches first), decompressed;
/// the first 32 bundles when `quick`.
pub fn synthea_bodies(quick: bool) -> (Vec<PathBuf>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    if quick {
        files.truncate(32);
    }
    let bodies = files.iter().map(|f| read_bz2(f)).collect();
    (files, bodies)
}

/// The load generator's HTTP client: enough idle connections for 32+ concurrent senders.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// Posts the reference batches first, then the patient bundles 4 at a time;
/// returns resources per second.
pub async fn ingest_http(client: &reqwest::Client, base: &str, bodies: &[String]) -> f64 {
    ingest_http_nodes(client, &[base.to_string()], bodies).await
}

/// [`ingest_http`] spread round-robin over several nodes of one database.
pub async fn ingest_http_nodes(
    client: &reqwest::Client,
    nodes: &[String],
    bodies: &[String],
) -> f64 {
    let resources = count_entries(bodies);
    let started = Instant::now();
    for b in &bodies[..2] {
        let r = client
            .post(&nodes[0])
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(b.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let statuses: Vec<u16> = futures::stream::iter(bodies[2..].iter().cloned().enumerate())
        .map(|(i, b)| {
            let req = client
                .post(&nodes[i % nodes.len()])
                .header("content-type", "application/fhir+json")
                .header("prefer", "return=minimal")
                .body(b);
            async move { req.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    resources as f64 / started.elapsed().as_secs_f64()
}
