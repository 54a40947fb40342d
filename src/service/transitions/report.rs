//! `GET Organization/{id}/$transitions?period=2026Q3` (or `periodStart` /
//! `periodEnd`): the building block 9 numbers of a practice, computed from its
//! follow-up Tasks and received discharge notifications (`rules::toc_numbers`),
//! with the patients behind every numerator and denominator.

use serde_json::{Value, json};

use crate::fhir::datetime::parse_range;
use crate::fhir::message::{check, focus_encounter};
use crate::rules::toc_numbers::{Numbers, Receipt, TaskFact, numbers};
use crate::rules::transitions::FollowUp;
use crate::service::report::ratio;
use crate::service::transitions::receive::{MESSAGE_TAG, TOC_CS};
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

impl FhirService {
    pub async fn transitions_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let (start, end) = self.report_scope(ctx, org, pairs)?;
        let n = self.transition_numbers(ctx, start, end).await?;
        let mut params = vec![
            ratio("contact-within-7-days", &n.contact_7d),
            ratio("medication-reconciliation-within-72-hours", &n.med_rec_72h),
        ];
        if let Some((median, p90)) = n.notification_hours {
            params.push(json!({ "name": "discharge-to-notification-hours", "part": [{ "name": "median", "valueDecimal": median }, { "name": "p90", "valueDecimal": p90 }] }));
        }
        let mut overdue = vec![json!({ "name": "count", "valueInteger": n.overdue.len() })];
        overdue.extend(
            n.overdue
                .iter()
                .map(|p| json!({ "name": "patient", "valueReference": { "reference": p } })),
        );
        params.push(json!({ "name": "overdue-follow-ups", "part": overdue }));
        Ok(json!({ "resourceType": "Parameters", "parameter": params }))
    }

    /// Building block 9 for discharges in `[start, end)`.
    pub(crate) async fn transition_numbers(
        &self,
        ctx: &AccessContext,
        start: i64,
        end: i64,
    ) -> Result<Numbers, ServiceError> {
        let mut tasks = Vec::new();
        for kind in [FollowUp::Contact, FollowUp::MedicationReconciliation] {
            for t in self
                .find_values(
                    ctx,
                    "Task",
                    &[("_tag", format!("{TOC_CS}|{}", kind.code()))],
                )
                .await?
            {
                let at = |p: &str| {
                    t.pointer(p)
                        .and_then(Value::as_str)
                        .and_then(parse_range)
                        .map(|r| r.start)
                };
                if let (Some(patient), Some(discharged), Some(due)) = (
                    t["for"]["reference"].as_str(),
                    at("/restriction/period/start"),
                    at("/restriction/period/end"),
                ) {
                    let done = (t["status"] == "completed")
                        .then(|| at("/executionPeriod/end"))
                        .flatten();
                    tasks.push(TaskFact {
                        patient: patient.to_string(),
                        kind,
                        discharged_ms: discharged,
                        due_ms: due,
                        done_ms: done,
                    });
                }
            }
        }
        let mut receipts = Vec::new();
        for b in self
            .find_values(
                ctx,
                "Bundle",
                &[("_tag", format!("{MESSAGE_TAG}|processed"))],
            )
            .await?
        {
            let Ok(n) = check(&b) else { continue };
            let entries: Vec<Value> = b["entry"].as_array().cloned().unwrap_or_default();
            let end_of_stay = focus_encounter(&entries[0]["resource"], &entries)
                .and_then(|e| e.pointer("/period/end")?.as_str())
                .and_then(parse_range);
            let received = b
                .pointer("/meta/lastUpdated")
                .and_then(Value::as_str)
                .and_then(parse_range);
            if let (true, Some(d), Some(r)) =
                (n.event == "notification-discharge", end_of_stay, received)
            {
                receipts.push(Receipt {
                    discharged_ms: d.start,
                    received_ms: r.start,
                });
            }
        }
        Ok(numbers(&tasks, &receipts, start, end, self.clock.now_ms()))
    }
}
