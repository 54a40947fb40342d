//! Each patient's expected risk tier under Tandem's default method
//! (docs/capabilities.md, "Risk stratification"), computed from the
//! generator's own model — diagnoses, PHQ-9/GAD-7 administrations, HIE
//! stays — never through `rules::risk`, so the two sides share no code.
//! The generator writes no active medications or social-needs screens, so
//! those drivers score nothing here. `high` says whether the tier is one of
//! the default method's high tiers (high, complex); `bh` why the patient is
//! on the high-risk behavioral-health registry.

use chrono::{Days, Months, NaiveDate};
use serde_json::{Value, json};

use super::answers::expected_total;
use super::model::{Chart, Dx, Instrument};
use super::people::age_on;

/// The tier codes and their first point (the default method's table).
const TIERS: [(&str, u32); 4] = [("low", 0), ("rising", 2), ("high", 4), ("complex", 7)];

/// The latest complete total of `instrument` in `(from, on]`; of several
/// on that day, the highest.
fn latest(c: &Chart, instrument: Instrument, from: NaiveDate, on: NaiveDate) -> Option<f64> {
    c.administrations
        .iter()
        .filter(|a| a.instrument == instrument && a.day > from && a.day <= on)
        .filter_map(|a| Some((a.day, expected_total(a)?)))
        .max_by(|(d1, t1), (d2, t2)| d1.cmp(d2).then(t1.total_cmp(t2)))
        .map(|(_, t)| t)
}

/// Points and tier on day `on` (a 12-month look-back).
pub fn expected(c: &Chart, on: NaiveDate) -> Value {
    let from = on - Months::new(12);
    let has = |dx: Dx| c.has(dx).is_some_and(|d| d.onset <= on);
    let mut points = 0u32;
    for (dx, p) in [
        (Dx::Diabetes, 2),
        (Dx::Hypertension, 1),
        (Dx::Asthma, 1),
        (Dx::Bipolar, 3),    // serious mental illness
        (Dx::AlcoholUse, 3), // substance use disorder
    ] {
        if has(dx) {
            points += p;
        }
    }
    let phq9 = latest(c, Instrument::Phq9, from, on);
    points += match phq9 {
        Some(t) if t >= 20.0 => 3,
        Some(t) if t >= 15.0 => 2,
        Some(t) if t >= 10.0 => 1,
        _ => 0,
    };
    points += match latest(c, Instrument::Gad7, from, on) {
        Some(t) if t >= 15.0 => 2,
        Some(t) if t >= 10.0 => 1,
        _ => 0,
    };
    let in_window = |d: NaiveDate| d > from && d <= on;
    let ed = c
        .stays
        .iter()
        .filter(|s| s.emergency && in_window(s.admitted.date()))
        .count() as u32;
    let inpatient = c
        .stays
        .iter()
        .filter(|s| !s.emergency && in_window(s.admitted.date()))
        .count() as u32;
    points += ed.min(3) + 2 * inpatient.min(2);
    // A readmission: admitted after another stay's discharge, within 30 days.
    let readmissions = c
        .stays
        .iter()
        .filter(|s| in_window(s.admitted.date()))
        .filter(|s| {
            c.stays
                .iter()
                .any(|p| p.discharged < s.admitted && s.admitted <= p.discharged + Days::new(30))
        })
        .count() as u32;
    points += 2 * readmissions;
    let age = age_on(c.person.birth, on);
    points += match age {
        75.. => 2,
        65..=74 => 1,
        _ => 0,
    };
    let tier = TIERS
        .iter()
        .rev()
        .find(|(_, min)| points >= *min)
        .map_or("low", |(t, _)| t);
    // The high-risk BH registry: serious mental illness, a substance use
    // disorder, a latest PHQ-9 of 20 or more (the generator's stays carry
    // no reason, so none is a BH admission).
    let mut bh = Vec::new();
    if has(Dx::Bipolar) {
        bh.push("serious-mental-illness");
    }
    if has(Dx::AlcoholUse) {
        bh.push("substance-use");
    }
    if phq9.is_some_and(|t| t >= 20.0) {
        bh.push("phq-9-severe");
    }
    json!({
        "asOf": on.to_string(), "points": points, "tier": tier,
        "high": matches!(tier, "high" | "complex"), "bh": bh,
    })
}
