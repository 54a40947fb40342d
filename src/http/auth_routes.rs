//! The unauthenticated security endpoints: SMART discovery, the token
//! endpoint (client credentials with a JWT assertion) and Tandem's JWKS.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::body::{TOKEN_FORM_LIMIT, read_limited};
use crate::auth::launch;
use crate::auth::tokens::OAuthError;
use crate::service::TokenEvent;

pub async fn smart_configuration(State(s): State<AppState>) -> Response {
    let body = json!({
        "issuer": s.tokens.issuer,
        "jwks_uri": format!("{}/auth/jwks", s.base_url),
        "token_endpoint": s.tokens.token_url,
        "authorization_endpoint": format!("{}/auth/authorize", s.base_url),
        "revocation_endpoint": format!("{}/auth/revoke", s.base_url),
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["system/*.cruds", "system/*.rs", "system/*.read", "system/*.write",
                             "user/*.rs", "openid", "fhirUser", "offline_access"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1",
                         "launch-standalone", "client-public", "permission-offline",
                         "permission-user"],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub async fn jwks(State(s): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        s.tokens.keys.jwks().to_string(),
    )
        .into_response()
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// `POST /auth/token`: every outcome is audited (client id only, never the assertion).
pub async fn token(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Unauthenticated work is charged to the source address before anything
    // is read; a refused address is neither audited nor read.
    if let Some(wait) = s.gate.as_ref().and_then(|g| g.charge_address(peer.ip())) {
        let mut resp = oauth_error(&OAuthError::new(
            429,
            "invalid_request",
            "too many token requests from this address; retry later",
        ));
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return resp;
    }
    let body = match read_limited(&headers, body, TOKEN_FORM_LIMIT, s.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => {
            return oauth_error(&OAuthError::new(
                e.status().as_u16(),
                "invalid_request",
                e.message(),
            ));
        }
    };
    s.svc.audit_room().await;
    let address = Some(peer.ip().to_string());
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(&OAuthError::new(
            400,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded",
        ));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if let Some(what @ ("authorization_code" | "refresh_token")) =
        form.get("grant_type").map(String::as_str)
    {
        return person_token(&s, &form, what, address, &request_id).await;
    }
    let claimed = form
        .get("client_assertion")
        .and_then(|a| crate::auth::assertion::peek_claim(a, "iss"))
        .filter(|c| c.len() <= 200)
        .unwrap_or_else(|| "unknown".into());
    let now = chrono::Utc::now().timestamp();
    match s.tokens.issue(&form, now).await {
        Ok((resp, client_id)) => {
            s.svc.audit_token(
                TokenEvent {
                    what: "token",
                    client_id: &client_id,
                    user: None,
                    address,
                    request_id: &request_id,
                },
                None,
            );
            (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::PRAGMA, "no-cache"),
                ],
                Json(resp),
            )
                .into_response()
        }
        Err(e) => {
            s.svc.audit_token(
                TokenEvent {
                    what: "token",
                    client_id: &claimed,
                    user: None,
                    address,
                    request_id: &request_id,
                },
                Some(&e.description),
            );
            oauth_error(&e)
        }
    }
}

/// The token endpoint for a person's app: `authorization_code` and
/// `refresh_token` (`auth::launch`), audited with the person when known.
async fn person_token(
    s: &AppState,
    form: &HashMap<String, String>,
    grant_type: &str,
    address: Option<String>,
    request_id: &str,
) -> Response {
    let client_id = form
        .get("client_id")
        .filter(|c| c.len() <= 200)
        .map_or("unknown", String::as_str);
    let what = if grant_type == "refresh_token" {
        "refresh"
    } else {
        "token"
    };
    match audited_exchange(s, form, what, client_id, address, request_id).await {
        Ok(body) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(body),
        )
            .into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// A person's code or refresh-token exchange, audited on the token trail
/// (`what`: `token` or `refresh`) whichever way it goes: the token
/// endpoint's, and the web app's own in process.
pub(crate) async fn audited_exchange(
    s: &AppState,
    form: &HashMap<String, String>,
    what: &str,
    client_id: &str,
    address: Option<String>,
    request_id: &str,
) -> Result<serde_json::Value, OAuthError> {
    let now = chrono::Utc::now().timestamp();
    let result = launch::exchange(&s.tokens, &s.base_url, form, now).await;
    s.svc.audit_room().await;
    let event = |user| TokenEvent {
        what,
        client_id,
        user,
        address,
        request_id,
    };
    match result {
        Ok((body, user)) => {
            s.svc.audit_token(event(Some(&user)), None);
            Ok(body)
        }
        Err(e) => {
            s.svc.audit_token(event(None), Some(&e.description));
            Err(e)
        }
    }
}
