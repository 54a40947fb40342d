//! The program channel: a quarterly submission (a collection Bundle kept in
//! the ledger and the outbox) is POSTed to the program's FHIR endpoint
//! (`[base]/Bundle`), authenticated with SMART Backend Services as Tandem's
//! client there when the program configures a token endpoint. Every attempt
//! carries the same `Idempotency-Key` (the practice, program, period and
//! version), so a program that saw an attempt whose answer was lost drops
//! the repeat.
//!
//! Answers: 2xx accepted, and the answer (status, `Location`, body, at most
//! 16 KiB) is kept as the receipt; 401, 408, 429 and 5xx are retried with
//! backoff; any other 4xx is a refusal retrying cannot fix (dead letter,
//! listed as failed for operators).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::outbox::{Channel, Failure};
use super::token::{Credentials, TokenCache};
use crate::auth::keys;
use crate::measure::milestone::program::Program;
use crate::store::outbox::OutboxRow;

/// Longest program answer kept as a receipt.
const MAX_RECEIPT: usize = 16 * 1024;

struct Target {
    endpoint: String,
    credentials: Option<Credentials>,
}

pub struct ProgramFeed {
    targets: HashMap<String, Target>,
    client: reqwest::Client,
    tokens: TokenCache,
}

impl ProgramFeed {
    /// Reads each program's key now, so bad configuration stops start-up.
    pub fn new(programs: &[Program], client: reqwest::Client) -> anyhow::Result<ProgramFeed> {
        let mut targets = HashMap::new();
        for p in programs {
            let Some(s) = &p.submission else { continue };
            let credentials = match (&s.token_url, &s.client_id, &s.key_file) {
                (Some(token_url), Some(client_id), Some(key_file)) => {
                    let pem = std::fs::read_to_string(key_file).map_err(|e| {
                        anyhow::anyhow!(
                            "program {}: cannot read submission.key_file {}: {e}",
                            p.id,
                            key_file.display()
                        )
                    })?;
                    Some(Credentials {
                        token_url: token_url.clone(),
                        client_id: client_id.clone(),
                        pkcs8: keys::from_pem(&pem)?,
                        scope: Some("system/Bundle.c system/MeasureReport.c".into()),
                    })
                }
                _ => None,
            };
            targets.insert(
                p.id.clone(),
                Target {
                    endpoint: s.endpoint.trim_end_matches('/').to_string(),
                    credentials,
                },
            );
        }
        Ok(ProgramFeed {
            targets,
            client,
            tokens: TokenCache::default(),
        })
    }
}

#[async_trait]
impl Channel for ProgramFeed {
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<String>, Failure> {
        let id = row.destination.as_deref().unwrap_or_default();
        let t = self.targets.get(id).ok_or_else(|| {
            Failure::permanent(format!(
                "program {id} has no submission endpoint configured"
            ))
        })?;
        let mut req = self
            .client
            .post(format!("{}/Bundle", t.endpoint))
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json")
            .header("idempotency-key", &row.key)
            .header("x-tandem-topic", &row.topic)
            .body(row.payload.clone());
        if let Some(c) = &t.credentials {
            req = req.bearer_auth(self.tokens.get(&self.client, id, c).await?);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::retry(format!("request failed: {}", e.without_url())))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let mut cut = body.len().min(MAX_RECEIPT);
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            let answer: Value =
                serde_json::from_str(&body[..cut]).unwrap_or_else(|_| json!(&body[..cut]));
            let receipt =
                json!({ "status": status.as_u16(), "location": location, "body": answer });
            return Ok(Some(receipt.to_string()));
        }
        if status == 401 {
            self.tokens.forget(id);
        }
        let msg = format!("program answered {status}");
        if status == 401 || status == 408 || status == 429 || status.is_server_error() {
            Err(Failure::retry(msg))
        } else {
            Err(Failure::permanent(msg))
        }
    }
}
