//! CMS139 Falls: Screening for Future Fall Risk.
//! CQL: `FallsScreeningForFutureFallRiskFHIR` 0.2.001 (2025; no 2026 FHIR
//! version is published in the bundled content).

use super::vs::*;
use crate::measure::attribution::Attribution;
use crate::measure::qicore::Ctx;
use crate::measure::record::in_vs;
use crate::measure::time::Prec;
use crate::measure::{GroupResult, Populations, yes};

const FALLS_SCREENING: &str = "2.16.840.1.113883.3.464.1003.118.12.1028";

/// `"Qualifying Encounter"`.
const ENCOUNTERS: &[&str] = &[
    OFFICE_VISIT,
    ANNUAL_WELLNESS,
    PREVENTIVE_EST_18,
    PREVENTIVE_INIT_18,
    HOME_HEALTHCARE,
    "2.16.840.1.113883.3.526.3.1285", // Ophthalmological Services
    "2.16.840.1.113883.3.464.1003.101.12.1026", // Preventive Care Services Individual Counseling
    "2.16.840.1.113883.3.464.1003.101.12.1013", // Discharge Services Nursing Facility
    "2.16.840.1.113883.3.464.1003.101.12.1012", // Nursing Facility Visit
    "2.16.840.1.113883.3.464.1003.101.12.1014", // Care Services in Long Term Residential Facility
    "2.16.840.1.113883.3.464.1003.101.12.1066", // Audiology Visit
    TELEPHONE_VISITS,
    VIRTUAL_ENCOUNTER,
    "2.16.840.1.113883.3.526.3.1022", // Physical Therapy Evaluation
    "2.16.840.1.113883.3.526.3.1011", // Occupational Therapy Evaluation
];

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[FALLS_SCREENING, "2.16.840.1.113883.3.526.3.1011"];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let initial = ctx.age_at_start().is_some_and(|a| a >= 65) && ctx.encounter_in_mp(ENCOUNTERS);
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || ctx.has_hospice(),
        || {
            ctx.of("Observation", |o| {
                in_vs(&o["code"], ctx.vs, FALLS_SCREENING) && ctx.assessment_performed(o)
            })
            .any(|o| {
                ctx.effective(o)
                    .is_some_and(|iv| yes(iv.during(&ctx.mp, Prec::Day)))
            })
        },
        || false,
    ))]
}
