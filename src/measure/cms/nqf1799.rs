//! NQF 1799 Medication Management for People With Asthma (NCQA HEDIS MMA,
//! last specified for measurement year 2019): patients 5–64 with persistent
//! asthma who stayed on a controller medication for at least 50% (group 1)
//! and 75% (group 2) of their treatment period, stratified 5–11, 12–18,
//! 19–50 and 51–64. <https://www.qualityforum.org/QPS/1799>
//!
//! - Persistent asthma, in the period *and* the year before it: an ED visit
//!   or inpatient stay with an asthma diagnosis; or four outpatient visits on
//!   different days with an asthma diagnosis and two dispensing events; or
//!   four dispensing events (when all are leukotriene modifiers or antibody
//!   inhibitors, with an asthma diagnosis that year too).
//! - Dispensing events: a dispensing of up to 30 days is one event, longer
//!   ones count days ÷ 30 (rounded down), as HEDIS counts them.
//! - Exclusions: a COPD, emphysema, chronic bronchitis, chemical respiratory
//!   condition, cystic fibrosis or acute respiratory failure diagnosis on or
//!   before the end of the period; no controller dispensed in the period;
//!   hospice in the period.
//! - Numerator: proportion of days covered (PDC) by controllers from the
//!   first controller dispensed in the period (IPSD) to its end.
//!
//! Decisions for EHR data (HEDIS reads pharmacy claims):
//! - A dispensing is a completed MedicationDispense (`whenHandedOver`, else
//!   `whenPrepared`; `daysSupply` in days). A patient with no
//!   MedicationDispense at all is read from active or completed orders
//!   instead, each covering its CMD `medicationRequestPeriod()`. A dispensing
//!   without a supply covers its own day only.
//! - A drug is a controller or reliever when its code is in Tandem's
//!   RxNorm sets, or its text or display names an ingredient of the HEDIS
//!   lists below — nasal products excepted (fluticasone nasal spray treats
//!   rhinitis). `medicationReference` is not followed.
//! - Coverage counts days covered by fills dispensed within the treatment
//!   period; overlapping fills count each day once.

use crate::measure::attribution::Attribution;
use chrono::{Days, Months, NaiveDate};
use serde_json::Value;

use crate::measure::exclusions::vs::ENCOUNTER_INPATIENT;
use crate::measure::medication::request_period;
use crate::measure::qicore::Ctx;
use crate::measure::record::{any_in_vs, as_list, earliest, in_vs, instant, period, ref_id};
use crate::measure::time::{Iv, Prec};
use crate::measure::{GroupResult, Populations, yes};

const ASTHMA: &str = "tandem-asthma";
const EXCLUDING: &str = "tandem-asthma-exclusions";
const CONTROLLER: &str = "tandem-asthma-controller";
const RELIEVER: &str = "tandem-asthma-reliever";
const ED_VISIT: &str = "2.16.840.1.113883.3.117.1.7.1.292";

/// HEDIS Asthma Controller Medications, by ingredient: these, and the
/// ones in `NEEDS_DIAGNOSIS`.
const CONTROLLERS: &[&str] = &[
    "beclomethasone",
    "budesonide",
    "ciclesonide",
    "flunisolide",
    "fluticasone",
    "mometasone",
    "cromolyn",
    "dyphylline",
    "theophylline",
];
/// Leukotriene modifiers and antibody inhibitors: controllers that need an
/// asthma diagnosis as well when they are all a patient is dispensed.
const NEEDS_DIAGNOSIS: &[&str] = &[
    "montelukast",
    "zafirlukast",
    "zileuton",
    "omalizumab",
    "benralizumab",
    "mepolizumab",
    "reslizumab",
];
/// HEDIS Asthma Reliever Medications (short-acting inhaled beta-2 agonists).
const RELIEVERS: &[&str] = &["albuterol", "levalbuterol"];

/// No qualifying visit: attributed by the practice's panel.
pub const ATTRIBUTION: Attribution = Attribution::Panel;

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    ASTHMA,
    EXCLUDING,
    CONTROLLER,
    RELIEVER,
    ED_VISIT,
    ENCOUNTER_INPATIENT,
];

