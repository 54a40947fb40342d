//! The audit trail and abuse limits: every interaction leaves a BALP-shaped
//! AuditEvent only admins can read and nobody can alter; per-client rate
//! limit and header limit; tokens from an external issuer and client keys
//! published at a JWKS URL.

use crate::common;

use common::process::fetch_json;
use std::time::Duration;

use axum::routing::get;
use common::jwt::{self, claims, request_token, sign};
use common::{bearer_client, get_status, save_client, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::auth::clients::Client;

async fn audit_events(admin: &reqwest::Client, app: &common::TestApp, query: &str) -> Vec<Value> {
    common::audit::audit_until(admin, app, query, |_| true).await
}

fn subtype(e: &Value) -> &str {
    e["subtype"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn every_interaction_is_audited_and_the_trail_is_immutable() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "name": [{"family": "Audited"}]}))
        .await;
    let pid = p["id"].as_str().unwrap();
    app.get(&format!("Patient/{pid}")).await;
    app.get("Patient?family=Audited").await;
    app.get(&format!("Patient/{pid}/_history")).await;
    let admin = app
        .client_for("ops", Role::Operator, "tandem-ops", "system/*.cruds")
        .await;
    // Reads are audited in batches after they are answered: wait for the
    // last one's record (the batches keep their order).
    let events = common::audit::audit_until(
        &admin,
        &app,
        &format!("patient=Patient/{pid}&_count=100"),
        |e| subtype(e) == "history-instance",
    )
    .await;
    let mut kinds: Vec<&str> = events.iter().map(subtype).collect();
    kinds.sort();
    kinds.dedup();
    for k in ["create", "read", "search-type", "history-instance"] {
        assert!(kinds.contains(&k), "{k} audited: {kinds:?}");
    }
    let create = events.iter().find(|e| subtype(e) == "create").unwrap();
    assert_eq!(create["action"], "C");
    assert_eq!(create["outcome"], "0");
    assert_eq!(create["agent"][0]["who"]["identifier"]["value"], "test-ehr");
    let search = events.iter().find(|e| subtype(e) == "search-type").unwrap();
    let query = search["entity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"]["code"] == "24")
        .unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(query["query"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(raw).unwrap(), "family=Audited");
    // By agent and date too.
    assert!(
        !audit_events(&admin, &app, "agent=test-ehr")
            .await
            .is_empty()
    );
    assert!(
        !audit_events(&admin, &app, "date=ge2020-01-01")
            .await
            .is_empty()
    );
    // Refusals and token decisions are audited.
    let reader = app
        .client_for("ro", Role::Ehr, "default", "system/Patient.rs")
        .await;
    let r = reader
        .post(app.url("Patient"))
        .header("content-type", "application/fhir+json")
        .body("{\"resourceType\":\"Patient\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let refused = audit_events(&admin, &app, "agent=ro&outcome=4").await;
    assert!(
        refused.iter().any(|e| subtype(e) == "create"),
        "{refused:?}"
    );
    let tokens = audit_events(
        &admin,
        &app,
        "agent=ro&type=http://dicom.nema.org/resources/ontology/DCM|110114",
    )
    .await;
    assert!(!tokens.is_empty(), "token issuance audited");
    // Only admins read the trail; nobody alters it.
    assert_eq!(app.get("AuditEvent").await.status(), 403);
    let id = create["id"].as_str().unwrap();
    let mut altered = create.clone();
    altered["outcome"] = json!("8");
    for r in [
        admin
            .put(app.url(&format!("AuditEvent/{id}")))
            .header("content-type", "application/fhir+json")
            .body(altered.to_string())
            .send()
            .await
            .unwrap(),
        admin
            .delete(app.url(&format!("AuditEvent/{id}")))
            .send()
            .await
            .unwrap(),
        admin
            .post(app.url("AuditEvent"))
            .header("content-type", "application/fhir+json")
            .body(altered.to_string())
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 405);
    }
    let again: Value = fetch_json(&admin, &app.url(&format!("AuditEvent/{id}"))).await;
    assert_eq!(again["outcome"], "0");
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_and_header_limit() {
    let app = spawn_app_with(|c| {
        c.auth.rate_per_second = 1;
        c.auth.rate_burst = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.get("metadata").await.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "metadata is not limited"
    );
    let mut limited = None;
    for _ in 0..10 {
        let r = app.get("Patient").await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the 6th request within a second is limited");
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["issue"][0]["code"],
        "throttled"
    );
    // Another client has its own budget.
    let other = app
        .client_for("other", Role::Ehr, "default", "system/*.rs")
        .await;
    assert_eq!(get_status(&other, app.url("Patient")).await, 200);
    let huge = "x".repeat(40_000);
    let r = other
        .get(app.url("metadata"))
        .header("x-filler", huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    app.stop().await;
}

/// A partner's JWKS endpoint and an external identity provider, each a small
/// HTTP server started by the test.
async fn serve_jwks(
    jwks: Value,
    cache_control: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/jwks",
        get(move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = jwks.to_string();
            async move {
                (
                    [
                        ("cache-control", cache_control),
                        ("content-type", "application/json"),
                    ],
                    body,
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn jwks_by_url_is_fetched_and_cached_per_cache_control() {
    let app = spawn_app().await;
    for (cc, expected_fetches) in [("max-age=300", 1), ("no-store", 3)] {
        let signer = jwt::rs384("url-key");
        let (url, hits) = serve_jwks(json!({"keys": [signer.jwk]}), cc).await;
        let id = format!("url-client-{}", expected_fetches);
        let c = Client {
            client_id: id.clone(),
            name: id.clone(),
            role: Role::Ehr,
            organization: "default".into(),
            jwks: None,
            jwks_url: Some(url),
            scopes: "system/*.rs".into(),
        };
        save_client(&app.db, &c).await;
        for _ in 0..3 {
            let (s, b) = request_token(
                &app.base,
                &sign(&signer, &claims(&id, &format!("{}/auth/token", app.base))),
                None,
            )
            .await;
            assert_eq!(s, 200, "{b}");
        }
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            expected_fetches,
            "{cc}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn tokens_from_a_configured_external_issuer() {
    let idp = jwt::rs384("idp-1");
    let (url, _) = serve_jwks(json!({"keys": [idp.jwk]}), "max-age=60").await;
    let jwks_url = url.clone();
    let app = spawn_app_with(move |c| {
        c.auth.external_issuers = vec![tandem::auth::tokens::ExternalIssuer {
            issuer: "https://idp.example".into(),
            jwks_url,
            audience: Some("tandem".into()),
        }];
    })
    .await;
    save_client(
        &app.db,
        &Client {
            client_id: "ext-ehr".into(),
            name: "ext".into(),
            role: Role::Ehr,
            organization: "default".into(),
            jwks: Some(json!({"keys": []})),
            jwks_url: None,
            scopes: "system/Patient.rs".into(),
        },
    )
    .await;
    let token = |aud: &str, client: &str, exp: i64| {
        sign(
            &idp,
            &json!({"iss": "https://idp.example", "aud": aud,
        "client_id": client, "sub": client, "exp": exp, "scope": "system/Patient.rs system/Observation.rs"}),
        )
    };
    let now = jwt::now();
    let ok = bearer_client(&token("tandem", "ext-ehr", now + 120));
    assert_eq!(get_status(&ok, app.url("Patient")).await, 200);
    // Scopes are narrowed to the registered client's.
    assert_eq!(get_status(&ok, app.url("Observation")).await, 403);
    for (name, t) in [
        ("wrong audience", token("other", "ext-ehr", now + 120)),
        ("unregistered client", token("tandem", "nobody", now + 120)),
        ("expired", token("tandem", "ext-ehr", now - 600)),
        (
            "untrusted issuer",
            sign(
                &idp,
                &json!({"iss": "https://evil.example", "aud": "tandem", "client_id": "ext-ehr", "exp": now + 60}),
            ),
        ),
    ] {
        assert_eq!(
            get_status(&bearer_client(&t), app.url("Patient")).await,
            401,
            "{name}"
        );
    }
    app.stop().await;
}

/// A practice's admin reads its own practice's trail only; the hosting
/// operator reads every tenant's, and each of its reads is on the trail.
#[tokio::test]
async fn the_audit_trail_is_read_per_tenant_and_the_operator_is_audited() {
    let app = spawn_app().await;
    let ehr_b = app
        .client_for("ehr-b", Role::Ehr, "practice-b", "system/*.cruds")
        .await;
    let r = ehr_b
        .post(app.url("Patient"))
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Patient", "name": [{"family": "InB"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pid_b = r.headers()["location"]
        .to_str()
        .unwrap()
        .split('/')
        .nth_back(2)
        .unwrap()
        .to_string();
    let pid_a = app
        .create(&json!({"resourceType": "Patient", "name": [{"family": "InA"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_a = app
        .client_for("admin-a", Role::Admin, "default", "system/*.rs")
        .await;
    let admin_b = app
        .client_for("admin-b", Role::Admin, "practice-b", "system/*.rs")
        .await;
    let operator = app
        .client_for("ops-op", Role::Operator, "tandem-ops", "system/*.rs")
        .await;
    // Writes are audited in their own transaction: visible at once.
    let b_events = audit_events(&admin_b, &app, &format!("patient=Patient/{pid_b}")).await;
    let b_create = b_events
        .iter()
        .find(|e| subtype(e) == "create")
        .expect("B's create");
    let b_id = b_create["id"].as_str().unwrap();
    assert!(
        !audit_events(&admin_a, &app, &format!("patient=Patient/{pid_a}"))
            .await
            .is_empty()
    );
    // A's admin finds nothing of B's, by search or by id, and cannot switch tenant.
    let searched: Value = fetch_json(
        &admin_a,
        &app.url(&format!("AuditEvent?patient=Patient/{pid_b}")),
    )
    .await;
    assert!(
        searched["entry"].as_array().is_none_or(|e| e.is_empty()),
        "{searched}"
    );
    let all_a: Value = fetch_json(&admin_a, &app.url("AuditEvent?agent=ehr-b")).await;
    assert!(
        all_a["entry"].as_array().is_none_or(|e| e.is_empty()),
        "{all_a}"
    );
    assert_eq!(
        get_status(&admin_a, app.url(&format!("AuditEvent/{b_id}"))).await,
        404
    );
    assert_eq!(
        get_status(&admin_b, app.url(&format!("AuditEvent/{b_id}"))).await,
        200
    );
    let switched = admin_a
        .get(app.url("AuditEvent"))
        .header("x-tandem-tenant", "practice-b")
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 403);
    // The operator reads both tenants' records, and its reads are audited.
    assert_eq!(
        get_status(&operator, app.url(&format!("AuditEvent/{b_id}"))).await,
        200
    );
    assert!(
        !audit_events(&operator, &app, &format!("patient=Patient/{pid_b}"))
            .await
            .is_empty()
    );
    assert!(
        !audit_events(&operator, &app, &format!("patient=Patient/{pid_a}"))
            .await
            .is_empty()
    );
    let own = audit_events(&operator, &app, "agent=ops-op&subtype=read").await;
    assert!(
        own.iter()
            .any(|e| e["entity"].to_string().contains("AuditEvent")
                || e.to_string().contains("AuditEvent")),
        "the operator's read of the trail is on the trail: {own:?}"
    );
    app.stop().await;
}

/// Resident memory of this process (server and test client), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024
}

/// POSTs a chunked body of `total` bytes over a raw connection and returns
/// the status the server answered with (it may answer before the body ends,
/// and then stop reading: the writer just stops).
async fn post_huge(base: &str, path: &str, headers: &str, total: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n{headers}\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        let mut sent = 0;
        while sent < total {
            wr.write_all(&framed).await?;
            sent += 64 * 1024;
        }
        wr.write_all(b"0\r\n\r\n").await
    });
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = rd.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    writer.abort();
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bodies are limited while they are read: 20 concurrent 200 MB bodies to
/// the token endpoint and 20 to `_search` get 413 without the server
/// holding them, and an ordinary client keeps working meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_bodies_are_refused_while_read_and_cost_no_memory() {
    let app = spawn_app().await;
    let token = app
        .token_for("searcher", Role::Ehr, "default", "system/*.rs")
        .await;
    let before = rss();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut posts = Vec::new();
    for i in 0..40 {
        let base = app.base.clone();
        let auth = format!(
            "Authorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        );
        posts.push(tokio::spawn(async move {
            if i % 2 == 0 {
                post_huge(
                    &base,
                    "/auth/token",
                    "Content-Type: application/x-www-form-urlencoded\r\n",
                    200 << 20,
                )
                .await
            } else {
                post_huge(&base, "/Patient/_search", &auth, 200 << 20).await
            }
        }));
    }
    // An ordinary client is served while the flood is on.
    let ok = app.get("Patient?_count=1").await;
    assert_eq!(ok.status(), 200);
    for p in posts {
        assert_eq!(p.await.unwrap(), 413);
    }
    sampling.abort();
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "resident memory grew by {} KiB under 40 x 200 MB bodies",
        grown / 1024
    );
    assert!(grown < 100 << 20, "grew by {grown} bytes");
    app.stop().await;
}

/// A flood of bad tokens from one address is throttled (429 with
/// Retry-After) before verification; a client at another address is not.
#[tokio::test]
async fn a_bad_token_flood_from_one_address_is_throttled() {
    let app = spawn_app_with(|c| {
        c.auth.address_rate_per_second = 1;
        c.auth.address_burst = 5;
    })
    .await;
    let flooder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let r = flooder
            .get(app.url("Patient"))
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            retry_after = r.headers().get("retry-after").cloned();
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert!(retry_after.is_some());
    // The blocked address cannot ask for tokens either.
    let t = flooder
        .post(app.url("auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 429);
    // A client at another address (127.0.0.1) works on.
    assert_eq!(app.get("Patient?_count=1").await.status(), 200);
    app.stop().await;
}

/// Operations that read patient data are on the trail, with the operation
/// and the patient they concern; another practice's admin does not see them.
#[tokio::test]
async fn operations_reading_patient_data_are_audited() {
    let app = spawn_app().await;
    let pid = app
        .create(&json!({"resourceType": "Patient", "name": [{"family": "Ops"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = app.admin().await;
    for path in [
        format!("Patient/{pid}/$screening-status"),
        "Organization/default/$referrals".to_string(),
        "Organization/default/$transitions".to_string(),
        format!(
            "Measure/CMS2/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31&subject=Patient/{pid}"
        ),
        "Measure/$care-gaps?periodStart=2026-01-01&periodEnd=2026-12-31&status=open-gap"
            .to_string(),
    ] {
        app.get(&path).await;
    }
    let r = admin.get(app.url("$outbox")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for (agent, op) in [
        ("test-ehr", "$screening-status"),
        ("test-ehr", "$referrals"),
        ("test-ehr", "$transitions"),
        ("test-ehr", "$evaluate-measure"),
        ("test-ehr", "$care-gaps"),
        ("ops", "$outbox"),
    ] {
        // Read audits are committed in batches: poll until this one shows.
        let mut found = false;
        let mut events = Vec::new();
        for _ in 0..50 {
            events = audit_events(
                &admin,
                &app,
                &format!("agent={agent}&subtype=operation&_count=100"),
            )
            .await;
            found = events.iter().any(|e| {
                e["entity"].as_array().into_iter().flatten().any(|en| {
                    en["query"].as_str().is_some_and(|q| {
                        use base64::Engine;
                        let raw = base64::engine::general_purpose::STANDARD.decode(q).unwrap();
                        String::from_utf8(raw).unwrap().starts_with(op)
                    })
                })
            });
            if found {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(found, "{op} audited: {events:?}");
    }
    let by_patient = audit_events(
        &admin,
        &app,
        &format!("patient=Patient/{pid}&subtype=operation"),
    )
    .await;
    assert!(
        by_patient.len() >= 2,
        "$screening-status and $evaluate-measure name the patient"
    );
    let other = app
        .client_for("admin-x", Role::Admin, "practice-x", "system/*.rs")
        .await;
    let seen: Value = fetch_json(&other, &app.url("AuditEvent?subtype=operation")).await;
    assert!(
        seen["entry"].as_array().is_none_or(|e| e.is_empty()),
        "{seen}"
    );
    app.stop().await;
}
