//! `GET Organization/{id}/$referrals?period=2026Q3` (or `periodStart` /
//! `periodEnd`): building blocks 7 and 8 for a practice — positive screens
//! connected to a partner, two-way exchange within 7 days, days to first
//! visit, referrals past the agreed days — with each referral's timeline
//! (`rules::referral::numbers`) and the patients behind every figure.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::fhir::datetime::{format_instant_ms, parse_range};
use crate::rules::referral::TASK_CODE_CS;
use crate::rules::referral::numbers::{Numbers, Referral, Timeline, numbers, timeline};
use crate::rules::referral::workflow::OPEN;
use crate::service::referrals::REFERRAL_TOPIC;
use crate::service::report::ratio;
use crate::service::screening::{DERIVED_TAG, INSTRUMENT_TAG};
use crate::service::{FhirService, ServiceError};
use crate::store::outbox::OutboxState;
use crate::store::{AccessContext, HistoryQuery, HistoryScope};

/// Instruments whose positive results are behavioral-health needs.
const BH_INSTRUMENTS: [&str; 7] = [
    "phq-2", "phq-9", "gad-7", "epds", "audit-c", "audit", "dast-10",
];

impl FhirService {
    pub async fn referrals_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let (start, end) = self.report_scope(ctx, org, pairs)?;
        let (n, referrals) = self.referral_numbers(ctx, start, end).await?;
        let mut params = vec![
            ratio("positive-screens-connected", &n.connected),
            ratio("two-way-exchange-within-7-days", &n.two_way_7d),
        ];
        if let Some(d) = n.median_days_to_first_visit {
            params.push(json!({ "name": "median-days-to-first-visit", "valueDecimal": (d * 10.0).round() / 10.0 }));
        }
        let mut late = vec![json!({ "name": "count", "valueInteger": n.past_agreed.len() })];
        for (id, p) in &n.past_agreed {
            late.push(json!({ "name": "referral", "valueReference": { "reference": format!("Task/{id}") } }));
            late.push(json!({ "name": "patient", "valueReference": { "reference": p } }));
        }
        params.push(json!({ "name": "open-past-agreed-days", "part": late }));
        let made_in = |r: &&Referral| r.t.made_ms.is_some_and(|m| m >= start && m < end);
        params.extend(referrals.iter().filter(made_in).map(describe));
        Ok(json!({ "resourceType": "Parameters", "parameter": params }))
    }

    /// Building blocks 7 and 8 for `[start, end)`, with every referral's timeline.
    pub(crate) async fn referral_numbers(
        &self,
        ctx: &AccessContext,
        start: i64,
        end: i64,
    ) -> Result<(Numbers, Vec<Referral>), ServiceError> {
        let screens = self.positive_screens(ctx).await?;
        let referrals = self.referral_timelines(ctx).await?;
        let n = numbers(&screens, &referrals, start, end, self.clock.now_ms());
        Ok((n, referrals))
    }

    async fn positive_screens(
        &self,
        ctx: &AccessContext,
    ) -> Result<Vec<(String, i64)>, ServiceError> {
        let tags = BH_INSTRUMENTS
            .map(|i| format!("{INSTRUMENT_TAG}|{i}"))
            .join(",");
        let screen = |o: Value| {
            let derived = o["meta"]["tag"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["system"] == DERIVED_TAG));
            if !derived || o["interpretation"][0]["coding"][0]["code"] != "POS" {
                return None;
            }
            let at = o["effectiveDateTime"]
                .as_str()
                .or(o["effectivePeriod"]["start"].as_str())?;
            Some((
                o["subject"]["reference"].as_str()?.to_string(),
                parse_range(at)?.start,
            ))
        };
        self.find_map(ctx, "Observation", &[("_tag", tags)], screen)
            .await
    }

    async fn referral_timelines(&self, ctx: &AccessContext) -> Result<Vec<Referral>, ServiceError> {
        let tasks = self
            .find_values(ctx, "Task", &[("code", format!("{TASK_CODE_CS}|fulfill"))])
            .await?;
        let pushed: HashMap<String, i64> = self
            .store
            .outbox_list(&ctx.tenant, OutboxState::Delivered, 1_000_000)
            .await?
            .into_iter()
            .filter(|m| m.topic == REFERRAL_TOPIC)
            .filter_map(|m| Some((m.key, m.delivered_ms?)))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let id = t["id"].as_str().unwrap_or_default().to_string();
            let q = HistoryQuery {
                scope: HistoryScope::Instance("Task".into(), id.clone()),
                since_ms: None,
                count: 1000,
                before_seq: None,
            };
            let mut versions: Vec<(i64, Value)> = self
                .store
                .history(ctx, q)
                .await?
                .entries
                .into_iter()
                .filter(|v| !v.deleted)
                .filter_map(|v| Some((v.last_updated_ms, serde_json::from_str(&v.body).ok()?)))
                .collect();
            versions.sort_by_key(|(at, _)| *at);
            out.push(Referral {
                patient: t["for"]["reference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                open: t["status"].as_str().is_some_and(|s| OPEN.contains(&s)),
                due_ms: t["restriction"]["period"]["end"]
                    .as_str()
                    .and_then(parse_range)
                    .map(|r| r.start),
                t: timeline(&versions, pushed.get(&id).copied()),
                id,
            });
        }
        Ok(out)
    }
}

/// One referral and its timeline.
fn describe(r: &Referral) -> Value {
    let Timeline {
        made_ms,
        delivered_ms,
        accepted_ms,
        scheduled_ms,
        first_visit_ms,
        plan_ms,
        summary_ms,
    } = &r.t;
    let mut part = vec![
        json!({ "name": "task", "valueReference": { "reference": format!("Task/{}", r.id) } }),
        json!({ "name": "patient", "valueReference": { "reference": r.patient } }),
    ];
    for (name, at) in [
        ("made", made_ms),
        ("package-delivered", delivered_ms),
        ("accepted", accepted_ms),
        ("first-visit-scheduled", scheduled_ms),
        ("first-visit", first_visit_ms),
        ("plan-received", plan_ms),
        ("summary-received", summary_ms),
    ] {
        if let Some(ms) = at {
            part.push(json!({ "name": name, "valueDateTime": format_instant_ms(*ms) }));
        }
    }
    json!({ "name": "referral", "part": part })
}
