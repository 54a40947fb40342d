//! Fetching and caching JWK Sets published by clients and external issuers,
//! and choosing the one key a JWT names.
//!
//! SMART requires that a fetched JWKS is cached no longer than the publisher's
//! `Cache-Control` allows: `no-store`/`no-cache` or no `max-age` means every
//! use fetches again; `max-age=N` keeps it N seconds (capped at one hour).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::Mutex;
use serde_json::Value;

const MAX_CACHE: Duration = Duration::from_secs(3600);
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Loopback hosts may be plain http (local partners in tests and demos).
pub fn url_allowed(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => true,
        "http" => matches!(
            u.host_str(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        ),
        _ => false,
    }
}

pub struct JwksCache {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Value, Instant)>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("static HTTP client settings"),
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl JwksCache {
    /// The JWK Set at `url`, from cache while its max-age lasts.
    pub async fn get(&self, url: &str) -> Result<Value, String> {
        if let Some((v, until)) = self.cache.lock().get(url)
            && *until > Instant::now()
        {
            return Ok(v.clone());
        }
        if !url_allowed(url) {
            return Err("the JWKS URL is not https".into());
        }
        let resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|_| "the JWKS URL could not be fetched".to_string())?;
        if !resp.status().is_success() {
            return Err(format!("the JWKS URL answered {}", resp.status().as_u16()));
        }
        let max_age = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| "the JWKS could not be read".to_string())?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err("the JWKS is too large".into());
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|_| "the JWKS is not JSON".to_string())?;
        let mut cache = self.cache.lock();
        match max_age {
            Some(age) if !age.is_zero() => {
                cache.insert(url.to_string(), (v.clone(), Instant::now() + age));
            }
            _ => {
                cache.remove(url);
            }
        }
        Ok(v)
    }
}

/// `max-age` of a Cache-Control value; `None` when caching is not allowed.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for d in cache_control
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
    {
        if d == "no-store" || d == "no-cache" {
            return None;
        }
        if let Some(n) = d.strip_prefix("max-age=") {
            age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.map(|a| a.min(MAX_CACHE))
}

/// The single key of `jwks` whose `kid` matches and whose `kty` fits `alg`.
/// Zero or several matches is an error (SMART Backend Services §key selection).
pub fn select(jwks: &Value, kid: &str, alg: Algorithm) -> Result<DecodingKey, String> {
    let kty = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => "RSA",
        Algorithm::ES256 | Algorithm::ES384 => "EC",
        _ => return Err("unsupported signing algorithm".into()),
    };
    let matches: Vec<&Value> = jwks["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter(|k| k["kid"].as_str() == Some(kid) && k["kty"].as_str() == Some(kty))
                .collect()
        })
        .unwrap_or_default();
    let [key] = matches.as_slice() else {
        return Err(if matches.is_empty() {
            format!("no registered {kty} key has kid '{kid}'")
        } else {
            format!("several registered keys have kid '{kid}'")
        });
    };
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value((*key).clone()).map_err(|_| "the registered key is malformed")?;
    DecodingKey::from_jwk(&jwk).map_err(|_| "the registered key is unusable".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_rules() {
        assert_eq!(max_age("max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(max_age("public, max-age=999999"), Some(MAX_CACHE));
        assert_eq!(max_age("no-store, max-age=60"), None);
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(url_allowed("https://partner.example/jwks.json"));
        assert!(url_allowed("http://127.0.0.1:9000/jwks"));
        assert!(!url_allowed("http://partner.example/jwks.json"));
        assert!(!url_allowed("file:///etc/passwd"));
    }
}
