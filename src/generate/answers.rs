//! The answers file: what Tandem must conclude about each generated patient,
//! worked out here from the generator's own model with a plain reading of
//! each published definition — never by calling Tandem's `rules/` or
//! `measure/`. The generator only draws data whose meaning these simple
//! rules settle (one visit a day, visits 09:00–09:30 with everything timed
//! inside them, no frailty or pregnancy data), so agreement is a
//! real check of Tandem and not of a shared misreading.

use chrono::{Datelike, Days, Months, NaiveDate};
use serde_json::{Value, json};

use super::instruments::{def, weights};
use super::model::*;
use super::people::age_on;

/// Published severity bands `(from, code)` and the positive cut-off.
fn scoring(i: Instrument, sex: Sex) -> (&'static [(f64, &'static str)], f64) {
    match i {
        Instrument::Phq2 => (&[(0.0, "negative"), (3.0, "positive")], 3.0),
        Instrument::Phq9 => (
            &[
                (0.0, "LA6708-7"),
                (5.0, "LA6709-5"),
                (10.0, "LA6710-3"),
                (15.0, "LA6711-1"),
                (20.0, "LA6712-9"),
            ],
            10.0,
        ),
        Instrument::Gad7 => (
            &[
                (0.0, "minimal"),
                (5.0, "mild"),
                (10.0, "moderate"),
                (15.0, "severe"),
            ],
            10.0,
        ),
        Instrument::AuditC => (
            &[
                (0.0, "lower-risk"),
                (3.0, "possible-hazardous"),
                (4.0, "hazardous"),
            ],
            if sex == Sex::Male { 4.0 } else { 3.0 },
        ),
        Instrument::Epds => (
            &[
                (0.0, "depression-unlikely"),
                (10.0, "possible-depression"),
                (13.0, "probable-depression"),
            ],
            10.0,
        ),
        // NIDA bands; 3 or more may indicate a drug use problem.
        Instrument::Dast10 => (
            &[
                (0.0, "none"),
                (1.0, "low"),
                (3.0, "moderate"),
                (6.0, "substantial"),
                (9.0, "severe"),
            ],
            3.0,
        ),
        // CDC STEADI: a "yes" to any key question is at risk.
        Instrument::Steadi => (&[(0.0, "not-at-risk"), (1.0, "at-risk")], 1.0),
    }
}

/// The total a complete administration gives: the sum, or for the PHQ-9
/// with one or two items unanswered the mean scaled to nine items (Kroenke
/// et al.), rounded; `None` when too much is missing.
pub fn expected_total(a: &Administration) -> Option<f64> {
    let w = weights(a.instrument, &a.answers);
    let answered: Vec<f64> = w.iter().flatten().copied().collect();
    let missing = w.len() - answered.len();
    let sum: f64 = answered.iter().sum();
    match (a.instrument, missing) {
        (_, 0) => Some(sum),
        (Instrument::Phq9, 1 | 2) => Some((sum * 9.0 / answered.len() as f64).round()),
        _ => None,
    }
}

/// The safety item (PHQ-9 item 9, EPDS item 10) when the items are sent.
fn safety(a: &Administration) -> Option<bool> {
    let item = match a.instrument {
        Instrument::Phq9 => 8,
        Instrument::Epds => 9,
        _ => return None,
    };
    if a.shape == Shape::Total {
        return None;
    }
    weights(a.instrument, &a.answers)[item].map(|w| w > 0.0)
}

/// Whether an administration is positive at its instrument's cut-off;
/// `None` when it has no total.
pub fn positive(c: &Chart, a: &Administration) -> Option<bool> {
    let cut = scoring(a.instrument, c.person.sex).1;
    expected_total(a).map(|t| t >= cut)
}

fn screening(c: &Chart, a: &Administration) -> Value {
    let total = expected_total(a);
    let (bands, _) = scoring(a.instrument, c.person.sex);
    let band = total.and_then(|t| bands.iter().rev().find(|(from, _)| t >= *from).map(|b| b.1));
    let source = match a.shape {
        Shape::Response => format!("QuestionnaireResponse/{}", a.id),
        _ => format!("Observation/{}", a.id),
    };
    json!({"source": source, "instrument": def(a.instrument).key, "day": a.day.to_string(),
           "total": total, "band": band, "positive": positive(c, a), "safety": safety(a)})
}