/// One dispensing of an asthma medication.
#[derive(Debug, Clone, Copy)]
struct Fill {
    day: NaiveDate,
    days: u64,
    controller: bool,
    needs_diagnosis: bool,
}

impl Fill {
    fn events(&self) -> u64 {
        (self.days / 30).max(1)
    }
}

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let age = ctx.age_at_end();
    let strata: Vec<(&'static str, bool)> = [(5, 11), (12, 18), (19, 50), (51, 64)]
        .iter()
        .zip([
            "Stratification 1",
            "Stratification 2",
            "Stratification 3",
            "Stratification 4",
        ])
        .map(|((lo, hi), code)| (code, age.is_some_and(|a| (*lo..=*hi).contains(&a))))
        .collect();
    let fills = fills(ctx);
    let before = (ctx.first - Months::new(12), ctx.first - Days::new(1));
    let initial = age.is_some_and(|a| (5..=64).contains(&a))
        && persistent(ctx, &fills, (ctx.first, ctx.last))
        && persistent(ctx, &fills, before);
    let excluded = std::cell::OnceCell::new();
    let exclusion = || *excluded.get_or_init(|| excluded_by(ctx, &fills));
    let pdc = std::cell::OnceCell::new();
    [0.5, 0.75]
        .iter()
        .map(|threshold| GroupResult {
            populations: Populations::proportion(
                initial,
                exclusion,
                || *pdc.get_or_init(|| covered(ctx, &fills)) >= *threshold,
                || false,
            ),
            strata: strata.clone(),
        })
        .collect()
}

fn names(cc: &Value) -> String {
    let mut text = cc["text"].as_str().unwrap_or_default().to_lowercase();
    for c in as_list(&cc["coding"]) {
        text.push(' ');
        text.push_str(&c["display"].as_str().unwrap_or_default().to_lowercase());
    }
    text
}

/// `(controller, needs a diagnosis)` for an asthma medication, else `None`.
fn classify(ctx: &Ctx, cc: &Value) -> Option<(bool, bool)> {
    let text = names(cc);
    let named = |list: &[&str]| !text.contains("nasal") && list.iter().any(|i| text.contains(i));
    let needs = named(NEEDS_DIAGNOSIS);
    if in_vs(cc, ctx.vs, CONTROLLER) || named(CONTROLLERS) || needs {
        Some((true, needs))
    } else if in_vs(cc, ctx.vs, RELIEVER) || named(RELIEVERS) {
        Some((false, false))
    } else {
        None
    }
}

fn fills(ctx: &Ctx) -> Vec<Fill> {
    let fill = |cc: &Value, day: Option<NaiveDate>, days: u64| {
        let (controller, needs_diagnosis) = classify(ctx, cc)?;
        Some(Fill {
            day: day?,
            days: days.max(1),
            controller,
            needs_diagnosis,
        })
    };
    let dispenses: Vec<Fill> = ctx
        .of("MedicationDispense", |d| d["status"] == "completed")
        .filter_map(|d| {
            let day = instant(&d["whenHandedOver"]).or_else(|| instant(&d["whenPrepared"]));
            let days = d["daysSupply"]["value"].as_f64().unwrap_or(1.0) as u64;
            fill(
                &d["medicationCodeableConcept"],
                day.map(|t| t.naive_date()),
                days,
            )
        })
        .collect();
    if !ctx.rec.all("MedicationDispense").is_empty() {
        return dispenses;
    }
    ctx.of("MedicationRequest", |r| ctx.ordered(r))
        .filter_map(|r| {
            let covered = request_period(r);
            let day = covered
                .as_ref()
                .and_then(|p| p.start())
                .or_else(|| instant(&r["authoredOn"]))
                .map(|d| d.naive_date());
            let days = covered
                .and_then(|p| Some(p.start()?.days_until(&p.end()?) + 1))
                .unwrap_or(1);
            fill(&r["medicationCodeableConcept"], day, days.max(1) as u64)
        })
        .collect()
}

