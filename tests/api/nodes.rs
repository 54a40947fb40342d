//! Several Tandem nodes on one PostgreSQL database — always PostgreSQL,
//! whichever store the run selects: each node is a full server (its own
//! pool, outbox worker and scheduler) and they share nothing but the
//! database.

use crate::common;

use common::database::fresh_postgres;
use common::hook::Hook;
use common::population::{load_practice, options};
use common::{ManualClock, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::config::Database;
use tandem::generate::run;
use tandem::measure::milestone::program::OnFailedChecks;

use crate::feed::{PRACTICE, at, entries, feed_app, field, post, wait_state};

/// A node on `db`; `public` is the address clients know the service by
/// (every node behind one load balancer has the same: it is the tokens'
/// issuer and audience), else the node's own.
async fn node(db: &Database, public: Option<&str>) -> TestApp {
    let db = db.clone();
    let public = public.map(str::to_string);
    spawn_app_with(move |c| {
        c.database = db;
        c.base_url = public;
    })
    .await
}

/// A resource written through one node is read, versioned and updated
/// through the other at once, with a token the first node signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_read_and_updated_on_another() {
    let database = fresh_postgres().await;
    let a = node(&database.db, None).await;
    let b = node(&database.db, Some(&a.base)).await;
    let created = a
        .create(
            &json!({"resourceType": "Patient", "name": [{"family": "Nodes"}],
            "extension": [{"url": "http://example.org/unknown", "valueString": "kept"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    // A's token on B: the signing key is shared through the database.
    let read = a
        .client
        .get(b.url(&format!("Patient/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read, created, "the same resource, byte for byte in JSON");
    let mut changed = read.clone();
    changed["name"][0]["family"] = "Moved".into();
    let r = b
        .put_with(
            &format!("Patient/{id}"),
            &changed,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The stale If-Match now fails on either node.
    let r = a
        .put_with(
            &format!("Patient/{id}"),
            &changed,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let (s, history) = a.get_json(&format!("Patient/{id}/_history")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(history["total"], 2);
}

/// Conditional creates of one identifier racing on two nodes create
/// exactly one resource; every other request finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_creates_racing_on_two_nodes_create_one_resource() {
    let database = fresh_postgres().await;
    let nodes = [
        node(&database.db, None).await,
        node(&database.db, None).await,
    ];
    let mut racing = Vec::new();
    for i in 0..24 {
        let n = &nodes[i % 2];
        let (client, url) = (n.client.clone(), n.url("Patient"));
        racing.push(tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/fhir+json")
                .header("if-none-exist", "identifier=urn:race|one")
                .body(json!({"resourceType": "Patient", "identifier": [{"system": "urn:race", "value": "one"}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        23,
        "{statuses:?}"
    );
    for n in &nodes {
        assert_eq!(
            n.search_resources("Patient?identifier=urn:race|one")
                .await
                .len(),
            1
        );
    }
}

/// A quarter's feed started on three nodes at once is submitted once: one
/// ledger entry, one delivery to the program (the outbox claims keep the
/// other nodes' workers off the message), with its single idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quarterly_feed_racing_on_three_nodes_is_submitted_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 30, 1, 17), |_| {}).unwrap();
    let database = fresh_postgres().await;
    let hook = Hook::start(0).await;
    // Before the quarter is due, so no node's start-up run submits.
    let clock = ManualClock::at(at("2026-09-20"));
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            feed_app(
                &root,
                &database.db,
                clock.clone(),
                &hook.url,
                OnFailedChecks::Send,
            )
            .await,
        );
    }
    load_practice(&nodes[0], &root).await;
    let mut admins = Vec::new();
    for n in &nodes {
        admins.push(
            n.client_for("practice-admin", Role::Admin, PRACTICE, "system/*.cruds")
                .await,
        );
    }
    clock.set(at("2026-10-08"));
    let (a, b, c) = tokio::join!(
        post(&nodes[0], &admins[0], "$run-feed"),
        post(&nodes[1], &admins[1], "$run-feed"),
        post(&nodes[2], &admins[2], "$run-feed"),
    );
    for (s, r) in [&a, &b, &c] {
        assert_eq!(*s, StatusCode::OK, "{r}");
    }
    let submitted: i64 = [&a, &b, &c]
        .iter()
        .map(|(_, r)| r["parameter"][0]["valueInteger"].as_i64().unwrap())
        .sum();
    assert_eq!(
        submitted, 1,
        "one node built the submission: {a:?} {b:?} {c:?}"
    );
    let accepted = hook.wait_accepted(1).await;
    let ledger = nodes[2]
        .json_as(&admins[2], &format!("Organization/{PRACTICE}/$submissions"))
        .await;
    assert_eq!(entries(&ledger).len(), 1);
    let seq = field(&entries(&ledger)[0], "seq").as_i64().unwrap();
    // Recorded as delivered: no node's worker will claim it again.
    wait_state(&nodes[1], &admins[1], seq, "accepted").await;
    let log = hook.log.lock().clone();
    assert_eq!(
        log.len(),
        1,
        "delivered once: {:?}",
        log.iter().map(|r| &r.key).collect::<Vec<_>>()
    );
    assert_eq!(log[0].key, accepted[0].key);
}
