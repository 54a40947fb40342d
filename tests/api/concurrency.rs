//! N concurrent writers on one resource with If-Match: exactly one wins per version.

use crate::common;

use common::spawn_app;
use futures::future::join_all;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_winner_per_version() {
    let app = spawn_app().await;
    app.put(
        "Patient/race",
        &json!({"resourceType": "Patient", "id": "race"}),
    )
    .await;
    const WRITERS: usize = 16;
    for version in 1..=5i64 {
        let attempts = (0..WRITERS).map(|w| {
            let body = json!({"resourceType": "Patient", "id": "race", "gender": "other", "active": w % 2 == 0});
            let req = app.client.put(app.url("Patient/race")).header("content-type", "application/fhir+json").header("if-match", format!("W/\"{version}\"")).body(body.to_string());
            async move { req.send().await.unwrap().status().as_u16() }
        });
        let statuses = join_all(attempts).await;
        let wins = statuses.iter().filter(|s| **s == 200).count();
        let lost = statuses.iter().filter(|s| **s == 412).count();
        assert_eq!(
            (wins, lost),
            (1, WRITERS - 1),
            "version {version}: {statuses:?}"
        );
    }
    let (_, hist) = app.get_json("Patient/race/_history").await;
    assert_eq!(hist["total"], 6);
    let versions: Vec<i64> = hist["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, [6, 5, 4, 3, 2, 1]);
    let (_, current): (_, Value) = app.get_json("Patient/race").await;
    assert_eq!(current["meta"]["versionId"], "6");
    app.stop().await;
}

/// A write whose commit is slow gets its real outcome, not 408: the request
/// timeout (1 s here) stops applying once the write reached the store, so a
/// client never retries a POST that succeeded. The commit is made slow by
/// another connection holding the store's write lock for 2.5 s (SQLite's
/// database lock; PostgreSQL's exclusive lock on the resources table).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_commit_answers_its_outcome_not_a_timeout() {
    let app = common::spawn_app_with(|c| c.limits.request_timeout_secs = 1).await;
    let blocker = Blocker::lock(&app.db).await;
    let post = {
        let (client, url) = (app.client.clone(), app.url("Patient"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/fhir+json")
                .body(json!({"resourceType": "Patient", "identifier": [{"system": "urn:slow", "value": "1"}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The deliberately slow commit: the lock is held past the 1 s timeout.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    blocker.release().await;
    assert_eq!(
        post.await.unwrap(),
        201,
        "the client learns its write committed"
    );
    let found = app.search_resources("Patient?identifier=urn:slow|1").await;
    assert_eq!(found.len(), 1);
    app.stop().await;
}

/// Another connection holding the store's write lock.
enum Blocker {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Blocker {
    async fn lock(db: &tandem::config::Database) -> Blocker {
        match db {
            tandem::config::Database::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                Blocker::Sqlite(c)
            }
            tandem::config::Database::Postgres(url) => {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                c.batch_execute("BEGIN; LOCK TABLE resources IN EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Blocker::Postgres(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Blocker::Sqlite(c) => c.execute_batch("COMMIT").unwrap(),
            Blocker::Postgres(c) => c.batch_execute("COMMIT").await.unwrap(),
        }
    }
}

/// Conditional references racing changes to their targets, on both
/// transaction paths. A transaction must resolve `Organization?identifier=…`
/// against the data at its commit: once a second Organization with the
/// identifier has committed, no later transaction may commit a reference
/// through it (FHIR: 412, multiple matches). Checked over the system history,
/// which is in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_references_resolve_at_commit_on_both_paths() {
    const KEYS: usize = 24;
    const PER_KEY: usize = 6;
    let app = common::spawn_app().await;
    let org = |k: usize, n: usize| json!({"resourceType": "Organization", "name": format!("org {k}.{n}"), "identifier": [{"system": "urn:race", "value": k.to_string()}]});
    for k in 0..KEYS {
        app.create(&org(k, 0)).await;
    }
    // Posters: half create-only Bundles (the fast path), half with a PUT
    // beside (the general path).
    let bundle = |k: usize, i: usize| {
        let mut entries = vec![json!({
            "fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000001",
            "resource": {"resourceType": "Patient", "managingOrganization": {"reference": format!("Organization?identifier=urn:race|{k}")}},
            "request": {"method": "POST", "url": "Patient"},
        })];
        if i % 2 == 1 {
            entries.push(json!({
                "resource": {"resourceType": "Basic", "id": format!("b{k}-{i}"), "code": {"text": "general path"}},
                "request": {"method": "PUT", "url": format!("Basic/b{k}-{i}")},
            }));
        }
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    };
    let mut tasks = Vec::new();
    for i in 0..PER_KEY {
        for k in 0..KEYS {
            let (client, url, b) = (app.client.clone(), app.url(""), bundle(k, i));
            tasks.push(tokio::spawn(post_status(client, url, b)));
        }
        if i == PER_KEY / 2 {
            // Midway, every key gets a second Organization.
            for k in 0..KEYS {
                let (client, url, o) = (app.client.clone(), app.url("Organization"), org(k, 1));
                tasks.push(tokio::spawn(post_status(client, url, o)));
            }
        }
    }
    let statuses: Vec<u16> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201 || *s == 412),
        "{statuses:?}"
    );
    let history = history_oldest_first(&app).await;
    let mut orgs_of_key: std::collections::HashMap<String, usize> = Default::default();
    let mut key_of_org: std::collections::HashMap<String, String> = Default::default();
    let (mut before, mut violations) = (0, 0);
    for e in &history {
        let r = &e["resource"];
        match r["resourceType"].as_str() {
            Some("Organization") => {
                let k = r["identifier"][0]["value"].as_str().unwrap().to_string();
                key_of_org.insert(
                    format!("Organization/{}", r["id"].as_str().unwrap()),
                    k.clone(),
                );
                *orgs_of_key.entry(k).or_default() += 1;
            }
            Some("Patient") => {
                let target = r["managingOrganization"]["reference"].as_str().unwrap();
                let k = &key_of_org[target];
                if orgs_of_key[k] > 1 {
                    violations += 1;
                } else {
                    before += 1;
                }
            }
            _ => {}
        }
    }
    let refused = statuses.iter().filter(|s| **s == 412).count();
    println!(
        "{before} committed before their key's second match, {refused} refused (412), {violations} committed after it"
    );
    assert_eq!(
        violations, 0,
        "a reference committed through an ambiguous conditional"
    );
    assert!(
        refused > 0,
        "the race was exercised: some transactions met two matches"
    );
    app.stop().await;
}

/// Conditional creates racing each other (in transactions, which always
/// take the general path, and as plain POSTs with If-None-Exist): exactly
/// one resource per identifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_creates_create_one() {
    let app = common::spawn_app().await;
    let mut tasks = Vec::new();
    for k in 0..8 {
        for i in 0..8 {
            let patient = json!({"resourceType": "Patient", "identifier": [{"system": "urn:cc", "value": k.to_string()}]});
            let (client, base) = (app.client.clone(), app.url(""));
            tasks.push(tokio::spawn(async move {
                let req = if i % 2 == 0 {
                    let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
                        "resource": patient,
                        "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier=urn:cc|{k}")},
                    }]});
                    client.post(base).body(b.to_string())
                } else {
                    client
                        .post(format!("{base}Patient"))
                        .header("if-none-exist", format!("identifier=urn:cc|{k}"))
                        .body(patient.to_string())
                };
                let r = req.header("content-type", "application/fhir+json").send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }));
        }
    }
    for t in join_all(tasks).await {
        t.unwrap();
    }
    for k in 0..8 {
        let found = app
            .search_resources(&format!("Patient?identifier=urn:cc|{k}"))
            .await;
        assert_eq!(found.len(), 1, "key {k}");
    }
    app.stop().await;
}

