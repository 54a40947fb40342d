//! The authorization endpoint of SMART App Launch — `GET /auth/authorize`
//! shows the sign-in form, `POST /auth/authorize` checks the person and
//! sends a one-time code to the app — and `POST /auth/revoke` (RFC 7009),
//! which signs a session out. The decisions are `auth::launch`'s; this is
//! their HTTP shape: the form, its CSRF check, redirects and the audit.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::AppState;
use super::app::cookies;
use super::body::{TOKEN_FORM_LIMIT, read_limited};
use crate::auth::launch::{self, BadRequest, REQUEST_FIELDS};
use crate::auth::users::{self, Refused};
use crate::service::TokenEvent;
use crate::web;

fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            // The sign-in form must not be framed (clickjacking).
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(markup.into_string()),
    )
        .into_response()
}

fn refused(e: BadRequest) -> Response {
    match e {
        BadRequest::Shown(msg) => page(
            StatusCode::BAD_REQUEST,
            web::layout::message("Cannot sign in", None, &msg),
        ),
        BadRequest::Redirect(to) => Redirect::to(&to).into_response(),
    }
}

/// The authorization request's own fields, to carry through the form.
fn carried(q: &HashMap<String, String>) -> Vec<(String, String)> {
    REQUEST_FIELDS
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// `GET /auth/authorize`: the sign-in form for a valid request.
pub async fn authorize_page(
    State(s): State<AppState>,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let req = match launch::check(&s.tokens, &s.base_url, &q).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let (jar, csrf) = cookies::csrf(jar, cookies::secure(&s.base_url));
    let form = web::sign_in::form(&req.app.name, &carried(&q), &csrf, None);
    (jar, page(StatusCode::OK, form)).into_response()
}

/// `POST /auth/authorize`: the person's name and password; on success a
/// redirect to the app with a one-time code.
pub async fn authorize_submit(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(wait) = s.gate.as_ref().and_then(|g| g.charge_address(peer.ip())) {
        let mut resp = page(
            StatusCode::TOO_MANY_REQUESTS,
            web::layout::message(
                "Too many attempts",
                None,
                "Too many sign-in attempts from this address; wait a moment and try again.",
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return resp;
    }
    let form: HashMap<String, String> =
        match read_limited(&headers, body, TOKEN_FORM_LIMIT, s.body_read_timeout).await {
            Ok(b) => form_urlencoded::parse(&b).into_owned().collect(),
            Err(e) => {
                return page(
                    e.status(),
                    web::layout::message("Cannot sign in", None, &e.message()),
                );
            }
        };
    if !cookies::csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return page(
            StatusCode::FORBIDDEN,
            web::layout::message(
                "Cannot sign in",
                None,
                "The form expired or did not come from this site; go back to the app and sign in again.",
            ),
        );
    }
    let req = match launch::check(&s.tokens, &s.base_url, &form).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let name = form.get("username").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    let now_ms = chrono::Utc::now().timestamp_millis();
    s.svc.audit_room().await;
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    fn event<'a>(
        client_id: &'a str,
        user: Option<&'a str>,
        address: String,
        request_id: &'a str,
    ) -> TokenEvent<'a> {
        TokenEvent {
            what: "sign-in",
            client_id,
            user,
            address: Some(address),
            request_id,
        }
    }
    let address = peer.ip().to_string();
    let outcome = users::sign_in(s.tokens.store.as_ref(), name, password, now_ms).await;
    let message = match outcome {
        Ok(Ok(user)) => match launch::code_for(&s.tokens, &req, &user, now_ms).await {
            Ok(to) => {
                s.svc.audit_token(
                    event(&req.app.client_id, Some(&user.name), address, request_id),
                    None,
                );
                return Redirect::to(&to).into_response();
            }
            Err(_) => "Tandem cannot sign you in right now; try again.".to_string(),
        },
        Ok(Err(Refused::BadCredentials)) => "Wrong user name or password.".to_string(),
        Ok(Err(Refused::Locked(until))) => format!(
            "This account is locked after repeated failed sign-ins; try again after {}.",
            crate::fhir::datetime::format_instant_ms(until)
        ),
        Err(_) => "Tandem cannot sign you in right now; try again.".to_string(),
    };
    // The name typed is audited only as the attempt's subject, never the password.
    let tried = (!name.is_empty() && name.len() <= 64).then_some(name);
    s.svc.audit_token(
        event(&req.app.client_id, tried, address, request_id),
        Some(&message),
    );
    let form = web::sign_in::form(
        &req.app.name,
        &carried(&form),
        &form["csrf"],
        Some(&message),
    );
    page(StatusCode::UNAUTHORIZED, form)
}

/// `POST /auth/revoke` (RFC 7009): `token` (a refresh token) and
/// `client_id`; always 200, whether or not the token was known.
pub async fn revoke(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let form: HashMap<String, String> =
        match read_limited(&headers, body, TOKEN_FORM_LIMIT, s.body_read_timeout).await {
            Ok(b) => form_urlencoded::parse(&b).into_owned().collect(),
            Err(e) => return (e.status(), e.message()).into_response(),
        };
    let Some(token) = form.get("token") else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_request", "error_description": "token is missing"})),
        )
            .into_response();
    };
    match launch::revoke(&s.tokens, token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
