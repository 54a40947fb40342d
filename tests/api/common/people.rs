//! People and their sign-in for the web-app and SMART App Launch tests:
//! accounts written as `tandem user add` writes them, and the standalone
//! launch (authorization code + PKCE) driven over plain HTTP, one request
//! at a time, so each step's answer can be checked.

use std::collections::HashMap;

use base64::Engine;
use reqwest::{Client, StatusCode, redirect};
use serde_json::Value;
use tandem::auth::users::{User, UserRole};

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

/// Adds an account (password [`PASSWORD`]).
pub async fn add_user(app: &TestApp, name: &str, role: UserRole, practices: &[&str]) {
    let user = User::new(
        name,
        role,
        practices.iter().map(|p| p.to_string()).collect(),
        PASSWORD,
        0,
    )
    .unwrap();
    let store = super::open_store(&app.db).await;
    store
        .put_user(name, &serde_json::to_string(&user).unwrap())
        .await
        .unwrap();
    store.close().await;
}

/// A server whose practices are a generated population's (`practices` of
/// them, `patients` in all), enrolled by its `program.toml`; practice-0 is
/// the default tenant. Nothing is loaded; the directory holds the data.
pub async fn enrolled_app(
    patients: usize,
    practices: usize,
    seed: u64,
) -> (TestApp, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("pop");
    tandem::generate::run(
        &super::population::options(&path, patients, practices, seed),
        |_| {},
    )
    .unwrap();
    let generated = tandem::config::Config::load(
        Some(&path.join("program.toml")),
        &tandem::config::Overrides::default(),
    )
    .unwrap();
    let app = super::spawn_app_with(|c| {
        c.default_tenant = "practice-0".into();
        c.programs = generated.programs;
        c.enrolments = generated.enrolments;
    })
    .await;
    (app, root)
}

/// A PKCE verifier and its S256 challenge (computed here independently of
/// Tandem's own code: SHA-256 from the `rsa` crate's `sha2`).
pub fn pkce() -> (String, String) {
    use rsa::sha2::{Digest, Sha256};
    let verifier = format!(
        "{}-verifier-with-enough-length-for-pkce",
        uuid::Uuid::new_v4()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A browser-like client that does not follow redirects and keeps cookies.
pub fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The hidden `name` field of a form page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &page[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// An authorization request for `client_id`, as query pairs.
pub fn request(
    app: &TestApp,
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid fhirUser offline_access user/*.rs"),
        ("state", "s-123"),
        ("aud", app.base.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Shows the form, then posts `name`/`password` with its CSRF token;
/// returns the answer to the post.
pub async fn sign_in(
    app: &TestApp,
    b: &Client,
    query: &[(String, String)],
    name: &str,
    password: &str,
) -> reqwest::Response {
    let page = b
        .get(app.url("auth/authorize"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("the form carries a CSRF token");
    let mut form: Vec<(String, String)> = query.to_vec();
    form.push(("csrf".into(), csrf));
    form.push(("username".into(), name.into()));
    form.push(("password".into(), password.into()));
    b.post(app.url("auth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The query of a redirect's `Location`.
pub fn location_query(r: &reqwest::Response) -> (String, HashMap<String, String>) {
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let url = reqwest::Url::parse(&loc).unwrap();
    let q = url.query_pairs().into_owned().collect();
    (loc, q)
}

/// `POST /auth/token` with a form; status and JSON body.
pub async fn token(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = Client::new()
        .post(app.url("auth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The whole launch for Tandem's own app; the token response.
pub async fn tokens_for(app: &TestApp, name: &str) -> Value {
    let (verifier, challenge) = pkce();
    let redirect = app.url("app/callback");
    let q = request(app, "tandem-app", &redirect, &challenge);
    let r = sign_in(app, &browser(), &q, name, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let (_, got) = location_query(&r);
    let (status, body) = token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", &redirect),
            ("client_id", "tandem-app"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Signs `name` in through `/app`, as a browser would; the client keeps
/// the session cookies.
pub async fn signed_in(app: &TestApp, name: &str) -> Client {
    let b = Client::builder().cookie_store(true).build().unwrap();
    // /app → /app/sign-in → /auth/authorize: the form.
    let form = b.get(app.url("app")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let at = form.url().clone();
    assert_eq!(at.path(), "/auth/authorize");
    let html = form.text().await.unwrap();
    let mut fields: Vec<(String, String)> = at.query_pairs().into_owned().collect();
    fields.push(("csrf".into(), hidden(&html, "csrf").unwrap()));
    fields.push(("username".into(), name.into()));
    fields.push(("password".into(), PASSWORD.into()));
    // → /app/callback → /app.
    let r = b
        .post(app.url("auth/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/app");
    b
}

pub async fn page(b: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = b.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}