/// A conditional reference's single match swapped for another in one
/// transaction while fast-path Bundles resolve it: each commits against the
/// match of its commit time (the fast path falls back to the general one
/// when its early resolution went stale), never the replaced Organization.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swapped_conditional_target_is_followed() {
    let app = common::spawn_app().await;
    let ident = |v: &str| json!([{"system": "urn:swap", "value": v}]);
    app.put(
        "Organization/old",
        &json!({"resourceType": "Organization", "id": "old", "identifier": ident("k")}),
    )
    .await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Patient", "managingOrganization": {"reference": "Organization?identifier=urn:swap|k"}},
        "request": {"method": "POST", "url": "Patient"},
    }]});
    let swap = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Organization", "id": "old", "identifier": ident("retired")}, "request": {"method": "PUT", "url": "Organization/old"}},
        {"resource": {"resourceType": "Organization", "id": "new", "identifier": ident("k")}, "request": {"method": "PUT", "url": "Organization/new"}},
    ]});
    for _ in 0..10 {
        assert_eq!(app.post("", &bundle).await.status(), 200);
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let b = if i == 12 {
            swap.clone()
        } else {
            bundle.clone()
        };
        let (client, url) = (app.client.clone(), app.url(""));
        tasks.push(tokio::spawn(post_status(client, url, b)));
    }
    for t in join_all(tasks).await {
        assert_eq!(t.unwrap(), 200);
    }
    let mut swapped = false;
    let (mut to_old, mut to_new) = (0, 0);
    for e in &history_oldest_first(&app).await {
        let r = &e["resource"];
        if r["resourceType"] == "Organization" && r["id"] == "new" {
            swapped = true;
        }
        if r["resourceType"] == "Patient" {
            match r["managingOrganization"]["reference"].as_str() {
                Some("Organization/old") => {
                    assert!(
                        !swapped,
                        "a Patient committed after the swap points at the retired Organization"
                    );
                    to_old += 1;
                }
                Some("Organization/new") => to_new += 1,
                other => panic!("unexpected target {other:?}"),
            }
        }
    }
    println!("{to_old} before the swap, {to_new} after");
    assert_eq!(to_old + to_new, 59, "every Bundle committed");
    app.stop().await;
}

/// POSTs `body` as FHIR JSON with `client`; the status answered.
async fn post_status(client: reqwest::Client, url: String, body: Value) -> u16 {
    client
        .post(url)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The system history, every page, oldest first: commit order.
async fn history_oldest_first(app: &common::TestApp) -> Vec<Value> {
    let mut history: Vec<Value> = Vec::new();
    let mut url = app.url("_history?_count=1000");
    loop {
        let page = common::process::fetch_json(&app.client, &url).await;
        history.extend(page["entry"].as_array().cloned().unwrap_or_default());
        match page["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        {
            Some(next) => url = next["url"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    history.reverse();
    history
}