/// A value screen: smoking status (US Core: current use is positive), adult
/// BMI (WHO categories; outside the normal range is positive), a
/// developmental screen (its interpretation).
fn reading(r: &ValueScreen) -> Value {
    let (instrument, total, band, positive) = match r.reading {
        Reading::Smoking(Smoking::Current) => ("tobacco", None, "current-user", true),
        Reading::Smoking(Smoking::Former) => ("tobacco", None, "former-user", false),
        Reading::Smoking(Smoking::Never) => ("tobacco", None, "never-user", false),
        Reading::Bmi(v) => {
            let band = match v {
                v if v < 18.5 => "underweight",
                v if v < 25.0 => "normal",
                v if v < 30.0 => "overweight",
                _ => "obese",
            };
            ("bmi", Some(v), band, band != "normal")
        }
        // CDC BMI-for-age percentiles: < 5, < 85, < 95, 95 and above.
        Reading::BmiPercentile(v) => {
            let band = match v {
                v if v < 5.0 => "underweight",
                v if v < 85.0 => "healthy-weight",
                v if v < 95.0 => "overweight",
                _ => "obese",
            };
            ("bmi-percentile", Some(v), band, band != "healthy-weight")
        }
        Reading::Development { concern } => (
            "developmental",
            None,
            if concern { "concern" } else { "no-concern" },
            concern,
        ),
    };
    json!({"source": format!("Observation/{}", r.id), "instrument": instrument, "day": r.day.to_string(),
           "total": total, "band": band, "positive": positive, "safety": null})
}

