//! The practice channel: a message for a practice (admit/discharge notices,
//! safety alerts) is POSTed to the endpoint its tenant configured.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::outbox::{Channel, Failure};
use crate::store::outbox::OutboxRow;

/// A practice's notification endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The tenant (practice Organization id).
    pub tenant: String,
    pub url: String,
    /// Name of an environment variable holding a bearer token for the
    /// endpoint (the secret itself never sits in the config file).
    #[serde(default)]
    pub bearer_token_env: Option<String>,
}

pub struct PracticeHooks {
    endpoints: HashMap<String, Endpoint>,
    client: reqwest::Client,
}

impl PracticeHooks {
    pub fn new(endpoints: &[Endpoint], client: reqwest::Client) -> PracticeHooks {
        let endpoints = endpoints
            .iter()
            .map(|e| (e.tenant.clone(), e.clone()))
            .collect();
        PracticeHooks { endpoints, client }
    }
}

#[async_trait]
impl Channel for PracticeHooks {
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<String>, Failure> {
        // Without an endpoint retrying cannot help: the message goes straight
        // to the dead letters, where an operator retries it once one is configured.
        let ep = self.endpoints.get(&row.tenant).ok_or_else(|| {
            Failure::permanent("no notification endpoint is configured for this tenant")
        })?;
        let mut req = self
            .client
            .post(&ep.url)
            .header("content-type", "application/fhir+json")
            .header("idempotency-key", &row.key)
            .header("x-tandem-message", &row.key)
            .header("x-tandem-topic", &row.topic)
            .body(row.payload.clone());
        if let Some(var) = &ep.bearer_token_env {
            let token = std::env::var(var).map_err(|_| {
                Failure::permanent(format!(
                    "environment variable {var} (endpoint token) is not set"
                ))
            })?;
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::retry(format!("request failed: {}", e.without_url())))?;
        match resp.status() {
            s if s.is_success() => Ok(None),
            s => Err(Failure::retry(format!("endpoint answered {s}"))),
        }
    }
}
