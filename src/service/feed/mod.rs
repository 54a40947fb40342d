//! The automatic quarterly program feed and its ledger. After each quarter
//! (and the configured lag) the scheduler builds every enrolled practice's
//! submission once (`build`), records it in the ledger and queues its
//! delivery in the same transaction — or holds it for the practice's
//! sign-off when a pre-send check fails. A quarter already in the ledger is
//! never built again, so restarts and catch-up after downtime send each
//! quarter exactly once; amendments are new ledger entries that supersede.
//!
//! Operations: `GET Organization/{id}/$submissions`, `POST
//! Organization/{id}/$sign-off?submission=N`, `POST
//! Organization/{id}/$amend-submission?period=2026Q3&reason=…`, and `POST
//! /$run-feed` (build what is due now, without waiting for the scheduler).

mod build;
pub(crate) use build::cqm_period;
mod due;
mod report;

pub use due::NextSubmission;
pub use report::{ReportRow, population_counts, rows_of};

use serde_json::{Value, json};

use crate::fhir::datetime::utc_date;
use crate::fhir::outcome::Issue;
use crate::measure::milestone::program::{OnFailedChecks, Quarter};
use crate::service::milestones::Enrolled;
use crate::service::report::param as get;
use crate::service::{FhirService, ServiceError};
use crate::store::ledger::{NewSubmission, SUBMISSION_TOPIC, SubmissionRow};
use crate::store::outbox::OutboxMessage;
use crate::store::{AccessContext, transact};

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who asked, and why, for a submission being recorded.
struct Origin<'a> {
    by: &'a str,
    supersedes: Option<&'a SubmissionRow>,
    reason: Option<String>,
}

impl FhirService {
    /// One pass of the scheduler over every enrolled practice; returns the
    /// submissions recorded. A practice's failure is logged (no patient
    /// data) and does not stop the others.
    pub async fn run_feed(&self) -> usize {
        let mut recorded = 0;
        for practice in self.settings.programs.practices() {
            let ctx = AccessContext::internal(&practice, "program-feed");
            match self.feed_practice(&ctx).await {
                Ok(n) => recorded += n,
                Err(e) => {
                    tracing::error!(tenant = %practice, error = %e, "program feed: building a submission failed")
                }
            }
        }
        recorded
    }

    /// Records every quarter the practice owes and has not submitted.
    async fn feed_practice(&self, ctx: &AccessContext) -> Result<usize, ServiceError> {
        let Some(e) = self.settings.programs.enrolled(&ctx.tenant) else {
            return Ok(0);
        };
        let ledger = self
            .store
            .submissions(&ctx.tenant, Some(&e.program.id), None)
            .await?;
        let mut n = 0;
        for q in e.program.quarters_due(e.enrolment, self.today()) {
            if ledger.iter().any(|s| s.entry.period == q.name) {
                continue;
            }
            let origin = Origin {
                by: "tandem",
                supersedes: None,
                reason: None,
            };
            n += usize::from(self.submit(ctx, &e, &q, origin).await?.is_some());
        }
        Ok(n)
    }

    /// Builds, checks and records one submission; queues it unless held.
    async fn submit(
        &self,
        ctx: &AccessContext,
        e: &Enrolled<'_>,
        q: &Quarter,
        origin: Origin<'_>,
    ) -> Result<Option<i64>, ServiceError> {
        let version = origin.supersedes.map_or(1, |s| s.entry.version + 1);
        let key = format!("{}.{}.{}.v{version}", ctx.tenant, e.program.id, q.name);
        let previous = self
            .store
            .submissions(&ctx.tenant, Some(&e.program.id), Some(&q.previous().name))
            .await?
            .into_iter()
            .rfind(|s| s.superseded_by.is_none())
            .and_then(|s| serde_json::from_str::<Value>(&s.entry.body).ok());
        let built = self
            .build_submission(ctx, e, q, &key, previous.as_ref())
            .await?;
        let body = built.bundle.to_string();
        let held = origin.supersedes.is_none()
            && !built.checks.is_empty()
            && e.program.reporting.on_failed_checks == OnFailedChecks::Hold;
        let destination = e.program.submission.as_ref().map(|_| e.program.id.clone());
        let entry = NewSubmission {
            program: e.program.id.clone(),
            period: q.name.clone(),
            version,
            supersedes: origin.supersedes.map(|s| s.seq),
            reason: origin.reason,
            content_hash: sha256(&body),
            body,
            destination,
            checks: json!(built.checks).to_string(),
            held,
            idempotency_key: key,
            created_ms: self.clock.now_ms(),
            created_by: origin.by.to_string(),
        };
        let seq = transact(self.store.as_ref(), ctx, move |tx| {
            let queued = (!entry.held).then(|| message(&entry)).flatten();
            let seq = tx.record_submission(entry)?;
            if let (Some(_), Some(m)) = (seq, queued) {
                tx.enqueue(m)?;
            }
            Ok::<_, ServiceError>(seq)
        })
        .await?;
        if let Some(s) = seq {
            tracing::info!(tenant = %ctx.tenant, program = %e.program.id, period = %q.name, version, held, seq = s, "program feed: submission recorded");
        }
        Ok(seq)
    }

