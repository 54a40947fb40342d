//! The client side of SMART Backend Services: Tandem asking another server
//! (a partner's FHIR server) for an access token with a signed JWT assertion.

use serde_json::Value;

/// A granted access token.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: String,
    /// Seconds the token is valid for, as the server said (300 when it did not).
    pub expires_in: i64,
}

/// `client_credentials` with a `private_key_jwt` assertion signed by `pkcs8`.
pub async fn request_token(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    pkcs8: &[u8],
    scope: Option<&str>,
) -> anyhow::Result<Token> {
    let assertion =
        super::assertion::sign(client_id, token_url, pkcs8, chrono::Utc::now().timestamp())?;
    let mut form = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let resp = client.post(token_url).form(&form).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(t) if status.is_success() => Ok(Token {
            access_token: t.to_string(),
            expires_in: body["expires_in"].as_i64().unwrap_or(300),
        }),
        _ => anyhow::bail!(
            "token request refused ({status}): {} {}",
            body["error"].as_str().unwrap_or(""),
            body["error_description"].as_str().unwrap_or("")
        ),
    }
}
