//! CMS122 Diabetes: Glycemic Status Assessment Greater Than 9% (inverse measure).
//! CQL: `DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR` 0.1.002 (2025)
//! and `CMS122FHIRDiabetesAssessGreaterThan9Percent` 0.5.000 (2026).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::*;
use crate::measure::exclusions::{self, cmp_opt, latest_of};
use crate::measure::qicore::{
    CPT, Ctx, HCPCS, LOINC, Ver, is_encounter_diagnosis, is_lab, verified,
};
use crate::measure::record::{in_vs, is_code, quantity};
use crate::measure::time::{Bound, Dt, Prec};
use crate::measure::{GroupResult, Populations, yes};

const DIABETES: &str = "2.16.840.1.113883.3.464.1003.103.12.1001";
const HBA1C: &str = "2.16.840.1.113883.3.464.1003.198.12.1013";
const NUTRITION: &str = "2.16.840.1.113883.3.464.1003.1006";

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// Inverse measure: a lower score is better (poor control is the numerator).
pub const INVERSE: bool = true;

pub const VALUE_SETS: &[&str] = &[
    DIABETES,
    HBA1C,
    NUTRITION,
    OFFICE_VISIT,
    ANNUAL_WELLNESS,
    PREVENTIVE_EST_18,
    PREVENTIVE_INIT_18,
    HOME_HEALTHCARE,
    TELEPHONE_VISITS,
    VIRTUAL_ENCOUNTER,
    exclusions::vs::ENCOUNTER_INPATIENT,
    exclusions::vs::HOSPICE_DIAGNOSIS,
    exclusions::vs::FRAILTY_DEVICE,
];

/// Medical nutrition therapy codes the 2026 version adds to its encounters.
const NUTRITION_CODES: &[(&str, &str)] = &[
    (CPT, "97802"),
    (CPT, "97803"),
    (CPT, "97804"),
    (HCPCS, "G0270"),
    (HCPCS, "G0271"),
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let initial = ctx.age_at_end().is_some_and(|a| (18..=75).contains(&a))
        && qualifying_encounter(ctx)
        && has_diabetes(ctx);
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || {
            ctx.has_hospice()
                || ctx.is_66_in_nursing_home()
                || ctx.is_66_with_illness_and_frailty()
                || ctx.has_palliative_care()
        },
        || numerator(ctx),
        || false,
    ))]
}

/// `"Qualifying Encounters"`: AdultOutpatientEncounters in 2025; the 2026
/// version lists its own (no virtual encounters; nutrition services added).
fn qualifying_encounter(ctx: &Ctx) -> bool {
    match ctx.ver {
        Ver::Qi411 => ctx.has_adult_outpatient_encounter(),
        Ver::Qi600 => {
            ctx.encounter_in_mp(&[
                OFFICE_VISIT,
                ANNUAL_WELLNESS,
                PREVENTIVE_EST_18,
                PREVENTIVE_INIT_18,
                HOME_HEALTHCARE,
                NUTRITION,
                TELEPHONE_VISITS,
            ]) || NUTRITION_CODES
                .iter()
                .any(|(s, c)| ctx.encounters_coded(s, c).any(|e| ctx.period_during_mp(e)))
        }
    }
}

/// Diabetes prevalent during the period: any `[Condition]` in 2025; in 2026
/// only `[ConditionEncounterDiagnosis: "Diabetes"].verified()`.
fn has_diabetes(ctx: &Ctx) -> bool {
    ctx.of("Condition", |c| in_vs(&c["code"], ctx.vs, DIABETES))
        .filter(|c| ctx.ver == Ver::Qi411 || (is_encounter_diagnosis(c) && verified(c)))
        .any(|c| yes(ctx.prevalent_in_mp(c)))
}

/// `"Glycemic Status Assessment"`: HbA1c or GMI results whose latest time is
/// in the period, with that time.
fn assessments<'a>(ctx: &'a Ctx) -> Vec<(&'a Value, Dt)> {
    ctx.of("Observation", |o| {
        (in_vs(&o["code"], ctx.vs, HBA1C) || is_code(&o["code"], LOINC, "97506-0"))
            && ctx.lab_performed(o)
            && (ctx.ver == Ver::Qi411 || is_lab(o))
    })
    .filter_map(|o| {
        let at = latest_of(ctx, o, "effective")?;
        yes(ctx.mp.contains(Bound::at(at), Prec::Day)).then_some((o, at))
    })
    .collect()
}

/// `"Numerator"`: no assessment, or the lowest reading on the most recent
/// day has no result or is above 9%.
fn numerator(ctx: &Ctx) -> bool {
    let found = assessments(ctx);
    let Some(day) = found
        .iter()
        .map(|(_, at)| at.date_part())
        .max_by(|a, b| cmp_opt(Some(*a), Some(*b)))
    else {
        return true; // "Has No Record Of Glycemic Status Assessment"
    };
    let mut that_day: Vec<&Value> = found
        .iter()
        .filter(|(_, at)| at.cmp_at(&day, Prec::Day) == Some(std::cmp::Ordering::Equal))
        .map(|(o, _)| *o)
        .collect();
    // sort by value (as Quantity) ascending, nulls first; First(...).
    that_day.sort_by(|a, b| {
        let va = quantity(&a["valueQuantity"]).map(|q| q.0);
        let vb = quantity(&b["valueQuantity"]).map(|q| q.0);
        va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal)
    });
    let Some(lowest) = that_day.first() else {
        return false;
    };
    if crate::measure::record::choice(lowest, "value").is_none() {
        return true; // "…Without Result"
    }
    quantity(&lowest["valueQuantity"]).is_some_and(|(v, unit)| unit == "%" && v > 9.0)
}
