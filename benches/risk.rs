//! Risk stratification at scale, on the release server over loopback:
//! - **from scratch**: a generated practice of N patients (default 100,000;
//!   `tandem import`, then its HIE notifications over HTTP), then
//!   `GET $risk-registry` (the method over every record, nothing written),
//!   `POST $stratify?careGaps=false` on an empty store of assessments (every
//!   stratum written as a RiskAssessment, high-risk plans and outreach
//!   Tasks), the same again with nothing changed, and the care-gap sync
//!   alone (target: stratifying N = 100,000 from scratch under 10 s);
//! - **on writes**: ingest of M generated patients' transactions (default
//!   5,000) into two fresh servers side by side — the periodic pass off,
//!   and on every 2 s (each pass after the first over the patients written
//!   since the last) — twice each, alternating (target: on costs under 5%).
//!
//! The registry's tier counts are checked against the generator's answers
//! on its day, so a fast wrong answer fails the run.
//!
//! Run: `cargo bench --bench risk [-- --patients N --ingest M]` (`--quick`:
//! 10,000 and 1,000).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "suite_parts/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;

use process::{Server, cli, serve_with, wait_ready};
use support::arg;

fn serve(db: &std::path::Path, config: &std::path::Path, restratify: &str) -> Server {
    // Error level: the bench's practice has no notification endpoint, so
    // every ADT and safety notification is dead-lettered with a warning.
    serve_with(
        db,
        Some(config),
        &[
            ("TANDEM_LOG__LEVEL", "error"),
            ("TANDEM_AUTH__ENABLED", "false"),
            ("TANDEM_FEED__ENABLED", "false"),
            ("TANDEM_RISK__RESTRATIFY_SECS", restratify),
        ],
    )
}

async fn timed_post(client: &reqwest::Client, url: &str) -> (f64, Value) {
    let t = Instant::now();
    let r = client
        .post(url)
        .header("x-tandem-tenant", "practice-0")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let b: Value = r.json().await.unwrap();
    (t.elapsed().as_secs_f64(), b)
}

