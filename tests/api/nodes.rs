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

/// Three nodes' stores (each its own pool, as three processes have) tick
/// the same job at the same moments: every period runs on exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_job_ticking_on_three_nodes_runs_once_per_period() {
    use tandem::store::jobs::JobTick;
    let database = fresh_postgres().await;
    let stores = [
        common::open_store(&database.db).await,
        common::open_store(&database.db).await,
        common::open_store(&database.db).await,
    ];
    let start_ms = 1_780_000_000_000_i64;
    for period in 0..20_i64 {
        let now_ms = start_ms + period * 60_000;
        let tick = JobTick::at("overdue-sweep", 60, now_ms, false);
        let (a, b, c) = tokio::join!(
            stores[0].job_claim(tick),
            stores[1].job_claim(tick),
            stores[2].job_claim(tick),
        );
        let claims: Vec<_> = [a, b, c].into_iter().map(Result::unwrap).collect();
        let won: Vec<_> = claims.iter().flatten().collect();
        assert_eq!(won.len(), 1, "period {period}: {claims:?}");
        let winner = claims.iter().position(Option::is_some).unwrap();
        stores[winner]
            .job_release("overdue-sweep", *won[0])
            .await
            .unwrap();
    }
}

/// Two nodes' stores deliver from one outbox: a claim keeps the message
/// from the other node for its lease; once the lease ran out the other
/// takes it under a new token, and the first node's late completion under
/// its old claim changes nothing (the message is not done twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_claim_is_leased_and_a_late_completion_is_refused() {
    use tandem::store::outbox::{Attempt, Claim, OutboxMessage, OutboxState};
    use tandem::store::{AccessContext, transact};
    let database = fresh_postgres().await;
    let options = tandem::store::OpenOptions {
        pool_size: Some(2),
        outbox_lease_ms: Some(1_000),
        ..Default::default()
    };
    let a = tandem::store::open(&database.db, &options).await.unwrap();
    let b = tandem::store::open(&database.db, &options).await.unwrap();
    let ctx = AccessContext::internal("default", "r");
    transact(a.as_ref(), &ctx, |tx| {
        tx.enqueue(OutboxMessage {
            topic: "safety-alert".into(),
            key: "k1".into(),
            destination: None,
            payload: "{}".into(),
            created_ms: 0,
        })
        .map(|_| ())
    })
    .await
    .unwrap();
    let first = a.outbox_due(10, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        b.outbox_due(500, 10).await.unwrap().is_empty(),
        "leased to A"
    );
    let second = b.outbox_due(1_010, 10).await.unwrap();
    assert_eq!(second.len(), 1, "A's lease ran out: B takes it");
    assert_ne!(second[0].claim, first[0].claim);
    let claim = |r: &tandem::store::outbox::OutboxRow| Claim {
        seq: r.seq,
        token: r.claim,
    };
    let done = |at_ms| Attempt::Delivered {
        at_ms,
        receipt: None,
    };
    a.outbox_record(vec![(claim(&first[0]), done(1_020))])
        .await
        .unwrap();
    let delivered = |s: std::sync::Arc<dyn tandem::store::Store>| async move {
        s.outbox_list("default", OutboxState::Delivered, 10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(delivered(a.clone()).await, 0, "A's claim was superseded");
    b.outbox_record(vec![(claim(&second[0]), done(1_030))])
        .await
        .unwrap();
    assert_eq!(delivered(b.clone()).await, 1);
    assert!(a.outbox_due(5_000, 10).await.unwrap().is_empty());
}
