//! Writing the audit trail. Records of writes are stamped inside the write's
//! own unit of work (see [`AuditUnit`](super::audit_record::AuditUnit)), so a change and its AuditEvent commit
//! together. Records of reads, refusals and token decisions go through a
//! bounded queue to a task that commits them in batches, so auditing a read
//! costs the reader no fsync; the queue is drained before the store closes.
//!
//! The queue is bounded and nothing is dropped. Recording stays synchronous
//! for its many callers: when the queue is full a record waits in an
//! overflow task, and every request first awaits [`AuditLog::room`], which
//! holds new requests back while more than [`OVERFLOW`] records wait. So the
//! records in memory are bounded by the queue, the overflow limit and what
//! the requests already admitted (themselves bounded) can produce.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::audit_record::{AuditUnit, add_entity, record, row};
use crate::auth::audit::Event;
use crate::auth::policy::Interaction;
use crate::service::{FhirService, ServiceError, security::access};
use crate::store::audit::AuditRow;
use crate::store::{AUDIT_TENANT, AccessContext, Store, StoredResource};

const QUEUE: usize = 65_536;
/// Records waiting beyond a full queue before new requests are held back.
const OVERFLOW: usize = 4_096;
const BATCH: usize = 2_000;
const LINGER: std::time::Duration = std::time::Duration::from_millis(25);

pub(crate) struct AuditLog {
    sender: Mutex<Option<mpsc::Sender<AuditRow>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    overflow: Arc<Overflow>,
    overflow_limit: usize,
}

/// Records waiting for room in the queue, and a wake-up when one got in.
#[derive(Default)]
struct Overflow {
    waiting: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

impl AuditLog {
    pub fn start(store: Arc<dyn Store>) -> AuditLog {
        AuditLog::with_bounds(store, QUEUE, OVERFLOW)
    }

