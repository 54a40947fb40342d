//! Tandem as a SMART Backend Services client of another server (a partner,
//! a program): its credentials there, and access tokens cached until a
//! minute before they expire and dropped when the server answers 401.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::outbox::Failure;
use crate::auth::backend::request_token;

/// Tandem's client registration at a server.
pub struct Credentials {
    pub token_url: String,
    pub client_id: String,
    /// The private key (PKCS#8 DER) client assertions are signed with.
    pub pkcs8: Vec<u8>,
    pub scope: Option<String>,
}

/// Access tokens per server, reused while valid.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    /// A valid token for server `id`, fetched when none is cached.
    pub async fn get(
        &self,
        client: &reqwest::Client,
        id: &str,
        c: &Credentials,
    ) -> Result<String, Failure> {
        if let Some((tok, until)) = self.tokens.lock().get(id)
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let granted = request_token(
            client,
            &c.token_url,
            &c.client_id,
            &c.pkcs8,
            c.scope.as_deref(),
        )
        .await
        .map_err(|e| Failure::retry(format!("token: {e}")))?;
        let life = Duration::from_secs(granted.expires_in.saturating_sub(60).max(10) as u64);
        self.tokens.lock().insert(
            id.to_string(),
            (granted.access_token.clone(), Instant::now() + life),
        );
        Ok(granted.access_token)
    }

    /// Drops server `id`'s token (it answered 401).
    pub fn forget(&self, id: &str) {
        self.tokens.lock().remove(id);
    }
}
