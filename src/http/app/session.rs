//! A person's session in the web app. The app is an ordinary SMART app of
//! Tandem's own authorization server (`auth::apps::BUILT_IN`): signing in
//! is the standalone launch with PKCE through `/auth/authorize`; the
//! resulting user-level access token and refresh token live in HttpOnly
//! cookies; every page verifies the access token like any bearer token
//! and, when it has expired, rotates the refresh token for a new pair.
//! Signing out revokes the refresh token's family.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::cookies::{self, ACCESS, CSRF, PKCE, REFRESH};
use super::{Page, fail};
use crate::auth::apps::{App, BUILT_IN};
use crate::auth::grants::{self, REFRESH_MS};
use crate::auth::launch;
use crate::caller::Grant;
use crate::http::AppState;
use crate::web;

/// A verified session: the person's grant, and cookies to send back
/// (rotated tokens, the CSRF token).
pub struct Session {
    pub grant: Arc<Grant>,
    pub jar: CookieJar,
    pub csrf: String,
}

/// Only paths of the app itself may be returned to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/app") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/app".into(),
    }
}

/// `GET /app/sign-in?next=…`: starts the standalone launch.
pub async fn start(
    State(s): State<AppState>,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let verifier = grants::secret();
    let state = grants::secret();
    let next = safe_next(q.get("next").map(String::as_str));
    let app = App::built_in(&s.base_url);
    let secure = cookies::secure(&s.base_url);
    let pending = format!("{state} {verifier} {next}");
    let jar = jar.add(cookies::make(PKCE, pending, "/app/callback", 600, secure));
    let to = launch::redirect_to(
        &format!("{}/auth/authorize", s.base_url),
        &[
            ("response_type", "code"),
            ("client_id", BUILT_IN),
            ("redirect_uri", &app.redirect_uris[0]),
            ("scope", &app.scopes),
            ("state", &state),
            ("aud", &s.base_url),
            ("code_challenge", &grants::digest(&verifier)),
            ("code_challenge_method", "S256"),
        ],
    );
    (jar, Redirect::to(&to)).into_response()
}

fn set_tokens(jar: CookieJar, s: &AppState, body: &serde_json::Value) -> CookieJar {
    let secure = cookies::secure(&s.base_url);
    let access = body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut jar = jar.add(cookies::make(
        ACCESS,
        access,
        "/app",
        s.tokens.lifetime_s,
        secure,
    ));
    if let Some(r) = body["refresh_token"].as_str() {
        jar = jar.add(cookies::make(
            REFRESH,
            r.to_string(),
            "/app",
            REFRESH_MS / 1000,
            secure,
        ));
    }
    jar
}

/// Runs a token-endpoint exchange in process, audited as the endpoint does.
async fn exchange(s: &AppState, form: &[(&str, &str)], what: &str) -> Option<serde_json::Value> {
    let form: HashMap<String, String> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::http::auth_routes::audited_exchange(s, &form, what, BUILT_IN, None, "-")
        .await
        .ok()
}

/// `GET /app/callback?code=…&state=…`: finishes the launch.
pub async fn callback(
    State(s): State<AppState>,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let pending = jar
        .get(PKCE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let jar = cookies::clear(jar, PKCE, "/app/callback");
    let mut parts = pending.splitn(3, ' ');
    let (state, verifier, next) = (parts.next(), parts.next(), parts.next());
    let state_ok = match (state, q.get("state")) {
        (Some(a), Some(b)) => cookies::same(a, b),
        _ => false,
    };
    let (Some(verifier), true) = (verifier, state_ok) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here or took too long; sign in again.",
        );
    };
    if let Some(e) = q.get("error") {
        let why = q
            .get("error_description")
            .map_or(e.as_str(), String::as_str);
        return fail(StatusCode::BAD_REQUEST, &format!("Sign-in failed: {why}"));
    }
    let redirect = App::built_in(&s.base_url).redirect_uris[0].clone();
    let code = q.get("code").map(String::as_str).unwrap_or_default();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect),
        ("client_id", BUILT_IN),
        ("code_verifier", verifier),
    ];
    match exchange(&s, &form, "token").await {
        Some(body) => {
            let jar = set_tokens(jar, &s, &body);
            (jar, Redirect::to(&safe_next(next))).into_response()
        }
        None => fail(
            StatusCode::BAD_REQUEST,
            "The sign-in could not be completed; sign in again.",
        ),
    }
}

fn to_sign_in(jar: CookieJar, here: &str) -> Response {
    let jar = cookies::clear(cookies::clear(jar, ACCESS, "/app"), REFRESH, "/app");
    let to = format!(
        "/app/sign-in?next={}",
        form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
    );
    (jar, Redirect::to(&to)).into_response()
}

/// The session of a page request at `here` (its path and query), or the
/// response that sends the browser to sign in.
pub async fn signed_in(s: &AppState, jar: CookieJar, here: &str) -> Result<Session, Response> {
    let now = chrono::Utc::now().timestamp();
    let person = |g: Arc<Grant>| g.person.is_some().then_some(g);
    let mut jar = jar;
    let mut grant = match jar.get(ACCESS) {
        Some(c) => s.tokens.verify(c.value(), now).await.ok().and_then(person),
        None => None,
    };
    if grant.is_none() {
        let Some(refresh) = jar.get(REFRESH).map(|c| c.value().to_string()) else {
            return Err(to_sign_in(jar, here));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", BUILT_IN),
        ];
        let Some(body) = exchange(s, &form, "refresh").await else {
            return Err(to_sign_in(jar, here));
        };
        let access = body["access_token"].as_str().unwrap_or_default();
        grant = s.tokens.verify(access, now).await.ok().and_then(person);
        jar = set_tokens(jar, s, &body);
    }
    let Some(grant) = grant else {
        return Err(to_sign_in(jar, here));
    };
    let (jar, csrf) = cookies::csrf(jar, cookies::secure(&s.base_url));
    Ok(Session { grant, jar, csrf })
}

/// `POST /app/sign-out`: revokes the session's refresh tokens and forgets
/// the cookies.
pub async fn sign_out(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let form = match super::read_form(&s, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !cookies::csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return fail(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site.",
        );
    }
    if let Some(r) = jar.get(REFRESH) {
        let _ = launch::revoke(&s.tokens, r.value()).await;
    }
    let jar = cookies::clear(cookies::clear(jar, ACCESS, "/app"), REFRESH, "/app");
    let jar = cookies::clear(jar, CSRF, "/");
    let page = web::layout::page(
        "Signed out",
        None,
        maud::html! { p { "You are signed out. " a href="/app/sign-in" { "Sign in again" } } },
    );
    (jar, Page(StatusCode::OK, page)).into_response()
}
