//! Payer attribution at program scale: P practices (default 200), each with
//! N patients (default 5,000: Medicaid id, demographics, a PCP for most)
//! and a payer's Da Vinci ATR list of about N members (seven in eight of
//! its patients by Medicaid id, plus 5% members of another practice),
//! loaded with `tandem import`; then the release server on loopback and
//! - `GET Organization/{id}/$attribution` for one practice, 10 times
//!   (target: under 1 s), and
//! - a month's reconciliation for every practice, two requests at a time
//!   (the machine has two cores; target: under 30 s for 200 × 5,000).
//!
//! Each report's counts are checked against the seeded population, so a
//! fast wrong answer fails the run.
//!
//! Run: `cargo bench --bench attribution [-- --practices P --patients N]`
//! (`--quick`: 20 practices).

use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;

use process::{cli, serve_with, wait_ready};
use support::arg;

const MEDICAID: &str = "urn:oid:2.16.840.1.113883.4.3.8";

/// Whether patient `i` is on its own practice's list, and whether it has a
/// PCP there (every seventh has none; every fiftieth one elsewhere).
fn listed(i: usize) -> bool {
    !i.is_multiple_of(8)
}

/// Writes practice `k`'s NDJSON: clinicians, patients, the payer's list.
fn seed(dir: &std::path::Path, k: usize, practices: usize, n: usize) -> std::path::PathBuf {
    let path = dir.join(format!("practice-{k}.ndjson"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut line = |v: Value| writeln!(f, "{v}").unwrap();
    for d in 0..5 {
        line(json!({"resourceType": "Practitioner", "id": format!("dr-{k}-{d}")}));
    }
    for i in 0..n {
        let mut p = json!({"resourceType": "Patient", "id": format!("p-{k}-{i}"),
            "identifier": [{"system": MEDICAID, "value": format!("M{k}-{i}")}],
            "name": [{"family": format!("Family{}", i % 997), "given": [format!("Given{k}x{i}")]}],
            "birthDate": format!("19{:02}-0{}-1{}", 40 + i % 60, 1 + i % 9, i % 10),
            "gender": if i % 2 == 0 { "female" } else { "male" }});
        match (i % 7, i % 50) {
            (0, _) => {}
            (_, 1) => p["generalPractitioner"] = json!([{"reference": "Practitioner/elsewhere"}]),
            _ => {
                p["generalPractitioner"] =
                    json!([{"reference": format!("Practitioner/dr-{k}-{}", i % 5)}])
            }
        }
        line(p);
    }
    let other = (k + 1) % practices;
    let members: Vec<Value> = (0..n)
        .filter(|i| listed(*i))
        .map(|i| format!("M{k}-{i}"))
        .chain((0..n / 20).map(|i| format!("M{other}-{i}")))
        .map(|m| json!({"entity": {"identifier": {"system": MEDICAID, "value": m}}}))
        .collect();
    line(json!({"resourceType": "Group", "id": format!("atr-{k}"),
        "meta": {"profile": [tandem::rules::attribution::ATR_PROFILE]},
        "type": "person", "actual": true, "name": format!("Payer list for practice {k}"),
        "member": members}));
    f.flush().unwrap();
    path
}

fn figure(report: &Value, name: &str) -> u64 {
    report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "list")
        .and_then(|l| l["part"].as_array())
        .and_then(|parts| parts.iter().find(|p| p["name"] == name))
        .and_then(|p| p["valueInteger"].as_u64())
        .unwrap_or_else(|| panic!("no {name} in the report"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let practices = arg("--practices").unwrap_or(if quick { 20 } else { 200 });
    let n = arg("--patients").unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let t = Instant::now();
    for k in 0..practices {
        let file = seed(dir.path(), k, practices, n);
        let tenant = format!("practice-{k}");
        cli(
            &db,
            &["import", "--tenant", &tenant, file.to_str().unwrap()],
        );
        std::fs::remove_file(file).unwrap();
    }
    println!(
        "seeded {practices} practices × {n} patients and one payer list each in {:.0}s",
        t.elapsed().as_secs_f64()
    );

    let server = serve_with(&db, None, &[("TANDEM_AUTH__ENABLED", "false")]);
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let attribution = |k: usize| {
        let (client, base, month) = (client.clone(), base.clone(), month.clone());
        async move {
            let r = client
                .get(format!(
                    "{base}/Organization/practice-{k}/$attribution?month={month}"
                ))
                .header("x-tandem-tenant", format!("practice-{k}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            let report: Value = r.json().await.unwrap();
            let own = (0..n).filter(|i| listed(*i)).count() as u64;
            assert_eq!(figure(&report, "matched"), own);
            assert_eq!(figure(&report, "attributed"), own + (n / 20) as u64);
            assert_eq!(figure(&report, "unmatched"), (n / 20) as u64);
        }
    };

    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        attribution(0).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "$attribution, one practice of {n} patients and {n}-member list: median {:.0} ms, max {:.0} ms",
        times[times.len() / 2],
        times[times.len() - 1]
    );

    let t = Instant::now();
    futures::stream::iter(0..practices)
        .map(attribution)
        .buffer_unordered(2)
        .collect::<Vec<()>>()
        .await;
    println!(
        "a month's reconciliation, {practices} practices × {n}: {:.1}s (2 at a time)",
        t.elapsed().as_secs_f64()
    );
    drop(server);
}
