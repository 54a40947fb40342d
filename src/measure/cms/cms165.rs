//! CMS165 Controlling High Blood Pressure.
//! CQL: `ControllingHighBloodPressureFHIR` 0.1.000 (2025) and
//! `CMS165FHIRControllingHighBloodPressure` 0.5.000 (2026).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::*;
use crate::measure::exclusions::{self, latest_of};
use crate::measure::qicore::{Ctx, LOINC, Ver, completed, is_vital_sign, result_final};
use crate::measure::record::{any_is_code, choice, in_vs, is_code, period, quantity, ref_id};
use crate::measure::time::{Bound, Dt, Iv, Prec, le};
use crate::measure::{GroupResult, Populations, yes};

const ESSENTIAL_HYPERTENSION: &str = "2.16.840.1.113883.3.464.1003.104.12.1011";
const PREGNANCY: &str = "2.16.840.1.113883.3.526.3.378";
const ESRD: &str = "2.16.840.1.113883.3.526.3.353";
const KIDNEY_TRANSPLANT_RECIPIENT: &str = "2.16.840.1.113883.3.464.1003.109.12.1029";
const CKD5: &str = "2.16.840.1.113883.3.526.3.1002";
const KIDNEY_TRANSPLANT: &str = "2.16.840.1.113883.3.464.1003.109.12.1012";
const DIALYSIS: &str = "2.16.840.1.113883.3.464.1003.109.12.1013";
const ESRD_MONTHLY: &str = "2.16.840.1.113883.3.464.1003.109.12.1014";
const ED_VISIT: &str = "2.16.840.1.113883.3.464.1003.101.12.1010";

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    ESSENTIAL_HYPERTENSION,
    PREGNANCY,
    ESRD,
    KIDNEY_TRANSPLANT_RECIPIENT,
    CKD5,
    KIDNEY_TRANSPLANT,
    DIALYSIS,
    ESRD_MONTHLY,
    ED_VISIT,
    OFFICE_VISIT,
    VIRTUAL_ENCOUNTER,
    exclusions::vs::ENCOUNTER_INPATIENT,
    exclusions::vs::PALLIATIVE_DIAGNOSIS,
    exclusions::vs::FRAILTY_SYMPTOM,
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let initial = ctx.age_at_end().is_some_and(|a| (18..=85).contains(&a))
        && has_hypertension(ctx)
        && ctx.has_adult_outpatient_encounter();
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || exclusion(ctx),
        || numerator(ctx),
        || false,
    ))]
}

/// `"Essential Hypertension Diagnosis"` overlapping the first six months.
fn has_hypertension(ctx: &Ctx) -> bool {
    let start = ctx.mp_start();
    let window = Iv::new(Some(start), true, Some(start.add_months(6)), false);
    ctx.conditions(ESSENTIAL_HYPERTENSION)
        .any(|c| yes(ctx.prevalence(c).overlaps(&window, Prec::Unstated)))
}

/// `"Denominator Exclusions"`.
fn exclusion(ctx: &Ctx) -> bool {
    let end = Bound::at(ctx.mp_end());
    ctx.has_hospice()
        || [PREGNANCY, ESRD, KIDNEY_TRANSPLANT_RECIPIENT, CKD5]
            .iter()
            .any(|oid| {
                ctx.conditions(oid)
                    .any(|c| yes(ctx.prevalence(c).overlaps(&ctx.mp, Prec::Unstated)))
            })
        || ctx
            .of("Procedure", |p| {
                (in_vs(&p["code"], ctx.vs, KIDNEY_TRANSPLANT)
                    || in_vs(&p["code"], ctx.vs, DIALYSIS))
                    && completed(p)
            })
            .any(|p| {
                ctx.performed(p)
                    .is_some_and(|iv| yes(le(iv.hi, end, Prec::Unstated)))
            })
        || ctx
            .encounters(ESRD_MONTHLY)
            .any(|e| period(&e["period"]).is_some_and(|iv| yes(le(iv.lo, end, Prec::Unstated))))
        || ctx.is_66_80_frail_ill_or_81_frail()
        || ctx.is_66_in_nursing_home()
        || ctx.has_palliative_care()
}

