//! Which practitioner a patient's result counts for, when a report is sliced
//! by provider (`practitioner=Practitioner/x`). Each measure says how
//! (`ATTRIBUTION` in its module): eCQMs for eligible clinicians attribute a
//! patient to the clinician who performed their qualifying encounter, while
//! measures without a qualifying visit (developmental screening, asthma
//! medication) can only follow the practice's panel.

use chrono::{Months, NaiveDate};
use serde_json::Value;

use super::record::{Record, as_list, period};
use super::time::{Iv, Prec};
use super::yes;

/// How a measure attributes patients to a practitioner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// The patient's `generalPractitioner`.
    Panel,
    /// A practitioner who took part in one of the patient's encounters
    /// (`Encounter.participant.individual`) overlapping the measurement
    /// period, widened back by `lookback_months` for measures whose index
    /// event precedes the period (CMS159's identification period).
    Encounter { lookback_months: u32 },
}

/// Whether `record`'s result counts for `practitioner` (`Practitioner/x`).
pub fn attributed(
    record: &Record,
    how: Attribution,
    practitioner: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> bool {
    match how {
        Attribution::Panel => names(&record.patient["generalPractitioner"], practitioner),
        Attribution::Encounter { lookback_months } => {
            let from = first - Months::new(lookback_months);
            let window = Iv::period(from, last);
            record.all("Encounter").iter().any(|e| {
                performed_by(e, practitioner)
                    && period(&e["period"]).is_some_and(|p| yes(p.overlaps(&window, Prec::Day)))
            })
        }
    }
}

/// Every practitioner `record`'s result counts for: the candidates the
/// record names (panel and encounter participants) that [`attributed`]
/// accepts, so a per-provider pass agrees with `practitioner=` one by one.
pub fn practitioners(
    record: &Record,
    how: Attribution,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<String> {
    let mut named: Vec<String> = as_list(&record.patient["generalPractitioner"])
        .chain(
            record
                .all("Encounter")
                .iter()
                .flat_map(|e| as_list(&e["participant"]).map(|p| &p["individual"])),
        )
        .filter_map(|r| r["reference"].as_str())
        .filter(|r| r.starts_with("Practitioner/"))
        .map(str::to_string)
        .collect();
    named.sort();
    named.dedup();
    named.retain(|p| attributed(record, how, p, first, last));
    named
}

fn names(references: &Value, practitioner: &str) -> bool {
    as_list(references).any(|r| r["reference"].as_str() == Some(practitioner))
}

fn performed_by(e: &Value, practitioner: &str) -> bool {
    as_list(&e["participant"]).any(|p| p["individual"]["reference"].as_str() == Some(practitioner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn record(encounter_day: &str) -> Record {
        Record::new([
            json!({"resourceType": "Patient", "id": "p", "generalPractitioner": [{"reference": "Practitioner/gp"}]}),
            json!({"resourceType": "Encounter", "id": "e", "status": "finished",
                   "participant": [{"individual": {"reference": "Practitioner/doc"}}],
                   "period": {"start": encounter_day, "end": encounter_day}}),
        ])
        .unwrap()
    }

    #[test]
    fn practitioners_are_those_attributed() {
        let (first, last) = (d("2026-01-01"), d("2026-12-31"));
        let r = record("2026-06-01");
        assert_eq!(
            practitioners(&r, Attribution::Panel, first, last),
            vec!["Practitioner/gp"]
        );
        let enc = Attribution::Encounter { lookback_months: 0 };
        assert_eq!(
            practitioners(&r, enc, first, last),
            vec!["Practitioner/doc"]
        );
        assert!(practitioners(&record("2025-06-01"), enc, first, last).is_empty());
    }

    #[test]
    fn panel_and_encounter_attribution_each_way() {
        let (first, last) = (d("2026-01-01"), d("2026-12-31"));
        let r = record("2026-12-31");
        assert!(attributed(
            &r,
            Attribution::Panel,
            "Practitioner/gp",
            first,
            last
        ));
        assert!(!attributed(
            &r,
            Attribution::Panel,
            "Practitioner/doc",
            first,
            last
        ));
        let enc = Attribution::Encounter { lookback_months: 0 };
        assert!(attributed(&r, enc, "Practitioner/doc", first, last));
        assert!(!attributed(&r, enc, "Practitioner/gp", first, last));
        let before = record("2025-12-31");
        assert!(!attributed(&before, enc, "Practitioner/doc", first, last));
        let lookback = Attribution::Encounter {
            lookback_months: 14,
        };
        assert!(attributed(
            &before,
            lookback,
            "Practitioner/doc",
            first,
            last
        ));
        assert!(!attributed(
            &record("2024-10-31"),
            lookback,
            "Practitioner/doc",
            first,
            last
        ));
    }
}
