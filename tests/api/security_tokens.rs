//! SMART Backend Services over real HTTP: discovery, the token endpoint with
//! ES384 and RS384 assertions, every listed token attack refused, bearer
//! checks (401/403), scopes per interaction, JWKS by URL with caching rules.

use crate::common;

use common::jwt::{self, Signer, claims, raw, request_token, sign};
use common::process::fetch_json;
use common::{TestApp, bearer_client, get_status, save_client, spawn_app};
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::auth::clients::Client;

async fn client_with(app: &TestApp, id: &str, s: &Signer, scopes: &str) {
    save_client(
        &app.db,
        &Client {
            client_id: id.into(),
            name: id.into(),
            role: Role::Ehr,
            organization: "default".into(),
            jwks: Some(json!({"keys": [s.jwk]})),
            jwks_url: None,
            scopes: scopes.into(),
        },
    )
    .await;
}

fn token_url(app: &TestApp) -> String {
    format!("{}/auth/token", app.base)
}

#[tokio::test]
async fn discovery_and_jwks_are_public() {
    let app = spawn_app().await;
    let anon = reqwest::Client::new();
    let conf: Value = fetch_json(&anon, &app.url(".well-known/smart-configuration")).await;
    assert_eq!(conf["token_endpoint"], token_url(&app));
    assert!(
        conf["grant_types_supported"]
            .to_string()
            .contains("client_credentials")
    );
    assert!(
        conf["capabilities"]
            .to_string()
            .contains("client-confidential-asymmetric")
    );
    let jwks: Value = fetch_json(&anon, &app.url("auth/jwks")).await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(jwks["keys"][0].get("d").is_none(), "no private material");
    for path in ["metadata", "health"] {
        assert_eq!(get_status(&anon, app.url(path)).await, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn es384_and_rs384_assertions_get_tokens_that_work() {
    let app = spawn_app().await;
    for (id, signer) in [
        ("es-client", jwt::es384("k-es")),
        ("rs-client", jwt::rs384("k-rs")),
    ] {
        client_with(
            &app,
            id,
            &signer,
            "system/Patient.rs system/Observation.crs",
        )
        .await;
        let a = sign(&signer, &claims(id, &token_url(&app)));
        let (status, body) =
            request_token(&app.base, &a, Some("system/Patient.rs system/Task.rs")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "bearer");
        assert!(body["expires_in"].as_i64().unwrap() <= 300);
        // Narrowed to what the client may have: Task was not allowed.
        assert_eq!(body["scope"], "system/Patient.rs");
        let c = bearer_client(body["access_token"].as_str().unwrap());
        assert_eq!(get_status(&c, app.url("Patient")).await, 200);
        // Observation was allowed to the client but not requested: refused.
        assert_eq!(get_status(&c, app.url("Observation")).await, 403);
    }
    app.stop().await;
}

#[tokio::test]
async fn token_attacks_are_refused() {
    let app = spawn_app().await;
    let url = token_url(&app);
    let good = jwt::es384("k1");
    let other = jwt::es384("k2");
    client_with(&app, "victim", &good, "system/*.rs").await;
    client_with(&app, "attacker", &other, "system/*.rs").await;
    let base = claims("victim", &url);
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c["jti"] = json!(uuid::Uuid::new_v4().to_string());
        c
    };
    let valid = sign(&good, &base);
    let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    tampered_parts[1] = raw(&json!({}), &with("sub", json!("victim")), "")
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    let hs256 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("k1".into());
        let secret = good.jwk.to_string();
        jsonwebtoken::encode(
            &h,
            &with("jti", json!("hs")),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg=none",
            raw(
                &json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
                &with("jti", json!("n1")),
                "",
            ),
        ),
        ("HS256 with the public key as secret", hs256),
        (
            "expired",
            sign(&good, &with("exp", json!(jwt::now() - 600))),
        ),
        (
            "exp too far ahead",
            sign(&good, &with("exp", json!(jwt::now() + 3600))),
        ),
        (
            "wrong aud",
            sign(
                &good,
                &with("aud", json!("https://elsewhere.example/token")),
            ),
        ),
        (
            "unknown kid",
            sign(
                &jwt::Signer {
                    kid: "nope".into(),
                    ..jwt::es384("x")
                },
                &with("jti", json!("u1")),
            ),
        ),
        ("tampered payload", tampered_parts.join(".")),
        (
            "another client's key",
            sign(
                &jwt::Signer {
                    kid: "k1".into(),
                    ..jwt::es384("k1")
                },
                &with("jti", json!("o1")),
            ),
        ),
        (
            "attacker signs as victim with own kid",
            sign(&other, &with("jti", json!("o2"))),
        ),
        (
            "sub differs from iss",
            sign(&good, &with("sub", json!("attacker"))),
        ),
        ("garbage", "not-a-jwt".into()),
        ("oversized", "a".repeat(20_000)),
        (
            "nbf in the future",
            sign(&good, &with("nbf", json!(jwt::now() + 120))),
        ),
        (
            "iat in the future",
            sign(&good, &with("iat", json!(jwt::now() + 120))),
        ),
        ("no jti", {
            let mut c = base.clone();
            c.as_object_mut().unwrap().remove("jti");
            sign(&good, &c)
        }),
    ];
    for (name, assertion) in attacks {
        let (status, body) = request_token(&app.base, &assertion, None).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client", "{name}");
    }
    // nbf and iat in the past, or within the clock skew, are accepted.
    for (k, at) in [("nbf", -60), ("iat", -60), ("nbf", 10), ("iat", 10)] {
        let a = sign(&good, &with(k, json!(jwt::now() + at)));
        let (status, body) = request_token(&app.base, &a, None).await;
        assert_eq!(status, 200, "{k} {at:+} s: {body}");
    }
    // Replay: the same assertion works once.
    assert_eq!(request_token(&app.base, &valid, None).await.0, 200);
    let (status, body) = request_token(&app.base, &valid, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "replayed jti"
    );
    // Other OAuth errors.
    let r = reqwest::Client::new()
        .post(&url)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let a = sign(&good, &with("jti", json!("scope-1")));
    let (status, body) = request_token(&app.base, &a, Some("system/Patient.cud")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    app.stop().await;
}

#[tokio::test]
async fn bearer_tokens_are_checked_on_every_fhir_request() {
    let app = spawn_app().await;
    let anon = reqwest::Client::new();
    let r = anon.get(app.url("Patient")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["resourceType"],
        "OperationOutcome"
    );
    for bad in ["garbage", "a.b.c", &"x".repeat(10_000)] {
        let r = bearer_client(bad)
            .get(app.url("Patient"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad:.20}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    // A token with a flipped signature byte is refused; the real one works.
    let token = app
        .token_for("t2", Role::Ehr, "default", "system/*.rs")
        .await;
    let mut forged: Vec<char> = token.chars().collect();
    let last = forged.len() - 5;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(
        get_status(&bearer_client(&forged), app.url("Patient")).await,
        401
    );
    assert_eq!(
        get_status(&bearer_client(&token), app.url("Patient")).await,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn scopes_are_enforced_per_interaction_and_type() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "active": true}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    // v1 read scope: read and search allowed, writes refused.
    let reader = app
        .client_for("reader", Role::Ehr, "default", "system/Patient.read")
        .await;
    assert_eq!(
        get_status(&reader, app.url(&format!("Patient/{pid}"))).await,
        200
    );
    assert_eq!(
        get_status(&reader, app.url(&format!("Patient/{pid}/_history"))).await,
        200
    );
    let post = |c: &reqwest::Client, path: &str, body: Value| {
        c.post(app.url(path))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
    };
    let r = post(&reader, "Patient", json!({"resourceType": "Patient"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["issue"][0]["code"],
        "forbidden"
    );
    assert_eq!(
        reader
            .delete(app.url(&format!("Patient/{pid}")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(get_status(&reader, app.url("Observation")).await, 403);
    // v2 create-only: create allowed, search refused.
    let creator = app
        .client_for("creator", Role::Ehr, "default", "system/Observation.c")
        .await;
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    assert_eq!(
        post(&creator, "Observation", obs.clone())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(get_status(&creator, app.url("Observation")).await, 403);
    // Bundle entries are checked one by one: a transaction with one refused entry fails whole.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs, "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}]});
    let r = post(&creator, "", tx).await.unwrap();
    assert_eq!(r.status(), 403);
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{pid}")}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"}}, "request": {"method": "POST", "url": "Observation"}}]});
    let out: Value = post(&creator, "", batch)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        out["entry"][0]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("403")
    );
    assert!(
        out["entry"][1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("201")
    );
    // _include of a type the scopes do not cover is withheld.
    let both = app
        .client_for("obs-only", Role::Ehr, "default", "system/Observation.rs")
        .await;
    post(&app.client, "Observation", json!({"resourceType": "Observation", "status": "final", "code": {"text": "z"}, "subject": {"reference": format!("Patient/{pid}")}})).await.unwrap();
    let b: Value = fetch_json(&both, &app.url("Observation?_include=Observation:subject")).await;
    let types: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(
        types.contains(&"Observation") && !types.contains(&"Patient"),
        "{types:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn restricted_scopes_see_only_matching_resources() {
    let app = spawn_app().await;
    let survey = "http://terminology.hl7.org/CodeSystem/observation-category|survey";
    let mk = |cat: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": cat}]}]})
    };
    let s = app.create(&mk("survey")).await;
    let v = app.create(&mk("vital-signs")).await;
    let c = app
        .client_for(
            "surveys",
            Role::Ehr,
            "default",
            &format!("system/Observation.rs?category={survey}"),
        )
        .await;
    let get = |id: &Value| {
        c.get(app.url(&format!("Observation/{}", id.as_str().unwrap())))
            .send()
    };
    assert_eq!(get(&s["id"]).await.unwrap().status(), 200);
    assert_eq!(get(&v["id"]).await.unwrap().status(), 404);
    let b: Value = fetch_json(&c, &app.url("Observation")).await;
    let matches = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    assert_eq!(matches, 1);
    // Type history is screened the same way, and carries no total that would
    // count the hidden versions.
    let h: Value = fetch_json(&c, &app.url("Observation/_history")).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 1, "{h}");
    assert!(h.get("total").is_none(), "{h}");
    app.stop().await;
}