/// Population membership with the DEQM rules applied.
fn populations(initial: bool, exclusion: bool, numerator: bool, exception: bool) -> Value {
    let excluded = initial && exclusion;
    let met = initial && !excluded && numerator;
    json!({"initial-population": initial, "denominator": initial, "denominator-exclusion": excluded,
           "numerator": met, "denominator-exception": initial && !excluded && !met && exception})
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

fn in_year(day: NaiveDate, year: i32) -> bool {
    day.year() == year
}

fn age_at_visit(c: &Chart, v: &Visit) -> i32 {
    age_on(c.person.birth, v.day)
}

fn hospice_between(c: &Chart, from: NaiveDate, to: NaiveDate) -> bool {
    c.hospice
        .as_ref()
        .is_some_and(|(_, d)| from <= *d && *d <= to)
}

fn palliative_between(c: &Chart, from: NaiveDate, to: NaiveDate) -> bool {
    c.palliative
        .as_ref()
        .is_some_and(|(_, d)| from <= *d && *d <= to)
}

/// Hospice or palliative care during the year.
fn hospice_or_palliative(c: &Chart, year: i32) -> bool {
    let (from, to) = (ymd(year, 1, 1), ymd(year, 12, 31));
    hospice_between(c, from, to) || palliative_between(c, from, to)
}

/// CMS2 (2026): 12 and older at the start of the year with a visit to
/// screen at; bipolar disorder diagnosed before such a visit excludes; the
/// latest screen within 14 days before a visit is negative, or positive with
/// a follow-up at that visit.
fn cms2(c: &Chart, year: i32) -> Value {
    let age = age_on(c.person.birth, ymd(year, 1, 1));
    let visits: Vec<NaiveDate> = c
        .visits
        .iter()
        .filter(|v| {
            in_year(v.day, year)
                && matches!(
                    v.kind,
                    VisitKind::Office | VisitKind::Preventive | VisitKind::Telephone
                )
        })
        .map(|v| v.day)
        .collect();
    let bipolar = c
        .has(Dx::Bipolar)
        .is_some_and(|d| visits.iter().any(|v| d.onset < *v));
    let met = |adolescent: bool| {
        let latest = c
            .depression_screens
            .iter()
            .filter(|s| s.adolescent == adolescent)
            .filter(|s| {
                visits
                    .iter()
                    .any(|v| *v - Days::new(14) <= s.day && s.day <= *v)
            })
            .max_by_key(|s| s.day);
        latest.is_some_and(|s| {
            !s.positive || (visits.contains(&s.day) && c.follow_ups.iter().any(|f| f.day == s.day))
        })
    };
    let numerator = match age {
        12..=16 => met(true),
        17 => met(true) || met(false),
        _ => met(false),
    };
    populations(age >= 12 && !visits.is_empty(), bipolar, numerator, false)
}

/// CMS122 (2026, inverse): diabetic adults 18–75 with a visit; hospice or
/// palliative care excludes; numerator when the latest HbA1c of the year is above 9% or none
/// was done.
fn cms122(c: &Chart, year: i32) -> Value {
    let age = age_on(c.person.birth, ymd(year, 12, 31));
    let visit = c.visits.iter().any(|v| {
        in_year(v.day, year)
            && match v.kind {
                VisitKind::Office | VisitKind::Telephone => true,
                VisitKind::Preventive => age_at_visit(c, v) >= 18,
                VisitKind::Virtual => false,
            }
    });
    let diabetic = c
        .has(Dx::Diabetes)
        .is_some_and(|d| d.onset <= ymd(year, 12, 31));
    let latest = c
        .labs
        .iter()
        .filter(|l| in_year(l.day, year))
        .max_by_key(|l| l.day);
    let poor = latest.is_none_or(|l| l.percent > 9.0);
    populations(
        (18..=75).contains(&age) && visit && diabetic,
        hospice_or_palliative(c, year),
        poor,
        false,
    )
}

/// CMS165 (2026): adults 18–85 with hypertension diagnosed before July and
/// an outpatient visit; hospice or palliative care excludes; the most recent day with a blood
/// pressure (none are taken in ED or inpatient care here; the 2026 CQL does
/// not limit that day to the period) is below 140/90.
fn cms165(c: &Chart, year: i32) -> Value {
    let age = age_on(c.person.birth, ymd(year, 12, 31));
    let visit = c.visits.iter().any(|v| {
        in_year(v.day, year) && (v.kind != VisitKind::Preventive || age_at_visit(c, v) >= 18)
    });
    let hypertensive = c
        .has(Dx::Hypertension)
        .is_some_and(|d| d.onset < ymd(year, 7, 1));
    let latest = c
        .bps
        .iter()
        .filter(|b| b.day <= ymd(year, 12, 31))
        .max_by_key(|b| b.day);
    let controlled = latest.is_some_and(|b| b.systolic < 140 && b.diastolic < 90);
    populations(
        (18..=85).contains(&age) && visit && hypertensive,
        hospice_or_palliative(c, year),
        controlled,
        false,
    )
}

/// The PHQ-9 totals Tandem holds for a patient: each complete administration.
fn phq9_scores(c: &Chart) -> Vec<(NaiveDate, f64)> {
    c.administrations
        .iter()
        .filter(|a| a.instrument == Instrument::Phq9)
        .filter_map(|a| Some((a.day, expected_total(a)?)))
        .collect()
}

/// CMS159 (2026): the first PHQ-9 above 9 taken in the week before (or at)
/// an in-person visit for depression in the identification period (14 to 2
/// months before the year) indexes the patient (12 or older); remission is
/// the last PHQ-9 12 months (± 60 days) later below 5. Hospice or palliative care from the
/// identification period to the end of that window, or bipolar disorder
/// diagnosed by then, excludes.
fn cms159(c: &Chart, year: i32) -> Value {
    let start = ymd(year, 1, 1);
    let (dip_from, dip_to) = (start - Months::new(14), start - Months::new(2));
    let depression = c.has(Dx::Depression).map(|d| d.onset);
    let encounters: Vec<NaiveDate> = c
        .visits
        .iter()
        .filter(|v| dip_from <= v.day && v.day < dip_to)
        .filter(|v| match v.kind {
            VisitKind::Office => true,
            VisitKind::Preventive => age_at_visit(c, v) >= 12,
            _ => false,
        })
        .filter(|v| depression.is_some_and(|o| o <= v.day))
        .map(|v| v.day)
        .collect();
    let scores = phq9_scores(c);
    let index = scores
        .iter()
        .filter(|(day, s)| {
            *s > 9.0
                && encounters
                    .iter()
                    .any(|e| *e - Days::new(7) <= *day && day <= e)
        })
        .min_by_key(|(day, _)| *day)
        .map(|(day, _)| *day)
        // The CQL takes the age at the assessment's time of day: on the 12th
        // birthday itself the unknown time of birth leaves it 11 or 12.
        .filter(|day| {
            let birthday =
                (day.month(), day.day()) == (c.person.birth.month(), c.person.birth.day());
            age_on(c.person.birth, *day) - i32::from(birthday) >= 12
        });
    let Some(index) = index else {
        return populations(false, false, false, false);
    };
    let anniversary = index + Months::new(12);
    let (from, to) = (anniversary - Days::new(60), anniversary + Days::new(60));
    let excluded = hospice_between(c, dip_from, to)
        || palliative_between(c, dip_from, to)
        || c.has(Dx::Bipolar).is_some_and(|d| d.onset <= to);
    let last = scores
        .iter()
        .filter(|(day, _)| from <= *day && *day <= to)
        .max_by_key(|(day, _)| *day);
    populations(true, excluded, last.is_some_and(|(_, s)| *s < 5.0), false)
}

/// One line of the answers file.
pub fn answers(c: &Chart, practice: &Practice, year: i32) -> Value {
    json!({
        "patient": c.person.id,
        "practice": practice.id,
        "screenings": c.administrations.iter().map(|a| screening(c, a))
            .chain(c.value_screens.iter().map(reading))
            .collect::<Vec<_>>(),
        "measures": {
            format!("CMS2-{year}"): cms2(c, year),
            format!("CMS122-{year}"): cms122(c, year),
            format!("CMS165-{year}"): cms165(c, year),
            format!("CMS159-{year}"): cms159(c, year),
        },
    })
}
