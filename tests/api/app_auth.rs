//! SMART App Launch against Tandem as authorization server, over HTTP:
//! the authorization code flow with PKCE for a person, and each refusal —
//! wrong password, lockout, a form without its CSRF token, an unknown
//! redirect URI, a PKCE or redirect mismatch at the exchange, a code used
//! twice, a refresh token rotated, reused (stolen) and revoked. Then what
//! the resulting user-level tokens may do: a practice user reads its own
//! practice, a facilitator sees numbers only and only for the practices
//! assigned, and a refused attempt is on the audit trail with the person.

use reqwest::StatusCode;
use serde_json::Value;
use tandem::auth::users::UserRole;

use crate::common::audit::{audit_until, requested_by};
use crate::common::people::{
    PASSWORD, add_user, browser, enrolled_app, location_query, pkce, request, sign_in, token,
    tokens_for,
};
use crate::common::{TestApp, bearer_client};

async fn app_with_people() -> TestApp {
    let (app, _root) = enrolled_app(60, 2, 5).await;
    add_user(&app, "pat", UserRole::Practice, &["practice-0"]).await;
    add_user(&app, "fran", UserRole::Facilitator, &["practice-1"]).await;
    app
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_person_signs_in_with_pkce_and_gets_user_level_tokens() {
    let app = app_with_people().await;
    let body = tokens_for(&app, "pat").await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() >= 43)
    );
    let scope = body["scope"].as_str().unwrap();
    assert!(
        scope.contains("user/*.rs") && !scope.contains("system/"),
        "{scope}"
    );
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "pat");
    assert_eq!(id["aud"], "tandem-app");
    assert_eq!(id["fhirUser"], format!("{}/Person/pat", app.base));

    // The token reads the practice's data through the FHIR API …
    let c = bearer_client(body["access_token"].as_str().unwrap());
    let r = c.get(app.url("Patient?_count=1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(app.url("Organization/practice-0/$milestones?projectYear=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // … writes nothing (user/*.rs) …
    let r = c
        .post(app.url("Patient"))
        .json(&serde_json::json!({"resourceType": "Patient"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // … and works in no other practice.
    let r = c
        .get(app.url("Patient?_count=1"))
        .header("X-Tandem-Tenant", "practice-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn a_facilitator_sees_numbers_of_assigned_practices_only() {
    let app = app_with_people().await;
    let body = tokens_for(&app, "fran").await;
    let c = bearer_client(body["access_token"].as_str().unwrap());
    let at = |tenant: &'static str, path: &'static str| {
        let c = c.clone();
        let url = app.url(path);
        async move {
            c.get(url)
                .header("X-Tandem-Tenant", tenant)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        at(
            "practice-1",
            "Organization/practice-1/$milestones?projectYear=1"
        )
        .await,
        StatusCode::OK
    );
    // No patient lists, no patients …
    assert_eq!(at("practice-1", "Patient").await, StatusCode::FORBIDDEN);
    assert_eq!(
        at(
            "practice-1",
            "Measure/colorado-sim-BB3.Y1.1/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31&reportType=subject-list"
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // … and nothing of a practice not assigned, which is audited with the person.
    assert_eq!(
        at(
            "practice-0",
            "Organization/practice-0/$milestones?projectYear=1"
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // Audit records are committed in the background: poll until one shows.
    let admin = crate::common::audit::auditor(&app, "practice-0").await;
    let trail = audit_until(&admin, &app, "outcome=4&_count=100", |e| {
        requested_by(e, "fran")
    })
    .await;
    let by_fran = trail.iter().any(|e| requested_by(e, "fran"));
    let agents: Vec<&Value> = trail.iter().map(|e| &e["agent"]).collect();
    assert!(by_fran, "{agents:?}");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_refusals() {
    let app = app_with_people().await;
    let (_, challenge) = pkce();
    let redirect = app.url("app/callback");
    let q = request(&app, "tandem-app", &redirect, &challenge);

    // A wrong password: the form again, no code.
    let r = sign_in(&app, &browser(), &q, "pat", "not the password!").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Wrong user name or password")
    );

    // A form posted without the CSRF cookie and token is refused before
    // the password is looked at.
    let mut form = q.clone();
    form.push(("username".into(), "pat".into()));
    form.push(("password".into(), PASSWORD.into()));
    let r = browser()
        .post(app.url("auth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("location").is_none());

    // An unregistered redirect URI: shown, never redirected to.
    let evil = request(&app, "tandem-app", "https://evil.example/cb", &challenge);
    let r = browser()
        .get(app.url("auth/authorize"))
        .query(&evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // A request without PKCE goes back to the app with an error.
    let no_pkce: Vec<_> = q
        .iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .cloned()
        .collect();
    let r = browser()
        .get(app.url("auth/authorize"))
        .query(&no_pkce)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (loc, got) = location_query(&r);
    assert!(loc.starts_with(&redirect), "{loc}");
    assert_eq!(got["error"], "invalid_request");
    assert_eq!(got["state"], "s-123");

    // Five failures in a row lock the account: then even the right password fails.
    let b = browser();
    for _ in 0..5 {
        sign_in(&app, &b, &q, "fran", "wrong wrong wrong").await;
    }
    let r = sign_in(&app, &b, &q, "fran", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("locked"));
    app.stop().await;
}

#[tokio::test]
async fn codes_and_refresh_tokens_are_checked_at_the_exchange() {
    let app = app_with_people().await;
    let (verifier, challenge) = pkce();
    let redirect = app.url("app/callback");
    let q = request(&app, "tandem-app", &redirect, &challenge);
    let code_now = || async {
        let r = sign_in(&app, &browser(), &q, "pat", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        location_query(&r).1["code"].clone()
    };
    let exchange = |code: String, verifier: String, redirect: String| {
        let app = &app;
        async move {
            token(
                app,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    ("client_id", "tandem-app"),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    // PKCE mismatch.
    let (s, b) = exchange(code_now().await, pkce().0, redirect.clone()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );
    // Redirect URI mismatch.
    let (s, b) = exchange(code_now().await, verifier.clone(), app.url("app/other")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri"),
        "{b}"
    );
    // A code works once.
    let code = code_now().await;
    let (s, first) = exchange(code.clone(), verifier.clone(), redirect.clone()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, b) = exchange(code, verifier.clone(), redirect.clone()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Refresh: rotated on use; the old token presented again (stolen)
    // revokes the family, successor included.
    let refresh = |t: String| {
        let app = &app;
        async move {
            token(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &t),
                    ("client_id", "tandem-app"),
                ],
            )
            .await
        }
    };
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let (s, second) = refresh(r1.clone()).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert!(second["access_token"].as_str().is_some());
    let (s, b) = refresh(r1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{b}"
    );
    let (s, _) = refresh(r2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the successor is revoked too");

    // Revocation (sign-out) ends a session.
    let fresh = tokens_for(&app, "pat").await;
    let rt = fresh["refresh_token"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .post(app.url("auth/revoke"))
        .form(&[("token", rt.as_str()), ("client_id", "tandem-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = refresh(rt).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    app.stop().await;
}