    /// `POST /$run-feed`: the scheduler's pass now — the operator's over
    /// every practice, a practice admin's over its own.
    pub async fn run_feed_now(&self, ctx: &AccessContext) -> Result<Value, ServiceError> {
        self.require_admin(ctx, "run the program feed")?;
        let n = if ctx.grant.role == crate::auth::Role::Operator {
            self.run_feed().await
        } else {
            self.feed_practice(&AccessContext::internal(&ctx.tenant, &ctx.request_id))
                .await?
        };
        Ok(
            json!({ "resourceType": "Parameters", "parameter": [{ "name": "recorded", "valueInteger": n }] }),
        )
    }

    /// `GET Organization/{id}/$submissions[?period=2026Q3][&content=true]`.
    pub async fn submissions_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        let content = get(pairs, "content") == Some("true");
        let rows = self
            .store
            .submissions(org, Some(&e.program.id), get(pairs, "period"))
            .await?;
        let params: Vec<Value> = rows.iter().map(|r| describe(r, content)).collect();
        Ok(json!({ "resourceType": "Parameters", "parameter": params }))
    }

    /// `POST Organization/{id}/$sign-off?submission=N`: a practice admin
    /// releases a held submission; it is queued in the same transaction.
    pub async fn sign_off(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        // A practice's admin client, the operator, or a member of the
        // practice's own staff signed in as a person (its QI lead).
        let member = ctx
            .grant
            .person
            .as_ref()
            .is_some_and(|p| p.role == crate::caller::grant::UserRole::Practice);
        if !member {
            self.require_admin(ctx, "sign off a submission")?;
        }
        let e = self.milestone_access(ctx, org)?;
        let seq: i64 = get(pairs, "submission")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                ServiceError::bad(Issue::error(
                    "required",
                    "Give submission=N, the ledger entry to release (see $submissions).",
                ))
            })?;
        let row = self
            .store
            .submissions(org, Some(&e.program.id), None)
            .await?
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or_else(|| {
                ServiceError::NotFound(Issue::error(
                    "not-found",
                    format!("Submission {seq} is not in this practice's ledger."),
                ))
            })?;
        if row.state() != "held" {
            return Err(ServiceError::Conflict(Issue::error(
                "conflict",
                format!("Submission {seq} is {}, not held.", row.state()),
            )));
        }
        let by = signer(ctx);
        let now = self.clock.now_ms();
        let queued = message(&row.entry);
        transact(self.store.as_ref(), ctx, move |tx| {
            if !tx.release_submission(seq, &by, now)? {
                return Err(ServiceError::Conflict(Issue::error(
                    "conflict",
                    format!("Submission {seq} was released meanwhile."),
                )));
            }
            if let Some(m) = queued {
                tx.enqueue(m)?;
            }
            Ok(())
        })
        .await?;
        Ok(json!({ "resourceType": "Parameters", "parameter": [
            { "name": "submission", "valueInteger": seq },
            { "name": "releasedBy", "valueString": signer(ctx) },
        ] }))
    }

    /// `POST Organization/{id}/$amend-submission?period=2026Q3&reason=…`: a
    /// new submission of the quarter from today's data, superseding the
    /// latest one; sent at once (the admin asking is the sign-off).
    pub async fn amend_submission(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.require_admin(ctx, "amend a submission")?;
        let e = self.milestone_access(ctx, org)?;
        let (Some(period), Some(reason)) = (get(pairs, "period"), get(pairs, "reason")) else {
            return Err(ServiceError::bad(Issue::error(
                "required",
                "Give period=YYYYQn and reason=… (why the submission is amended).",
            )));
        };
        let latest = self
            .store
            .submissions(org, Some(&e.program.id), Some(period))
            .await?
            .into_iter()
            .rfind(|s| s.superseded_by.is_none())
            .ok_or_else(|| {
                ServiceError::NotFound(Issue::error(
                    "not-found",
                    format!("Nothing was submitted for {period}; there is nothing to amend."),
                ))
            })?;
        let first = crate::service::report::period(pairs)?.0;
        let q = Quarter::of(utc_date(first));
        let origin = Origin {
            by: &ctx.client_id,
            supersedes: Some(&latest),
            reason: Some(reason.to_string()),
        };
        let ctx_internal = AccessContext::internal(&ctx.tenant, &ctx.request_id);
        let seq = self
            .submit(&ctx_internal, &e, &q, origin)
            .await?
            .ok_or_else(|| {
                ServiceError::Conflict(Issue::error(
                    "conflict",
                    format!("{period} was amended meanwhile; list $submissions and retry."),
                ))
            })?;
        Ok(json!({ "resourceType": "Parameters", "parameter": [
            { "name": "submission", "valueInteger": seq },
            { "name": "supersedes", "valueInteger": latest.seq },
        ] }))
    }
}

