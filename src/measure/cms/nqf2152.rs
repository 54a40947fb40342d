//! NQF 2152 Preventive Care and Screening: Unhealthy Alcohol Use: Screening
//! & Brief Counseling (PCPI), as MIPS Quality ID 431 specified it in 2019:
//! <https://qpp.cms.gov/docs/QPP_quality_measure_specifications/CQM-Measures/2019_Measure_431_MIPSCQM.pdf>.
//!
//! - Denominator: 18 or older at the start of the period, with two visits
//!   on different days or one preventive visit in the period.
//! - Exclusion: hospice services in the period.
//! - Numerator: the most recent systematic screen in the 12 months ending
//!   with the period is negative, or it is positive and brief counseling
//!   follows on the same day or later, by the end of the period.
//! - Exception (a medical reason for not screening): a limited life
//!   expectancy prevalent in the period, for patients not in the numerator.
//!
//! Decisions: the systematic methods are AUDIT-C (positive at 4 or more for
//! men, 3 or more otherwise — a patient whose sex is not recorded male gets
//! the lower, safer cut-off) and the full AUDIT (8 or more), read from their
//! LOINC totals; a screen without a numeric total cannot be read and does
//! not count.

use crate::measure::attribution::Attribution;
use chrono::{Months, NaiveDate};
use serde_json::Value;

use super::vs::{
    ANNUAL_WELLNESS, HOME_HEALTHCARE, LIMITED_LIFE_EXPECTANCY, OFFICE_VISIT, PREVENTIVE_EST_18,
    PREVENTIVE_GROUP, PREVENTIVE_INDIVIDUAL, PREVENTIVE_INIT_18,
};
use crate::measure::qicore::{Ctx, LOINC, result_final};
use crate::measure::record::{choice, earliest, in_vs, is_code, period};
use crate::measure::{GroupResult, Populations, yes};

const SCREENING: &str = "tandem-alcohol-screening";
const COUNSELING: &str = "tandem-alcohol-brief-counseling";
const VISITS: &[&str] = &[
    OFFICE_VISIT,
    HOME_HEALTHCARE,
    "2.16.840.1.113883.3.526.3.1492", // Psych Visit Diagnostic Evaluation
    "2.16.840.1.113883.3.526.3.1496", // Psych Visit Psychotherapy
];
const PREVENTIVE: &[&str] = &[
    PREVENTIVE_INIT_18,
    PREVENTIVE_EST_18,
    PREVENTIVE_INDIVIDUAL,
    PREVENTIVE_GROUP,
    ANNUAL_WELLNESS,
];

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    SCREENING,
    COUNSELING,
    LIMITED_LIFE_EXPECTANCY,
    VISITS[2],
    VISITS[3],
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let initial = ctx.age_at_start().is_some_and(|a| a >= 18) && qualifying_visits(ctx);
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || ctx.has_hospice(),
        || numerator(ctx),
        || {
            ctx.conditions(LIMITED_LIFE_EXPECTANCY)
                .any(|c| yes(ctx.prevalent_in_mp(c)))
        },
    ))]
}

/// Two visits on different days, or one preventive visit, in the period.
fn qualifying_visits(ctx: &Ctx) -> bool {
    let days_in_mp = |sets: &[&str]| -> Vec<NaiveDate> {
        sets.iter()
            .flat_map(|oid| ctx.encounters(oid))
            .filter(|e| ctx.period_during_mp(e))
            .filter_map(|e| period(&e["period"]).and_then(|p| earliest(&p)))
            .map(|d| d.naive_date())
            .collect()
    };
    if !days_in_mp(PREVENTIVE).is_empty() {
        return true;
    }
    let mut days = days_in_mp(VISITS);
    days.sort();
    days.dedup();
    days.len() >= 2
}

/// Whether a screening total is positive (`None`: not a readable screen).
fn positive(ctx: &Ctx, o: &Value) -> Option<bool> {
    let total = match choice(o, "value")? {
        ("Quantity", q) => q["value"].as_f64()?,
        ("Integer", v) => v.as_f64()?,
        _ => return None,
    };
    if is_code(&o["code"], LOINC, "75626-2") {
        let male = ctx.rec.patient["gender"] == "male";
        Some(total >= if male { 4.0 } else { 3.0 })
    } else {
        Some(total >= 8.0)
    }
}

