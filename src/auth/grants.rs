//! The parts of SMART App Launch (standalone launch, authorization code
//! with PKCE) that decide whether a person's app gets tokens: PKCE `S256`
//! checks (RFC 7636; `plain` is refused, as SMART v2 requires), redirect URIs
//! matched exactly against the registration (no prefix or pattern: an open
//! redirector would hand codes to anyone), authorization codes that are
//! single-use and short-lived, and refresh tokens rotated on every use
//! with reuse detection (OAuth 2.0 Security BCP §4.14): a refresh token
//! presented twice means it was stolen, so its whole family is revoked.
//!
//! Codes and refresh tokens are random 256-bit strings handed out once;
//! only their SHA-256 is stored, so the database never holds a usable one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::store::auth::{AuthStore, RefreshUse};

/// How long an authorization code may wait for its exchange.
pub const CODE_MS: i64 = 60_000;
/// How long a refresh token (and so a signed-in session) lasts unused.
pub const REFRESH_MS: i64 = 8 * 3600 * 1000;

/// What a code or refresh token stands for: who signed in, to which app,
/// with which scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub client_id: String,
    pub scope: String,
    /// The code's redirect URI (checked again at the exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The code's PKCE challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// Why an exchange was refused (rendered as OAuth `invalid_grant`).
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Unknown, used or expired code or refresh token.
    Invalid,
    /// The PKCE verifier does not match the challenge.
    Pkce,
    /// Not the redirect URI the code was issued for.
    Redirect,
    /// Not the app the code or token was issued to.
    Client,
    /// A refresh token used twice: its family is revoked.
    Reused,
}

/// A random 256-bit secret, base64url.
pub fn secret() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    URL_SAFE_NO_PAD.encode(b)
}

/// What the store keeps of a secret.
pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// Whether a PKCE challenge is acceptable: `S256` of a verifier (43
/// base64url characters).
pub fn challenge_ok(challenge: &str, method: Option<&str>) -> bool {
    method == Some("S256")
        && challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) equals the challenge; the
/// verifier is 43-128 unreserved characters.
pub fn pkce_verifies(challenge: &str, verifier: &str) -> bool {
    let unreserved = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    (43..=128).contains(&verifier.len()) && unreserved && digest(verifier) == challenge
}

/// A redirect URI is one the app registered, character for character.
pub fn redirect_allowed(registered: &[String], given: &str) -> bool {
    registered.iter().any(|r| r == given)
}

/// Issues a one-time code for a signed-in person; returns the code.
pub async fn issue_code(
    store: &dyn AuthStore,
    session: &Session,
    now_ms: i64,
) -> Result<String, StoreError> {
    let code = secret();
    let doc = serde_json::to_string(session).map_err(|e| StoreError::Backend(e.to_string()))?;
    store
        .put_code(&digest(&code), &doc, now_ms + CODE_MS)
        .await?;
    Ok(code)
}

/// Redeems a code (once: a second attempt finds nothing), checking the
/// app, its redirect URI and the PKCE verifier.
pub async fn redeem_code(
    store: &dyn AuthStore,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
    verifier: &str,
    now_ms: i64,
) -> Result<Result<Session, Refusal>, StoreError> {
    let Some(doc) = store.take_code(&digest(code), now_ms).await? else {
        return Ok(Err(Refusal::Invalid));
    };
    let Ok(s) = serde_json::from_str::<Session>(&doc) else {
        return Ok(Err(Refusal::Invalid));
    };
    if s.client_id != client_id {
        return Ok(Err(Refusal::Client));
    }
    if s.redirect_uri.as_deref() != Some(redirect_uri) {
        return Ok(Err(Refusal::Redirect));
    }
    if !s
        .challenge
        .as_deref()
        .is_some_and(|c| pkce_verifies(c, verifier))
    {
        return Ok(Err(Refusal::Pkce));
    }
    Ok(Ok(s))
}

/// Starts a refresh-token family for a session; returns the token.
pub async fn start_refresh(
    store: &dyn AuthStore,
    session: &Session,
    now_ms: i64,
) -> Result<String, StoreError> {
    let family = secret();
    next_refresh(store, &digest(&family), session, now_ms).await
}

async fn next_refresh(
    store: &dyn AuthStore,
    family: &str,
    session: &Session,
    now_ms: i64,
) -> Result<String, StoreError> {
    let token = secret();
    let s = Session {
        redirect_uri: None,
        challenge: None,
        ..session.clone()
    };
    let doc = serde_json::to_string(&s).map_err(|e| StoreError::Backend(e.to_string()))?;
    store
        .put_refresh(&digest(&token), family, &doc, now_ms + REFRESH_MS)
        .await?;
    Ok(token)
}

/// Uses a refresh token: its successor and the session, or a refusal. A
/// token used before revokes its family (the thief's and the owner's
/// successors alike: both must sign in again).
pub async fn rotate(
    store: &dyn AuthStore,
    token: &str,
    client_id: &str,
    now_ms: i64,
) -> Result<Result<(String, Session), Refusal>, StoreError> {
    match store.use_refresh(&digest(token), now_ms).await? {
        RefreshUse::Unknown => Ok(Err(Refusal::Invalid)),
        RefreshUse::Reused { family } => {
            store.revoke_family(&family).await?;
            Ok(Err(Refusal::Reused))
        }
        RefreshUse::Fresh { family, doc } => {
            let Ok(s) = serde_json::from_str::<Session>(&doc) else {
                return Ok(Err(Refusal::Invalid));
            };
            if s.client_id != client_id {
                store.revoke_family(&family).await?;
                return Ok(Err(Refusal::Client));
            }
            let next = next_refresh(store, &family, &s, now_ms).await?;
            Ok(Ok((next, s)))
        }
    }
}

/// Signs out: the session's refresh tokens stop working.
pub async fn revoke(store: &dyn AuthStore, token: &str) -> Result<(), StoreError> {
    store.revoke_refresh(&digest(token)).await
}

#[cfg(test)]
mod tests;
