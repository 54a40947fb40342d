//! The suite's HTTP workloads: file ingest, writes, reads, US Core searches,
//! HIE notifications and screening round trips, each timed per request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::support::load;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The practice transaction first, then every patient's.
pub fn bundle_files(pop: &Path) -> Vec<PathBuf> {
    let mut out = files_under(&pop.join("practices"));
    out.extend(files_under(&pop.join("bundles")));
    out
}

/// HIE messages in delivery order per patient.
pub fn notification_files(pop: &Path) -> Vec<PathBuf> {
    files_under(&pop.join("notifications"))
}

/// Posts transaction files (the first alone, then `concurrency` at a time);
/// returns (resources/s, resources).
pub async fn post_files(
    client: &reqwest::Client,
    nodes: &[String],
    files: &[PathBuf],
    concurrency: usize,
) -> (f64, u64) {
    let bodies: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let resources = super::support::count_entries(&bodies);
    let started = Instant::now();
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let send = |b: String| {
        let i = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let req = client
            .post(&nodes[i % nodes.len()])
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(b);
        async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(send(bodies[0].clone()).await, 200);
    let statuses: Vec<u16> = futures::stream::iter(bodies[1..].iter().cloned())
        .map(send)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "a transaction failed");
    (
        resources as f64 / started.elapsed().as_secs_f64(),
        resources,
    )
}

pub async fn post_observations(
    client: &reqwest::Client,
    nodes: &[String],
    clients: usize,
    n: usize,
) -> (f64, Histogram<u64>) {
    let (c, nodes) = (client.clone(), nodes.to_vec());
    load(clients, n, move |i| {
        let body = json!({"resourceType": "Observation", "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, "subject": {"reference": format!("Patient/pt-{}", i % 500)},
            "effectiveDateTime": "2026-06-01T10:00:00Z", "valueQuantity": {"value": 60 + i % 40, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}});
        let req = c.post(format!("{}/Observation", nodes[i % nodes.len()])).header("content-type", "application/fhir+json").header("prefer", "return=minimal").body(body.to_string());
        async move { req.send().await.map(|r| r.status() == 201).unwrap_or(false) }
    })
    .await
}

/// The generated patients' ids (`pt-*`).
pub async fn patient_ids(client: &reqwest::Client, base: &str) -> Arc<Vec<String>> {
    let page =
        crate::process::fetch_json(client, &format!("{base}/Patient?_count=1000&_elements=id"))
            .await;
    let ids: Vec<String> = page["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["id"].as_str().map(String::from))
        .filter(|id| id.starts_with("pt-"))
        .collect();
    assert!(!ids.is_empty());
    Arc::new(ids)
}

pub async fn read_by_id(
    client: &reqwest::Client,
    nodes: &[String],
    ids: &Arc<Vec<String>>,
    n: usize,
) -> (f64, Histogram<u64>) {
    let (c, nodes, ids) = (client.clone(), nodes.to_vec(), ids.clone());
    load(32, n, move |i| {
        let b = &nodes[i % nodes.len()];
        let req = c.get(format!("{b}/Patient/{}", ids[i % ids.len()]));
        async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
    })
    .await
}

/// The US Core searches the issue names, with `{p}` the patient.
pub const SEARCHES: &[(&str, &str)] = &[
    (
        "GET Observation?patient&code, 8 clients",
        "Observation?patient={p}&code=http://loinc.org|85354-9",
    ),
    (
        "GET Observation?patient&category&date, 8 clients",
        "Observation?patient={p}&category=vital-signs&date=ge2025-01-01",
    ),
    (
        "GET Encounter?patient&date, 8 clients",
        "Encounter?patient={p}&date=ge2025-01-01",
    ),
];

pub async fn search(
    client: &reqwest::Client,
    nodes: &[String],
    ids: &Arc<Vec<String>>,
    query: &str,
    n: usize,
) -> (f64, Histogram<u64>) {
    let (c, nodes, ids, q) = (
        client.clone(),
        nodes.to_vec(),
        ids.clone(),
        query.to_string(),
    );
    load(8, n, move |i| {
        let b = &nodes[i % nodes.len()];
        let url = format!("{b}/{}", q.replace("{p}", &ids[(i * 7919) % ids.len()]));
        let req = c.get(url);
        async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
    })
    .await
}

pub async fn process_messages(
    client: &reqwest::Client,
    nodes: &[String],
    files: &[PathBuf],
) -> (f64, Histogram<u64>) {
    let bodies: Arc<Vec<String>> = Arc::new(
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect(),
    );
    let (c, nodes, n) = (client.clone(), nodes.to_vec(), bodies.len());
    load(32, n, move |i| {
        let req = c
            .post(format!("{}/$process-message", nodes[i % nodes.len()]))
            .header("content-type", "application/fhir+json")
            .body(bodies[i].clone());
        async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
    })
    .await
}

/// A PHQ-9 QuestionnaireResponse written, then its derived result read back.
pub async fn screening_round_trips(
    client: &reqwest::Client,
    base: &str,
    ids: &Arc<Vec<String>>,
    n: usize,
) -> (f64, Histogram<u64>) {
    let (c, b, ids) = (client.clone(), base.to_string(), ids.clone());
    const CODES: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    let answer = |k: usize| json!({"system": "http://loinc.org", "code": CODES[k % 4]});
    let links = [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
        "44260-8",
    ];
    load(8, n, move |i| {
        let items: Vec<Value> = links.iter().enumerate().map(|(k, l)| json!({"linkId": l, "answer": [{"valueCoding": answer(i + k)}]})).collect();
        let id = format!("bench-qr-{i}");
        let qr = json!({"resourceType": "QuestionnaireResponse", "id": id, "status": "completed",
            "questionnaire": "http://tandem.health/fhir/Questionnaire/phq-9",
            "subject": {"reference": format!("Patient/{}", ids[i % ids.len()])}, "authored": "2026-11-01T09:00:00Z", "item": items});
        let (c, b) = (c.clone(), b.clone());
        async move {
            let put = c.put(format!("{b}/QuestionnaireResponse/{id}")).header("content-type", "application/fhir+json").body(qr.to_string()).send().await;
            if !put.is_ok_and(|r| r.status().is_success()) {
                return false;
            }
            let found: Option<Value> = match c.get(format!("{b}/Observation?derived-from=QuestionnaireResponse/{id}")).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            found.is_some_and(|v| v["entry"].as_array().is_some_and(|e| !e.is_empty()))
        }
    })
    .await
}
