//! One client must not take the server down (issue 32 items 12, 13, 18,
//! 19): slow headers and idle connections are cut, connections are
//! capped, request slots are one budget with a reserve for tokens, large
//! bodies share a byte budget, a search past its time budget is stopped
//! with 422, and over-long targets get 414 — each answer an
//! OperationOutcome, each bound tested with the request it must not stop.

use std::time::{Duration, Instant};

use crate::common;

use common::{TestApp, spawn_app_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Waits until the server closes `s` (read returns 0 or fails); the time it took.
async fn closed_after(mut s: TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(bound, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {bound:?}");
    started.elapsed()
}

/// Slow headers and idle keep-alive connections are closed after the
/// header-read timeout; the connection cap queues further clients until
/// then, and they are served.
#[tokio::test]
async fn slow_and_idle_connections_are_cut_and_capped() {
    let app = spawn_app_with(|c| {
        c.limits.header_read_timeout_secs = 1;
        c.limits.max_connections = 4;
    })
    .await;
    // A client trickling a request head.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /metadata HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slow
    });
    // Three idle connections: with the slow one, the cap is reached.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&app).await);
    }
    let started = Instant::now();
    let r = app.client.get(app.url("metadata")).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "served once the cut connections freed their slots"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(10),
        "queued behind the cap, then served: {waited:?}"
    );
    for s in idle {
        assert!(closed_after(s, Duration::from_secs(10)).await < Duration::from_secs(5));
    }
    let slow = trickle.await.unwrap();
    assert!(closed_after(slow, Duration::from_secs(10)).await < Duration::from_secs(5));
    app.stop().await;
}

/// A request whose body never arrives whole: 408 after the body timeout.
async fn stalled_body(app: &TestApp, path: &str, length: usize, token: Option<&str>) -> TcpStream {
    let mut s = connect(app).await;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/fhir+json\r\nContent-Length: {length}\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Request slots are one budget for every route, with a reserve only
/// token requests use: slow bodies holding every other slot make further
/// requests wait and get 503, while tokens are still issued.
#[tokio::test]
async fn token_issuance_survives_a_slot_flood() {
    let app = spawn_app_with(|c| {
        c.limits.max_concurrent_requests = 4;
        c.limits.token_reserve = 1;
        c.limits.queue_wait_ms = 300;
    })
    .await;
    let token = app
        .token_for(
            "flooder",
            tandem::auth::Role::Ehr,
            "default",
            "system/*.cruds",
        )
        .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(stalled_body(&app, "Patient", 1000, Some(&token)).await);
    }
    // The stalled requests hold the three general slots.
    let mut busy = None;
    for _ in 0..100 {
        let r = app.client.get(app.url("metadata")).send().await.unwrap();
        if r.status() == 503 {
            busy = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = busy.expect("a fourth request finds no slot");
    assert_eq!(busy.headers()["retry-after"], "1");
    let oo: Value = busy.json().await.unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    // The token endpoint still answers from its reserve.
    let fresh = app
        .token_for("another", tandem::auth::Role::Ehr, "default", "system/*.rs")
        .await;
    assert!(!fresh.is_empty());
    drop(held);
    app.stop().await;
}

/// Large bodies share a byte budget: while one holds it, another large body
/// gets 503, a small request is served, and once the first is done the
/// second fits.
#[tokio::test]
async fn large_bodies_share_a_byte_budget() {
    let app = spawn_app_with(|c| {
        c.limits.max_body_bytes = 2 * 1024 * 1024;
        c.limits.body_budget_bytes = 3 * 1024 * 1024;
        c.limits.queue_wait_ms = 300;
        c.limits.body_read_timeout_secs = 2;
    })
    .await;
    let token = app
        .token_for("big", tandem::auth::Role::Ehr, "default", "system/*.cruds")
        .await;
    let first = stalled_body(&app, "", 2 * 1024 * 1024, Some(&token)).await;
    let big = |n: usize| {
        let pad = "x".repeat(n);
        json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource":
            {"resourceType": "Basic", "code": {"text": pad}}, "request": {"method": "POST", "url": "Basic"}}]})
    };
    let mut refused = None;
    for _ in 0..100 {
        let r = app.post("", &big(1_500_000)).await;
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let oo: Value = refused
        .expect("no room for a second large body")
        .json()
        .await
        .unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(
        app.post(
            "Basic",
            &json!({"resourceType": "Basic", "code": {"text": "small"}})
        )
        .await
        .status(),
        201
    );
    // The stalled body times out (408) and gives its share back.
    assert!(closed_or_answered(first, "408").await);
    assert_eq!(app.post("", &big(1_500_000)).await.status(), 200);
    app.stop().await;
}

async fn closed_or_answered(mut s: TcpStream, status: &str) -> bool {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).contains(status)
}

/// A search past its time budget is stopped and answered 422 too-costly;
/// reads by id and cheap searches are not affected.
#[tokio::test]
async fn a_search_past_its_budget_is_stopped() {
    let app = spawn_app_with(|c| c.limits.query_time_ms = 1).await;
    let entries: Vec<Value> = (0..400)
        .flat_map(|i| {
            let pid = format!("p{i}");
            [
                json!({"resource": {"resourceType": "Patient", "id": pid, "name": [{"family": format!("F{i}")}]},
                       "request": {"method": "PUT", "url": format!("Patient/{pid}")}}),
                json!({"resource": {"resourceType": "Observation", "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": format!("{}", 1000 + i % 50)}]},
                        "subject": {"reference": format!("Patient/{pid}")}},
                       "request": {"method": "POST", "url": "Observation"}}),
            ]
        })
        .collect();
    let r = app
        .post(
            "",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let codes: Vec<String> = (1000..1100).map(|c| c.to_string()).collect();
    let has: Vec<String> = (0..8)
        .map(|_| format!("_has:Observation:subject:code={}", codes.join(",")))
        .collect();
    let heavy = format!("Patient?{}&_total=accurate&_count=1000", has.join("&"));
    let (status, oo) = app.get_json(&heavy).await;
    assert_eq!(status, 422, "{oo}");
    assert_eq!(oo["issue"][0]["code"], "too-costly");
    assert_eq!(app.get("Patient/p7").await.status(), 200);
    app.stop().await;
}

/// An over-long request target gets 414 with an OperationOutcome (hyper's
/// own limit would answer with an empty body).
#[tokio::test]
async fn an_overlong_target_gets_414_with_an_outcome() {
    let app = common::spawn_app().await;
    let long = format!("Patient?name={}", "a".repeat(20_000));
    let r = app.get(&long).await;
    assert_eq!(r.status(), 414);
    let oo: Value = r.json().await.unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(app.get("Patient?name=a").await.status(), 200);
    app.stop().await;
}
