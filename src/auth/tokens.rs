//! Access tokens: issuing Tandem's own (ES384, at most 300 s) at the token
//! endpoint, and verifying bearer tokens — Tandem's or a configured external
//! issuer's. Verified tokens are cached until they expire, so a request pays
//! for a signature check once per token, not once per call.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::assertion::{authenticate, peek_claim};
use super::clients;
use super::jwks::{JwksCache, select};
use super::keys::KeyRing;
use crate::caller::grant::{Grant, Person, Role};
use crate::caller::scopes::Scopes;
use crate::store::Store;

/// Upper bound of cached verified tokens; the cache is swept when full.
const CACHE_LIMIT: usize = 100_000;
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// An OAuth 2.0 error (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, d: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: d.into(),
        }
    }
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(401, "invalid_client", d)
    }
    pub fn server() -> OAuthError {
        OAuthError::new(500, "server_error", "try again later")
    }
}

/// A token issuer Tandem trusts besides itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    pub jwks_url: String,
    /// Required `aud`; defaults to Tandem's base URL.
    #[serde(default)]
    pub audience: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    scope: String,
    role: Role,
    org: String,
    /// The signed-in person of a user-level token (SMART App Launch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    person: Option<Person>,
}

/// What the token endpoint returns on success.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// Why a bearer token was refused (rendered as 401 with `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthenticated(pub &'static str);

pub struct Tokens {
    pub(crate) store: Arc<dyn Store>,
    pub keys: KeyRing,
    jwks: JwksCache,
    pub issuer: String,
    pub token_url: String,
    pub lifetime_s: i64,
    external: Vec<ExternalIssuer>,
    verified: Mutex<HashMap<String, (Arc<Grant>, i64)>>,
    /// Roles besides a practice's staff who see patient lists
    /// (`auth.patient_lists`), stamped into user-level tokens.
    pub patient_lists: Vec<crate::caller::grant::UserRole>,
}

/// Who a token is minted for.
pub(crate) struct Subject {
    pub sub: String,
    pub role: Role,
    pub org: String,
    pub scope: String,
    pub person: Option<Person>,
}

impl Tokens {
    pub async fn open(
        store: Arc<dyn Store>,
        base_url: &str,
        lifetime_s: i64,
        external: Vec<ExternalIssuer>,
        now_ms: i64,
    ) -> anyhow::Result<Tokens> {
        let keys = KeyRing::open(store.as_ref(), now_ms).await?;
        Ok(Tokens {
            store,
            keys,
            jwks: JwksCache::default(),
            issuer: base_url.to_string(),
            token_url: format!("{base_url}/auth/token"),
            lifetime_s: lifetime_s.min(300),
            external,
            verified: Mutex::new(HashMap::new()),
            patient_lists: Vec::new(),
        })
    }

