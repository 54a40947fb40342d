//! Referral timelines and the building block 7/8 numbers, pure.
//!
//! A referral's timeline is read off its Task's versions: made (authoredOn),
//! package delivered (the outbox, or for a pull partner its first touch),
//! accepted, first visit scheduled (business status 5.1.1), first visit
//! occurred (5.1.4, or completion), treatment plan received (a CarePlan
//! output) and visit summary received (a DocumentReference output).
//!
//! Numbers for a period, each with its patients:
//! - connected (BB7.Y2.3, target 50%): patients with a positive behavioral
//!   health screen in the period, and those of them with a referral accepted
//!   by a partner, made no earlier than 30 days before the screen;
//! - two-way exchange within 7 days (BB8): accepted referrals made in the
//!   period; those whose package reached the partner within 7 days of the
//!   referral and whose visit summary or plan came back within 7 days of the
//!   first visit;
//! - median days from referral to first visit (referrals made in the period);
//! - open referrals past the compact's agreed days to first visit.

use serde_json::Value;

use crate::fhir::datetime::parse_range;
use crate::rules::toc_numbers::Ratio;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub made_ms: Option<i64>,
    pub delivered_ms: Option<i64>,
    pub accepted_ms: Option<i64>,
    pub scheduled_ms: Option<i64>,
    pub first_visit_ms: Option<i64>,
    pub plan_ms: Option<i64>,
    pub summary_ms: Option<i64>,
}

/// One referral as the numbers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Referral {
    pub id: String,
    pub patient: String,
    pub open: bool,
    /// When the agreed days to first visit run out.
    pub due_ms: Option<i64>,
    pub t: Timeline,
}