fn int(p: &Value, name: &str) -> u64 {
    p["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .and_then(|x| x["valueInteger"].as_u64())
        .unwrap_or_else(|| panic!("no {name} in {p}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let patients = arg("--patients").unwrap_or(if quick { 10_000 } else { 100_000 });
    let ingest = arg("--ingest").unwrap_or(if quick { 1_000 } else { 5_000 });
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let t = Instant::now();
    let options = |n: usize, out: std::path::PathBuf| tandem::generate::Options {
        patients: n,
        practices: 1,
        seed: 2026,
        out,
        year: 2026,
        unassigned: 0.15,
    };
    tandem::generate::run(&options(patients, pop.clone()), |_| {}).unwrap();
    println!(
        "generated {patients} patients in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // HIE messages name patients by Medicaid id.
    let config = dir.path().join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            "default_tenant = \"practice-0\"\n[transitions]\ntrusted_identifier_systems = [\"{}\"]\n",
            tandem::generate::model::MEDICAID_SYSTEM
        ),
    )
    .unwrap();
    let db = dir.path().join("bench.db");
    let t = Instant::now();
    cli(
        &db,
        &[
            "--config",
            config.to_str().unwrap(),
            "import",
            "--tenant",
            "practice-0",
            pop.join("practices/practice-0.json").to_str().unwrap(),
            pop.join("bundles/practice-0").to_str().unwrap(),
        ],
    );
    println!("imported in {:.1}s", t.elapsed().as_secs_f64());

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut server = serve(&db, &config, "0");
    let base = server.base.clone();
    wait_ready(&client, &base).await;
    let notes = http::notification_files(&pop);
    let t = Instant::now();
    let (rate, _) = http::process_messages(&client, std::slice::from_ref(&base), &notes).await;
    println!(
        "{} notifications in {:.1}s ({rate:.0}/s)",
        notes.len(),
        t.elapsed().as_secs_f64()
    );

    // The method over every record on the generator's day, checked.
    let answers: Vec<Value> = std::fs::read_to_string(pop.join("answers.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let on = answers[0]["risk"]["asOf"].as_str().unwrap().to_string();
    let want: BTreeMap<String, (String, u64)> = answers
        .iter()
        .map(|a| {
            (
                format!("Patient/{}", a["patient"].as_str().unwrap()),
                (
                    a["risk"]["tier"].as_str().unwrap().to_string(),
                    a["risk"]["points"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let t = Instant::now();
    let r: Value = client
        .get(format!(
            "{base}/Organization/practice-0/$risk-registry?date={on}"
        ))
        .header("x-tandem-tenant", "practice-0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registry = t.elapsed().as_secs_f64();
    let part = |v: &Value, n: &str| {
        v["part"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut got: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for t in r["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "tier")
    {
        let code = part(t, "code")["valueCode"].as_str().unwrap().to_string();
        for m in t["part"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["name"] == "member")
        {
            got.insert(
                part(m, "patient")["valueReference"]["reference"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                (
                    code.clone(),
                    part(m, "points")["valueInteger"].as_u64().unwrap(),
                ),
            );
        }
    }
    // Every patient's tier and points, as the generator computed them; the
    // differences are listed (and fail the run at its end).
    let differ: Vec<String> = want
        .iter()
        .filter(|(p, w)| got.get(*p) != Some(w))
        .map(|(p, w)| format!("{p}: generator {w:?}, Tandem {:?}", got.get(p)))
        .collect();
    let mut tiers: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, _) in got.values() {
        *tiers.entry(t).or_default() += 1;
    }
    println!(
        "$risk-registry ({patients} patients, nothing written): {registry:.2}s; tiers {tiers:?}; {} patient(s) differ from the generator",
        differ.len()
    );
    for d in differ.iter().take(10) {
        println!("  {d}");
    }

    let stratify = format!("{base}/Organization/practice-0/$stratify?careGaps=false");
    let (scratch, b) = timed_post(&client, &stratify).await;
    assert_eq!(int(&b, "written") as usize, patients);
    println!(
        "$stratify from scratch ({patients} patients): {scratch:.2}s (target < 10 s for 100,000)"
    );
    let (again, b) = timed_post(&client, &stratify).await;
    assert_eq!(int(&b, "written"), 0);
    println!("$stratify again, nothing changed: {again:.2}s");
    let (gaps, b) = timed_post(
        &client,
        &format!("{base}/Organization/practice-0/$stratify"),
    )
    .await;
    println!(
        "$stratify with the care-gap sync (opened {}): {gaps:.2}s",
        int(&b, "gapsOpened")
    );
    server.kill();

    // Ingest with the periodic pass off and on, side by side.
    let small = dir.path().join("small");
    tandem::generate::run(&options(ingest, small.clone()), |_| {}).unwrap();
    let files = http::bundle_files(&small);
    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..2 {
        for (name, secs) in [("off", "0"), ("on (every 2 s)", "2")] {
            let db = dir.path().join(format!("ingest-{round}-{secs}.db"));
            let mut s = serve(&db, &config, secs);
            wait_ready(&client, &s.base).await;
            let (rate, _) =
                http::post_files(&client, std::slice::from_ref(&s.base), &files, 8).await;
            rates.entry(name).or_default().push(rate);
            s.kill();
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (off, on) = (mean(&rates["off"]), mean(&rates["on (every 2 s)"]));
    println!(
        "ingest of {ingest} patients over HTTP: off {off:.0} resources/s {:?}, on {on:.0} resources/s {:?}: cost {:.1}% (target < 5%)",
        rates["off"].iter().map(|r| r.round()).collect::<Vec<_>>(),
        rates["on (every 2 s)"]
            .iter()
            .map(|r| r.round())
            .collect::<Vec<_>>(),
        (off - on) / off * 100.0
    );
    assert!(
        differ.is_empty() && got.len() == want.len(),
        "the registry's tiers are the generator's"
    );
}
