//! Nodes dying under load on one PostgreSQL database (always PostgreSQL):
//! `kill -9` of a node mid-load, read on the node that stays; a node killed
//! while it holds outbox claims, its messages delivered by the other.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use common::database::fresh_postgres;
use common::hook::Hook;
use common::process::{fetch_json, start_server, start_server_env, wait_ready};

use crate::crash::{assert_survived, load_then_kill};
use crate::outbox_durability::safety_response;

/// Node A is killed in the middle of a load; node B, up all along on the
/// same database, reads every write A acknowledged at once, and no
/// transaction half-applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_one_node_mid_load_loses_nothing_the_other_reads() {
    let database = fresh_postgres().await;
    let client = reqwest::Client::new();
    let mut a = start_server(&database.db, Stdio::null(), false);
    let mut b = start_server(&database.db, Stdio::null(), false);
    wait_ready(&client, &a.base).await;
    wait_ready(&client, &b.base).await;
    let acked = load_then_kill(&client, &mut a).await;
    assert_survived(&client, &b.base, &acked).await;
    b.kill();
}

/// Node A claims safety alerts and hangs delivering them (the endpoint
/// holds every request), then dies. Node B takes them once A's lease ran
/// out: every alert is delivered, each under the one key A tried, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_holding_outbox_claims_loses_no_message() {
    const ALERTS: usize = 5;
    let hook = Hook::start(0).await;
    hook.hold();
    let database = fresh_postgres().await;
    let endpoints = format!("[{{tenant=\"default\",url=\"{}\"}}]", hook.url);
    let env = [
        ("TANDEM_NOTIFICATIONS__ENDPOINTS", endpoints.as_str()),
        ("TANDEM_NOTIFICATIONS__RETRY_BASE_MS", "50"),
        ("TANDEM_NOTIFICATIONS__RETRY_MAX_MS", "200"),
        ("TANDEM_POSTGRES__OUTBOX_LEASE_SECS", "2"),
    ];
    let client = reqwest::Client::new();
    let mut a = start_server_env(&database.db, Stdio::null(), false, &env);
    wait_ready(&client, &a.base).await;
    for k in 0..ALERTS {
        let r = client
            .post(format!("{}/QuestionnaireResponse", a.base))
            .header("content-type", "application/fhir+json")
            .body(safety_response(&format!("p{k}")).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // A is mid-delivery: it claimed alerts and the endpoint holds them.
    for _ in 0..400 {
        if !hook.log.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let in_flight = hook.log.lock().clone();
    assert!(!in_flight.is_empty(), "node A was delivering when killed");
    a.kill();
    hook.release();

    let mut b = start_server_env(&database.db, Stdio::null(), false, &env);
    wait_ready(&client, &b.base).await;
    let mut keys = BTreeSet::new();
    for _ in 0..600 {
        keys = hook.accepted().into_iter().map(|r| r.key).collect();
        if keys.len() >= ALERTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(keys.len(), ALERTS, "every alert delivered: {keys:?}");
    // Each message went out under one key, the same before and after the crash.
    let mut by_patient: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in hook.log.lock().iter() {
        assert_eq!(r.topic, "safety-alert");
        let patient = r.body.to_string();
        let patient = ["p0", "p1", "p2", "p3", "p4"]
            .into_iter()
            .find(|p| patient.contains(&format!("Patient/{p}\"")))
            .unwrap_or_else(|| panic!("an alert names its patient: {patient}"));
        by_patient
            .entry(patient.into())
            .or_default()
            .insert(r.key.clone());
    }
    assert_eq!(by_patient.len(), ALERTS);
    for (patient, ks) in &by_patient {
        assert_eq!(ks.len(), 1, "{patient}'s alert kept one key: {ks:?}");
    }
    for r in &in_flight {
        assert!(keys.contains(&r.key), "the alert A held was delivered");
    }
    // Recorded delivered: nothing stays pending for any node to send again.
    let mut pending = usize::MAX;
    for _ in 0..400 {
        let page = fetch_json(&client, &format!("{}/$outbox?state=pending", b.base)).await;
        pending = page["parameter"].as_array().map_or(0, Vec::len);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pending, 0);
    b.kill();
}
