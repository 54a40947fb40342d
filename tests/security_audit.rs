//! The audit trail and abuse limits: every interaction leaves a BALP-shaped
//! AuditEvent only admins can read and nobody can alter; per-client rate
//! limit and header limit; tokens from an external issuer and client keys
//! published at a JWKS URL.

mod common;

use common::process::fetch_json;
use std::time::Duration;

use axum::routing::get;
use common::jwt::{self, claims, request_token, sign};
use common::{bearer_client, get_status, save_client, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::auth::clients::Client;

async fn audit_events(admin: &reqwest::Client, app: &common::TestApp, query: &str) -> Vec<Value> {
    // Read audits are committed in the background: wait for them.
    for _ in 0..50 {
        let b: Value = fetch_json(admin, &app.url(&format!("AuditEvent?{query}"))).await;
        let es: Vec<Value> = b["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect();
        if !es.is_empty() {
            return es;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
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
        .client_for("ops", Role::Admin, "tandem-ops", "system/*.cruds")
        .await;
    let events = audit_events(&admin, &app, &format!("patient=Patient/{pid}&_count=100")).await;
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
