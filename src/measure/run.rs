//! One evaluation run: the period, the measures, and the running tallies
//! that become DEQM MeasureReports. Patients are fed one at a time (in any
//! order, from any source), so a run over a whole practice holds only the
//! counts — plus the patient ids when a subject list was asked for.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Value, json};

use super::catalog::{Catalog, MeasureDef};
use super::record::Record;
use super::{GroupResult, Populations};

/// DEQM population codes, in report order.
pub const POPULATIONS: &[&str] = &[
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "denominator-exception",
    "numerator",
    "numerator-exclusion",
];

/// A measurement period: whole days, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    /// `2026` (calendar year) or `2026Q3` (the SIM default: the twelve months
    /// ending with that quarter, 2025-10-01..2026-09-30).
    pub fn parse_sim(text: &str) -> Result<Period, String> {
        let bad = || format!("period '{text}' must be a year (2026) or a quarter (2026Q3).");
        let (year, quarter) = match text.split_once(['Q', 'q']) {
            Some((y, q)) => (y, Some(q.parse::<u32>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let year: i32 = year.parse().map_err(|_| bad())?;
        let (first, last) = match quarter {
            None => (
                NaiveDate::from_ymd_opt(year, 1, 1),
                NaiveDate::from_ymd_opt(year, 12, 31),
            ),
            Some(q @ 1..=4) => {
                let next = NaiveDate::from_ymd_opt(year, 3 * q - 2, 1)
                    .and_then(|d| d.checked_add_months(Months::new(3)));
                let first = next.and_then(|n| n.checked_sub_months(Months::new(12)));
                (first, next.and_then(|n| n.pred_opt()))
            }
            Some(_) => return Err(bad()),
        };
        Ok(Period {
            first: first.ok_or_else(bad)?,
            last: last.ok_or_else(bad)?,
        })
    }

    /// `periodStart` / `periodEnd` as FHIR dates (a dateTime's date part is used).
    pub fn from_bounds(start: &str, end: &str) -> Result<Period, String> {
        let day = |s: &str| {
            NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
                .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD)."))
        };
        let (first, last) = (day(start)?, day(end)?);
        if last < first {
            return Err(format!("periodEnd {last} is before periodStart {first}."));
        }
        Ok(Period { first, last })
    }

    pub fn year(&self) -> i32 {
        self.first.year()
    }
}

/// Running counts of one group.
#[derive(Debug, Clone, Default)]
pub struct GroupTally {
    pub counts: [u64; 6],
    /// Patient ids per population, when a subject list is kept.
    pub subjects: Option<[Vec<String>; 6]>,
    /// `(stratifier code, counts of the patients in the stratum)`.
    pub strata: Vec<(&'static str, [u64; 6])>,
}

fn flags(p: &Populations) -> [bool; 6] {
    [
        p.initial,
        p.denominator,
        p.denominator_exclusion,
        p.denominator_exception,
        p.numerator,
        p.numerator_exclusion,
    ]
}

impl GroupTally {
    fn add(&mut self, patient: &str, r: &GroupResult) {
        let f = flags(&r.populations);
        for (i, on) in f.iter().enumerate() {
            if *on {
                self.counts[i] += 1;
                if let Some(s) = self.subjects.as_mut() {
                    s[i].push(patient.to_string());
                }
            }
        }
        for (code, member) in &r.strata {
            let pos = match self.strata.iter().position(|(c, _)| c == code) {
                Some(p) => p,
                None => {
                    self.strata.push((code, [0; 6]));
                    self.strata.len() - 1
                }
            };
            if *member {
                for (i, on) in f.iter().enumerate() {
                    self.strata[pos].1[i] += u64::from(*on);
                }
            }
        }
    }
}

/// Proportion score: numerator ÷ (denominator − exclusions − exceptions).
pub fn score(c: &[u64; 6]) -> Option<f64> {
    let base = c[1].checked_sub(c[2])?.checked_sub(c[3])?;
    (base > 0).then(|| c[4].saturating_sub(c[5]) as f64 / base as f64)
}

/// Tallies of one measure over the patients fed so far.
pub struct MeasureTally {
    pub def: &'static MeasureDef,
    pub groups: Vec<GroupTally>,
    pub patients: u64,
    keep_subjects: bool,
}

impl MeasureTally {
    pub fn new(def: &'static MeasureDef, keep_subjects: bool) -> Self {
        MeasureTally {
            def,
            groups: Vec::new(),
            patients: 0,
            keep_subjects,
        }
    }

    /// Evaluates one patient and adds the result.
    pub fn feed(&mut self, catalog: &Catalog, record: &Record, period: Period) -> Vec<GroupResult> {
        let ctx = catalog.context(self.def, record, period.first, period.last);
        let results = (self.def.evaluate)(&ctx);
        self.add(record.id(), &results);
        results
    }

    pub fn add(&mut self, patient: &str, results: &[GroupResult]) {
        self.patients += 1;
        while self.groups.len() < results.len() {
            self.groups.push(GroupTally {
                subjects: self.keep_subjects.then(Default::default),
                ..Default::default()
            });
        }
        for (g, r) in self.groups.iter_mut().zip(results) {
            g.add(patient, r);
        }
    }
}

/// The `group` ids and stratifier codes of a published Measure.
fn group_ids(measure: &Value) -> Vec<(String, Vec<Value>)> {
    measure["group"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let strat = g["stratifier"].as_array().cloned().unwrap_or_default();
            (g["id"].as_str().unwrap_or_default().to_string(), strat)
        })
        .collect()
}

/// A MeasureReport `group.population` with its code and count.
pub fn population_json(code: &str, count: u64) -> Value {
    json!({
        "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": code}]},
        "count": count
    })
}

