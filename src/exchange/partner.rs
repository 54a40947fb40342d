//! The partner channel: a referral package (kept in the outbox as a
//! transaction Bundle of PUTs) is posted to the partner's FHIR base as that
//! one transaction, authenticated with SMART Backend Services as Tandem's
//! own client at the partner: the partner stores the patient, the request,
//! its supporting data and the Task together or not at all, and its checks
//! see the referral Task beside the data it concerns. The PUTs make a retry
//! after a lost answer idempotent. Tokens are cached (`token`).
//!
//! The body is the JSON Tandem stored, sent as is: nothing a typed model does
//! not know is lost on the way (fhir-sdk's typed client would re-serialise).
//! Answers: 2xx delivered; 401, 408, 429 and 5xx retried; any other 4xx is a
//! refusal retrying cannot fix (dead letter, for an operator to look at).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use super::outbox::{Channel, Failure};
use super::token::{Credentials, TokenCache};
use crate::auth::keys;
use crate::rules::referral::compact::Partner;
use crate::store::outbox::OutboxRow;

struct Target {
    endpoint: String,
    credentials: Credentials,
    tenant_header: Option<String>,
}

pub struct PartnerPush {
    targets: HashMap<String, Target>,
    client: reqwest::Client,
    tokens: TokenCache,
}

impl PartnerPush {
    /// Reads each pushing partner's key now, so bad configuration stops start-up.
    pub fn new(partners: &[Partner], client: reqwest::Client) -> anyhow::Result<PartnerPush> {
        let mut targets = HashMap::new();
        for p in partners {
            let Some(endpoint) = &p.endpoint else {
                continue;
            };
            let (Some(client_id), Some(key_file)) = (&p.client_id, &p.key_file) else {
                anyhow::bail!(
                    "partner {}: push delivery needs client_id and key_file",
                    p.id
                );
            };
            let pem = std::fs::read_to_string(key_file).map_err(|e| {
                anyhow::anyhow!(
                    "partner {}: cannot read key_file {}: {e}",
                    p.id,
                    key_file.display()
                )
            })?;
            let base = endpoint.trim_end_matches('/').to_string();
            targets.insert(
                p.id.clone(),
                Target {
                    credentials: Credentials {
                        token_url: p
                            .token_url
                            .clone()
                            .unwrap_or_else(|| format!("{base}/auth/token")),
                        client_id: client_id.clone(),
                        pkcs8: keys::from_pem(&pem)?,
                        scope: p.scope.clone(),
                    },
                    endpoint: base,
                    tenant_header: p.remote_tenant.clone(),
                },
            );
        }
        Ok(PartnerPush {
            targets,
            client,
            tokens: TokenCache::default(),
        })
    }
}

#[async_trait]
impl Channel for PartnerPush {
    /// Posts the package as one transaction.
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<String>, Failure> {
        let id = row.destination.as_deref().unwrap_or_default();
        let t = self.targets.get(id).ok_or_else(|| {
            Failure::permanent(format!("partner {id} has no push endpoint configured"))
        })?;
        self.post(id, t, row).await?;
        Ok(None)
    }
}

impl PartnerPush {
    async fn post(&self, id: &str, t: &Target, row: &OutboxRow) -> Result<(), Failure> {
        let token = self.tokens.get(&self.client, id, &t.credentials).await?;
        let mut req = self
            .client
            .post(format!("{}/", t.endpoint))
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json")
            .header("idempotency-key", &row.key)
            .header("x-tandem-topic", &row.topic)
            .body(row.payload.clone());
        if let Some(tenant) = &t.tenant_header {
            req = req.header("x-tandem-tenant", tenant);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::retry(format!("request failed: {}", e.without_url())))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == 401 {
            self.tokens.forget(id);
        }
        let retry = status == 401 || status == 408 || status == 429 || status.is_server_error();
        // Issue codes only: a partner's diagnostics may quote patient data.
        let body: Value = resp.json().await.unwrap_or_default();
        let codes: Vec<&str> = body["issue"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["code"].as_str())
            .collect();
        let msg = format!(
            "partner answered {status} to the referral transaction ({})",
            codes.join(", ")
        );
        Err(if retry {
            Failure::retry(msg)
        } else {
            Failure::permanent(msg)
        })
    }
}
