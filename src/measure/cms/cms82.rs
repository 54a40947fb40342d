//! CMS82 Maternal Depression Screening (NCQA), written from the last
//! published eCQM, CMS82v7 (7.1.000, performance year 2019):
//! <https://ecqi.healthit.gov/sites/default/files/ecqm/measures/CMS82v7.html>.
//! No FHIR version was ever published, so there are no authors' test cases;
//! the boundaries are tested by hand below.
//!
//! - `"Initial Population"`: `exists "Qualifying Encounters Before 6 Months
//!   of Age" and exists "Turns 6 Months of Age During Measurement Period"`.
//!   The visit (Office Visit, Preventive Care 0–17 initial or established)
//!   must start while the child is under 6 months ("during the child's first
//!   6 months", the measure description); it may fall before the period.
//! - `"Numerator"`: maternal depression screening or care whose time gives
//!   `CalendarAgeInMonthsAt(birth, time) <= 6`, as the published CQL; like
//!   the CQL there is no lower bound.
//! - No exclusions or exceptions.
//!
//! The numerator codes are Tandem's `tandem-maternal-depression-screening`
//! set (CPT 96161, EPDS): CMS82's own SNOMED CT direct-reference codes could
//! not be confirmed and are not guessed.

use super::vs::{OFFICE_VISIT, PREVENTIVE_EST_0_17, PREVENTIVE_INIT_0_17};
use crate::measure::attribution::Attribution;
use crate::measure::qicore::Ctx;
use crate::measure::record::period;
use crate::measure::time::months_between;
use crate::measure::{GroupResult, Populations};

const SCREENING: &str = "tandem-maternal-depression-screening";
const ENCOUNTERS: &[&str] = &[OFFICE_VISIT, PREVENTIVE_INIT_0_17, PREVENTIVE_EST_0_17];

/// Attributed to the clinician who performed the qualifying encounter,
/// which can be up to 6 months before the period (a child turning 6 months
/// early in the period was seen in the months before it).
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 6 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    SCREENING,
    OFFICE_VISIT,
    PREVENTIVE_INIT_0_17,
    PREVENTIVE_EST_0_17,
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let Some(birth) = ctx.rec.birth_date() else {
        return vec![GroupResult::plain(Populations::default())];
    };
    // "Turns 6 Months of Age During Measurement Period".
    let six_months = ctx.rec.birth_dt().map(|b| b.add_months(6).naive_date());
    let turns_six = six_months.is_some_and(|d| ctx.first <= d && d <= ctx.last);
    let initial = turns_six
        && ENCOUNTERS.iter().any(|oid| {
            ctx.encounters(oid).any(|e| {
                period(&e["period"])
                    .and_then(|p| p.start())
                    .is_some_and(|s| months_between(birth, s.naive_date()) < 6)
            })
        });
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || false,
        || {
            ctx.done_on(SCREENING)
                .iter()
                .any(|d| months_between(birth, *d) <= 6)
        },
        || false,
    ))]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    const BORN: &str = "2025-08-15"; // turns 6 months on 2026-02-15

    fn run(resources: Vec<serde_json::Value>, first: &str, last: &str) -> Populations {
        eval("CMS82-2019", BORN, resources, first, last)[0].populations
    }

    fn visit(date: &str) -> serde_json::Value {
        encounter(CPT, "99391", date) // Preventive Care, Established Office Visit, 0 to 17
    }

    #[test]
    fn turning_six_months_on_either_edge_of_the_period() {
        let v = || vec![visit("2025-10-01")];
        assert!(
            run(v(), "2026-02-15", "2027-02-14").initial,
            "on the first day"
        );
        assert!(
            run(v(), "2025-02-16", "2026-02-15").initial,
            "on the last day"
        );
        assert!(
            !run(v(), "2026-02-16", "2027-02-15").initial,
            "the day before the period"
        );
        assert!(
            !run(v(), "2025-02-15", "2026-02-14").initial,
            "the day after the period"
        );
    }

    #[test]
    fn the_visit_must_come_before_six_months() {
        assert!(run(vec![visit("2026-02-14")], "2026-01-01", "2026-12-31").initial);
        assert!(!run(vec![visit("2026-02-15")], "2026-01-01", "2026-12-31").initial);
        let unfinished = with(visit("2025-10-01"), "status", "planned");
        assert!(!run(vec![unfinished], "2026-01-01", "2026-12-31").initial);
    }

    #[test]
    fn screening_counts_up_to_six_months_of_age() {
        let screened = |date: &str| {
            run(
                vec![visit("2025-10-01"), procedure(CPT, "96161", date)],
                "2026-01-01",
                "2026-12-31",
            )
        };
        let p = screened("2026-03-14"); // 6 months 30 days: CalendarAgeInMonthsAt = 6
        assert!(p.denominator && p.numerator);
        assert!(!screened("2026-03-15").numerator, "7 months");
        let epds = observation(LOINC, "99046-5", "2025-11-01", Some(4.0));
        let p = run(vec![visit("2025-10-01"), epds], "2026-01-01", "2026-12-31");
        assert!(p.numerator, "an EPDS total on the child's record");
        let p = run(vec![visit("2025-10-01")], "2026-01-01", "2026-12-31");
        assert!(p.denominator && !p.numerator);
    }
}
