//! Tandem's own token-signing keys: ES384 (P-384) keys generated on first
//! start, kept in the database (never in the repository), published as a JWKS,
//! and rolled with `tandem keys rotate`. A retired key keeps verifying until
//! every token it signed has expired, so rotation never logs anyone out.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{DecodingKey, EncodingKey};
use parking_lot::RwLock;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::store::auth::{AuthStore, KeyRow};

/// How long a retired key still verifies: the longest token lifetime plus slack.
pub const RETIRED_KEY_GRACE_MS: i64 = 10 * 60 * 1000;

/// A loaded signing key.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Value,
    pub retired_ms: Option<i64>,
}

/// Generates a fresh P-384 key pair as a key row.
pub fn generate(now_ms: i64) -> anyhow::Result<KeyRow> {
    let pkcs8 = generate_pkcs8()?;
    let (_, jwk) = public_jwk(&pkcs8)?;
    Ok(KeyRow {
        kid: jwk["kid"].as_str().unwrap_or_default().to_string(),
        pkcs8,
        created_ms: now_ms,
        retired_ms: None,
    })
}

/// A new P-384 private key in PKCS#8 DER.
pub fn generate_pkcs8() -> anyhow::Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("cannot generate a P-384 key"))?;
    Ok(doc.as_ref().to_vec())
}

/// The public JWK (with a thumbprint-derived `kid`) of a PKCS#8 P-384 key,
/// and its (x, y) coordinates base64url-encoded.
pub fn public_jwk(pkcs8: &[u8]) -> anyhow::Result<((String, String), Value)> {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8, &rng)
        .map_err(|_| anyhow::anyhow!("not a P-384 PKCS#8 key"))?;
    // Uncompressed point: 0x04 || X (48 bytes) || Y (48 bytes).
    let point = pair.public_key().as_ref();
    let (x, y) = (B64.encode(&point[1..49]), B64.encode(&point[49..97]));
    // RFC 7638 thumbprint: SHA-256 of the required members in lexical order.
    let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let kid = B64.encode(digest.as_ref());
    let jwk = json!({"kty": "EC", "crv": "P-384", "x": x, "y": y, "kid": kid,
                     "alg": "ES384", "use": "sig"});
    Ok(((x, y), jwk))
}

/// A PKCS#8 DER key as PEM text (for files handed to users).
pub fn to_pem(pkcs8: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// The DER inside a PEM `PRIVATE KEY` block.
pub fn from_pem(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    Ok(base64::engine::general_purpose::STANDARD.decode(body.trim())?)
}

fn load(row: &KeyRow) -> anyhow::Result<SigningKey> {
    let ((x, y), jwk) = public_jwk(&row.pkcs8)?;
    Ok(SigningKey {
        kid: row.kid.clone(),
        encoding: EncodingKey::from_ec_der(&row.pkcs8),
        decoding: DecodingKey::from_ec_components(&x, &y)?,
        jwk,
        retired_ms: row.retired_ms,
    })
}

/// The keys a running server signs and verifies with, reloaded from the store
/// when a token names a `kid` it does not know (a rotation by the CLI) — at
/// most once per [`UNKNOWN_KID_RELOAD_MS`], so tokens with made-up `kid`s
/// cannot turn into a database read each.
pub struct KeyRing {
    keys: RwLock<Vec<Arc<SigningKey>>>,
    /// When an unknown `kid` last caused a reload (epoch ms).
    last_unknown_reload_ms: std::sync::atomic::AtomicI64,
}

/// Least time between two reloads caused by unknown `kid`s.
pub const UNKNOWN_KID_RELOAD_MS: i64 = 10_000;

impl KeyRing {
    /// Loads the keys, generating the first one when there is none.
    pub async fn open(store: &dyn AuthStore, now_ms: i64) -> anyhow::Result<KeyRing> {
        if !store
            .signing_keys()
            .await?
            .iter()
            .any(|k| k.retired_ms.is_none())
        {
            store.rotate_signing_key(generate(now_ms)?).await?;
            tracing::info!("generated a new token-signing key");
        }
        let ring = KeyRing {
            keys: RwLock::new(Vec::new()),
            last_unknown_reload_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        };
        ring.reload(store, now_ms).await?;
        Ok(ring)
    }

    pub async fn reload(&self, store: &dyn AuthStore, now_ms: i64) -> anyhow::Result<()> {
        store
            .prune_signing_keys(now_ms - RETIRED_KEY_GRACE_MS)
            .await?;
        let rows = store.signing_keys().await?;
        let keys = rows
            .iter()
            .map(|r| load(r).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        *self.keys.write() = keys;
        Ok(())
    }

    /// Reloads because a token named an unknown `kid`, unless such a reload
    /// happened in the last [`UNKNOWN_KID_RELOAD_MS`]; true when it reloaded.
    pub async fn reload_for_unknown_kid(
        &self,
        store: &dyn AuthStore,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        use std::sync::atomic::Ordering;
        let last = self.last_unknown_reload_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) < UNKNOWN_KID_RELOAD_MS
            || self
                .last_unknown_reload_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Ok(false);
        }
        self.reload(store, now_ms).await?;
        Ok(true)
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> Option<Arc<SigningKey>> {
        self.keys
            .read()
            .iter()
            .find(|k| k.retired_ms.is_none())
            .cloned()
    }

    pub fn by_kid(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys.read().iter().find(|k| k.kid == kid).cloned()
    }

    /// The public JWK Set (active and still-verifying retired keys).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.read().iter().map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }
}

/// Adds a new active key and retires the current one (`tandem keys rotate`).
pub async fn rotate(store: &dyn AuthStore, now_ms: i64) -> anyhow::Result<String> {
    let row = generate(now_ms)?;
    let kid = row.kid.clone();
    store.rotate_signing_key(row).await?;
    store
        .prune_signing_keys(now_ms - RETIRED_KEY_GRACE_MS)
        .await?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::{KeyRing, UNKNOWN_KID_RELOAD_MS};
    use crate::store::sqlite::SqliteStore;

    /// Tokens naming made-up `kid`s cost at most one reload per interval.
    #[tokio::test]
    async fn unknown_kids_reload_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let t0 = 1_800_000_000_000;
        let ring = KeyRing::open(&store, t0).await.unwrap();
        assert!(ring.reload_for_unknown_kid(&store, t0).await.unwrap());
        for dt in [1, 1_000, UNKNOWN_KID_RELOAD_MS - 1] {
            assert!(
                !ring.reload_for_unknown_kid(&store, t0 + dt).await.unwrap(),
                "{dt} ms after a reload"
            );
        }
        assert!(
            ring.reload_for_unknown_kid(&store, t0 + UNKNOWN_KID_RELOAD_MS)
                .await
                .unwrap()
        );
    }
}