/// The delivery of an entry, when it has a destination.
fn message(entry: &NewSubmission) -> Option<OutboxMessage> {
    Some(OutboxMessage {
        topic: SUBMISSION_TOPIC.into(),
        key: entry.idempotency_key.clone(),
        destination: Some(entry.destination.clone()?),
        payload: entry.body.clone(),
        created_ms: entry.created_ms,
    })
}

/// Who signs: the person signed in, else the client.
fn signer(ctx: &AccessContext) -> String {
    ctx.grant
        .person
        .as_ref()
        .map_or_else(|| ctx.client_id.clone(), |p| p.name.clone())
}

fn describe(r: &SubmissionRow, content: bool) -> Value {
    let at = |ms: i64| crate::fhir::datetime::format_instant_ms(ms);
    let e = &r.entry;
    let mut part = vec![
        json!({ "name": "seq", "valueInteger": r.seq }),
        json!({ "name": "program", "valueString": e.program }),
        json!({ "name": "period", "valueString": e.period }),
        json!({ "name": "version", "valueInteger": e.version }),
        json!({ "name": "state", "valueCode": r.state() }),
        json!({ "name": "contentHash", "valueString": e.content_hash }),
        json!({ "name": "idempotencyKey", "valueString": e.idempotency_key }),
        json!({ "name": "created", "valueInstant": at(e.created_ms) }),
        json!({ "name": "createdBy", "valueString": e.created_by }),
        json!({ "name": "attempts", "valueInteger": r.attempts }),
    ];
    let checks: Vec<String> = serde_json::from_str(&e.checks).unwrap_or_default();
    part.extend(
        checks
            .iter()
            .map(|c| json!({ "name": "check", "valueString": c })),
    );
    let opt = [
        (
            "destination",
            e.destination.clone().map(|d| json!({ "valueString": d })),
        ),
        (
            "supersedes",
            e.supersedes.map(|s| json!({ "valueInteger": s })),
        ),
        (
            "supersededBy",
            r.superseded_by.map(|s| json!({ "valueInteger": s })),
        ),
        (
            "reason",
            e.reason.clone().map(|s| json!({ "valueString": s })),
        ),
        (
            "releasedBy",
            r.released_by.clone().map(|s| json!({ "valueString": s })),
        ),
        (
            "released",
            r.released_ms.map(|t| json!({ "valueInstant": at(t) })),
        ),
        (
            "delivered",
            r.delivered_ms.map(|t| json!({ "valueInstant": at(t) })),
        ),
        (
            "lastError",
            r.last_error.clone().map(|s| json!({ "valueString": s })),
        ),
        (
            "receipt",
            r.receipt.clone().map(|s| json!({ "valueString": s })),
        ),
    ];
    for (name, v) in opt {
        if let Some(mut v) = v {
            v["name"] = json!(name);
            part.push(v);
        }
    }
    if content && let Ok(b) = serde_json::from_str::<Value>(&e.body) {
        part.push(json!({ "name": "content", "resource": b }));
    }
    json!({ "name": "submission", "part": part })
}
