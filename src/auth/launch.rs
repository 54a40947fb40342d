//! SMART App Launch (standalone, authorization code + PKCE) with Tandem as
//! the authorization server: checking an authorization request, sending the
//! code back after a person signed in, and the token endpoint's
//! `authorization_code` and `refresh_token` grants, which mint user-level
//! tokens carrying the person (role, practices) beside the app's scopes.
//!
//! Error handling follows RFC 6749 §4.1.2.1: while the app or its redirect
//! URI is in doubt nothing is sent anywhere (the person sees the error);
//! once both are known good, errors go back to the app at that URI.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::apps::{self, App};
use super::grants::{self, Refusal, Session};
use super::tokens::{OAuthError, Subject, Tokens};
use super::users::User;
use crate::caller::grant::{Person, Role, UserRole};

/// A checked authorization request, ready for the sign-in form.
#[derive(Debug, Clone)]
pub struct Authorize {
    pub app: App,
    pub redirect_uri: String,
    /// What the app will get (its request narrowed to its registration).
    pub scope: String,
    pub state: Option<String>,
    pub challenge: String,
}

/// Why an authorization request cannot go on.
#[derive(Debug, PartialEq)]
pub enum BadRequest {
    /// Unknown app or redirect URI: shown to the person, never redirected
    /// (an open redirector would hand errors, and codes, to anyone).
    Shown(String),
    /// Sent back to the app: the URL to redirect to.
    Redirect(String),
}

/// The query an authorization request carries, re-sent by the sign-in form.
pub const REQUEST_FIELDS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
];

/// `redirect_uri` with `params` added to its query.
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// Checks an authorization request against the app's registration.
pub async fn check(
    tokens: &Tokens,
    base_url: &str,
    q: &HashMap<String, String>,
) -> Result<Authorize, BadRequest> {
    let field = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = field("client_id")
        .ok_or_else(|| BadRequest::Shown("The request names no app (client_id).".into()))?;
    let app = apps::get(tokens.store.as_ref(), base_url, client_id)
        .await
        .map_err(|_| BadRequest::Shown("Tandem cannot check the app now; try again.".into()))?
        .ok_or_else(|| BadRequest::Shown(format!("No app '{client_id}' is registered here.")))?;
    let redirect_uri = field("redirect_uri")
        .filter(|u| grants::redirect_allowed(&app.redirect_uris, u))
        .ok_or_else(|| {
            BadRequest::Shown(format!(
                "The redirect URI is not one '{}' registered; nothing was sent.",
                app.name
            ))
        })?
        .to_string();
    let state = field("state").map(str::to_string);
    let back = |error: &str, description: &str| {
        let mut p = vec![("error", error), ("error_description", description)];
        if let Some(s) = &state {
            p.push(("state", s));
        }
        BadRequest::Redirect(redirect_to(&redirect_uri, &p))
    };
    if field("response_type") != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(back(
            "invalid_request",
            "state is longer than 1024 characters",
        ));
    }
    if field("aud") != Some(base_url) {
        return Err(back(
            "invalid_request",
            &format!("aud must be this FHIR server's base URL, {base_url}"),
        ));
    }
    let challenge = field("code_challenge").unwrap_or_default();
    if !grants::challenge_ok(challenge, field("code_challenge_method")) {
        return Err(back(
            "invalid_request",
            "PKCE is required: code_challenge (43 base64url characters) with code_challenge_method=S256",
        ));
    }
    let scope = app.grant(field("scope").unwrap_or_default());
    if !scope.split_whitespace().any(|s| s.starts_with("user/")) {
        return Err(back(
            "invalid_scope",
            "none of the requested user/… scopes is allowed for this app",
        ));
    }
    Ok(Authorize {
        challenge: challenge.to_string(),
        app,
        redirect_uri,
        scope,
        state,
    })
}

/// After the person signed in: a one-time code for the app, and the URL
/// that takes it there.
pub async fn code_for(
    tokens: &Tokens,
    req: &Authorize,
    user: &User,
    now_ms: i64,
) -> Result<String, OAuthError> {
    let session = Session {
        user: user.name.clone(),
        client_id: req.app.client_id.clone(),
        scope: req.scope.clone(),
        redirect_uri: Some(req.redirect_uri.clone()),
        challenge: Some(req.challenge.clone()),
    };
    let code = grants::issue_code(tokens.store.as_ref(), &session, now_ms)
        .await
        .map_err(|_| OAuthError::server())?;
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    Ok(redirect_to(&req.redirect_uri, &p))
}

