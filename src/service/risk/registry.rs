//! What the kept evidence says, for the milestones and the high-risk BH
//! registry: each patient's tier in force today (the care team's override
//! where one holds, else the last pass's RiskAssessment) and BH registry
//! reasons; BB6.Y2.2 (high-risk patients with an active care plan that has
//! goals, beyond the screening BH plan) and BB10.Y2.2 (high-risk BH patients whose outreach is done);
//! `GET Organization/{id}/$bh-registry` lists those patients with their
//! reasons and outreach status.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::assess::BH_EXT;
use super::careplan::OUTREACH_TAG;
use crate::measure::milestone::standing::Finding;
use crate::measure::record::as_list;
use crate::rules::risk::overrides::{self, is_derived};
use crate::service::screening::DERIVED_TAG;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// One patient's kept stratum.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept {
    pub tier: String,
    pub bh: Vec<String>,
}

impl FhirService {
    /// Each patient's kept stratum (`Patient/…`), overrides applied today.
    pub(crate) async fn kept_strata(
        &self,
        ctx: &AccessContext,
    ) -> Result<HashMap<String, Kept>, ServiceError> {
        let all = self
            .find_map(ctx, "RiskAssessment", &[], |v| {
                Some((v["subject"]["reference"].as_str()?.to_string(), v))
            })
            .await?;
        let method = &self.settings.risk;
        let today = self.today();
        let mut own: HashMap<String, Vec<Value>> = HashMap::new();
        let mut kept: HashMap<String, Kept> = HashMap::new();
        for (patient, ra) in all {
            if !is_derived(&ra) {
                own.entry(patient).or_default().push(ra);
                continue;
            }
            let tier = ra["prediction"][0]["qualitativeRisk"]["coding"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let bh = as_list(&ra["extension"])
                .filter(|e| e["url"] == BH_EXT)
                .filter_map(|e| e["valueCode"].as_str().map(str::to_string))
                .collect();
            kept.insert(patient, Kept { tier, bh });
        }
        for (patient, ras) in own {
            if let Some(o) = overrides::in_force(&ras, method, today) {
                kept.entry(patient).or_default().tier = o.tier;
            }
        }
        Ok(kept)
    }

    /// Outreach Tasks by patient: (Task id, status).
    async fn outreach(
        &self,
        ctx: &AccessContext,
    ) -> Result<HashMap<String, (String, String)>, ServiceError> {
        let found = self
            .find_map(
                ctx,
                "Task",
                &[("_tag", format!("{DERIVED_TAG}|{OUTREACH_TAG}"))],
                |t| {
                    Some((
                        t["for"]["reference"].as_str()?.to_string(),
                        (
                            t["id"].as_str()?.to_string(),
                            t["status"].as_str()?.to_string(),
                        ),
                    ))
                },
            )
            .await?;
        Ok(found.into_iter().collect())
    }

    /// BB6.Y2.2: empaneled high-risk patients with an active CarePlan that
    /// has goals — Tandem's high-risk plan or the practice's own — other
    /// than the screening capability's BH plan.
    pub(crate) async fn high_risk_planned(
        &self,
        ctx: &AccessContext,
        empaneled: &[String],
        kept: &HashMap<String, Kept>,
    ) -> Result<Finding, ServiceError> {
        let method = &self.settings.risk;
        let planned: HashSet<String> = self
            .find_map(ctx, "CarePlan", &[("status", "active".into())], |p| {
                // Tandem's screening plan follows screens alone: not a
                // high-risk plan, though it has goals.
                let screening = as_list(&p["meta"]["tag"]).any(|t| t["code"] == "bh-careplan");
                let has_goals = as_list(&p["goal"]).next().is_some();
                (has_goals && !screening)
                    .then(|| p["subject"]["reference"].as_str().map(str::to_string))?
            })
            .await?
            .into_iter()
            .collect();
        let denominator: Vec<String> = empaneled
            .iter()
            .filter(|p| kept.get(*p).is_some_and(|k| method.is_high(&k.tier)))
            .cloned()
            .collect();
        Ok(Finding::Ratio {
            numerator: denominator
                .iter()
                .filter(|p| planned.contains(*p))
                .cloned()
                .collect(),
            denominator,
            also: None,
        })
    }

    /// BB10.Y2.2: empaneled patients on the high-risk BH registry whose
    /// outreach Task is completed.
    pub(crate) async fn bh_outreach_done(
        &self,
        ctx: &AccessContext,
        empaneled: &[String],
        kept: &HashMap<String, Kept>,
    ) -> Result<Finding, ServiceError> {
        let outreach = self.outreach(ctx).await?;
        let denominator: Vec<String> = empaneled
            .iter()
            .filter(|p| kept.get(*p).is_some_and(|k| !k.bh.is_empty()))
            .cloned()
            .collect();
        Ok(Finding::Ratio {
            numerator: denominator
                .iter()
                .filter(|p| outreach.get(*p).is_some_and(|(_, s)| s == "completed"))
                .cloned()
                .collect(),
            denominator,
            also: None,
        })
    }

    /// `GET Organization/{id}/$bh-registry`: the high-risk BH patients with
    /// why and their outreach status (the practice's users), or the counts
    /// (its program staff and facilitator).
    pub async fn bh_registry(&self, ctx: &AccessContext, org: &str) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "high-risk BH registry")?;
        let kept = self.kept_strata(ctx).await?;
        let outreach = self.outreach(ctx).await?;
        let mut members: Vec<(&String, &Kept)> =
            kept.iter().filter(|(_, k)| !k.bh.is_empty()).collect();
        members.sort_by(|a, b| a.0.cmp(b.0));
        let done = members
            .iter()
            .filter(|(p, _)| outreach.get(*p).is_some_and(|(_, s)| s == "completed"))
            .count();
        let mut parameter = vec![
            json!({ "name": "count", "valueInteger": members.len() }),
            json!({ "name": "outreachCompleted", "valueInteger": done }),
        ];
        if !numbers_only {
            parameter.extend(members.into_iter().map(|(p, k)| {
                let mut part = vec![
                    json!({ "name": "patient", "valueReference": { "reference": p } }),
                    json!({ "name": "tier", "valueCode": k.tier }),
                ];
                part.extend(k.bh.iter().map(|r| json!({ "name": "reason", "valueCode": r })));
                match outreach.get(p) {
                    Some((id, status)) => {
                        part.push(json!({ "name": "outreach", "valueReference": { "reference": format!("Task/{id}") } }));
                        part.push(json!({ "name": "outreachStatus", "valueCode": status }));
                    }
                    None => part.push(json!({ "name": "outreachStatus", "valueCode": "none" })),
                }
                json!({ "name": "member", "part": part })
            }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }
}
