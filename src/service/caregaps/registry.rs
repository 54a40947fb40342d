//! Reading the care-gap registry back: each episode with the first
//! outreach the care team recorded about it (a Communication `about` it,
//! sent or under way; a Task whose `focus` it is, not cancelled, rejected
//! or entered in error), a period's numbers (BB6.Y2.3), and
//! `GET Organization/{id}/$care-gap-registry`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::fhir::datetime::{date_written, utc_date};
use crate::measure::milestone::standing::Finding;
use crate::measure::record::as_list;
use crate::rules::caregaps::{Episode, Numbers, numbers};
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// The DetectedIssue a Communication or Task is about, and from which day.
fn outreach_of(v: &Value) -> Vec<(String, NaiveDate)> {
    let (refs, status_ok, day): (Vec<&Value>, bool, Option<&str>) = match v["resourceType"].as_str()
    {
        Some("Communication") => (
            as_list(&v["about"]).collect(),
            matches!(v["status"].as_str(), Some("completed" | "in-progress")),
            v["sent"].as_str(),
        ),
        Some("Task") => (
            vec![&v["focus"]],
            !matches!(
                v["status"].as_str(),
                Some("cancelled" | "rejected" | "entered-in-error" | "draft")
            ),
            v["executionPeriod"]["start"]
                .as_str()
                .or(v["authoredOn"].as_str()),
        ),
        _ => return Vec::new(),
    };
    let Some(day) = day
        .or(v["meta"]["lastUpdated"].as_str())
        .and_then(date_written)
        .filter(|_| status_ok)
    else {
        return Vec::new();
    };
    refs.into_iter()
        .filter_map(|r| r["reference"].as_str()?.strip_prefix("DetectedIssue/"))
        .map(|id| (id.to_string(), day))
        .collect()
}

impl FhirService {
    /// Every episode with its first outreach.
    pub(crate) async fn gap_episodes_with_outreach(
        &self,
        ctx: &AccessContext,
    ) -> Result<Vec<Episode>, ServiceError> {
        let mut episodes = self.gap_episodes(ctx).await?;
        let mut first: BTreeMap<String, NaiveDate> = BTreeMap::new();
        for rt in ["Communication", "Task"] {
            for (id, day) in self
                .find_map(ctx, rt, &[], |v| Some(outreach_of(&v)))
                .await?
                .into_iter()
                .flatten()
            {
                let d = first.entry(id).or_insert(day);
                *d = (*d).min(day);
            }
        }
        for e in &mut episodes {
            e.outreach = first.get(&e.id).copied();
        }
        Ok(episodes)
    }

    /// A period's numbers (`[start_ms, end_ms)`).
    async fn gap_numbers(
        &self,
        ctx: &AccessContext,
        (start_ms, end_ms): (i64, i64),
    ) -> Result<(Numbers, Vec<Episode>), ServiceError> {
        let episodes = self.gap_episodes_with_outreach(ctx).await?;
        let n = numbers(&episodes, utc_date(start_ms), utc_date(end_ms - 1));
        Ok((n, episodes))
    }

    /// BB6.Y2.3: gaps closed in the period among those open in it, with
    /// outreach recorded for at least one of them.
    pub(crate) async fn care_gaps_managed(
        &self,
        ctx: &AccessContext,
        span: (i64, i64),
    ) -> Result<Finding, ServiceError> {
        let (n, _) = self.gap_numbers(ctx, span).await?;
        let refs = |ids: &[String]| ids.iter().map(|i| format!("DetectedIssue/{i}")).collect();
        Ok(Finding::Ratio {
            numerator: refs(&n.closed),
            denominator: refs(&n.open),
            also: Some((
                format!(
                    "{} gap(s) opened; outreach recorded for {} open gap(s), {} closed after outreach",
                    n.opened.len(),
                    n.outreached.len(),
                    n.closed_after_outreach.len()
                ),
                !n.outreached.is_empty(),
            )),
        })
    }

    /// `GET Organization/{id}/$care-gap-registry?period=…`: the period's
    /// numbers and (the practice's users) each gap open in it.
    pub async fn care_gap_registry(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "care-gap registry")?;
        let span = crate::service::report::period(pairs)?;
        let (n, episodes) = self.gap_numbers(ctx, span).await?;
        let mut parameter = vec![json!({ "name": "period", "valuePeriod": {
            "start": utc_date(span.0).to_string(), "end": utc_date(span.1 - 1).to_string() } })];
        for (name, ids) in [
            ("open", &n.open),
            ("opened", &n.opened),
            ("closed", &n.closed),
            ("closedAfterOutreach", &n.closed_after_outreach),
            ("outreached", &n.outreached),
        ] {
            parameter.push(json!({ "name": name, "valueInteger": ids.len() }));
        }
        if !numbers_only {
            let by_id = super::by_id(episodes);
            parameter.extend(n.open.iter().filter_map(|id| by_id.get(id)).map(|e| {
                let mut part = vec![
                    json!({ "name": "gap", "valueReference": { "reference": format!("DetectedIssue/{}", e.id) } }),
                    json!({ "name": "patient", "valueReference": { "reference": e.patient } }),
                    json!({ "name": "key", "valueString": e.key }),
                    json!({ "name": "opened", "valueDate": e.opened.to_string() }),
                ];
                if let Some(c) = e.closed {
                    part.push(json!({ "name": "closed", "valueDate": c.to_string() }));
                }
                if let Some(o) = e.outreach {
                    part.push(json!({ "name": "outreach", "valueDate": o.to_string() }));
                }
                json!({ "name": "episode", "part": part })
            }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }
}
