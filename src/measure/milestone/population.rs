//! The patient-level milestones, from each patient's record: who is active,
//! empaneled, seen at screening age, and screened for behavioral health in a
//! period. Pure: a record, the period and the practice's clinicians go in,
//! facts come out; [`Tally`] turns a practice's facts into numerators and
//! denominators with the patients behind them. Definitions: docs/milestones.md.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};
use serde_json::Value;

use super::continuity::{Continuity, Staff, months_seen, pcps};
use crate::fhir::datetime::date_written;
use crate::measure::record::{Record, as_list};
use crate::measure::time::years_between;

/// Encounter classes (v3 ActCode) that are visits: office, telephone and
/// video (virtual), home.
pub const VISIT_CLASSES: [&str; 3] = ["AMB", "VR", "HH"];
/// Tandem's screening-result component codes (domain, completion).
const RESULT_CS: &str = "http://tandem.health/fhir/CodeSystem/screening-result";
const INSTRUMENT_TAG: &str = "http://tandem.health/fhir/CodeSystem/instrument";

/// The behavioral-health screening domains, each with who is of age for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AgeBand {
    /// Depression, anxiety, alcohol, drug use: 12 years and older.
    TwelvePlus,
    /// Maternal depression, screened at the infant's visits: under 6 months.
    Infant,
    /// Developmental screening: under 3 years.
    UnderThree,
}

/// The band a screening domain is for; `None` for non-BH domains.
pub fn band_of(domain: &str) -> Option<AgeBand> {
    match domain {
        "depression" | "anxiety" | "alcohol" | "drug" => Some(AgeBand::TwelvePlus),
        "maternal-depression" => Some(AgeBand::Infant),
        "development" => Some(AgeBand::UnderThree),
        _ => None,
    }
}

/// A reporting period, both ends inclusive (dates as the data writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Active patients have a visit from this day to `last`.
    pub active_from: NaiveDate,
}

impl Window {
    pub fn new(first: NaiveDate, last: NaiveDate, lookback_months: u32) -> Window {
        let after = last.succ_opt().unwrap_or(last);
        let active_from = after
            .checked_sub_months(Months::new(lookback_months))
            .unwrap_or(NaiveDate::MIN);
        Window {
            first,
            last,
            active_from,
        }
    }

    fn has(&self, d: NaiveDate) -> bool {
        self.first <= d && d <= self.last
    }
}

/// What one patient contributes to the practice's milestones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub patient: String,
    pub active: bool,
    pub empaneled: bool,
    /// Age bands the patient was in at a visit in the period.
    pub seen: BTreeSet<AgeBand>,
    /// BH instruments (Tandem's instrument keys) with a completed result in
    /// the period, and their domains.
    pub screened: BTreeSet<(String, String)>,
    /// A positive BH screening result in the period.
    pub positive: bool,
    /// A behavioral-health CarePlan (active or completed, started by the
    /// period's end) with an activity the patient performs.
    pub planned: bool,
    /// An elevated PHQ-9 or GAD-7 (10 or more) in the 12 months ending with
    /// the period (BB10.Y2.1's denominator)…
    pub elevated: bool,
    /// …followed by the same instrument again at least 28 days later, by
    /// the period's end (the outcome is tracked).
    pub followed: bool,
    /// The PCPs in the practice (clinicians), and each month of the period
    /// the patient was seen with the clinicians who saw them (continuity).
    pub pcps: BTreeSet<String>,
    pub months: BTreeMap<String, BTreeSet<String>>,
}

/// Instruments whose repeat tracks a behavioral-health outcome, and the
/// total from which a result is elevated.
const OUTCOME_INSTRUMENTS: [&str; 2] = ["phq-9", "gad-7"];
const ELEVATED: f64 = 10.0;

