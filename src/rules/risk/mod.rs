//! Risk stratification (building block 6): the documented, configurable
//! method (`[risk]`) and the score it gives one patient's facts. Points
//! come from chronic conditions by kind, serious mental illness, substance
//! use disorder, the latest PHQ-9 and GAD-7 totals, ED visits, inpatient
//! stays and readmissions in the look-back, active medications
//! (polypharmacy), age, and positive social-needs screens; the total falls
//! in one of the configured tiers. Every point names its driver and the
//! resources behind it, so a care team can see why. Pure: `facts` reads a
//! patient's record, the service stores the result. The defaults follow
//! common primary-care practice (a simplified hierarchical-condition and
//! utilization count); a program replaces them in configuration.

pub mod facts;
pub mod overrides;
pub mod plan;
pub mod reads;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use facts::{CONDITION_KINDS, RiskFacts};
pub use overrides::{Override, TIER_CS};

/// `points` from `from` upward (a band of a graded driver).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub from: f64,
    pub points: u32,
}

/// A tier: its code (e.g. `high`), what people read, and the fewest points
/// that reach it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub code: String,
    pub display: String,
    pub min_points: u32,
}

/// `[risk]`: the method.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Method {
    /// Points per chronic condition kind present (`CONDITION_KINDS`).
    pub conditions: BTreeMap<String, u32>,
    pub serious_mental_illness: u32,
    pub substance_use: u32,
    /// Graded by the latest total in the look-back (the highest of several
    /// that day); the highest band reached counts.
    pub phq9: Vec<Band>,
    pub gad7: Vec<Band>,
    /// Points per ED visit and per inpatient stay in the look-back, each up
    /// to a cap of visits counted, and per 30-day readmission.
    pub ed_visit: u32,
    pub ed_visits_max: u32,
    pub inpatient_stay: u32,
    pub inpatient_stays_max: u32,
    pub readmission: u32,
    /// Graded by the number of distinct active medications.
    pub polypharmacy: Vec<Band>,
    /// Graded by age in years.
    pub age: Vec<Band>,
    /// A positive social-needs screen in the look-back.
    pub social_need: u32,
    /// Months of utilization and results the method reads.
    pub lookback_months: u32,
    /// Tiers from lowest; the first starts at 0 points.
    pub tiers: Vec<Tier>,
    /// The tiers that make a patient high risk (care plans, BB6.Y2.2).
    pub high_tiers: Vec<String>,
    /// The HbA1c goal (%) of a high-risk patient with diabetes: below it.
    pub hba1c_target: f64,
    /// Days an inpatient stay for a mental-health or substance-use
    /// reason counts as recent for the high-risk BH registry (BB10.Y2.2).
    pub bh_admission_days: u32,
    /// Seconds between passes that re-stratify every practice and keep the
    /// changed strata as RiskAssessments (0: only on demand).
    pub restratify_secs: u64,
}

fn band(from: f64, points: u32) -> Band {
    Band { from, points }
}

impl Default for Method {
    fn default() -> Self {
        let tier = |code: &str, display: &str, min_points| Tier {
            code: code.into(),
            display: display.into(),
            min_points,
        };
        Method {
            conditions: [
                ("diabetes", 2),
                ("hypertension", 1),
                ("asthma-copd", 1),
                ("heart-failure", 3),
                ("ckd", 2),
            ]
            .into_iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect(),
            serious_mental_illness: 3,
            substance_use: 3,
            phq9: vec![band(10.0, 1), band(15.0, 2), band(20.0, 3)],
            gad7: vec![band(10.0, 1), band(15.0, 2)],
            ed_visit: 1,
            ed_visits_max: 3,
            inpatient_stay: 2,
            inpatient_stays_max: 2,
            readmission: 2,
            polypharmacy: vec![band(5.0, 1), band(10.0, 2)],
            age: vec![band(65.0, 1), band(75.0, 2)],
            social_need: 1,
            lookback_months: 12,
            tiers: vec![
                tier("low", "Low", 0),
                tier("rising", "Rising risk", 2),
                tier("high", "High", 4),
                tier("complex", "Complex", 7),
            ],
            high_tiers: vec!["high".into(), "complex".into()],
            hba1c_target: 8.0,
            bh_admission_days: 90,
            restratify_secs: 3600,
        }
    }
}

/// One driver of a score: what scored, its points, and the resources
/// (`Type/id`) behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    pub code: String,
    pub points: u32,
    pub basis: Vec<String>,
}

/// A patient's stratum under the method.
#[derive(Debug, Clone, PartialEq)]
pub struct Stratum {
    pub points: u32,
    /// The tier in force: an override's while one holds, else the computed one.
    pub tier: String,
    pub drivers: Vec<Driver>,
    /// The care team's override holding on the day, if any.
    pub overridden: Option<Override>,
    /// The chronic condition kinds present (a high-risk plan's physical goals).
    pub kinds: Vec<String>,
    /// Why the patient is on the high-risk BH registry (empty: not on it).
    pub bh: Vec<String>,
    /// The sensitivity labels of the resources that scored, which a record
    /// derived from them carries too.
    pub security: Vec<serde_json::Value>,
}

impl Stratum {
    /// The tier the points alone reach.
    pub fn computed<'m>(&self, method: &'m Method) -> &'m Tier {
        method.tier_of(self.points)
    }

    /// Applies the override holding (if any): it wins over the points.
    pub fn with_override(mut self, o: Option<Override>) -> Stratum {
        if let Some(o) = &o {
            self.tier = o.tier.clone();
        }
        self.overridden = o;
        self
    }
}