fn numerator(ctx: &Ctx) -> bool {
    let window_start = (ctx.last + chrono::Days::new(1)) - Months::new(12);
    let latest = ctx
        .of("Observation", |o| {
            in_vs(&o["code"], ctx.vs, SCREENING) && result_final(o)
        })
        .filter_map(|o| {
            let day = ctx.effective(o).and_then(|iv| earliest(&iv))?.naive_date();
            let pos = positive(ctx, o)?;
            (window_start <= day && day <= ctx.last).then_some((day, pos))
        })
        .max_by_key(|(day, pos)| (*day, *pos));
    match latest {
        None => false,
        Some((_, false)) => true,
        Some((day, true)) => ctx
            .done_on(COUNSELING)
            .iter()
            .any(|d| day <= *d && *d <= ctx.last),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use serde_json::json;

    const YEAR: (&str, &str) = ("2026-01-01", "2026-12-31");

    fn office(day: &str) -> Value {
        encounter(CPT, "99213", day)
    }

    fn audit_c(day: &str, total: f64) -> Value {
        observation(LOINC, "75626-2", day, Some(total))
    }

    fn run(born: &str, gender: &str, resources: Vec<Value>) -> Populations {
        let patient =
            json!({"resourceType": "Patient", "id": "p", "birthDate": born, "gender": gender});
        eval_as("NQF2152-2019", patient, resources, YEAR.0, YEAR.1)[0].populations
    }

    fn two_visits() -> Vec<Value> {
        vec![office("2026-02-01"), office("2026-12-31")]
    }

    #[test]
    fn age_eighteen_at_the_start_of_the_period() {
        assert!(run("2008-01-01", "female", two_visits()).initial);
        assert!(!run("2008-01-02", "female", two_visits()).initial);
    }

    #[test]
    fn two_visits_on_different_days_or_one_preventive_visit() {
        assert!(!run("1980-05-05", "female", vec![office("2026-03-01")]).initial);
        let same_day = vec![office("2026-03-01"), office("2026-03-01")];
        assert!(!run("1980-05-05", "female", same_day).initial);
        let outside = vec![office("2025-12-31"), office("2026-03-01")];
        assert!(
            !run("1980-05-05", "female", outside).initial,
            "one visit before the period"
        );
        let preventive = encounter(CPT, "99396", "2026-06-01");
        assert!(run("1980-05-05", "female", vec![preventive]).initial);
    }

    #[test]
    fn positive_screens_need_counseling_and_the_cut_off_depends_on_sex() {
        let mut r = two_visits();
        r.push(audit_c("2026-04-01", 3.0));
        assert!(
            run("1980-05-05", "male", r.clone()).numerator,
            "3 is negative for a man"
        );
        assert!(
            !run("1980-05-05", "female", r.clone()).numerator,
            "3 is positive for a woman"
        );
        let mut g = r.clone();
        g.push(procedure(HCPCS, "G0443", "2026-12-31"));
        assert!(
            run("1980-05-05", "female", g).numerator,
            "G0443 on the last day"
        );
        r.push(procedure(CPT, "99408", "2026-04-01"));
        assert!(
            run("1980-05-05", "female", r).numerator,
            "counseled the same day"
        );
        let before = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            procedure(CPT, "99408", "2026-03-31"),
            audit_c("2026-04-01", 5.0),
        ];
        assert!(
            !run("1980-05-05", "male", before).numerator,
            "counseling before the screen"
        );
        let full = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            observation(LOINC, "75624-7", "2026-12-31", Some(7.0)),
        ];
        assert!(
            run("1980-05-05", "female", full).numerator,
            "AUDIT 7 on the last day is negative"
        );
        let unread = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            observation(LOINC, "75626-2", "2026-04-01", None),
        ];
        assert!(
            !run("1980-05-05", "male", unread).numerator,
            "a screen without a total"
        );
        let late = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            audit_c("2025-12-31", 0.0),
        ];
        assert!(
            !run("1980-05-05", "male", late).numerator,
            "screened before the 12 months"
        );
    }

    #[test]
    fn the_latest_screen_decides() {
        let r = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            audit_c("2026-02-01", 9.0),
            audit_c("2026-09-01", 1.0),
        ];
        assert!(run("1980-05-05", "male", r).numerator);
        let r = vec![
            office("2026-02-01"),
            office("2026-12-31"),
            audit_c("2026-02-01", 1.0),
            audit_c("2026-09-01", 9.0),
        ];
        assert!(!run("1980-05-05", "male", r).numerator);
    }

    #[test]
    fn limited_life_expectancy_is_an_exception_and_hospice_an_exclusion() {
        let mut r = two_visits();
        r.push(condition(SNOMED, "162607003", "2026-01-15")); // Terminal illness
        let p = run("1940-05-05", "male", r);
        assert!(p.denominator_exception && !p.numerator);
        let mut r = two_visits();
        r.push(encounter(SNOMED, "183919006", "2026-05-01"));
        assert!(run("1940-05-05", "male", r).denominator_exclusion);
    }
}
