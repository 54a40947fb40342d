//! Checking a client's authentication JWT (`client_assertion`) at the token
//! endpoint, per SMART Backend Services and RFC 7523 §3. Every failure is an
//! OAuth `invalid_client`; the description says which rule failed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use super::clients::{self, Client};
use super::jwks::{JwksCache, select};
use super::tokens::OAuthError;
use crate::store::auth::AuthStore;

/// Assertions larger than this are refused before any parsing.
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;
/// `exp` may be at most this far ahead (plus clock skew).
const MAX_LIFETIME_S: i64 = 300;
const SKEW_S: i64 = 30;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    /// Optional in RFC 7523; when present, checked with the same skew as `exp`.
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

fn invalid(msg: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client(msg)
}

/// The unverified `iss` of a JWT, used only to find whose key verifies it.
pub fn peek_claim(token: &str, claim: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = B64.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get(claim)?.as_str().map(str::to_string)
}

/// Verifies `assertion` and returns the authenticated client.
pub async fn authenticate(
    store: &dyn AuthStore,
    jwks: &JwksCache,
    token_url: &str,
    assertion: &str,
    now_s: i64,
) -> Result<Client, OAuthError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(invalid("client_assertion is too large"));
    }
    let header = decode_header(assertion)
        .map_err(|_| invalid("client_assertion is not a signed JWT (RS384 or ES384)"))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(invalid(
            "client_assertion must be signed with RS384 or ES384",
        ));
    }
    if header.typ.as_deref() != Some("JWT") {
        return Err(invalid("client_assertion header must have typ JWT"));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("client_assertion header must name its key (kid)"))?;
    let iss = peek_claim(assertion, "iss").ok_or_else(|| invalid("iss is missing"))?;
    let client = clients::get(store, &iss)
        .await
        .map_err(|_| OAuthError::server())?
        .ok_or_else(|| invalid("unknown client (iss)"))?;
    let keys = client_keys(&client, header.jku.as_deref(), jwks).await?;
    let key = select(&keys, kid, header.alg).map_err(invalid)?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[token_url]);
    v.set_issuer(&[&client.client_id]);
    v.sub = Some(client.client_id.clone());
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.leeway = SKEW_S as u64;
    let data = decode::<Claims>(assertion, &key, &v).map_err(|e| {
        invalid(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "client_assertion has expired",
            jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                "aud must be the token endpoint URL"
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "signature does not verify",
            _ => "client_assertion is invalid",
        })
    })?;
    let c = data.claims;
    if c.iss != c.sub {
        return Err(invalid("iss and sub must both be the client_id"));
    }
    if c.exp > now_s + MAX_LIFETIME_S + SKEW_S {
        return Err(invalid("exp may be at most 5 minutes in the future"));
    }
    // An assertion not valid yet, or claiming to be issued in the future,
    // is refused (it could otherwise be minted ahead and used later).
    if c.nbf.is_some_and(|nbf| nbf > now_s + SKEW_S) {
        return Err(invalid(
            "client_assertion is not valid yet (nbf is in the future)",
        ));
    }
    if c.iat.is_some_and(|iat| iat > now_s + SKEW_S) {
        return Err(invalid("iat is in the future"));
    }
    let jti = c
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid("jti is required"))?;
    let fresh = store
        .use_jti(&c.iss, &jti, c.exp + SKEW_S, now_s)
        .await
        .map_err(|_| OAuthError::server())?;
    if !fresh {
        return Err(invalid("jti was already used (replay)"));
    }
    Ok(client)
}

/// The client's registered JWKS; `jku`, when present, must be the registered URL.
async fn client_keys(
    client: &Client,
    jku: Option<&str>,
    jwks: &JwksCache,
) -> Result<Value, OAuthError> {
    if let Some(jku) = jku
        && client.jwks_url.as_deref() != Some(jku)
    {
        return Err(invalid("jku is not the registered JWKS URL"));
    }
    match (&client.jwks, &client.jwks_url) {
        (Some(inline), _) => Ok(inline.clone()),
        (None, Some(url)) => jwks.get(url).await.map_err(invalid),
        (None, None) => Err(invalid("the client has no registered keys")),
    }
}

/// Signs a client assertion (ES384) for the token endpoint at `token_url`:
/// what `tandem token` and `tandem demo` send.
pub fn sign(client_id: &str, token_url: &str, pkcs8: &[u8], now_s: i64) -> anyhow::Result<String> {
    let (_, jwk) = super::keys::public_jwk(pkcs8)?;
    let mut header = jsonwebtoken::Header::new(Algorithm::ES384);
    header.kid = jwk["kid"].as_str().map(str::to_string);
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": token_url,
        "exp": now_s + 240, "iat": now_s, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let key = jsonwebtoken::EncodingKey::from_ec_der(pkcs8);
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}
