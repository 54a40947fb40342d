//! CMS138 Preventive Care and Screening: Tobacco Use: Screening and
//! Cessation Intervention — three groups: screened (1), intervention for
//! users (2), both (3).
//! CQL: `PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR`
//! 0.0.001 (2025; no 2026 FHIR version in the bundled content).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::*;
use crate::measure::exclusions::cmp_opt;
use crate::measure::medication::request_period_in_time;
use crate::measure::qicore::{CPT, Ctx, completed};
use crate::measure::record::{any_in_vs, any_is_code, in_vs, instant};
use crate::measure::time::{Bound, Iv, Prec};
use crate::measure::{GroupResult, Populations, yes};

const NON_USER: &str = "2.16.840.1.113883.3.526.3.1189";
const USER: &str = "2.16.840.1.113883.3.526.3.1170";
const SCREENING: &str = "2.16.840.1.113883.3.526.3.1278";
const COUNSELING: &str = "2.16.840.1.113883.3.526.3.509";
const PHARMACOTHERAPY: &str = "2.16.840.1.113883.3.526.3.1190";
const NUTRITION: &str = "2.16.840.1.113883.3.464.1003.1006";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";

/// `"Preventive Visit During Measurement Period"` value sets.
const PREVENTIVE: &[&str] = &[
    ANNUAL_WELLNESS,
    PREVENTIVE_EST_18,
    PREVENTIVE_INIT_18,
    "2.16.840.1.113883.3.464.1003.101.12.1024", // Preventive Care, Established Office Visit, 0 to 17
    "2.16.840.1.113883.3.464.1003.101.12.1022", // Preventive Care Services, Initial Office Visit, 0 to 17
    "2.16.840.1.113883.3.464.1003.101.12.1027", // Preventive Care Services Group Counseling
    "2.16.840.1.113883.3.464.1003.101.12.1026", // Preventive Care Services Individual Counseling
    NUTRITION,
];

/// `"Qualifying Visit During Measurement Period"` value sets.
const QUALIFYING: &[&str] = &[
    HOME_HEALTHCARE,
    "2.16.840.1.113883.3.526.3.1011", // Occupational Therapy Evaluation
    OFFICE_VISIT,
    "2.16.840.1.113883.3.526.3.1285", // Ophthalmological Services
    "2.16.840.1.113883.3.526.3.1022", // Physical Therapy Evaluation
    "2.16.840.1.113883.3.526.3.1492", // Psych Visit Diagnostic Evaluation
    "2.16.840.1.113883.3.526.3.1496", // Psych Visit Psychotherapy
    "2.16.840.1.113883.3.526.3.1141", // Psychoanalysis
    "2.16.840.1.113883.3.526.3.1530", // Speech and Hearing Evaluation
    TELEPHONE_VISITS,
    VIRTUAL_ENCOUNTER,
];

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    NON_USER,
    USER,
    SCREENING,
    COUNSELING,
    PHARMACOTHERAPY,
    "2.16.840.1.113883.3.526.3.1530",
    "2.16.840.1.113883.3.526.3.1141",
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let initial = ctx.age_at_start().is_some_and(|a| a >= 12)
        && (visits(ctx, QUALIFYING, &["96158", "96156"]) >= 2
            || visits(ctx, PREVENTIVE, &["99429", "99024"]) >= 1);
    let status = most_recent_status(ctx);
    let user = status == Some(USER);
    let screened = status.is_some();
    let intervention = std::cell::OnceCell::new();
    let intervened = || *intervention.get_or_init(|| intervention_given(ctx));
    let excluded = std::cell::OnceCell::new();
    let exclusion = || *excluded.get_or_init(|| ctx.has_hospice());
    vec![
        GroupResult::plain(Populations::proportion(
            initial,
            exclusion,
            || screened,
            || false,
        )),
        GroupResult::plain(Populations::proportion_within(
            initial,
            || user,
            exclusion,
            intervened,
            || false,
        )),
        GroupResult::plain(Populations::proportion(
            initial,
            exclusion,
            || status == Some(NON_USER) || (user && intervened()),
            || false,
        )),
    ]
}

/// Distinct performed encounters in the period typed by the sets or CPT codes.
fn visits(ctx: &Ctx, sets: &[&str], cpt: &[&str]) -> usize {
    ctx.of("Encounter", |e| {
        ctx.encounter_performed(e)
            && (sets.iter().any(|oid| any_in_vs(&e["type"], ctx.vs, oid))
                || cpt.iter().any(|c| any_is_code(&e["type"], CPT, c)))
    })
    .filter(|e| ctx.period_during_mp(e))
    .count()
}

/// The most recent screening in the period, and which set its value is in.
fn most_recent_status(ctx: &Ctx) -> Option<&'static str> {
    let mut found: Vec<(&Value, Iv)> = ctx
        .of("Observation", |o| {
            in_vs(&o["code"], ctx.vs, SCREENING) && ctx.assessment_performed(o)
        })
        .filter_map(|o| Some((o, ctx.effective(o)?)))
        .filter(|(_, iv)| yes(iv.during(&ctx.mp, Prec::Day)))
        .collect();
    found.sort_by(|a, b| cmp_opt(a.1.start(), b.1.start()));
    let (last, _) = found.pop()?;
    let value = &last["valueCodeableConcept"];
    [NON_USER, USER]
        .into_iter()
        .find(|oid| in_vs(value, ctx.vs, oid))
}

/// Counseling, an order or an active prescription in the six months before
/// or during the period.
fn intervention_given(ctx: &Ctx) -> bool {
    let window = Iv::closed(ctx.mp_start().add_months(-6), ctx.mp_end());
    let counseling =
        ctx.of("Procedure", |p| {
            in_vs(&p["code"], ctx.vs, COUNSELING) && completed(p)
        })
        .any(|p| {
            ctx.performed(p)
                .is_some_and(|iv| yes(iv.during(&window, Prec::Day)))
        }) || ctx
            .of("Condition", |c| {
                crate::measure::record::is_code(&c["code"], ICD10, "Z71.6")
            })
            .any(|c| yes(ctx.prevalence(c).starts_during(&window, Prec::Day)));
    let meds = |m: &Value| in_vs(&m["medicationCodeableConcept"], ctx.vs, PHARMACOTHERAPY);
    let ordered = ctx
        .of("MedicationRequest", |m| meds(m) && ctx.ordered(m))
        .any(|m| {
            instant(&m["authoredOn"]).is_some_and(|a| yes(window.contains(Bound::at(a), Prec::Day)))
        });
    let active = ctx
        .of("MedicationRequest", |m| meds(m) && ctx.medication_active(m))
        .any(|m| yes(request_period_in_time(m).during(&window, Prec::Day)));
    counseling || ordered || active
}