/// BB10.Y2.1 for one patient: (elevated, followed).
fn outcome_tracking(screens: &[Screen], w: &Window) -> (bool, bool) {
    let from = w.last.succ_opt().unwrap_or(w.last) - Months::new(12);
    let mut elevated = false;
    for instrument in OUTCOME_INSTRUMENTS {
        let mut results: Vec<(NaiveDate, Option<f64>)> = screens
            .iter()
            .filter(|s| s.instrument == instrument && s.day <= w.last)
            .map(|s| (s.day, s.total))
            .collect();
        results.sort_by_key(|(d, _)| *d);
        let Some((index, _)) = results
            .iter()
            .find(|(d, v)| *d >= from && v.is_some_and(|v| v >= ELEVATED))
        else {
            continue;
        };
        elevated = true;
        if results
            .iter()
            .any(|(d, _)| *d >= *index + chrono::Days::new(28))
        {
            return (true, true);
        }
    }
    (elevated, false)
}

fn visit_day(e: &Value) -> Option<NaiveDate> {
    let class = e["class"]["code"].as_str()?;
    if e["status"] != "finished" || !VISIT_CLASSES.contains(&class) {
        return None;
    }
    date_written(
        e["period"]["start"]
            .as_str()
            .or(e["period"]["end"].as_str())?,
    )
}

/// Whether the patient has a PCP or care team in the practice: a
/// `generalPractitioner` naming one of its clinicians, or an active CareTeam
/// with such a clinician in a PCP role.
pub fn empaneled(record: &Record, staff: &Staff) -> bool {
    !pcps(record, staff).is_empty()
}

/// A behavioral-health CarePlan with a patient action: category code
/// `behavioral-health`, an activity whose `detail.performer` is the patient,
/// active or completed, started by `last`.
fn bh_plan_with_action(plan: &Value, patient: &str, last: NaiveDate) -> bool {
    let bh = as_list(&plan["category"])
        .any(|c| as_list(&c["coding"]).any(|k| k["code"] == "behavioral-health"));
    let action = as_list(&plan["activity"])
        .any(|a| as_list(&a["detail"]["performer"]).any(|p| p["reference"] == patient));
    let started = plan["period"]["start"]
        .as_str()
        .and_then(date_written)
        .is_none_or(|d| d <= last);
    bh && action && started && (plan["status"] == "active" || plan["status"] == "completed")
}

/// A completed behavioral-health screening result (Tandem's derived result).
struct Screen {
    instrument: String,
    domain: String,
    day: NaiveDate,
    positive: bool,
    total: Option<f64>,
}

/// Whether the milestone facts read this resource, from its stored text
/// (`service::population::Reading::keeping`): of Observations only Tandem's
/// screening results (tagged with their instrument — what
/// [`completed_screen`] requires), every resource of other types; a text
/// the partial parse cannot read is kept for the full parse to decide.
pub fn reads(resource_type: &str, json: &str) -> bool {
    resource_type != "Observation"
        || serde_json::from_str::<crate::fhir::partial::Tagged>(json)
            .map_or(true, |o| o.has_tag(INSTRUMENT_TAG, None))
}

/// The Observation as a completed behavioral-health screening result.
fn completed_screen(o: &Value) -> Option<Screen> {
    let instrument = o["meta"]["tag"]
        .as_array()?
        .iter()
        .find(|t| t["system"] == INSTRUMENT_TAG)?["code"]
        .as_str()?;
    let component = |code: &str| {
        as_list(&o["component"])
            .find(|c| {
                let k = &c["code"]["coding"][0];
                k["system"] == RESULT_CS && k["code"] == code
            })
            .and_then(|c| c["valueCodeableConcept"]["coding"][0]["code"].as_str())
    };
    if component("completion") != Some("complete") || o["status"] == "entered-in-error" {
        return None;
    }
    let domain = component("domain").filter(|d| band_of(d).is_some())?;
    let at = o["effectiveDateTime"]
        .as_str()
        .or(o["effectivePeriod"]["start"].as_str())?;
    Some(Screen {
        instrument: instrument.to_string(),
        domain: domain.to_string(),
        day: date_written(at)?,
        positive: o["interpretation"][0]["coding"][0]["code"] == "POS",
        total: o["valueQuantity"]["value"].as_f64(),
    })
}