/// The MeasureReport `group` list for tallies (`subject_list`: each population
/// points at a contained List of its patients, returned alongside).
pub fn report_groups(
    measure: &Value,
    tally: &MeasureTally,
    subject_list: bool,
) -> (Vec<Value>, Vec<Value>) {
    let ids = group_ids(measure);
    let mut contained = Vec::new();
    // Every group the Measure defines is reported, with zero counts when no
    // patient reached it (a practitioner with no attributed patients).
    let empty = GroupTally {
        subjects: subject_list.then(Default::default),
        ..Default::default()
    };
    let groups = (0..tally.groups.len().max(ids.len()))
        .map(|gi| (gi, tally.groups.get(gi).unwrap_or(&empty)))
        .map(|(gi, g)| {
            let population: Vec<Value> = POPULATIONS
                .iter()
                .enumerate()
                .map(|(i, code)| {
                    let mut p = population_json(code, g.counts[i]);
                    if let (true, Some(s)) = (subject_list, &g.subjects) {
                        let id = format!("{gi}-{code}");
                        let entry: Vec<Value> =
                            s[i].iter().map(|p| json!({"item": {"reference": format!("Patient/{p}")}})).collect();
                        contained.push(json!({"resourceType": "List", "id": id, "status": "current", "mode": "snapshot", "entry": entry}));
                        p["subjectResults"] = json!({"reference": format!("#{id}")});
                    }
                    p
                })
                .collect();
            let mut group = json!({"population": population});
            if let Some((id, strat)) = ids.get(gi) {
                group["id"] = json!(id);
                let stratifier: Vec<Value> = if g.strata.is_empty() {
                    (1..=strat.len())
                        .map(|i| stratifier_json(strat, &format!("Stratification {i}"), &[0; 6]))
                        .collect()
                } else {
                    g.strata
                        .iter()
                        .map(|(code, counts)| stratifier_json(strat, code, counts))
                        .collect()
                };
                if !stratifier.is_empty() {
                    group["stratifier"] = json!(stratifier);
                }
            }
            if let Some(s) = score(&g.counts) {
                group["measureScore"] = json!({"value": (s * 10000.0).round() / 10000.0});
            }
            group
        })
        .collect();
    (groups, contained)
}

fn stratifier_json(published: &[Value], code: &str, counts: &[u64; 6]) -> Value {
    let index = code
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    let id = published
        .get(index - 1)
        .and_then(|s| s["id"].as_str())
        .unwrap_or(code);
    let population: Vec<Value> = POPULATIONS
        .iter()
        .enumerate()
        .map(|(i, c)| population_json(c, counts[i]))
        .collect();
    let mut stratum = json!({"value": {"text": "true"}, "population": population});
    if let Some(s) = score(counts) {
        stratum["measureScore"] = json!({"value": (s * 10000.0).round() / 10000.0});
    }
    json!({"id": id, "code": [{"text": code}], "stratum": [stratum]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_periods() {
        let p = Period::parse_sim("2026Q3").unwrap();
        assert_eq!(
            (p.first.to_string(), p.last.to_string()),
            ("2025-10-01".into(), "2026-09-30".into())
        );
        let p = Period::parse_sim("2026Q1").unwrap();
        assert_eq!(
            (p.first.to_string(), p.last.to_string()),
            ("2025-04-01".into(), "2026-03-31".into())
        );
        let p = Period::parse_sim("2026").unwrap();
        assert_eq!(
            (p.first.to_string(), p.last.to_string()),
            ("2026-01-01".into(), "2026-12-31".into())
        );
        assert!(Period::parse_sim("2026Q5").is_err());
        assert!(Period::from_bounds("2026-12-31", "2026-01-01").is_err());
    }

    #[test]
    fn score_leaves_out_exclusions_and_exceptions() {
        // ipp 10, denom 10, denex 2, denexcep 1, numer 3 → 3 / 7.
        assert_eq!(score(&[10, 10, 2, 1, 3, 0]), Some(3.0 / 7.0));
        assert_eq!(score(&[2, 2, 2, 0, 0, 0]), None);
    }
}
