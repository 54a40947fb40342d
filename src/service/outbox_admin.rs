//! Operators' view of the durable outbox: list a tenant's messages by state
//! (`GET /$outbox?state=dead`) and put a dead-lettered one back in the queue
//! (`POST /$outbox-retry?seq=N`). Admin clients only; message payloads carry
//! patient data and are never shown here.

use serde_json::{Value, json};

use super::{FhirService, ServiceError};
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::store::AccessContext;
use crate::store::outbox::{OutboxRow, OutboxState};

impl FhirService {
    pub(crate) fn require_admin(
        &self,
        ctx: &AccessContext,
        what: &str,
    ) -> Result<(), ServiceError> {
        // The refusal is audited with the operation (`audit_operation`).
        if ctx.grant.role.is_admin() {
            return Ok(());
        }
        Err(ServiceError::Forbidden(Issue::error(
            "forbidden",
            format!("Only admin clients may {what}."),
        )))
    }

    /// `GET /$outbox?state=pending|delivered|dead|all&_count=N`.
    pub async fn outbox_messages(
        &self,
        ctx: &AccessContext,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.require_admin(ctx, "list outbox messages")?;
        let mut state = OutboxState::All;
        let mut count = 100;
        for (k, v) in pairs {
            match (k.as_str(), v.as_str()) {
                ("state", "all") => state = OutboxState::All,
                ("state", "pending") => state = OutboxState::Pending,
                ("state", "delivered") => state = OutboxState::Delivered,
                ("state", "dead") => state = OutboxState::Dead,
                ("_count", n) if n.parse::<usize>().is_ok_and(|n| (1..=1000).contains(&n)) => {
                    count = n.parse().unwrap_or(count)
                }
                _ => {
                    return Err(bad(format!(
                        "Unknown or invalid parameter {k}={v}: use state=pending|delivered|dead|all and _count=1..1000."
                    )));
                }
            }
        }
        let rows = self.store.outbox_list(&ctx.tenant, state, count).await?;
        let params: Vec<Value> = rows.iter().map(describe).collect();
        Ok(json!({ "resourceType": "Parameters", "parameter": params }))
    }

    /// `POST /$outbox-retry?seq=N`: a dead-lettered message is queued again.
    pub async fn outbox_retry(
        &self,
        ctx: &AccessContext,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.require_admin(ctx, "retry outbox messages")?;
        let seq = pairs
            .iter()
            .find(|(k, _)| k == "seq")
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .ok_or_else(|| {
                bad("seq=N (the message's sequence number from $outbox) is required".into())
            })?;
        let now = self.clock.now_ms();
        if !self.store.outbox_retry(&ctx.tenant, seq, now).await? {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("No dead-lettered message {seq} in this tenant."),
            )));
        }
        Ok(operation_outcome(&[Issue {
            code: "informational",
            ..Issue::info(format!("Message {seq} is queued for delivery again."))
        }]))
    }
}

fn bad(msg: String) -> ServiceError {
    ServiceError::BadRequest(vec![Issue::error("invalid", msg)])
}

fn describe(r: &OutboxRow) -> Value {
    let state = match (r.delivered_ms, r.dead_ms) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "dead",
        (None, None) => "pending",
    };
    let mut parts = vec![
        json!({ "name": "seq", "valueInteger": r.seq }),
        json!({ "name": "topic", "valueString": r.topic }),
        json!({ "name": "key", "valueString": r.key }),
        json!({ "name": "state", "valueCode": state }),
        json!({ "name": "attempts", "valueInteger": r.attempts }),
    ];
    if let Some(d) = &r.destination {
        parts.push(json!({ "name": "destination", "valueString": d }));
    }
    if let Some(e) = &r.last_error {
        parts.push(json!({ "name": "lastError", "valueString": e }));
    }
    json!({ "name": "message", "part": parts })
}
