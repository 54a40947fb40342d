//! Building block 9 numbers for one practice and period, pure: the share of
//! discharges with patient contact within 7 days (BB9.Y2.1, target 50%), the
//! share of inpatient discharges with medication reconciliation within 72 hours
//! (BB9.Y2.3b), and hours from discharge to the practice receiving the
//! notification (median and 90th percentile, BB9.Y2.3a). Every ratio keeps
//! its numerator and denominator patients so the evidence can be shown.

use crate::rules::transitions::FollowUp;

/// One follow-up Task as the numbers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFact {
    pub patient: String,
    pub kind: FollowUp,
    pub discharged_ms: i64,
    pub due_ms: i64,
    /// When the follow-up happened, if it did.
    pub done_ms: Option<i64>,
}

/// One discharge notification: when the stay ended and when Tandem received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub discharged_ms: i64,
    pub received_ms: i64,
}

/// A ratio with its patient lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ratio {
    pub numerator: Vec<String>,
    pub denominator: Vec<String>,
}

impl Ratio {
    pub fn percent(&self) -> Option<f64> {
        (!self.denominator.is_empty())
            .then(|| 100.0 * self.numerator.len() as f64 / self.denominator.len() as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Numbers {
    pub contact_7d: Ratio,
    pub med_rec_72h: Ratio,
    /// Hours from discharge to notification: (median, 90th percentile).
    pub notification_hours: Option<(f64, f64)>,
    /// Open follow-ups past their due time at `now`.
    pub overdue: Vec<String>,
}

/// The numbers for discharges in `[start, end)`.
pub fn numbers(
    tasks: &[TaskFact],
    receipts: &[Receipt],
    start: i64,
    end: i64,
    now: i64,
) -> Numbers {
    let mut n = Numbers::default();
    for t in tasks
        .iter()
        .filter(|t| (start..end).contains(&t.discharged_ms))
    {
        let ratio = match t.kind {
            FollowUp::Contact => &mut n.contact_7d,
            FollowUp::MedicationReconciliation => &mut n.med_rec_72h,
        };
        ratio.denominator.push(t.patient.clone());
        if t.done_ms.is_some_and(|d| d <= t.due_ms) {
            ratio.numerator.push(t.patient.clone());
        }
        if t.done_ms.is_none() && now > t.due_ms {
            n.overdue.push(t.patient.clone());
        }
    }
    let mut hours: Vec<f64> = receipts
        .iter()
        .filter(|r| (start..end).contains(&r.discharged_ms))
        .map(|r| (r.received_ms - r.discharged_ms) as f64 / 3_600_000.0)
        .collect();
    hours.sort_by(f64::total_cmp);
    if !hours.is_empty() {
        n.notification_hours = Some((quantile(&hours, 0.5), quantile(&hours, 0.9)));
    }
    n
}

/// One hospital stay as the readmission numbers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stay {
    /// `Encounter/…`.
    pub id: String,
    pub patient: String,
    /// The Encounter's class (v3 ActCode).
    pub class: String,
    pub admitted_ms: i64,
    pub discharged_ms: Option<i64>,
    /// For a mental-health or substance-use reason.
    pub behavioral: bool,
}

/// Stays that count as an index stay or a readmission: inpatient and
/// observation, not an ED visit that ended at the door.
fn inpatient(s: &Stay) -> bool {
    matches!(
        s.class.as_str(),
        "IMP" | "ACUTE" | "NONAC" | "OBSENC" | "SS"
    )
}

/// All-cause 30-day readmissions (Maine's Health Homes measure): the index
/// stays discharged in `[start, end)` — only those for a mental-health
/// reason when `behavioral_only` — and of them those followed by another
/// inpatient admission of the same patient within 30 days of the discharge.
/// Lower is better. Each list holds `Encounter/…` of the index stays.
pub fn readmissions(stays: &[Stay], start: i64, end: i64, behavioral_only: bool) -> Ratio {
    let mut r = Ratio::default();
    for s in stays.iter().filter(|s| inpatient(s)) {
        let Some(out) = s.discharged_ms.filter(|d| (start..end).contains(d)) else {
            continue;
        };
        if behavioral_only && !s.behavioral {
            continue;
        }
        r.denominator.push(s.id.clone());
        let back = stays.iter().any(|b| {
            b.id != s.id
                && b.patient == s.patient
                && inpatient(b)
                && crate::rules::transitions::is_readmission(out, b.admitted_ms)
        });
        if back {
            r.numerator.push(s.id.clone());
        }
    }
    r
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn t(p: &str, kind: FollowUp, at: i64, due_h: i64, done_h: Option<i64>) -> TaskFact {
        TaskFact {
            patient: p.into(),
            kind,
            discharged_ms: at,
            due_ms: at + due_h * H,
            done_ms: done_h.map(|d| at + d * H),
        }
    }

    #[test]
    fn readmissions_count_index_stays_discharged_in_the_period_and_followed_within_30_days() {
        const D: i64 = 24 * H;
        let stay = |id: &str, p: &str, class: &str, from: i64, to: i64, bh: bool| Stay {
            id: id.into(),
            patient: p.into(),
            class: class.into(),
            admitted_ms: from * D,
            discharged_ms: Some(to * D),
            behavioral: bh,
        };
        let stays = vec![
            // a: discharged day 10, back on day 40 (30 days later): counted.
            stay("a1", "a", "IMP", 5, 10, true),
            stay("a2", "a", "IMP", 40, 45, false),
            // b: back on day 41 (31 days): not a readmission.
            stay("b1", "b", "IMP", 5, 10, false),
            stay("b2", "b", "IMP", 41, 44, false),
            // c: an ED visit is neither an index stay nor a readmission.
            stay("c1", "c", "IMP", 5, 10, false),
            stay("c2", "c", "EMER", 12, 12, false),
            stay("c3", "c", "EMER", 1, 2, false),
            // d: discharged before the period.
            stay("d1", "d", "IMP", 0, 1, false),
            stay("d2", "d", "IMP", 9, 12, false),
        ];
        let all = readmissions(&stays, 2 * D, 60 * D, false);
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(all.denominator, ids(&["a1", "a2", "b1", "b2", "c1", "d2"]));
        assert_eq!(all.numerator, ids(&["a1"]));
        // Mental-health index stays only: a's first.
        let mh = readmissions(&stays, 2 * D, 60 * D, true);
        assert_eq!((mh.numerator, mh.denominator), (ids(&["a1"]), ids(&["a1"])));
    }

    #[test]
    fn hand_built_scenario() {
        // Four discharges in the period, one before it.
        let tasks = vec![
            t("a", FollowUp::Contact, 10 * H, 168, Some(48)),
            t(
                "a",
                FollowUp::MedicationReconciliation,
                10 * H,
                72,
                Some(48),
            ),
            t("b", FollowUp::Contact, 20 * H, 168, Some(200)), // late
            t(
                "b",
                FollowUp::MedicationReconciliation,
                20 * H,
                72,
                Some(80),
            ), // late
            t("c", FollowUp::Contact, 30 * H, 168, None),      // missing, overdue
            t("d", FollowUp::Contact, 40 * H, 168, Some(168)), // exactly on time
            t("e", FollowUp::Contact, -5 * H, 168, Some(1)),   // outside the period
        ];
        let receipts = vec![
            Receipt {
                discharged_ms: 10 * H,
                received_ms: 11 * H,
            },
            Receipt {
                discharged_ms: 20 * H,
                received_ms: 22 * H,
            },
            Receipt {
                discharged_ms: 30 * H,
                received_ms: 40 * H,
            },
        ];
        let n = numbers(&tasks, &receipts, 0, 100 * H, 1000 * H);
        assert_eq!(n.contact_7d.numerator, ["a", "d"]);
        assert_eq!(n.contact_7d.denominator, ["a", "b", "c", "d"]);
        assert_eq!(n.contact_7d.percent(), Some(50.0));
        assert_eq!(n.med_rec_72h.percent(), Some(50.0));
        assert_eq!(n.overdue, ["c"]);
        // Hours 1, 2, 10: median 2, p90 (nearest rank 3) 10.
        assert_eq!(n.notification_hours, Some((2.0, 10.0)));
        assert_eq!(numbers(&[], &[], 0, 1, 2).contact_7d.percent(), None);
    }
}
