//! The delivery worker: takes due outbox messages, hands each to its channel
//! (the practice's endpoint, or a partner), and records the outcomes.
//!
//! Delivery is at-least-once: a message is marked delivered only after the
//! channel succeeded, so a crash between the send and the mark re-sends it;
//! every channel sends the message key so receivers drop the repeat. A batch
//! is delivered concurrently and its outcomes recorded in one transaction.
//! After `max_attempts` failures, or a failure retrying cannot fix, the
//! message is dead-lettered: kept, listed for operators, retryable. Logs name
//! a message by sequence number, tenant and topic only, never its content.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::outbox::{Attempt, Claim, OutboxRow};

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub permanent: bool,
}

impl Failure {
    pub fn retry(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            permanent: false,
        }
    }
    pub fn permanent(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            permanent: true,
        }
    }
}

/// Somewhere messages go. A delivery may hand back a receipt to keep.
#[async_trait]
pub trait Channel: Send + Sync {
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<String>, Failure>;
}

/// Timing of retries.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    pub max_attempts: u32,
    /// Deliveries in flight at once (a round takes twice as many messages).
    pub concurrency: usize,
}

impl Backoff {
    /// Delay before attempt `attempts + 1`: base × 2^attempts, capped, then
    /// "equal jitter" (half fixed, half random) so retries of many messages
    /// to one recovering endpoint do not arrive in lockstep.
    pub fn delay_ms(&self, attempts: i64) -> i64 {
        let exp = self.base_ms.saturating_mul(1u64 << attempts.clamp(0, 30));
        let d = exp.min(self.max_ms);
        (d / 2 + fastrand::u64(0..=d / 2)) as i64
    }

    /// What a failed attempt (the row's `attempts + 1`th) leads to.
    pub fn after_failure(&self, row: &OutboxRow, f: Failure, now_ms: i64) -> Attempt {
        if f.permanent || row.attempts + 1 >= i64::from(self.max_attempts) {
            Attempt::Dead {
                at_ms: now_ms,
                error: f.error,
            }
        } else {
            Attempt::Retry {
                next_ms: now_ms + self.delay_ms(row.attempts),
                error: f.error,
            }
        }
    }
}

/// Routes a message to its channel: partner deliveries carry a destination.
pub struct Channels {
    pub practice: Arc<dyn Channel>,
    pub partner: Option<Arc<dyn Channel>>,
    /// Quarterly submissions to programs.
    pub program: Option<Arc<dyn Channel>>,
}

impl Channels {
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<String>, Failure> {
        if row.topic == crate::store::ledger::SUBMISSION_TOPIC {
            return match &self.program {
                Some(p) => p.deliver(row).await,
                None => Err(Failure::permanent("no program channel is configured")),
            };
        }
        match (&row.destination, &self.partner) {
            (None, _) => self.practice.deliver(row).await,
            (Some(_), Some(p)) => p.deliver(row).await,
            (Some(_), None) => Err(Failure::permanent("no partner channel is configured")),
        }
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    channels: Channels,
    backoff: Backoff,
    /// The service clock: when a message was delivered or given up is
    /// recorded in the service's time (the ledger judges deadlines by it);
    /// retries wait in real time.
    clock: Arc<dyn crate::service::Clock>,
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

/// A client with a timeout on every call, for channels.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()?)
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        channels: Channels,
        backoff: Backoff,
        clock: Arc<dyn crate::service::Clock>,
    ) -> Worker {
        Worker {
            store,
            channels,
            backoff,
            clock,
        }
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
        let now = chrono::Utc::now().timestamp_millis();
        let batch = 2 * self.backoff.concurrency.max(1);
        let due = match self.store.outbox_due(now, batch).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read due messages");
                return false;
            }
        };
        let full = due.len() == batch;
        let pending: Vec<_> = due.into_iter().map(|row| self.attempt(row)).collect();
        let attempts: Vec<(Claim, Attempt)> = futures::stream::iter(pending)
            .buffer_unordered(self.backoff.concurrency.max(1))
            .collect()
            .await;
        if let Err(e) = self.store.outbox_record(attempts).await {
            tracing::error!(error = %e, "outbox: cannot record delivery state");
        }
        full
    }

    async fn attempt(&self, row: OutboxRow) -> (Claim, Attempt) {
        (row.claimed(), self.try_once(&row).await)
    }

    async fn try_once(&self, row: &OutboxRow) -> Attempt {
        let outcome = self.channels.deliver(row).await;
        let now = chrono::Utc::now().timestamp_millis();
        match outcome {
            Ok(receipt) => Attempt::Delivered {
                at_ms: self.clock.now_ms(),
                receipt,
            },
            Err(f) => {
                let mut a = self.backoff.after_failure(row, f, now);
                if let Attempt::Dead { at_ms, .. } = &mut a {
                    *at_ms = self.clock.now_ms();
                }
                let dead = matches!(a, Attempt::Dead { .. });
                tracing::warn!(seq = row.seq, tenant = %row.tenant, topic = %row.topic, attempts = row.attempts + 1, dead, error = %error_of(&a), "outbox: delivery failed");
                a
            }
        }
    }
}

fn error_of(a: &Attempt) -> &str {
    match a {
        Attempt::Retry { error, .. } | Attempt::Dead { error, .. } => error,
        Attempt::Delivered { .. } => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempts: i64) -> OutboxRow {
        OutboxRow {
            seq: 1,
            tenant: "t".into(),
            topic: "x".into(),
            key: "k".into(),
            destination: None,
            payload: String::new(),
            attempts,
            delivered_ms: None,
            dead_ms: None,
            last_error: None,
            claim: 0,
        }
    }

    const B: Backoff = Backoff {
        base_ms: 1000,
        max_ms: 60_000,
        max_attempts: 3,
        concurrency: 4,
    };

    #[test]
    fn delay_doubles_within_jitter_and_is_capped() {
        for attempts in 0..10 {
            let full = (1000u64 << attempts).min(60_000) as i64;
            for _ in 0..50 {
                let d = B.delay_ms(attempts);
                assert!(
                    d >= full / 2 && d <= full,
                    "{attempts}: {d} not in [{}, {full}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn retries_until_max_attempts_then_dead_letters() {
        let f = || Failure::retry("down");
        assert!(
            matches!(B.after_failure(&row(0), f(), 0), Attempt::Retry { next_ms, .. } if (500..=1000).contains(&next_ms))
        );
        assert!(matches!(
            B.after_failure(&row(1), f(), 0),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            B.after_failure(&row(2), f(), 7),
            Attempt::Dead { at_ms: 7, .. }
        ));
        assert!(matches!(
            B.after_failure(&row(0), Failure::permanent("no endpoint"), 0),
            Attempt::Dead { .. }
        ));
    }
}
