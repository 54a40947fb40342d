//! Behavioral-health referrals and how the partner answers them.
//!
//! The population comes with one care compact: a community mental health
//! center that takes PHQ-9 totals of 10 or more and positive AUDIT-C screens,
//! refers automatically and pulls its work from Tandem (no endpoint). All of
//! a patient's history is loaded at one instant, [`REFERRED_AT`] in the
//! answered year, so a patient with any such screen gets one referral then.
//!
//! For each referred patient the partner's behaviour is drawn here, in hours
//! after the referral, from its own stream (adding it changed no other draw):
//! about 15% are never answered; a quarter of the rest are accepted only in
//! the second week; about 10% of those accepted have no visit yet; a visit's
//! summary comes back within a week (70%), late (15%) or never (15%).
//! `responses.ndjson` is that script, for a harness playing the partner;
//! the answers file states what Tandem must then report (`expected`).

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Value, json};

use super::answers::{expected_total, positive};
use super::dice::Dice;
use super::instruments::def;
use super::model::{Chart, Instrument};
use crate::rules::referral::compact::{Accepts, Mode, Partner};

/// The partner's Organization id.
pub const PARTNER_ID: &str = "generated-cmhc";
/// Days the compact allows from referral to first visit.
pub const AGREED_DAYS: u32 = 14;
/// Stream offset of the partner's draws (the patient streams are 0..N).
const STREAM: u64 = 0x5245_4645_5252_414c;

/// When the population is loaded (and every referral made): 15 December
/// 09:00 UTC of the answered year. No screen of the year is more than 30
/// days later (31 December is 16 days later), so every referral counts as
/// made "no earlier than 30 days before the screen".
pub fn referred_at(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 12, 15)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("a date")
}

/// When the numbers are asked for: 60 days after the referrals.
pub fn report_at(year: i32) -> NaiveDateTime {
    referred_at(year) + chrono::Duration::days(60)
}

/// The compact, in Tandem's `[[partners]]` configuration shape.
pub fn compact(tenants: Vec<String>) -> Partner {
    let accepts = vec![
        Accepts::at_least("phq-9", 10.0),
        Accepts::positive("audit-c"),
    ];
    Partner {
        name: Some("Generated Community Mental Health Center".into()),
        days_to_first_visit: AGREED_DAYS,
        ..Partner::new(PARTNER_ID, tenants, accepts, Mode::Auto)
    }
}

/// What the partner does, in hours after the referral; `None`: never.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    pub accepted: Option<u32>,
    pub scheduled: Option<u32>,
    pub first_visit: Option<u32>,
    pub summary: Option<u32>,
    pub completed: Option<u32>,
}

/// Whether the compact takes one of the patient's screens: its instrument,
/// and a total at the compact's minimum or, without one, positive.
pub fn referred(c: &Chart) -> bool {
    let takes = compact(Vec::new()).accepts;
    c.administrations.iter().any(|a| {
        takes.iter().any(|t| {
            t.instrument == def(a.instrument).key
                && match t.min_score {
                    Some(min) => expected_total(a).is_some_and(|x| x >= min),
                    None => positive(c, a) == Some(true),
                }
        })
    })
}

/// The partner's script for patient `i`, if the patient is referred.
pub fn script(seed: u64, i: usize, c: &Chart) -> Option<Script> {
    if !referred(c) {
        return None;
    }
    let mut d = Dice::new(seed ^ STREAM, i as u64);
    let mut s = Script::default();
    if d.chance(0.15) {
        return Some(s);
    }
    let accepted = if d.chance(0.75) {
        d.int(2, 156)
    } else {
        d.int(192, 336)
    };
    s.accepted = Some(accepted);
    if d.chance(0.10) {
        return Some(s);
    }
    let scheduled = accepted + d.int(1, 48);
    let visit = scheduled + d.int(24, 21 * 24);
    s.scheduled = Some(scheduled);
    s.first_visit = Some(visit);
    s.summary = match d.weighted(&[0.70, 0.15, 0.15]) {
        0 => Some(visit + d.int(1, 150)),
        1 => Some(visit + d.int(192, 480)),
        _ => None,
    };
    s.completed = Some(s.summary.unwrap_or(visit) + 2);
    Some(s)
}

/// Whether the patient has a positive behavioral-health screen in `year`
/// (the instruments Tandem's building-block 7 counts; not falls screens).
fn positive_in(c: &Chart, year: i32) -> bool {
    use chrono::Datelike;
    c.administrations.iter().any(|a| {
        a.instrument != Instrument::Steadi && a.day.year() == year && positive(c, a) == Some(true)
    })
}

/// The answers-file entry: the script's outcome as building blocks 7 and 8
/// define it. Connected: a positive screen in the year and an accepted
/// referral. Two-way within 7 days: accepted within 7 days (a pull partner's
/// package is delivered when it first acts) and a summary within 7 days of
/// the first visit. Open past the agreed days at [`report_at`]: no visit.
pub fn expected(c: &Chart, year: i32, s: Option<&Script>) -> Value {
    let Some(s) = s else {
        return Value::Null;
    };
    let week = 7 * 24;
    let two_way = s.accepted.is_some_and(|a| a <= week)
        && matches!((s.first_visit, s.summary), (Some(v), Some(b)) if b - v <= week);
    json!({
        "partner": PARTNER_ID,
        "connected": positive_in(c, year) && s.accepted.is_some(),
        "accepted": s.accepted.is_some(),
        "twoWayWithin7Days": two_way,
        "daysToFirstVisit": s.first_visit.map(|h| f64::from(h) / 24.0),
        "openPastAgreedDays": s.first_visit.is_none(),
    })
}

/// One line of `responses.ndjson`.
pub fn response_line(patient: &str, s: &Script) -> Value {
    json!({
        "patient": patient,
        "acceptedAfterHours": s.accepted,
        "scheduledAfterHours": s.scheduled,
        "firstVisitAfterHours": s.first_visit,
        "summaryAfterHours": s.summary,
        "completedAfterHours": s.completed,
    })
}
