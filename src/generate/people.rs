//! Practices, providers and the demographics of a Medicaid population:
//! children, adolescents, adults and older adults, postpartum women, each
//! with the practice's MRN and a Medicaid id, most with a PCP.

use chrono::{Datelike, Months, NaiveDate};

use super::dice::Dice;
use super::model::{Person, Practice, Sex};

const FAMILY: &[&str] = &[
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Martinez",
    "Brown",
    "Lee",
    "Davis",
    "Lopez",
    "Wilson",
    "Clark",
    "Hernandez",
    "Young",
    "Walker",
    "Allen",
    "King",
    "Wright",
    "Scott",
];
const GIVEN_F: &[&str] = &[
    "Maria", "Emma", "Ava", "Sofia", "Linh", "Grace", "Ruth", "Aisha", "Chloe",
];
const GIVEN_M: &[&str] = &[
    "James", "Luis", "Noah", "Minh", "David", "Omar", "Ethan", "Samuel", "Leo",
];

/// The practices of a run, each with 3 to 8 providers.
pub fn practices(count: usize, seed: u64) -> Vec<Practice> {
    (0..count)
        .map(|k| {
            let mut d = Dice::new(seed, u64::MAX - k as u64);
            let n = d.int(3, 8) as usize;
            Practice {
                id: format!("practice-{k}"),
                name: format!("Generated Family Practice {k}"),
                providers: (0..n).map(|j| format!("prac-{k}-{j}")).collect(),
            }
        })
        .collect()
}

/// Age bands of a Medicaid population: (weight, youngest, oldest).
const AGES: &[(f64, u32, u32)] = &[
    (0.08, 0, 2),
    (0.17, 3, 11),
    (0.12, 12, 17),
    (0.48, 18, 64),
    (0.15, 65, 90),
];

/// Patient number `i` of the run, as of `today` (the end of the data).
pub fn person(
    d: &mut Dice,
    i: usize,
    practices: &[Practice],
    unassigned: f64,
    today: NaiveDate,
) -> Person {
    let practice = i % practices.len();
    let sex = if d.chance(0.52) {
        Sex::Female
    } else {
        Sex::Male
    };
    let (_, lo, hi) = AGES[d.weighted(&AGES.iter().map(|a| a.0).collect::<Vec<_>>())];
    let age = d.int(lo, hi);
    let last_birthday = today - Months::new(12 * age);
    let birth = d.day(
        last_birthday - Months::new(12) + chrono::Days::new(1),
        last_birthday,
    );
    let providers = practices[practice].providers.len();
    let pcp = (!d.chance(unassigned)).then(|| d.index(providers));
    let childbearing = sex == Sex::Female && (18..=42).contains(&age);
    let delivered = (childbearing && d.chance(0.08))
        .then(|| d.day(today - Months::new(11), today - Months::new(1)));
    Person {
        id: format!("pt-{i}"),
        practice,
        sex,
        birth,
        pcp,
        mrn: format!("{:07}", 1_000_000 + i),
        medicaid: format!("M{:09}", 100_000_000 + (i as u64 * 7919) % 900_000_000),
        family: FAMILY[d.index(FAMILY.len())],
        given: if sex == Sex::Female {
            GIVEN_F[d.index(GIVEN_F.len())]
        } else {
            GIVEN_M[d.index(GIVEN_M.len())]
        },
        delivered,
    }
}

/// Whole years of age on `day`.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}
