//! CMS155 Weight Assessment and Counseling for Nutrition and Physical
//! Activity for Children/Adolescents: three groups (BMI percentile, height
//! and weight; nutrition counseling; physical-activity counseling), each
//! stratified 3–11 and 12–17.
//! CQL: `WeightAssessmentandCounselingforNutritionandPhysicalActivityforChildrenandAdolescentsFHIR`
//! (2025) and `CMS155FHIRWeightAssessandCounselforKids` 0.3.000 (2026).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::{HOME_HEALTHCARE, OFFICE_VISIT, TELEPHONE_VISITS};
use crate::measure::qicore::{Ctx, completed, is_vital_sign, result_final};
use crate::measure::record::{choice, in_vs};
use crate::measure::time::Prec;
use crate::measure::{GroupResult, Populations, yes};

const NUTRITION_COUNSELING: &str = "2.16.840.1.113883.3.464.1003.195.12.1003";
const ACTIVITY_COUNSELING: &str = "2.16.840.1.113883.3.464.1003.118.12.1035";
const PREGNANCY: &str = "2.16.840.1.113883.3.526.3.378";

/// `"Qualifying Encounters"`.
const ENCOUNTERS: &[&str] = &[
    OFFICE_VISIT,
    "2.16.840.1.113883.3.464.1003.101.12.1026", // Preventive Care Services Individual Counseling
    "2.16.840.1.113883.3.464.1003.101.12.1024", // Preventive Care, Established Office Visit, 0 to 17
    "2.16.840.1.113883.3.464.1003.101.12.1022", // Preventive Care Services, Initial Office Visit, 0 to 17
    "2.16.840.1.113883.3.464.1003.101.12.1027", // Preventive Care Services Group Counseling
    HOME_HEALTHCARE,
    TELEPHONE_VISITS,
];

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    NUTRITION_COUNSELING,
    ACTIVITY_COUNSELING,
    PREGNANCY,
    "2.16.840.1.113883.3.464.1003.101.12.1024",
    "2.16.840.1.113883.3.464.1003.101.12.1022",
    "2.16.840.1.113883.3.464.1003.101.12.1027",
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let age = ctx.age_at_end();
    let initial = age.is_some_and(|a| (3..=17).contains(&a)) && ctx.encounter_in_mp(ENCOUNTERS);
    let strata = vec![
        (
            "Stratification 1",
            age.is_some_and(|a| (3..=11).contains(&a)),
        ),
        (
            "Stratification 2",
            age.is_some_and(|a| (12..=17).contains(&a)),
        ),
    ];
    let excluded = std::cell::OnceCell::new();
    let exclusion = || *excluded.get_or_init(|| ctx.has_hospice() || pregnant(ctx));
    let numerators: [&dyn Fn() -> bool; 3] = [
        &|| measured(ctx),
        &|| counseled(ctx, NUTRITION_COUNSELING),
        &|| counseled(ctx, ACTIVITY_COUNSELING),
    ];
    numerators
        .iter()
        .map(|numerator| GroupResult {
            populations: Populations::proportion(initial, exclusion, numerator, || false),
            strata: strata.clone(),
        })
        .collect()
}

/// `"Pregnancy Diagnosis Which Overlaps Measurement Period"`.
fn pregnant(ctx: &Ctx) -> bool {
    ctx.conditions_unverified(PREGNANCY)
        .any(|c| yes(ctx.prevalence(c).overlaps(&ctx.mp, Prec::Unstated)))
}

/// A final vital sign of one profile with a value, taken in the period.
fn has_vital(ctx: &Ctx, tails: &[&str], loinc: &str) -> bool {
    ctx.of("Observation", |o| {
        is_vital_sign(o, tails, loinc) && result_final(o) && choice(o, "value").is_some()
    })
    .any(|o: &Value| {
        ctx.effective(o)
            .is_some_and(|iv| yes(iv.during(&ctx.mp, Prec::Day)))
    })
}

/// `"Numerator 1"`: BMI (the CQL retrieves the BMI profile), height and weight.
fn measured(ctx: &Ctx) -> bool {
    has_vital(ctx, &["us-core-bmi", "bmi"], "39156-5")
        && has_vital(ctx, &["us-core-body-height", "bodyheight"], "8302-2")
        && has_vital(ctx, &["us-core-body-weight", "bodyweight"], "29463-7")
}

/// `"Numerator 2"` / `"Numerator 3"`: counseling performed in the period.
fn counseled(ctx: &Ctx, oid: &str) -> bool {
    ctx.of("Procedure", |p| {
        in_vs(&p["code"], ctx.vs, oid) && completed(p)
    })
    .any(|p| {
        ctx.performed(p)
            .is_some_and(|iv| yes(iv.during(&ctx.mp, Prec::Day)))
    })
}