/// Whether an encounter carries an asthma diagnosis (reason, diagnosis, or
/// a Condition pointing at it).
fn asthma_encounter(ctx: &Ctx, e: &Value) -> bool {
    let id = e["id"].as_str().unwrap_or_default();
    any_in_vs(&e["reasonCode"], ctx.vs, ASTHMA)
        || as_list(&e["diagnosis"]).any(|d| {
            ref_id(&d["condition"])
                .and_then(|c| ctx.rec.get("Condition", c))
                .is_some_and(|c| in_vs(&c["code"], ctx.vs, ASTHMA))
        })
        || ctx
            .of("Condition", |c| in_vs(&c["code"], ctx.vs, ASTHMA))
            .any(|c| ref_id(&c["encounter"]) == Some(id))
}

fn persistent(ctx: &Ctx, fills: &[Fill], (from, to): (NaiveDate, NaiveDate)) -> bool {
    let in_year = |d: NaiveDate| from <= d && d <= to;
    let visits: Vec<(&Value, NaiveDate)> = ctx
        .of("Encounter", |e| {
            ctx.encounter_performed(e) && asthma_encounter(ctx, e)
        })
        .filter_map(|e| Some((e, earliest(&period(&e["period"])?)?.naive_date())))
        .filter(|(_, d)| in_year(*d))
        .collect();
    let class = |e: &Value, code: &str| e["class"]["code"] == code;
    let acute = |e: &Value| {
        any_in_vs(&e["type"], ctx.vs, ED_VISIT)
            || any_in_vs(&e["type"], ctx.vs, ENCOUNTER_INPATIENT)
            || class(e, "EMER")
            || class(e, "IMP")
            || class(e, "ACUTE")
    };
    if visits.iter().any(|(e, _)| acute(e)) {
        return true;
    }
    let mut outpatient: Vec<NaiveDate> = visits
        .iter()
        .filter(|(e, _)| !acute(e))
        .map(|(_, d)| *d)
        .collect();
    outpatient.sort();
    outpatient.dedup();
    let year_fills: Vec<&Fill> = fills.iter().filter(|f| in_year(f.day)).collect();
    let events: u64 = year_fills.iter().map(|f| f.events()).sum();
    let diagnosed = || {
        let year = Iv::period(from, to);
        !visits.is_empty()
            || ctx
                .of("Condition", |c| in_vs(&c["code"], ctx.vs, ASTHMA))
                .any(|c| yes(ctx.prevalence(c).overlaps(&year, Prec::Day)))
    };
    (outpatient.len() >= 4 && events >= 2)
        || (events >= 4 && (!year_fills.iter().all(|f| f.needs_diagnosis) || diagnosed()))
}

fn excluded_by(ctx: &Ctx, fills: &[Fill]) -> bool {
    let diagnosed = ctx
        .of("Condition", |c| in_vs(&c["code"], ctx.vs, EXCLUDING))
        .any(|c| {
            ctx.prevalence(c)
                .start()
                .is_none_or(|s| s.naive_date() <= ctx.last)
        });
    let controller_in_mp = fills
        .iter()
        .any(|f| f.controller && ctx.first <= f.day && f.day <= ctx.last);
    diagnosed || !controller_in_mp || ctx.has_hospice()
}

/// Proportion of days covered by controllers, IPSD to the end of the period.
fn covered(ctx: &Ctx, fills: &[Fill]) -> f64 {
    let in_mp: Vec<&Fill> = fills
        .iter()
        .filter(|f| f.controller && ctx.first <= f.day && f.day <= ctx.last)
        .collect();
    let Some(ipsd) = in_mp.iter().map(|f| f.day).min() else {
        return 0.0;
    };
    let span = (ctx.last - ipsd).num_days() as usize + 1;
    let mut days = vec![false; span];
    for f in in_mp {
        let from = (f.day - ipsd).num_days() as usize;
        let to = (from + f.days as usize).min(span);
        days[from..to].iter_mut().for_each(|d| *d = true);
    }
    days.iter().filter(|d| **d).count() as f64 / span as f64
}

#[cfg(test)]
#[path = "nqf1799_tests.rs"]
mod tests;