    /// A log whose queue holds `queue` records, with `overflow` more waiting
    /// before [`AuditLog::room`] holds requests back.
    pub fn with_bounds(store: Arc<dyn Store>, queue: usize, overflow: usize) -> AuditLog {
        let (tx, mut rx) = mpsc::channel::<AuditRow>(queue);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Linger briefly so a busy server commits (and fsyncs) audit
                // records in large groups rather than a few at a time.
                let deadline = tokio::time::Instant::now() + LINGER;
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(v)) => batch.push(v),
                        _ => break,
                    }
                }
                let n = batch.len();
                if let Err(e) = store.append_audit(batch).await {
                    tracing::error!(error = %e, lost = n, "audit records could not be written");
                }
            }
        });
        AuditLog {
            sender: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            overflow: Arc::new(Overflow::default()),
            overflow_limit: overflow,
        }
    }

    /// Queues a record; when the queue is full it waits for room in an
    /// overflow task rather than being dropped (see [`AuditLog::room`]).
    pub fn send(&self, row: AuditRow) {
        use std::sync::atomic::Ordering;
        let Some(sender) = self.sender.lock().clone() else {
            tracing::error!("audit record after shutdown");
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(row)) = sender.try_send(row) {
            let overflow = self.overflow.clone();
            overflow.waiting.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(async move {
                let _ = sender.send(row).await;
                overflow.waiting.fetch_sub(1, Ordering::AcqRel);
                overflow.drained.notify_waiters();
            });
        }
    }

    /// Records waiting beyond the full queue.
    pub fn overflowing(&self) -> usize {
        self.overflow
            .waiting
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits while more records wait beyond the queue than the overflow
    /// limit: the back-pressure every request passes before it is handled.
    pub async fn room(&self) {
        loop {
            let drained = self.overflow.drained.notified();
            if self.overflowing() < self.overflow_limit {
                return;
            }
            drained.await;
        }
    }

    /// Writes every queued record, then stops.
    pub async fn close(&self) {
        self.sender.lock().take();
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl FhirService {
    /// Back-pressure from the audit trail: returns once its queue has room
    /// (see [`AuditLog::room`]). Every request awaits it before its work.
    pub async fn audit_room(&self) {
        self.audit.room().await
    }

    pub(crate) fn audit_unit(&self, ctx: &AccessContext, i: Interaction, rt: &str) -> AuditUnit {
        let mut record = record(ctx, Event::Rest(i), self.clock.now_ms());
        record.resource_type = Some(rt.to_string());
        AuditUnit {
            record,
            tenant: ctx.tenant.clone(),
        }
    }

    /// Audits a read-side interaction and what it returned.
    pub(crate) fn audit_read(
        &self,
        ctx: &AccessContext,
        i: Interaction,
        rt: &str,
        returned: &[&StoredResource],
        query: Option<String>,
    ) {
        let mut rec = record(ctx, Event::Rest(i), self.clock.now_ms());
        rec.resource_type = Some(rt.to_string());
        rec.query = query;
        for r in returned {
            add_entity(&mut rec, r);
        }
        self.audit.send(row(&rec, &ctx.tenant));
    }

    /// Audits an operation (`$screening-status`, `$evaluate-measure`,
    /// `$care-gaps`, `$referrals`, `$transitions`, `$outbox`,
    /// `$outbox-retry`, `$sweep-overdue`): its target, the operation and its
    /// parameters as the query, the patient when one is named, and whether
    /// it was refused. The one audit record of each call, refusals included.
    pub fn audit_operation(
        &self,
        ctx: &AccessContext,
        target: (&str, Option<&str>),
        op: &str,
        params: &[(String, String)],
        refused: Option<&str>,
    ) {
        let (rt, id) = target;
        let mut rec = record(
            ctx,
            Event::Rest(Interaction::Operation),
            self.clock.now_ms(),
        );
        rec.resource_type = Some(rt.to_string());
        let encoded = crate::service::fhir_api::search::encode(params.iter());
        rec.query = Some(if encoded.is_empty() {
            op.to_string()
        } else {
            format!("{op}?{encoded}")
        });
        if let Some(id) = id {
            rec.entities.push((format!("{rt}/{id}"), Vec::new()));
            if rt == "Patient" {
                rec.patients.push(format!("Patient/{id}"));
            }
        }
        for (k, v) in params {
            if matches!(k.as_str(), "subject" | "patient") {
                let pid = v.rsplit('/').next().unwrap_or(v);
                rec.patients.push(format!("Patient/{pid}"));
            }
        }
        if let Some(reason) = refused {
            rec.outcome = "4".into();
            rec.outcome_desc = Some(format!("refused: {reason}"));
        }
        self.audit.send(row(&rec, &ctx.tenant));
    }

    /// Audits an interaction that was refused.
    pub(crate) fn audit_refusal(&self, ctx: &AccessContext, i: Interaction, rt: &str) {
        let mut rec = record(ctx, Event::Rest(i), self.clock.now_ms());
        rec.resource_type = Some(rt.to_string());
        rec.outcome = "4".into();
        rec.outcome_desc = Some("refused: not permitted".into());
        self.audit.send(row(&rec, &ctx.tenant));
    }

    /// Passes a write's result through, auditing it when the write was
    /// refused for what it asked (conflict, business rule, policy): the
    /// refusal is on record even though nothing was written.
    pub(crate) fn audit_if_refused<T>(
        &self,
        ctx: &AccessContext,
        i: Interaction,
        rt: &str,
        result: Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        if let Err(
            e @ (ServiceError::Conflict(_)
            | ServiceError::Forbidden(_)
            | ServiceError::Unprocessable(_)),
        ) = &result
        {
            let mut rec = record(ctx, Event::Rest(i), self.clock.now_ms());
            rec.resource_type = Some(rt.to_string());
            rec.outcome = "4".into();
            rec.outcome_desc = Some(match e {
                ServiceError::Conflict(issue) | ServiceError::Forbidden(issue) => {
                    issue.diagnostics.clone()
                }
                ServiceError::Unprocessable(v) => v
                    .iter()
                    .map(|i| i.diagnostics.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            });
            self.audit.send(row(&rec, &ctx.tenant));
        }
        result
    }

    /// Audits the consent decisions taken while screening results.
    pub(crate) fn audit_consents(
        &self,
        ctx: &AccessContext,
        decisions: Vec<access::ConsentDecision>,
    ) {
        for d in decisions {
            let mut rec = record(
                ctx,
                Event::Consent { consent: d.consent },
                self.clock.now_ms(),
            );
            rec.outcome = if d.permit { "0" } else { "4" }.into();
            rec.outcome_desc = Some(
                if d.permit {
                    "permit"
                } else {
                    "deny: no active consent covers the data"
                }
                .into(),
            );
            rec.entities.push((d.resource, Vec::new()));
            rec.patients = d.patient;
            self.audit.send(row(&rec, &ctx.tenant));
        }
    }

    /// Audits a token request or a person's sign-in (granted or refused);
    /// `what` says which ("token issued", "signed in"), `user` who signed in.
    pub fn audit_token(&self, who: TokenEvent<'_>, refused: Option<&str>) {
        let mut ctx = AccessContext::internal(AUDIT_TENANT, who.request_id);
        ctx.client_id = who.client_id.to_string();
        ctx.address = who.address;
        let mut rec = record(&ctx, Event::Token, self.clock.now_ms());
        rec.token_id = String::new();
        rec.user = who.user.map(str::to_string);
        if let Some(reason) = refused {
            rec.outcome = "4".into();
            rec.outcome_desc = Some(format!("{} refused: {reason}", who.what));
        } else {
            rec.outcome_desc = Some(format!("{} granted", who.what));
        }
        self.audit.send(row(&rec, &ctx.tenant));
    }
}

/// Who asked for a token or signed in, for [`AuditLog::audit_token`].
pub struct TokenEvent<'a> {
    /// "token", "sign-in", "refresh", "sign-out".
    pub what: &'a str,
    pub client_id: &'a str,
    pub user: Option<&'a str>,
    pub address: Option<String>,
    pub request_id: &'a str,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{AuditLog, row};
    use crate::auth::audit::Event;
    use crate::auth::policy::Interaction;
    use crate::store::audit::AuditQuery;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{AccessContext, Store};

    /// A flood beyond the queue holds requests back (room() waits) instead
    /// of growing without bound, and every record still reaches the store.
    // One thread: nothing drains while the flood is sent, so it must overflow.
    #[tokio::test]
    async fn a_full_queue_holds_requests_back_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
        let log = AuditLog::with_bounds(store.clone(), 4, 8);
        let ctx = AccessContext::internal("a", "r");
        let n = 500;
        for i in 0..n {
            let rec = super::record(&ctx, Event::Rest(Interaction::Read), i);
            log.send(row(&rec, "a"));
        }
        assert!(
            log.overflowing() > 8,
            "the flood went past queue and overflow"
        );
        // room() waits until the overflow is back under its limit.
        tokio::time::timeout(Duration::from_secs(30), log.room())
            .await
            .expect("the writer drains the overflow");
        assert!(log.overflowing() < 8);
        log.close().await;
        let page = store
            .audit_search(AuditQuery {
                tenant: Some("a".into()),
                count: 10_000,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.rows.len(), n as usize, "every record was written");
    }
}
