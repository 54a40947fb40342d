//! Referrals from positive screen to delivered at the partner: 32 clients
//! post positive PHQ-9 totals (one patient each) to a practice whose care
//! compact refers them automatically; every referral is pushed through the
//! outbox to a partner FHIR server (started here, on loopback) that answers
//! each request after 50 ms. Latency is from the screen's POST to the
//! referral Task arriving at the partner.
//!
//! Run: `cargo bench --bench referrals` (add `-- --quick` for a short run).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;
use process::{fetch_json, start_server_env, wait_ready};
use support::report;

/// The partner: a token endpoint and `POST /` (transactions), each answering after 50 ms.
#[derive(Clone, Default)]
struct Partner {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
}

async fn token() -> axum::Json<Value> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    axum::Json(json!({"access_token": "bench", "token_type": "bearer", "expires_in": 3600}))
}

/// The referral package: one transaction; its Task marks the arrival.
async fn receive(State(p): State<Partner>, body: String) -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let bundle: Value = serde_json::from_str(&body).unwrap_or_default();
    for e in bundle["entry"].as_array().into_iter().flatten() {
        let v = &e["resource"];
        if v["resourceType"] == "Task"
            && let Some(patient) = v["for"]["reference"].as_str()
        {
            p.arrivals
                .lock()
                .entry(patient.to_string())
                .or_insert_with(Instant::now);
        }
    }
    "{}"
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 10_000 };
    let partner = Partner::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let partner_url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/auth/token", post(token))
        .route("/", post(receive))
        .with_state(partner.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tandem-at-partner.pem");
    std::fs::write(
        &key,
        tandem::auth::keys::to_pem(&tandem::auth::keys::generate_pkcs8().unwrap()),
    )
    .unwrap();
    let partners = format!(
        "[{{id=\"cmhc\",tenants=[\"default\"],endpoint=\"{partner_url}\",client_id=\"tandem\",key_file=\"{}\",mode=\"auto\",accepts=[{{instrument=\"phq-9\",min_score=10}}]}}]",
        key.display()
    );
    let env = [
        ("TANDEM_PARTNERS", partners.as_str()),
        ("TANDEM_NOTIFICATIONS__CONCURRENCY", "64"),
    ];
    let mut server = start_server_env(&dir.path().join("ref.db"), Stdio::null(), false, &env);
    let base = server.base.clone();
    let client = support::client();
    wait_ready(&client, &base).await;
    let patients: Vec<Value> = (0..n)
        .map(|i| json!({"resource": {"resourceType": "Patient", "id": format!("p{i}"), "gender": "female", "birthDate": "1985-02-03"}, "request": {"method": "PUT", "url": format!("Patient/p{i}")}}))
        .collect();
    for chunk in patients.chunks(1000) {
        let r = client
            .post(&base)
            .header("content-type", "application/fhir+json")
            .body(
                json!({"resourceType": "Bundle", "type": "transaction", "entry": chunk})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (c, b, s) = (client.clone(), base.clone(), sent.clone());
    let start = Instant::now();
    let (rate, post_h) = support::load(32, n, move |i| {
        let body = json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "subject": {"reference": format!("Patient/p{i}")}, "effectiveDateTime": "2026-11-20T09:00:00Z", "valueInteger": 15});
        s.lock().insert(format!("Patient/p{i}"), Instant::now());
        let req = c.post(format!("{b}/Observation")).header("content-type", "application/fhir+json").body(body.to_string());
        async move { req.send().await.map(|r| r.status() == 201).unwrap_or(false) }
    })
    .await;
    // Wait for every referral to reach the partner (at most 10 minutes).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut shown = Instant::now();
    while partner.arrivals.lock().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if shown.elapsed() > Duration::from_secs(10) {
            shown = Instant::now();
            let dead = fetch_json(&client, &format!("{base}/$outbox?state=dead&_count=1")).await;
            eprintln!(
                "  … {} of {n} delivered; dead letters: {}",
                partner.arrivals.lock().len(),
                dead["parameter"].as_array().map_or(0, Vec::len)
            );
        }
    }
    let arrivals = partner.arrivals.lock().clone();
    let last = arrivals.values().max().copied().unwrap_or(start);
    let mut h = Histogram::<u64>::new(3).unwrap();
    for (p, at) in &arrivals {
        if let Some(s) = sent.lock().get(p) {
            h.record(at.duration_since(*s).as_micros() as u64).unwrap();
        }
    }
    let delivered_rate = arrivals.len() as f64 / last.duration_since(start).as_secs_f64();
    let results = vec![
        report(
            "POST positive PHQ-9 (derive + refer), 32 clients",
            rate,
            "req/s",
            Some(&post_h),
        ),
        report(
            "referrals screen -> delivered at partner (50 ms/request)",
            delivered_rate,
            "ref/s",
            Some(&h),
        ),
        json!({"referrals": n, "delivered": arrivals.len()}),
    ];
    println!("  referrals delivered: {} of {n}", arrivals.len());
    assert_eq!(arrivals.len(), n, "every referral reached the partner");
    server.kill();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-referrals.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"quick": quick, "results": results})).unwrap(),
    )
    .unwrap();
    println!("results written to {}", path.display());
}
