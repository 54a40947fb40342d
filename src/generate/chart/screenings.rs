//! The screenings of one chart: the PHQ-2 → PHQ-9 cascade, GAD-7, AUDIT-C
//! and EPDS after a delivery, administered in every input shape the
//! derivations read (responses, panels, totals), with some unanswered items
//! and some item-9 positives, and the EHR's own depression-screen results.

use chrono::{Months, NaiveDate};

use super::Ids;
use crate::generate::dice::Dice;
use crate::generate::instruments::def;
use crate::generate::model::*;
use crate::generate::people::age_on;

/// Answers for `inst` aiming at about `level` (0..1 of the maximum).
fn answers(d: &mut Dice, inst: Instrument, level: f64) -> Vec<Option<usize>> {
    def(inst)
        .items
        .iter()
        .map(|item| {
            let top = item.options.iter().map(|o| o.1).fold(0.0, f64::max);
            let want = (d.normal(level, 0.2).clamp(0.0, 1.0) * top).round();
            item.options.iter().position(|o| o.1 == want).or(Some(0))
        })
        .collect()
}

fn administer(
    d: &mut Dice,
    c: &mut Chart,
    ids: &mut Ids,
    inst: Instrument,
    day: NaiveDate,
    level: f64,
) -> usize {
    let mut a = answers(d, inst, level);
    let shape = match d.weighted(&[0.6, 0.2, 0.2]) {
        1 if def(inst).panel.is_some() => Shape::Panel,
        2 if !def(inst).total.is_empty() => Shape::Total,
        _ => Shape::Response,
    };
    // The self-harm item (PHQ-9 item 9, EPDS item 10) is zero unless drawn
    // positive, about one administration in twenty.
    if let Some(k) = match inst {
        Instrument::Phq9 => Some(8),
        Instrument::Epds => Some(9),
        _ => None,
    } {
        let options = &def(inst).items[k].options;
        let want = if d.chance(0.05) {
            1.0 + d.int(0, 2) as f64
        } else {
            0.0
        };
        a[k] = options.iter().position(|o| o.1 == want).or(Some(0));
    }
    if shape == Shape::Response && inst == Instrument::Phq9 && d.chance(0.08) {
        for _ in 0..d.int(1, 3) {
            let k = d.index(a.len() - 1); // item 9 is always answered
            a[k] = None;
        }
    }
    c.administrations.push(Administration {
        id: ids.next("s"),
        instrument: inst,
        day,
        answers: a,
        shape,
    });
    c.administrations.len() - 1
}

pub(super) fn screenings(d: &mut Dice, c: &mut Chart, ids: &mut Ids) {
    let depressed = c.has(Dx::Depression).map(|x| x.onset);
    let anxious = c.has(Dx::Anxiety).is_some();
    let drinker = c.has(Dx::AlcoholUse).is_some();
    // Depression improves for some patients over the year after diagnosis.
    let remits = d.chance(0.4);
    for v in c.visits.clone() {
        let age = age_on(c.person.birth, v.day);
        let screenable = matches!(
            v.kind,
            VisitKind::Office | VisitKind::Preventive | VisitKind::Telephone
        );
        if age >= 12 && screenable && d.chance(0.7) {
            let level = if depressed.is_some_and(|o| o <= v.day) {
                0.6
            } else {
                0.12
            };
            let k = administer(d, c, ids, Instrument::Phq2, v.day, level);
            let positive = crate::generate::instruments::answered_sum(&c.administrations[k]) >= 3.0;
            c.depression_screens.push(DepressionScreen {
                id: ids.next("ds"),
                day: v.day,
                adolescent: age < 18,
                positive,
            });
            if positive && d.chance(0.7) {
                c.follow_ups.push(FollowUp {
                    id: ids.next("f"),
                    day: v.day,
                });
            }
            if positive {
                administer(d, c, ids, Instrument::Phq9, v.day, 0.5);
                continue;
            }
        }
        if let Some(onset) = depressed
            && age >= 12
            && v.kind != VisitKind::Virtual
            && onset <= v.day
            && d.chance(0.6)
        {
            let months = (v.day - onset).num_days() as f64 / 30.0;
            let level = if remits && months > 9.0 { 0.08 } else { 0.45 };
            administer(d, c, ids, Instrument::Phq9, v.day, level);
        }
        if anxious && age >= 12 && d.chance(0.4) {
            administer(d, c, ids, Instrument::Gad7, v.day, 0.4);
        }
        if age >= 18 && (v.kind == VisitKind::Preventive || drinker) && d.chance(0.6) {
            administer(
                d,
                c,
                ids,
                Instrument::AuditC,
                v.day,
                if drinker { 0.6 } else { 0.05 },
            );
        }
        if age >= 18 && drinker && d.chance(0.4) {
            administer(d, c, ids, Instrument::Dast10, v.day, 0.3);
        }
        if age >= 65 && v.kind == VisitKind::Preventive {
            administer(d, c, ids, Instrument::Steadi, v.day, 0.3);
        }
        if let Some(born) = c.person.delivered
            && v.day >= born
            && v.day <= born + Months::new(12)
            && d.chance(0.8)
        {
            administer(d, c, ids, Instrument::Epds, v.day, 0.3);
        }
    }
}
