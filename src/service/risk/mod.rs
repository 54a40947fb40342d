//! Risk stratification over the store: `GET Organization/{id}/$risk-registry`
//! stratifies every patient of the practice on a day under the configured
//! method (`[risk]`, `rules::risk`) in one pass over their records, and
//! lists them by tier with what drove each score; `assess` keeps each
//! patient's stratum as a RiskAssessment with its history.

mod assess;
mod careplan;
mod hook;
mod registry;

pub use assess::Passes;
pub use hook::RiskHook;
pub(crate) use registry::Kept;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::fhir::outcome::Issue;
use crate::measure::record::Record;
use crate::rules::risk::{RiskFacts, Stratum, overrides};
use crate::service::population::{Reading, fold_records};
use crate::service::report::param;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// What the method reads besides the Patient (RiskAssessment: the care
/// team's overrides).
const TYPES: [&str; 6] = [
    "Condition",
    "Observation",
    "Encounter",
    "Flag",
    "MedicationRequest",
    "RiskAssessment",
];

/// What a pass reads of the patients (`only` these ids, or all).
fn reading(only: Option<Vec<String>>) -> Reading {
    Reading::of(&TYPES)
        .keeping(crate::rules::risk::reads::reads)
        .only(only)
        .side_by_side()
}

/// A patient's stratum on `on`, with the care team's override applied
/// where one holds.
fn stratum(record: &Record, on: NaiveDate, method: &crate::rules::risk::Method) -> Stratum {
    let facts = RiskFacts::of(record, on, method);
    let held = overrides::in_force(record.all("RiskAssessment"), method, on);
    method.score(&facts).with_override(held)
}

impl FhirService {
    /// Every patient's stratum on `on`, by `Patient/{id}`, with the care
    /// team's override applied where one holds.
    pub(crate) async fn stratify(
        &self,
        ctx: &AccessContext,
        on: NaiveDate,
    ) -> Result<BTreeMap<String, Stratum>, ServiceError> {
        let method = self.settings.risk.clone();
        let strata = fold_records(
            &self.store,
            ctx,
            reading(None),
            BTreeMap::new(),
            move |out: &mut BTreeMap<String, Stratum>, record| {
                let s = stratum(&record, on, &method);
                out.insert(format!("Patient/{}", record.id()), s);
            },
            |_, _| {},
        )
        .await?;
        Ok(strata)
    }

    /// `GET Organization/{id}/$risk-registry?date=YYYY-MM-DD`: the patients
    /// by tier with their points and drivers (the practice's users), or the
    /// count per tier (its program staff and facilitator).
    pub async fn risk_registry(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "risk registry")?;
        let on = match param(pairs, "date") {
            None => self.today(),
            Some(d) => d.parse::<NaiveDate>().map_err(|_| {
                ServiceError::bad(Issue::error(
                    "invalid",
                    format!("date '{d}' is not a date: write YYYY-MM-DD."),
                ))
            })?,
        };
        let strata = self.stratify(ctx, on).await?;
        let mut parameter = vec![json!({ "name": "date", "valueDate": on.to_string() })];
        for tier in &self.settings.risk.tiers {
            let members: Vec<(&String, &Stratum)> =
                strata.iter().filter(|(_, s)| s.tier == tier.code).collect();
            let mut part = vec![
                json!({ "name": "code", "valueCode": tier.code }),
                json!({ "name": "display", "valueString": tier.display }),
                json!({ "name": "high", "valueBoolean": self.settings.risk.is_high(&tier.code) }),
                json!({ "name": "count", "valueInteger": members.len() }),
            ];
            if !numbers_only {
                part.extend(
                    members
                        .into_iter()
                        .map(|(p, s)| patient_part(p, s, &self.settings.risk)),
                );
            }
            parameter.push(json!({ "name": "tier", "part": part }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }
}

impl FhirService {
    /// The patients (ids) whose records the method reads, or whose plan's
    /// parts, were written after `after` (a point in the store's write
    /// order), and the point to ask from next time; `None` gives only that.
    pub(crate) async fn touched_patients(
        &self,
        ctx: &AccessContext,
        after: Option<i64>,
    ) -> Result<crate::store::Written, ServiceError> {
        let types = TYPES
            .iter()
            .chain(&["Goal", "CareTeam"])
            .map(|t| t.to_string())
            .collect();
        Ok(self.store.patients_written(ctx, types, after).await?)
    }
}

fn patient_part(patient: &str, s: &Stratum, method: &crate::rules::risk::Method) -> Value {
    let mut part = vec![
        json!({ "name": "patient", "valueReference": { "reference": patient } }),
        json!({ "name": "points", "valueInteger": s.points }),
        json!({ "name": "computed", "valueCode": s.computed(method).code }),
    ];
    if let Some(o) = &s.overridden {
        part.push(json!({ "name": "override", "part": [
            { "name": "assessment", "valueReference": { "reference": o.reference } },
            { "name": "tier", "valueCode": o.tier },
            { "name": "until", "valueDate": o.until.to_string() },
            { "name": "performer", "valueReference": { "reference": o.performer } },
            { "name": "reason", "valueString": o.reason },
        ] }));
    }
    part.extend(s.drivers.iter().map(|d| {
        let mut driver = vec![
            json!({ "name": "code", "valueCode": d.code }),
            json!({ "name": "points", "valueInteger": d.points }),
        ];
        driver.extend(
            d.basis
                .iter()
                .map(|b| json!({ "name": "basis", "valueReference": { "reference": b } })),
        );
        json!({ "name": "driver", "part": driver })
    }));
    json!({ "name": "member", "part": part })
}