    /// The client-credentials grant with a JWT client assertion.
    pub async fn issue(
        &self,
        form: &HashMap<String, String>,
        now_s: i64,
    ) -> Result<(TokenResponse, String), OAuthError> {
        let field = |k: &str| form.get(k).map(String::as_str);
        if field("grant_type") != Some("client_credentials") {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            ));
        }
        if field("client_assertion_type")
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let assertion = field("client_assertion").ok_or_else(|| {
            OAuthError::new(400, "invalid_request", "client_assertion is missing")
        })?;
        let client = authenticate(
            self.store.as_ref(),
            &self.jwks,
            &self.token_url,
            assertion,
            now_s,
        )
        .await?;
        let allowed = client.allowed_scopes();
        let granted = match field("scope") {
            Some(s) => allowed.grant(&Scopes::parse_list(s).0),
            None => allowed,
        };
        if granted.is_empty() {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                "none of the requested scopes is allowed for this client",
            ));
        }
        let scope = granted.to_string();
        let token = self
            .mint(
                Subject {
                    sub: client.client_id.clone(),
                    role: client.role,
                    org: client.organization.clone(),
                    scope: scope.clone(),
                    person: None,
                },
                now_s,
            )
            .await?;
        Ok((
            TokenResponse {
                access_token: token,
                token_type: "bearer",
                expires_in: self.lifetime_s,
                scope,
            },
            client.client_id,
        ))
    }

    /// Signs an access token for `who`, valid for the configured lifetime.
    pub(crate) async fn mint(&self, who: Subject, now_s: i64) -> Result<String, OAuthError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: who.sub,
            aud: self.issuer.clone(),
            exp: now_s + self.lifetime_s,
            iat: now_s,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: who.scope,
            role: who.role,
            org: who.org,
            person: who.person,
        };
        self.sign(&claims, now_s).await
    }

    /// Signs any claims with the active key (ES384, `kid` set).
    pub(crate) async fn sign<T: Serialize>(
        &self,
        claims: &T,
        now_s: i64,
    ) -> Result<String, OAuthError> {
        // Pick up a rotation done by `tandem keys rotate` in another process.
        self.keys
            .reload(self.store.as_ref(), now_s * 1000)
            .await
            .map_err(|_| OAuthError::server())?;
        let key = self.keys.active().ok_or_else(OAuthError::server)?;
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(key.kid.clone());
        encode(&header, claims, &key.encoding).map_err(|_| OAuthError::server())
    }

    /// Verifies a bearer token (cached until it expires).
    pub async fn verify(&self, token: &str, now_s: i64) -> Result<Arc<Grant>, Unauthenticated> {
        if let Some((g, exp)) = self.verified.lock().get(token)
            && *exp > now_s
        {
            return Ok(g.clone());
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Unauthenticated("the access token is too large"));
        }
        let (grant, exp) = match peek_claim(token, "iss") {
            Some(iss) if iss == self.issuer => self.verify_own(token).await?,
            Some(iss) => self.verify_external(token, &iss).await?,
            None => return Err(Unauthenticated("the access token is not a JWT")),
        };
        let mut cache = self.verified.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (_, e)| *e > now_s);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), (grant.clone(), exp));
        Ok(grant)
    }

    async fn verify_own(&self, token: &str) -> Result<(Arc<Grant>, i64), Unauthenticated> {
        let header = decode_header(token).map_err(|_| Unauthenticated("malformed token"))?;
        let kid = header
            .kid
            .ok_or(Unauthenticated("the token names no key"))?;
        let key = match self.keys.by_kid(&kid) {
            Some(k) => k,
            None => {
                // A rotation by the CLI: look again, at most once per interval.
                let now = chrono::Utc::now().timestamp_millis();
                let _ = self
                    .keys
                    .reload_for_unknown_kid(self.store.as_ref(), now)
                    .await;
                self.keys
                    .by_kid(&kid)
                    .ok_or(Unauthenticated("unknown signing key"))?
            }
        };
        let mut v = Validation::new(Algorithm::ES384);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.issuer]);
        v.leeway = 5;
        let c = decode::<AccessClaims>(token, &key.decoding, &v)
            .map_err(|_| Unauthenticated("the access token is invalid or expired"))?
            .claims;
        let (scopes, _) = Scopes::parse_list(&c.scope);
        let grant = Grant {
            client_id: c.sub,
            role: c.role,
            org: c.org,
            scopes,
            token_id: c.jti,
            person: c.person,
        };
        Ok((Arc::new(grant), c.exp))
    }

    /// A token from a configured identity provider: its signature against the
    /// provider's JWKS, then the client it names must be registered here; role
    /// and Organization come from the registry, scopes are narrowed to the
    /// client's allowed ones.
    async fn verify_external(
        &self,
        token: &str,
        iss: &str,
    ) -> Result<(Arc<Grant>, i64), Unauthenticated> {
        let issuer = self
            .external
            .iter()
            .find(|e| e.issuer == iss)
            .ok_or(Unauthenticated("the token's issuer is not trusted"))?;
        let header = decode_header(token).map_err(|_| Unauthenticated("malformed token"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::ES256 | Algorithm::ES384
        ) {
            return Err(Unauthenticated("unsupported token algorithm"));
        }
        let kid = header
            .kid
            .ok_or(Unauthenticated("the token names no key"))?;
        let keys = self
            .jwks
            .get(&issuer.jwks_url)
            .await
            .map_err(|_| Unauthenticated("the issuer's keys are unavailable"))?;
        let key = select(&keys, &kid, header.alg).map_err(|_| Unauthenticated("unknown key"))?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&issuer.issuer]);
        v.set_audience(&[issuer.audience.as_deref().unwrap_or(&self.issuer)]);
        v.leeway = 5;
        let claims = decode::<serde_json::Value>(token, &key, &v)
            .map_err(|_| Unauthenticated("the access token is invalid or expired"))?
            .claims;
        let client_id = ["client_id", "azp", "sub"]
            .iter()
            .find_map(|k| claims[*k].as_str())
            .ok_or(Unauthenticated("the token names no client"))?;
        let client = clients::get(self.store.as_ref(), client_id)
            .await
            .ok()
            .flatten()
            .ok_or(Unauthenticated("the token's client is not registered"))?;
        let requested = match &claims["scope"] {
            serde_json::Value::String(s) => s.clone(),
            _ => claims["scp"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
        };
        let scopes = client
            .allowed_scopes()
            .grant(&Scopes::parse_list(&requested).0);
        let grant = Grant {
            client_id: client.client_id,
            role: client.role,
            org: client.organization,
            scopes,
            token_id: claims["jti"].as_str().unwrap_or_default().to_string(),
            person: None,
        };
        Ok((Arc::new(grant), claims["exp"].as_i64().unwrap_or(0)))
    }
}