/// A blood-pressure panel (US Core / QI-Core BP profile), final.
fn is_bp(o: &Value) -> bool {
    is_vital_sign(
        o,
        &["us-core-blood-pressure", "observation-bp", "bp"],
        "85354-9",
    ) && result_final(o)
}

/// Encounter classes that disqualify a reading taken during them.
const ACUTE_CLASSES: &[&str] = &["EMER", "IMP", "ACUTE", "NONAC", "PRENC", "SS"];

/// `"Qualifying … Blood Pressure Reading"` with the reading's latest time.
fn readings<'a>(ctx: &'a Ctx) -> Vec<(&'a Value, Option<Dt>)> {
    let acute: Vec<Iv> = match ctx.ver {
        Ver::Qi411 => Vec::new(),
        Ver::Qi600 => [exclusions::vs::ENCOUNTER_INPATIENT, ED_VISIT]
            .iter()
            .flat_map(|oid| ctx.encounters(oid))
            .filter_map(|e| period(&e["period"]))
            .collect(),
    };
    ctx.of("Observation", is_bp)
        .map(|o| (o, latest_of(ctx, o, "effective")))
        .filter(|(o, at)| {
            // 2026 first branch: not during an inpatient or ED encounter (no period limit).
            let outside_acute = ctx.ver == Ver::Qi600
                && !acute
                    .iter()
                    .any(|p| at.is_some_and(|t| yes(p.contains(Bound::at(t), Prec::Day))));
            // Both: the referenced encounter is not acute, and the time is in the period.
            let in_period = !in_acute_class(ctx, o)
                && at.is_some_and(|t| yes(ctx.mp.contains(Bound::at(t), Prec::Day)));
            outside_acute || in_period
        })
        .collect()
}

/// `BloodPressure.encounter.getEncounter().class.code in {…}` (a missing
/// encounter or class is not in the list).
fn in_acute_class(ctx: &Ctx, o: &Value) -> bool {
    let Some(id) = ref_id(&o["encounter"]) else {
        return false;
    };
    ctx.rec
        .get("Encounter", id)
        .and_then(|e| e["class"]["code"].as_str())
        .is_some_and(|c| ACUTE_CLASSES.contains(&c))
}

/// `"Numerator"`: lowest systolic < 140 and lowest diastolic < 90 mmHg on the
/// most recent day with a qualifying reading.
fn numerator(ctx: &Ctx) -> bool {
    let found = readings(ctx);
    let Some(day) = found
        .iter()
        .filter_map(|(_, at)| at.map(|t| t.date_part()))
        .max_by_key(|d| d.ms)
    else {
        return false;
    };
    let that_day: Vec<&Value> = found
        .iter()
        .filter(|(_, at)| {
            at.is_some_and(|t| t.cmp_at(&day, Prec::Day) == Some(std::cmp::Ordering::Equal))
        })
        .map(|(o, _)| *o)
        .collect();
    lowest_below(&that_day, "8480-6", 140.0) && lowest_below(&that_day, "8462-4", 90.0)
}

/// `First(readings return component value sort asc) < limit 'mm[Hg]'`; a
/// reading without the component sorts first (null) and fails the test.
fn lowest_below(readings: &[&Value], code: &str, limit: f64) -> bool {
    let mut values: Vec<Option<(f64, String)>> =
        readings.iter().map(|o| component(o, code)).collect();
    values.sort_by(|a, b| {
        a.as_ref()
            .map(|x| x.0)
            .partial_cmp(&b.as_ref().map(|x| x.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    matches!(values.first(), Some(Some((v, unit))) if unit == "mm[Hg]" && *v < limit)
}

fn component(o: &Value, code: &str) -> Option<(f64, String)> {
    let c = o["component"].as_array()?.iter().find(|c| {
        any_is_code(&c["code"]["coding"], LOINC, code) || is_code(&c["code"], LOINC, code)
    })?;
    choice(c, "value")?;
    quantity(&c["valueQuantity"]).map(|(v, u)| (v, u.to_string()))
}
