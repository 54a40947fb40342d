//! The delivery worker: posts queued outbox messages to each practice's
//! configured endpoint, with exponential backoff on failure.
//!
//! Delivery is at-least-once: a message is marked delivered only after a 2xx,
//! so a crash between the POST and the mark re-sends it. Every POST carries the
//! message key as `Idempotency-Key` (and `X-Tandem-Message`), which receivers
//! use to drop the repeat. Logs name the message by sequence number, tenant and
//! topic only, never its content.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;
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

/// Timing of retries.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    /// Delay before attempt `attempts + 1`: base × 2^attempts, capped, plus up
    /// to 10% spread (derived from the sequence number) so retries of many
    /// messages do not arrive in lockstep.
    pub fn delay_ms(&self, attempts: i64, seq: i64) -> i64 {
        let exp = self.base_ms.saturating_mul(1u64 << attempts.clamp(0, 30));
        let d = exp.min(self.max_ms) as i64;
        d + (seq.rem_euclid(10) * d) / 100
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    endpoints: HashMap<String, Endpoint>,
    client: reqwest::Client,
    backoff: Backoff,
}

/// A running worker; `stop` finishes the current batch and returns.
pub struct Running {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        endpoints: &[Endpoint],
        backoff: Backoff,
        timeout: Duration,
    ) -> anyhow::Result<Worker> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        let endpoints = endpoints
            .iter()
            .map(|e| (e.tenant.clone(), e.clone()))
            .collect();
        Ok(Worker {
            store,
            endpoints,
            client,
            backoff,
        })
    }

    pub fn spawn(self) -> Running {
        let (stop, mut stopped) = watch::channel(false);
        let handle = tokio::spawn(async move {
            let signal = self.store.outbox_signal();
            loop {
                let worked = self.round().await;
                if *stopped.borrow() {
                    break;
                }
                if worked {
                    continue;
                }
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Running { stop, handle }
    }

    /// Delivers what is due; true when a full batch was found (more may wait).
    async fn round(&self) -> bool {
        const BATCH: usize = 50;
        let now = chrono::Utc::now().timestamp_millis();
        let due = match self.store.outbox_due(now, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read due messages");
                return false;
            }
        };
        for row in &due {
            self.deliver(row).await;
        }
        due.len() == BATCH
    }

    async fn deliver(&self, row: &OutboxRow) {
        let outcome = match self.endpoints.get(&row.tenant) {
            None => Err("no notification endpoint is configured for this tenant".to_string()),
            Some(ep) => self.post(ep, row).await,
        };
        let now = chrono::Utc::now().timestamp_millis();
        let marked = match &outcome {
            Ok(()) => self.store.outbox_delivered(row.seq, now).await,
            Err(e) => {
                let next = now + self.backoff.delay_ms(row.attempts, row.seq);
                tracing::warn!(seq = row.seq, tenant = %row.tenant, topic = %row.topic, attempts = row.attempts + 1, error = %e, "outbox: delivery failed; will retry");
                self.store.outbox_failed(row.seq, next, e).await
            }
        };
        if let Err(e) = marked {
            tracing::error!(seq = row.seq, error = %e, "outbox: cannot record delivery state");
        }
    }

    async fn post(&self, ep: &Endpoint, row: &OutboxRow) -> Result<(), String> {
        let mut req = self
            .client
            .post(&ep.url)
            .header("content-type", "application/fhir+json")
            .header("idempotency-key", &row.key)
            .header("x-tandem-message", &row.key)
            .header("x-tandem-topic", &row.topic)
            .body(row.payload.clone());
        if let Some(var) = &ep.bearer_token_env {
            let token = std::env::var(var)
                .map_err(|_| format!("environment variable {var} (endpoint token) is not set"))?;
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("endpoint answered {}", resp.status()))
        }
    }
}
