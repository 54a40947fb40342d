//! When each screening is next due, from the patient's age and last results.
//!
//! - Annual screens (USPSTF / SIM building block 7): depression and tobacco
//!   from age 12, anxiety, alcohol and drug use from 18, weight (BMI or BMI
//!   percentile) from 2, falls from 65: due one year after the last completed
//!   screen, or now when there has been none.
//! - Developmental screening with a standardized tool at the 9, 18 and 30 month
//!   visits (AAP / NQF 1448); each screen counts for one visit: the first
//!   unused screen after the previous milestone and within 3 months past this one.
//! - Maternal depression at the 1, 2, 4 and 6 month well-child visits (Bright
//!   Futures / CMS82); a visit counts when a screen falls after the previous
//!   milestone and within 1 month past this one.

use chrono::{Months, NaiveDate};

use crate::rules::screening::Domain;

/// When a domain's screening is due and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub domain: Domain,
    pub due: NaiveDate,
    pub reason: String,
}

/// Age in whole years on `on`.
pub fn age_years(birth: NaiveDate, on: NaiveDate) -> i32 {
    on.years_since(birth).map_or(-1, |y| y as i32)
}

/// The next due date of `domain`, given the dates of its completed screens
/// (any order). `None` when the domain does not apply at this age.
pub fn next_due(
    domain: Domain,
    birth: Option<NaiveDate>,
    done: &[NaiveDate],
    today: NaiveDate,
) -> Option<Due> {
    let age = birth.map(|b| age_years(b, today));
    let annual_from = match domain {
        Domain::Depression | Domain::Tobacco => Some(12),
        Domain::Anxiety | Domain::Alcohol | Domain::Drug => Some(18),
        Domain::Weight => Some(2),
        Domain::Falls => Some(65),
        Domain::Development | Domain::MaternalDepression => None,
    };
    if let Some(min_age) = annual_from {
        if age.is_some_and(|a| a < min_age) {
            return None;
        }
        let last = done.iter().max();
        return Some(match last {
            Some(d) => Due {
                domain,
                due: *d + Months::new(12),
                reason: format!("annual screening; last completed {d}"),
            },
            None => Due {
                domain,
                due: today,
                reason: "annual screening; none completed".into(),
            },
        });
    }
    let (milestones, grace): (&[u32], u32) = match domain {
        Domain::Development => (&[9, 18, 30], 3),
        _ => (&[1, 2, 4, 6], 1),
    };
    let birth = birth?;
    let last = milestones.last().copied().unwrap_or_default();
    if today > birth + Months::new(last + grace) {
        return None; // past the age these visits apply to
    }
    milestone_due(domain, birth, milestones, grace, done)
}

/// Each screen counts for one milestone only: the first unused screen after
/// the previous milestone's age and at most `grace` months past this one.
fn milestone_due(
    domain: Domain,
    birth: NaiveDate,
    milestones: &[u32],
    grace: u32,
    done: &[NaiveDate],
) -> Option<Due> {
    let mut screens: Vec<NaiveDate> = done.to_vec();
    screens.sort();
    let mut used = vec![false; screens.len()];
    let mut previous = birth;
    for &m in milestones {
        let at = birth + Months::new(m);
        let until = at + Months::new(grace);
        let hit =
            (0..screens.len()).find(|&i| !used[i] && screens[i] > previous && screens[i] <= until);
        match hit {
            Some(i) => used[i] = true,
            None => {
                return Some(Due {
                    domain,
                    due: at,
                    reason: format!("{m}-month visit screening"),
                });
            }
        }
        previous = at;
    }
    None
}
