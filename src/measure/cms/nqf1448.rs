//! NQF 1448 Developmental Screening in the First Three Years of Life (Oregon
//! Health & Science University), as the CMS Child Core Set measure DEV-CH
//! specifies it: children screened for risk of developmental, behavioral and
//! social delays with a standardized tool in the 12 months preceding or on
//! their first, second or third birthday. Four rates: one per birthday and
//! all three combined.
//! <https://www.medicaid.gov/medicaid/quality-of-care/downloads/medicaid-and-chip-child-core-set-manual.pdf>
//!
//! Decisions where the claims-based specification meets clinical data:
//! - Denominator: every patient of the practice whose birthday falls in the
//!   period. DEV-CH's continuous-enrollment rule is a payer concept and is
//!   not applied.
//! - "In the 12 months preceding or on the birthday": after the previous
//!   birthday (or birth) and on or before this one, so one screen counts for
//!   one rate only.
//! - Evidence: CPT 96110 on a completed Procedure, a final Observation or a
//!   performed Encounter (the code DEV-CH counts on claims).
//! - Children in hospice in the period are excluded (Core Set 2022 onward).

use crate::measure::attribution::Attribution;
use chrono::NaiveDate;

use crate::measure::qicore::Ctx;
use crate::measure::time::Dt;
use crate::measure::{GroupResult, Populations};

const SCREENING: &str = "tandem-developmental-screening";

/// No qualifying visit: attributed by the practice's panel.
pub const ATTRIBUTION: Attribution = Attribution::Panel;

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[SCREENING];

/// The `n`th birthday (Feb 29 births turn on Feb 28 in common years).
fn birthday(birth: Dt, n: i32) -> NaiveDate {
    birth.add_years(n).naive_date()
}

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let Some(birth) = ctx.rec.birth_dt() else {
        return vec![GroupResult::plain(Populations::default()); 4];
    };
    let screens = std::cell::OnceCell::new();
    let screened = |n: i32| {
        let (from, to) = (birthday(birth, n - 1), birthday(birth, n));
        screens
            .get_or_init(|| ctx.done_on(SCREENING))
            .iter()
            .any(|d: &NaiveDate| from < *d && *d <= to)
    };
    let turns = |n: i32| (ctx.first..=ctx.last).contains(&birthday(birth, n));
    let hospice = std::cell::OnceCell::new();
    let excluded = || *hospice.get_or_init(|| ctx.has_hospice());
    let mut groups: Vec<GroupResult> = (1..=3)
        .map(|n| {
            GroupResult::plain(Populations::proportion(
                turns(n),
                excluded,
                || screened(n),
                || false,
            ))
        })
        .collect();
    let turned: Vec<i32> = (1..=3).filter(|n| turns(*n)).collect();
    groups.push(GroupResult::plain(Populations::proportion(
        !turned.is_empty(),
        excluded,
        || turned.iter().all(|n| screened(*n)),
        || false,
    )));
    groups
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    const BORN: &str = "2024-03-10";

    fn run(resources: Vec<serde_json::Value>, first: &str, last: &str) -> Vec<Populations> {
        eval("NQF1448-2025", BORN, resources, first, last)
            .into_iter()
            .map(|g| g.populations)
            .collect()
    }

    fn screen(day: &str) -> serde_json::Value {
        procedure(CPT, "96110", day)
    }

    #[test]
    fn the_birthday_decides_the_rate_at_the_period_edges() {
        // Second birthday 2026-03-10.
        let p = run(vec![], "2026-03-10", "2027-03-09");
        assert!(!p[0].initial && p[1].initial && !p[2].initial && p[3].initial);
        let p = run(vec![], "2025-03-11", "2026-03-10");
        assert!(p[1].initial, "birthday on the last day");
        let p = run(vec![], "2026-03-11", "2027-03-09");
        assert!(
            p.iter().all(|g| !g.initial),
            "birthday the day before the period"
        );
        let p = run(vec![], "2025-03-11", "2026-03-09");
        assert!(
            p.iter().all(|g| !g.initial),
            "birthday the day after the period"
        );
    }

    #[test]
    fn the_screening_window_is_the_year_up_to_and_including_the_birthday() {
        let year = ("2026-01-01", "2026-12-31");
        assert!(
            run(vec![screen("2026-03-10")], year.0, year.1)[1].numerator,
            "on the birthday"
        );
        assert!(
            run(vec![screen("2025-03-11")], year.0, year.1)[1].numerator,
            "day after the first"
        );
        let p = run(vec![screen("2025-03-10")], year.0, year.1);
        assert!(
            !p[1].numerator && p[1].denominator,
            "on the first birthday counts for age 1 only"
        );
        assert!(
            !run(vec![screen("2026-03-11")], year.0, year.1)[1].numerator,
            "after the birthday"
        );
        let total = run(vec![screen("2025-09-01")], year.0, year.1)[3];
        assert!(total.denominator && total.numerator);
        let as_obs = observation(CPT, "96110", "2025-09-01", None);
        assert!(
            run(vec![as_obs], year.0, year.1)[3].numerator,
            "an Observation coded 96110"
        );
        let other = procedure(CPT, "96127", "2025-09-01");
        assert!(
            !run(vec![other], year.0, year.1)[3].numerator,
            "96127 is not a developmental screen"
        );
    }

    #[test]
    fn the_first_and_third_birthdays() {
        let p = run(vec![screen("2024-09-10")], "2025-01-01", "2025-12-31");
        assert!(p[0].numerator && !p[1].initial);
        let born_2023 = eval(
            "NQF1448-2025",
            "2023-03-10",
            vec![],
            "2026-01-01",
            "2026-12-31",
        );
        assert!(born_2023[2].populations.initial && !born_2023[2].populations.numerator);
    }

    #[test]
    fn hospice_excludes() {
        let hospice = encounter(SNOMED, "183919006", "2026-05-01"); // Hospice Encounter: urgent admission to hospice
        let p = run(vec![hospice], "2026-01-01", "2026-12-31");
        assert!(p[1].denominator_exclusion && !p[1].numerator);
    }
}
