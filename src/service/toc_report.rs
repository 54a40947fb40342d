//! `GET Organization/{id}/$transitions?period=2026Q3` (or `periodStart` /
//! `periodEnd`): the building block 9 numbers of a practice, computed from its
//! follow-up Tasks and received discharge notifications (`rules::toc_numbers`),
//! with the patients behind every numerator and denominator.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use super::transitions::{MESSAGE_TAG, TOC_CS};
use super::{FhirService, ServiceError};
use crate::auth::policy::Interaction;
use crate::fhir::datetime::parse_range;
use crate::fhir::message::{check, focus_encounter};
use crate::fhir::outcome::Issue;
use crate::rules::toc_numbers::{Ratio, Receipt, TaskFact, numbers};
use crate::rules::transitions::FollowUp;
use crate::store::AccessContext;

impl FhirService {
    pub async fn transitions_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.allow(ctx, "MeasureReport", Interaction::Read)?;
        if org != ctx.tenant || ctx.guest {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("Organization/{org} is not a practice this client reports on."),
            )));
        }
        let (start, end) = period(pairs)?;
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
        let n = numbers(&tasks, &receipts, start, end, self.clock.now_ms());
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
}

fn ratio(name: &str, r: &Ratio) -> Value {
    let mut part = vec![
        json!({ "name": "numerator", "valueInteger": r.numerator.len() }),
        json!({ "name": "denominator", "valueInteger": r.denominator.len() }),
    ];
    if let Some(p) = r.percent() {
        part.push(json!({ "name": "percent", "valueDecimal": (p * 10.0).round() / 10.0 }));
    }
    part.extend(
        r.numerator
            .iter()
            .map(|p| json!({ "name": "numeratorPatient", "valueReference": { "reference": p } })),
    );
    part.extend(
        r.denominator
            .iter()
            .map(|p| json!({ "name": "denominatorPatient", "valueReference": { "reference": p } })),
    );
    json!({ "name": name, "part": part })
}

/// `[start, end)` in ms from `period=YYYYQn` or `periodStart`/`periodEnd` (dates, end inclusive).
fn period(pairs: &[(String, String)]) -> Result<(i64, i64), ServiceError> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
    let day = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
    };
    if let Some(p) = get("period") {
        let (y, q) = p
            .split_once('Q')
            .ok_or_else(|| bad(format!("period '{p}' must look like 2026Q3.")))?;
        let (y, q): (i32, u32) = (
            y.parse()
                .map_err(|_| bad(format!("period '{p}': bad year.")))?,
            q.parse()
                .map_err(|_| bad(format!("period '{p}': bad quarter.")))?,
        );
        let first = NaiveDate::from_ymd_opt(y, 3 * q.clamp(1, 4) - 2, 1)
            .filter(|_| (1..=4).contains(&q))
            .ok_or_else(|| bad(format!("period '{p}': quarter must be 1-4.")))?;
        let next = if q == 4 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 3, 1)
        };
        return Ok((day(first), day(next.unwrap_or(first))));
    }
    let date = |k: &str| -> Result<NaiveDate, ServiceError> {
        let v = get(k).ok_or_else(|| {
            bad("Give period=YYYYQn, or periodStart and periodEnd (YYYY-MM-DD).".into())
        })?;
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| bad(format!("{k} '{v}' is not a date (YYYY-MM-DD).")))
    };
    Ok((
        day(date("periodStart")?),
        day(date("periodEnd")?.succ_opt().unwrap_or_default()),
    ))
}
