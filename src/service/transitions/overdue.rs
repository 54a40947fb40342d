//! Marking transitions-of-care follow-up Tasks overdue: a periodic sweep per
//! tenant sets `businessStatus` to `overdue` on open Tasks past their due
//! point, so practices can search for them (`Task?business-status=…`) and
//! dashboards need no clock logic of their own.

use serde_json::json;

use crate::rules::transitions::{FollowUp, newly_overdue};
use crate::service::managed::{live, put};
use crate::service::transitions::receive::TOC_CS;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

pub const OVERDUE: &str = "overdue";

impl FhirService {
    /// Marks a tenant's follow-up Tasks that fell due; returns how many.
    pub async fn mark_overdue(&self, tenant: &str) -> Result<usize, ServiceError> {
        let ctx = AccessContext::internal(tenant, "overdue-sweep");
        let now = self.clock.now_ms();
        let tags = [FollowUp::Contact, FollowUp::MedicationReconciliation]
            .map(|k| format!("{TOC_CS}|{}", k.code()))
            .join(",");
        let open = "requested,accepted,in-progress".to_string();
        let due: Vec<String> = self
            .find_values(&ctx, "Task", &[("_tag", tags), ("status", open)])
            .await?
            .into_iter()
            .filter(|t| newly_overdue(t, OVERDUE, now))
            .filter_map(|t| t["id"].as_str().map(String::from))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let st = self.stamper();
        transact(self.store.as_ref(), &ctx, move |tx| {
            let mut marked = 0;
            for id in due {
                // Re-checked inside the transaction: evidence may have closed it meanwhile.
                let Some(mut task) = live(tx, "Task", &id)? else { continue };
                if !newly_overdue(&task, OVERDUE, now) {
                    continue;
                }
                task["businessStatus"] = json!({ "coding": [{ "system": TOC_CS, "code": OVERDUE, "display": "Overdue" }], "text": "Overdue" });
                put(tx, &st, "Task", &id, task)?;
                marked += 1;
            }
            Ok::<_, ServiceError>(marked)
        })
        .await
    }

    /// `POST /$sweep-overdue`: one sweep now, without waiting for the
    /// periodic one (after downtime, or to see the effect of a change). A
    /// practice admin sweeps its own tenant, the operator every tenant.
    /// Answers a Parameters resource with the count marked.
    pub async fn sweep_overdue_now(
        &self,
        ctx: &AccessContext,
    ) -> Result<serde_json::Value, ServiceError> {
        self.require_admin(ctx, "run the overdue sweep")?;
        let marked = if ctx.grant.role == crate::caller::grant::Role::Operator {
            self.sweep_overdue().await?
        } else {
            self.mark_overdue(&ctx.tenant).await?
        };
        Ok(
            json!({"resourceType": "Parameters", "parameter": [{"name": "marked", "valueInteger": marked}]}),
        )
    }

    /// One sweep over every tenant.
    pub async fn sweep_overdue(&self) -> Result<usize, ServiceError> {
        let mut total = 0;
        for tenant in self.store.tenants().await? {
            total += self.mark_overdue(&tenant).await?;
        }
        Ok(total)
    }
}