/// The points of the highest band `value` reaches (0 below every band).
fn graded(bands: &[Band], value: f64) -> u32 {
    bands
        .iter()
        .filter(|b| value >= b.from)
        .map(|b| b.points)
        .max()
        .unwrap_or(0)
}

impl Method {
    /// Start-up check; the error names the key.
    pub fn check(&self) -> Result<(), String> {
        let bad =
            |key: &str, why: &str| Err(format!("invalid configuration: key 'risk.{key}': {why}"));
        if self.tiers.first().is_none_or(|t| t.min_points != 0) {
            return bad("tiers", "the first tier must start at min_points = 0");
        }
        if self
            .tiers
            .windows(2)
            .any(|w| w[1].min_points <= w[0].min_points)
        {
            return bad("tiers", "min_points must increase from tier to tier");
        }
        let mut codes: Vec<&str> = self.tiers.iter().map(|t| t.code.as_str()).collect();
        codes.sort_unstable();
        if codes.windows(2).any(|w| w[0] == w[1])
            || codes.iter().any(|c| !crate::fhir::id::is_valid_id(c))
        {
            return bad(
                "tiers",
                "tier codes must be distinct ids (letters, digits, '-', '.')",
            );
        }
        if let Some(h) = self
            .high_tiers
            .iter()
            .find(|h| !codes.contains(&h.as_str()))
        {
            return bad("high_tiers", &format!("'{h}' is not one of the tiers"));
        }
        if let Some(k) = self
            .conditions
            .keys()
            .find(|k| !CONDITION_KINDS.contains(&k.as_str()))
        {
            return bad(
                "conditions",
                &format!(
                    "'{k}' is not a condition kind Tandem recognizes ({})",
                    CONDITION_KINDS.join(", ")
                ),
            );
        }
        for (key, bands) in [
            ("phq9", &self.phq9),
            ("gad7", &self.gad7),
            ("polypharmacy", &self.polypharmacy),
            ("age", &self.age),
        ] {
            if bands.windows(2).any(|w| w[1].from <= w[0].from)
                || bands.iter().any(|b| !b.from.is_finite())
            {
                return bad(
                    key,
                    "bands must be finite and in increasing order of 'from'",
                );
            }
        }
        if self.lookback_months == 0 {
            return bad("lookback_months", "must be at least 1");
        }
        Ok(())
    }

    /// The tier `points` fall in.
    pub fn tier_of(&self, points: u32) -> &Tier {
        self.tiers
            .iter()
            .rev()
            .find(|t| points >= t.min_points)
            .expect("checked: the first tier starts at 0")
    }

    pub fn is_high(&self, tier: &str) -> bool {
        self.high_tiers.iter().any(|h| h == tier)
    }

    /// Scores one patient's facts.
    pub fn score(&self, f: &RiskFacts) -> Stratum {
        let mut drivers = Vec::new();
        let mut add = |code: &str, points: u32, basis: &[String]| {
            if points > 0 {
                drivers.push(Driver {
                    code: code.to_string(),
                    points,
                    basis: basis.to_vec(),
                });
            }
        };
        for (kind, basis) in &f.conditions {
            add(kind, self.conditions.get(kind).copied().unwrap_or(0), basis);
        }
        if !f.smi.is_empty() {
            add(
                "serious-mental-illness",
                self.serious_mental_illness,
                &f.smi,
            );
        }
        if !f.sud.is_empty() {
            add("substance-use", self.substance_use, &f.sud);
        }
        for (code, bands, latest) in [
            ("phq-9", &self.phq9, &f.phq9),
            ("gad-7", &self.gad7, &f.gad7),
        ] {
            if let Some((total, basis)) = latest {
                add(code, graded(bands, *total), std::slice::from_ref(basis));
            }
        }
        let capped = |n: usize, max: u32| (n as u32).min(max);
        add(
            "ed-visits",
            self.ed_visit * capped(f.ed_visits.len(), self.ed_visits_max),
            &f.ed_visits,
        );
        add(
            "inpatient-stays",
            self.inpatient_stay * capped(f.inpatient_stays.len(), self.inpatient_stays_max),
            &f.inpatient_stays,
        );
        add(
            "readmissions",
            self.readmission * f.readmissions.len() as u32,
            &f.readmissions,
        );
        add(
            "polypharmacy",
            graded(&self.polypharmacy, f.active_meds.len() as f64),
            &f.active_meds,
        );
        if let Some(age) = f.age {
            add("age", graded(&self.age, f64::from(age)), &[]);
        }
        if !f.social_needs.is_empty() {
            add("social-needs", self.social_need, &f.social_needs);
        }
        let points = drivers.iter().map(|d| d.points).sum();
        let scored: Vec<&String> = drivers.iter().flat_map(|d| &d.basis).collect();
        let mut security: Vec<serde_json::Value> = scored
            .iter()
            .filter_map(|b| f.labels.get(*b))
            .flatten()
            .cloned()
            .collect();
        security.sort_by_key(|l| l.to_string());
        security.dedup();
        Stratum {
            points,
            tier: self.tier_of(points).code.clone(),
            drivers,
            overridden: None,
            kinds: f.conditions.keys().cloned().collect(),
            bh: f.bh_reasons(),
            security,
        }
    }
}

#[cfg(test)]
mod tests;