/// The role, Organization and person a user-level token carries. A
/// practice's staff act like its EHR (reading, as the scopes allow); a
/// facilitator and program staff like a reporting client (numbers), with
/// patient lists where `auth.patient_lists` names their role.
pub fn person_of(user: &User, lists: &[UserRole]) -> (Role, String, Person) {
    // An overseer's Organization is never a practice's id (`:` is not
    // allowed in one), so no rule can take it for the practice's own client.
    let (role, org) = match user.role {
        UserRole::Practice => (
            Role::Ehr,
            user.practices.first().cloned().unwrap_or_default(),
        ),
        UserRole::Facilitator => (Role::Reporting, "person:facilitator".into()),
        UserRole::Program => (Role::Reporting, "person:program".into()),
        UserRole::Operator => (Role::Operator, "person:operator".into()),
    };
    let person = Person {
        name: user.name.clone(),
        role: user.role,
        practices: user.practices.clone(),
        lists: user.role == UserRole::Practice || lists.contains(&user.role),
    };
    (role, org, person)
}

/// `fhirUser`: the person as a FHIR reference (an account name made a FHIR id).
pub fn fhir_user(base_url: &str, name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{base_url}/Person/{id}")
}

fn invalid_grant(r: Refusal) -> OAuthError {
    let d = match r {
        Refusal::Invalid => "the code or refresh token is unknown, used or expired",
        Refusal::Pkce => "code_verifier does not match the code_challenge",
        Refusal::Redirect => "redirect_uri differs from the authorization request's",
        Refusal::Client => "the grant was issued to another client",
        Refusal::Reused => {
            "the refresh token was used before; every token of this sign-in is revoked"
        }
    };
    OAuthError::new(400, "invalid_grant", d)
}

/// The token endpoint's `authorization_code` and `refresh_token` grants.
/// Returns the response body and, for the audit trail, the person's name.
pub async fn exchange(
    tokens: &Tokens,
    base_url: &str,
    form: &HashMap<String, String>,
    now_s: i64,
) -> Result<(Value, String), OAuthError> {
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let missing = |k: &str| OAuthError::new(400, "invalid_request", format!("{k} is missing"));
    let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
    let store = tokens.store.as_ref();
    apps::get(store, base_url, client_id)
        .await
        .map_err(|_| OAuthError::server())?
        .ok_or_else(|| OAuthError::invalid_client(format!("no app '{client_id}' is registered")))?;
    let now_ms = now_s * 1000;
    let session = match field("grant_type") {
        Some("authorization_code") => {
            let code = field("code").ok_or_else(|| missing("code"))?;
            let redirect = field("redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
            let verifier = field("code_verifier").ok_or_else(|| missing("code_verifier"))?;
            grants::redeem_code(store, code, client_id, redirect, verifier, now_ms)
                .await
                .map_err(|_| OAuthError::server())?
                .map_err(invalid_grant)?
        }
        Some("refresh_token") => {
            let token = field("refresh_token").ok_or_else(|| missing("refresh_token"))?;
            let (next, s) = grants::rotate(store, token, client_id, now_ms)
                .await
                .map_err(|_| OAuthError::server())?
                .map_err(invalid_grant)?;
            return respond(tokens, base_url, s, Some(next), now_s).await;
        }
        _ => {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ));
        }
    };
    let offline = session
        .scope
        .split_whitespace()
        .any(|s| s == "offline_access" || s == "online_access");
    let refresh = if offline {
        Some(
            grants::start_refresh(store, &session, now_ms)
                .await
                .map_err(|_| OAuthError::server())?,
        )
    } else {
        None
    };
    respond(tokens, base_url, session, refresh, now_s).await
}

async fn respond(
    tokens: &Tokens,
    base_url: &str,
    session: Session,
    refresh: Option<String>,
    now_s: i64,
) -> Result<(Value, String), OAuthError> {
    let user = tokens
        .store
        .get_user(&session.user)
        .await
        .map_err(|_| OAuthError::server())?
        .and_then(|d| serde_json::from_str::<User>(&d).ok())
        .ok_or_else(|| OAuthError::new(400, "invalid_grant", "the account no longer exists"))?;
    let (role, org, person) = person_of(&user, &tokens.patient_lists);
    let access = tokens
        .mint(
            Subject {
                sub: session.client_id.clone(),
                role,
                org,
                scope: session.scope.clone(),
                person: Some(person),
            },
            now_s,
        )
        .await?;
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": tokens.lifetime_s,
        "scope": session.scope,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    let scopes: Vec<&str> = session.scope.split_whitespace().collect();
    if scopes.contains(&"openid") && scopes.contains(&"fhirUser") {
        let claims = json!({
            "iss": tokens.issuer, "sub": user.name, "aud": session.client_id,
            "iat": now_s, "exp": now_s + tokens.lifetime_s,
            "fhirUser": fhir_user(base_url, &user.name),
        });
        body["id_token"] = json!(tokens.sign(&claims, now_s).await?);
    }
    Ok((body, user.name))
}

/// RFC 7009 revocation of a refresh token (sign-out): always succeeds, so
/// a caller learns nothing about tokens it does not hold.
pub async fn revoke(tokens: &Tokens, token: &str) -> Result<(), OAuthError> {
    grants::revoke(tokens.store.as_ref(), token)
        .await
        .map_err(|_| OAuthError::server())
}