/// One patient's facts for a period.
pub fn facts(record: &Record, w: &Window, staff: &Staff) -> Facts {
    let birth = record.birth_date();
    let visits: Vec<NaiveDate> = record
        .all("Encounter")
        .iter()
        .filter_map(visit_day)
        .collect();
    let mut seen = BTreeSet::new();
    for d in visits.iter().filter(|d| w.has(**d)) {
        let Some(b) = birth.filter(|b| b <= d) else {
            continue;
        };
        if years_between(b, *d) >= 12 {
            seen.insert(AgeBand::TwelvePlus);
        }
        if years_between(b, *d) < 3 {
            seen.insert(AgeBand::UnderThree);
        }
        if b.checked_add_months(Months::new(6)).is_some_and(|m| *d < m) {
            seen.insert(AgeBand::Infant);
        }
    }
    let patient = format!("Patient/{}", record.id());
    let screens: Vec<Screen> = record
        .all("Observation")
        .iter()
        .filter_map(completed_screen)
        .collect();
    let positive = screens.iter().any(|s| s.positive && w.has(s.day));
    let planned = record
        .all("CarePlan")
        .iter()
        .any(|p| bh_plan_with_action(p, &patient, w.last));
    let (elevated, followed) = outcome_tracking(&screens, w);
    let pcps = pcps(record, staff);
    Facts {
        empaneled: !pcps.is_empty(),
        months: months_seen(record, staff, visit_day, (w.first, w.last)),
        pcps,
        positive,
        planned,
        elevated,
        followed,
        patient,
        active: visits.iter().any(|d| w.active_from <= *d && *d <= w.last),
        seen,
        screened: screens
            .into_iter()
            .filter(|s| w.has(s.day))
            .map(|s| (s.instrument, s.domain))
            .collect(),
    }
}

/// A practice's facts added up.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub active: Vec<String>,
    pub empaneled: Vec<String>,
    /// Patients with a positive BH screen in the period, and of them those
    /// with a BH care plan holding a patient action (BB10.Y1.3).
    pub positive: Vec<String>,
    pub planned: Vec<String>,
    /// BB10.Y2.1: patients with an elevated PHQ-9/GAD-7, and of them those
    /// whose outcome was measured again.
    pub elevated: Vec<String>,
    pub followed: Vec<String>,
    /// Patients seen in the period, with their age bands and whether screened.
    seen: Vec<(String, BTreeSet<AgeBand>, bool)>,
    /// Instruments and domains with a completed result in the period.
    pub instruments: BTreeSet<String>,
    domains: BTreeSet<String>,
    /// Panel continuity month by month (BB3.Y2.2).
    pub continuity: Continuity,
}

impl Tally {
    pub fn add(&mut self, f: Facts) {
        self.continuity.add(&f.patient, &f.pcps, &f.months);
        if f.elevated {
            self.elevated.push(f.patient.clone());
            if f.followed {
                self.followed.push(f.patient.clone());
            }
        }
        if f.positive {
            self.positive.push(f.patient.clone());
            if f.planned {
                self.planned.push(f.patient.clone());
            }
        }
        if f.active {
            self.active.push(f.patient.clone());
            if f.empaneled {
                self.empaneled.push(f.patient.clone());
            }
        }
        for (i, d) in &f.screened {
            self.instruments.insert(i.clone());
            self.domains.insert(d.clone());
        }
        if !f.seen.is_empty() {
            self.seen.push((f.patient, f.seen, !f.screened.is_empty()));
        }
    }

    /// The screening rate: patients seen in the period at an age some
    /// instrument in use screens for (denominator), and of them those with a
    /// completed BH screening result in the period (numerator).
    pub fn screening(&self) -> (Vec<String>, Vec<String>) {
        let bands: BTreeSet<AgeBand> = self.domains.iter().filter_map(|d| band_of(d)).collect();
        let eligible: Vec<&(String, BTreeSet<AgeBand>, bool)> = self
            .seen
            .iter()
            .filter(|(_, s, _)| !s.is_disjoint(&bands))
            .collect();
        let numerator = eligible
            .iter()
            .filter(|(_, _, screened)| *screened)
            .map(|(p, _, _)| p.clone())
            .collect();
        (
            eligible.into_iter().map(|(p, _, _)| p.clone()).collect(),
            numerator,
        )
    }
}
