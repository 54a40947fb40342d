//! One client must not take the server down: reads by id in one practice
//! (`other`, 100 patients) measured alone, then while 12 clients run heavy
//! searches in another practice (`heavy`, 6,000 patients with two
//! Observations each: 8 `_has` clauses of 50 codes with `_total=accurate`,
//! the most a client may send — the reproduction had 25, now refused
//! with 400), then while 1,000 connections trickle request headers.
//! Reports p50/p99 of the reads in each phase, what the heavy searches got,
//! and how long the slow connections stayed open.
//!
//! Run: `cargo bench --bench abuse` (add `-- --quick` for 1,000 patients).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
use process::{start_server_env, wait_ready};

const READERS: usize = 4;
const READS: usize = 500;

async fn seed(c: &reqwest::Client, base: &str, tenant: &str, patients: usize) {
    let entries: Vec<Value> = (0..patients)
        .flat_map(|i| {
            let pid = format!("p{i}");
            let obs = |n: usize| {
                json!({"resource": {"resourceType": "Observation", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": format!("{}", 1000 + (i + n) % 50)}]},
                    "subject": {"reference": format!("Patient/{pid}")}},
                    "request": {"method": "POST", "url": "Observation"}})
            };
            [
                json!({"resource": {"resourceType": "Patient", "id": pid, "name": [{"family": format!("F{i}")}]},
                       "request": {"method": "PUT", "url": format!("Patient/{pid}")}}),
                obs(0),
                obs(7),
            ]
        })
        .collect();
    for chunk in entries.chunks(900) {
        let r = c
            .post(base)
            .header("content-type", "application/fhir+json")
            .header("x-tandem-tenant", tenant)
            .body(
                json!({"resourceType": "Bundle", "type": "transaction", "entry": chunk})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

/// READERS clients × READS reads by id in `other`: latency histogram (µs) and failures.
async fn reads(c: &reqwest::Client, base: &str) -> (Histogram<u64>, usize) {
    let mut tasks = Vec::new();
    for w in 0..READERS {
        let (c, base) = (c.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            let mut failed = 0;
            for i in 0..READS {
                let t = Instant::now();
                let ok = c
                    .get(format!("{base}/Patient/p{}", (w * READS + i) % 100))
                    .header("x-tandem-tenant", "other")
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                h.record(t.elapsed().as_micros() as u64).unwrap();
                failed += usize::from(!ok);
            }
            (h, failed)
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    let mut failed = 0;
    for t in tasks {
        let (h, f) = t.await.unwrap();
        all.add(h).unwrap();
        failed += f;
    }
    (all, failed)
}

fn line(phase: &str, h: &Histogram<u64>, failed: usize) {
    println!(
        "{phase:<34} reads p50 {:>7.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  failed {failed}",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let patients = if quick { 1_000 } else { 6_000 };
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server_env(&dir.path().join("abuse.db"), Stdio::null(), false, &[]);
    let base = server.base.clone();
    let c = support::client();
    wait_ready(&c, &base).await;
    seed(&c, &base, "heavy", patients).await;
    seed(&c, &base, "other", 100).await;

    let (h, f) = reads(&c, &base).await;
    line("alone", &h, f);

    // 12 clients looping the heavy search in the other practice.
    let codes: Vec<String> = (1000..1050).map(|c| c.to_string()).collect();
    let has: Vec<String> = (0..8)
        .map(|_| format!("_has:Observation:subject:code={}", codes.join(",")))
        .collect();
    let heavy = format!("{base}/Patient?{}&_total=accurate", has.join("&"));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, costly, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut loops = Vec::new();
    for _ in 0..12 {
        let (c, url, stop) = (c.clone(), heavy.clone(), stop.clone());
        let (ok, costly, other) = (ok.clone(), costly.clone(), other.clone());
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let s = c
                    .get(&url)
                    .header("x-tandem-tenant", "heavy")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                match s {
                    200 => &ok,
                    422 => &costly,
                    _ => &other,
                }
                .fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (h, f) = reads(&c, &base).await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    line("during 12 heavy searches", &h, f);
    println!(
        "  heavy searches: {} answered 200, {} stopped (422 too-costly), {} other",
        ok.load(Ordering::Relaxed),
        costly.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed)
    );

    // 1,000 connections trickling a request head, a byte every 500 ms.
    let addr = base.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..1_000 {
        let addr = addr.clone();
        slow.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                return None;
            };
            let _ = s.write_all(b"GET /metadata HTTP/1.1\r\nHost: x\r\n").await;
            let opened = Instant::now();
            let mut buf = [0u8; 256];
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return Some(opened.elapsed()) },
                    () = tokio::time::sleep(Duration::from_millis(500)) => {
                        if s.write_all(b"X").await.is_err() {
                            return Some(opened.elapsed());
                        }
                        if opened.elapsed() > Duration::from_secs(120) {
                            return None;
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (h, f) = reads(&c, &base).await;
    line("during 1,000 slow connections", &h, f);
    let mut open_for = Histogram::<u64>::new(3).unwrap();
    let mut never = 0;
    for s in slow {
        match s.await.unwrap() {
            Some(d) => open_for.record(d.as_millis() as u64).unwrap(),
            None => never += 1,
        }
    }
    println!(
        "  slow connections closed by the server after p50 {:.1} s, max {:.1} s; {never} still open after 120 s; all gone {:.1} s after the first opened",
        open_for.value_at_quantile(0.5) as f64 / 1000.0,
        open_for.max() as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    );
    server.kill();
}