/// The timeline of a Task from its versions (oldest first, with their
/// lastUpdated), and the time its package was delivered, if pushed.
pub fn timeline(versions: &[(i64, Value)], pushed_ms: Option<i64>) -> Timeline {
    let first =
        |pred: &dyn Fn(&Value) -> bool| versions.iter().find(|(_, v)| pred(v)).map(|(at, _)| *at);
    let business = |v: &Value, code: &str| {
        v["businessStatus"]["coding"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["code"] == code))
    };
    let status_in = |v: &Value, s: &[&str]| v["status"].as_str().is_some_and(|x| s.contains(&x));
    let output = |v: &Value, rt: &str| {
        v["output"].as_array().is_some_and(|o| {
            o.iter().any(|o| {
                o["valueReference"]["reference"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(&format!("{rt}/")))
            })
        })
    };
    let touched = first(&|v| !status_in(v, &["draft", "requested"]));
    Timeline {
        made_ms: versions.first().and_then(|(at, v)| {
            v["authoredOn"]
                .as_str()
                .and_then(parse_range)
                .map(|r| r.start)
                .or(Some(*at))
        }),
        delivered_ms: pushed_ms.or(touched),
        accepted_ms: first(&|v| status_in(v, &["accepted", "in-progress", "on-hold", "completed"])),
        scheduled_ms: first(&|v| business(v, "5.1.1")),
        first_visit_ms: first(&|v| business(v, "5.1.4") || status_in(v, &["completed"])),
        plan_ms: first(&|v| output(v, "CarePlan")),
        summary_ms: first(&|v| output(v, "DocumentReference")),
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Numbers {
    pub connected: Ratio,
    pub two_way_7d: Ratio,
    pub median_days_to_first_visit: Option<f64>,
    /// (referral id, patient) of open referrals past the agreed days.
    pub past_agreed: Vec<(String, String)>,
}

/// `screens`: (patient, time) of positive behavioral-health screens.
pub fn numbers(
    screens: &[(String, i64)],
    referrals: &[Referral],
    start: i64,
    end: i64,
    now: i64,
) -> Numbers {
    let mut n = Numbers::default();
    let in_period = |t: i64| t >= start && t < end;
    let mut firsts: Vec<(String, i64)> = Vec::new();
    for (p, at) in screens.iter().filter(|(_, at)| in_period(*at)) {
        match firsts.iter_mut().find(|(q, _)| q == p) {
            Some(f) => f.1 = f.1.min(*at),
            None => firsts.push((p.clone(), *at)),
        }
    }
    firsts.sort();
    for (p, at) in &firsts {
        n.connected.denominator.push(p.clone());
        let connected = referrals.iter().any(|r| {
            &r.patient == p
                && r.t.accepted_ms.is_some()
                && r.t.made_ms.is_some_and(|m| m >= at - 30 * DAY_MS)
        });
        if connected {
            n.connected.numerator.push(p.clone());
        }
    }
    let made_in = |r: &&Referral| r.t.made_ms.is_some_and(in_period);
    let mut visit_days = Vec::new();
    for r in referrals.iter().filter(made_in) {
        let made = r.t.made_ms.unwrap_or_default();
        if let Some(v) = r.t.first_visit_ms {
            visit_days.push((v - made) as f64 / DAY_MS as f64);
        }
        if r.t.accepted_ms.is_none() {
            continue;
        }
        n.two_way_7d.denominator.push(r.patient.clone());
        let out = r.t.delivered_ms.is_some_and(|d| d - made <= 7 * DAY_MS);
        let back = [r.t.summary_ms, r.t.plan_ms].into_iter().flatten().min();
        let inbound =
            matches!((r.t.first_visit_ms, back), (Some(v), Some(b)) if b - v <= 7 * DAY_MS);
        if out && inbound {
            n.two_way_7d.numerator.push(r.patient.clone());
        }
    }
    n.median_days_to_first_visit = median(&mut visit_days);
    n.past_agreed = referrals
        .iter()
        .filter(|r| r.open && r.t.first_visit_ms.is_none() && r.due_ms.is_some_and(|d| d < now))
        .map(|r| (r.id.clone(), r.patient.clone()))
        .collect();
    n
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: i64 = DAY_MS;

    #[test]
    fn a_timeline_is_read_off_the_task_versions() {
        let bs = |c: &str| json!({"coding": [{"code": c}]});
        let v = [
            (
                10 * D,
                json!({"status": "requested", "authoredOn": "1970-01-10T00:00:00Z"}),
            ),
            (
                11 * D,
                json!({"status": "accepted", "businessStatus": bs("3.0")}),
            ),
            (
                12 * D,
                json!({"status": "in-progress", "businessStatus": bs("5.1.1")}),
            ),
            (
                20 * D,
                json!({"status": "in-progress", "businessStatus": bs("5.1.4")}),
            ),
            (
                22 * D,
                json!({"status": "in-progress", "businessStatus": bs("5.1.4"), "output": [{"valueReference": {"reference": "DocumentReference/s"}}]}),
            ),
            (
                23 * D,
                json!({"status": "completed", "output": [{"valueReference": {"reference": "DocumentReference/s"}}, {"valueReference": {"reference": "CarePlan/c"}}]}),
            ),
        ];
        let t = timeline(&v, None);
        assert_eq!(t.made_ms, Some(9 * D), "authoredOn, 1970-01-10 is day 9");
        assert_eq!(
            t.delivered_ms,
            Some(11 * D),
            "pull: the partner's first touch"
        );
        assert_eq!(
            (t.accepted_ms, t.scheduled_ms, t.first_visit_ms),
            (Some(11 * D), Some(12 * D), Some(20 * D))
        );
        assert_eq!((t.summary_ms, t.plan_ms), (Some(22 * D), Some(23 * D)));
        assert_eq!(
            timeline(&v, Some(10 * D + 5)).delivered_ms,
            Some(10 * D + 5),
            "push: the outbox time"
        );
    }

    fn referral(
        id: &str,
        p: &str,
        made: i64,
        accepted: bool,
        visit: Option<i64>,
        summary: Option<i64>,
    ) -> Referral {
        Referral {
            id: id.into(),
            patient: p.into(),
            open: visit.is_none(),
            due_ms: Some(made + 14 * D),
            t: Timeline {
                made_ms: Some(made),
                delivered_ms: Some(made + D),
                accepted_ms: accepted.then_some(made + D),
                first_visit_ms: visit,
                summary_ms: summary,
                ..Default::default()
            },
        }
    }

    /// Hand-built quarter [100, 200) days: known answers.
    #[test]
    fn the_numbers_of_a_hand_built_quarter() {
        let (start, end, now) = (100 * D, 200 * D, 210 * D);
        let screens = vec![
            ("a".to_string(), 110 * D), // referred, accepted, visit day 120, summary day 122: two-way
            ("b".to_string(), 130 * D), // referred, accepted, visit day 140, summary day 150: late
            ("c".to_string(), 150 * D), // referred, never answered: past agreed days by now
            ("d".to_string(), 160 * D), // positive, never referred
            ("e".to_string(), 90 * D),  // screened before the period: not counted
            ("a".to_string(), 170 * D), // a second screen of a: one patient
        ];
        let referrals = vec![
            referral("ra", "a", 111 * D, true, Some(120 * D), Some(122 * D)),
            referral("rb", "b", 131 * D, true, Some(140 * D), Some(150 * D)),
            referral("rc", "c", 151 * D, false, None, None),
        ];
        let n = numbers(&screens, &referrals, start, end, now);
        assert_eq!(n.connected.denominator, ["a", "b", "c", "d"]);
        assert_eq!(n.connected.numerator, ["a", "b"]);
        assert_eq!(n.connected.percent(), Some(50.0));
        assert_eq!(n.two_way_7d.denominator, ["a", "b"]);
        assert_eq!(n.two_way_7d.numerator, ["a"]);
        assert_eq!(
            n.median_days_to_first_visit,
            Some(9.0),
            "9 days for a and for b"
        );
        assert_eq!(n.past_agreed, [("rc".to_string(), "c".to_string())]);
    }
}
