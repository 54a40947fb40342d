//! Hand-built client assertions for the token-endpoint tests: keys (ES384 and
//! RS384), JWKs and JWTs assembled here, independent of Tandem's own signer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pub key: EncodingKey,
    pub jwk: Value,
}

pub fn es384(kid: &str) -> Signer {
    let pkcs8 = tandem::auth::keys::generate_pkcs8().unwrap();
    let ((x, y), _) = tandem::auth::keys::public_jwk(&pkcs8).unwrap();
    Signer {
        kid: kid.into(),
        alg: Algorithm::ES384,
        key: EncodingKey::from_ec_der(&pkcs8),
        jwk: json!({"kty": "EC", "crv": "P-384", "x": x, "y": y, "kid": kid}),
    }
}

pub fn rs384(kid: &str) -> Signer {
    let mut rng = rand_core_rng();
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let n = B64.encode(private.n().to_bytes_be());
    let e = B64.encode(private.e().to_bytes_be());
    Signer {
        kid: kid.into(),
        alg: Algorithm::RS384,
        key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwk: json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": "RS384"}),
    }
}

fn rand_core_rng() -> impl rsa::rand_core::CryptoRngCore {
    rsa::rand_core::OsRng
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a well-formed assertion for `client` at `token_url`.
pub fn claims(client: &str, token_url: &str) -> Value {
    json!({"iss": client, "sub": client, "aud": token_url, "exp": now() + 120,
           "jti": uuid::Uuid::new_v4().to_string()})
}

pub fn sign(s: &Signer, claims: &Value) -> String {
    let mut h = Header::new(s.alg);
    h.kid = Some(s.kid.clone());
    jsonwebtoken::encode(&h, claims, &s.key).unwrap()
}

/// A JWT with an arbitrary header and an empty or given signature.
pub fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

pub async fn request_token(base: &str, assertion: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let r = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}
