//! CMS2 Preventive Care and Screening: Screening for Depression and Follow-Up Plan.
//! CQL: `PCSDepressionScreenAndFollowUpFHIR` 0.2.000 (2025) and
//! `CMS2FHIRPCSDepressionScreenAndFollowUp` 0.4.001 (2026).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::TELEPHONE_VISITS;
use crate::measure::medication::request_period_in_time;
use crate::measure::qicore::qicore_extension;
use crate::measure::qicore::{Ctx, LOINC, SNOMED, Ver, completed, is_problem, is_screening};
use crate::measure::record::{choice, in_vs, instant, is_code, period};
use crate::measure::time::{Bound, Dt, Iv, Prec, le};
use crate::measure::{GroupResult, Populations, yes};

const ENCOUNTER_TO_SCREEN: &str = "2.16.840.1.113883.3.600.1916";
const PT_EVALUATION: &str = "2.16.840.1.113883.3.526.3.1022";
const BIPOLAR: &str = "2.16.840.1.113883.3.67.1.101.1.128";
const MEDICAL_REASON: &str = "2.16.840.1.113883.3.526.3.1007";

/// What differs between the adolescent and the adult branch.
struct Branch {
    screening: &'static str,
    medications: &'static str,
    referral: &'static str,
    follow_up: &'static str,
}

const ADOLESCENT: Branch = Branch {
    screening: "73831-0",
    medications: "2.16.840.1.113883.3.526.3.1567",
    referral: "2.16.840.1.113883.3.526.3.1570",
    follow_up: "2.16.840.1.113883.3.526.3.1569",
};

const ADULT: Branch = Branch {
    screening: "73832-8",
    medications: "2.16.840.1.113883.3.526.3.1566",
    referral: "2.16.840.1.113883.3.526.3.1571",
    follow_up: "2.16.840.1.113883.3.526.3.1568",
};

const POSITIVE: &str = "428181000124104";
const NEGATIVE: &str = "428171000124102";
const DECLINED: &str = "720834000";

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    ENCOUNTER_TO_SCREEN,
    PT_EVALUATION,
    BIPOLAR,
    MEDICAL_REASON,
    TELEPHONE_VISITS,
    "2.16.840.1.113883.3.526.3.1567",
    "2.16.840.1.113883.3.526.3.1570",
    "2.16.840.1.113883.3.526.3.1569",
    "2.16.840.1.113883.3.526.3.1566",
    "2.16.840.1.113883.3.526.3.1571",
    "2.16.840.1.113883.3.526.3.1568",
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let encounters = qualifying_encounters(ctx);
    let age = ctx.age_at_start();
    let initial = age.is_some_and(|a| a >= 12) && !encounters.is_empty();
    let m = Cms2 { ctx, encounters };
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || m.bipolar_before_encounter(),
        || match age {
            Some(12..=16) => m.met(&ADOLESCENT),
            Some(17) => m.met(&ADOLESCENT) || m.met(&ADULT),
            Some(_) => m.met(&ADULT),
            None => false,
        },
        || m.excepted(&ADOLESCENT) || m.excepted(&ADULT),
    ))]
}

/// `"Qualifying Encounter During Measurement Period"`, with each period.
fn qualifying_encounters<'a>(ctx: &'a Ctx) -> Vec<(&'a Value, Iv)> {
    [ENCOUNTER_TO_SCREEN, PT_EVALUATION, TELEPHONE_VISITS]
        .iter()
        .flat_map(|oid| {
            ctx.of("Encounter", move |e| {
                crate::measure::record::any_in_vs(&e["type"], ctx.vs, oid)
            })
        })
        .filter(|e| e["status"] == "finished")
        .filter_map(|e| Some((e, period(&e["period"])?)))
        .filter(|(_, p)| yes(p.during(&ctx.mp, Prec::Day)))
        .collect()
}

struct Cms2<'a> {
    ctx: &'a Ctx<'a>,
    encounters: Vec<(&'a Value, Iv)>,
}

/// `x in Interval[anchor - days, anchor]` at day precision.
fn within_days_before(x: Option<Dt>, anchor: Option<Dt>, days: i64) -> bool {
    let (Some(x), Some(a)) = (x, anchor) else {
        return false;
    };
    yes(Iv::closed(a.add_days(-days), a).contains(Bound::at(x), Prec::Day))
}

impl Cms2<'_> {
    /// `"History of Bipolar Diagnosis Before Qualifying Encounter"`.
    fn bipolar_before_encounter(&self) -> bool {
        let ctx = self.ctx;
        ctx.of("Condition", |c| {
            in_vs(&c["code"], ctx.vs, BIPOLAR) && is_problem(c)
        })
        .any(|c| {
            let onset = ctx.prevalence(c).lo;
            self.encounters.iter().any(|(_, p)| {
                let Some(start) = p.start() else { return false };
                // starts before [day of] start of the encounter
                let p = if ctx.ver == Ver::Qi600 {
                    Prec::Day
                } else {
                    Prec::Unstated
                };
                yes(le(onset, Bound::at(start), p)) && !yes(le(Bound::at(start), onset, p))
            })
        })
    }

    /// Screenings of a branch tied to a qualifying encounter, with a result.
    fn screenings(&self, b: &Branch) -> Vec<(&Value, Iv)> {
        let ctx = self.ctx;
        ctx.of("Observation", |o| {
            is_code(&o["code"], LOINC, b.screening)
                && choice(o, "value").is_some()
                && match ctx.ver {
                    Ver::Qi411 => o["status"] == "final",
                    Ver::Qi600 => {
                        matches!(o["status"].as_str(), Some("final" | "corrected"))
                            && is_screening(o)
                    }
                }
        })
        .filter_map(|o| Some((o, ctx.effective(o)?)))
        .filter(|(_, iv)| {
            self.encounters
                .iter()
                .any(|(_, p)| within_days_before(iv.end(), p.start(), 14))
        })
        .collect()
    }

    /// `"Most Recent … Depression Screening"`: the last by start time.
    fn most_recent(&self, b: &Branch) -> Option<(&Value, Iv)> {
        let mut found = self.screenings(b);
        found.sort_by(|x, y| crate::measure::exclusions::cmp_opt(x.1.start(), y.1.start()));
        found.pop()
    }

    /// Negative most recent screening, or positive with follow-up.
    fn met(&self, b: &Branch) -> bool {
        let Some((screen, iv)) = self.most_recent(b) else {
            return false;
        };
        let value = &screen["valueCodeableConcept"];
        if is_code(value, SNOMED, NEGATIVE) {
            return true;
        }
        if !is_code(value, SNOMED, POSITIVE) {
            return false;
        }
        self.encounters
            .iter()
            .filter(|(_, p)| within_days_before(iv.start(), p.start(), 14))
            .any(|(_, p)| self.follow_ups(b, &iv, p))
    }

    /// A follow-up for a positive screen, around encounter period `enc`.
    fn follow_ups(&self, b: &Branch, screen: &Iv, enc: &Iv) -> bool {
        let ctx = self.ctx;
        let timely = |performed: Option<Dt>, authored: Option<Dt>| {
            let during = performed.is_some_and(|s| yes(enc.contains(Bound::at(s), Prec::Unstated)));
            let after = match (authored, enc.end()) {
                (Some(a), Some(end)) => {
                    yes(Iv::closed(end, end.add_days(2)).contains(Bound::at(a), Prec::Day))
                }
                _ => false,
            };
            let when = performed.or(authored);
            (during || after) && when.is_some_and(|w| yes(ctx.mp.contains(Bound::at(w), Prec::Day)))
        };
        let meds = ctx
            .of("MedicationRequest", |m| {
                in_vs(&m["medicationCodeableConcept"], ctx.vs, b.medications)
                    && matches!(m["status"].as_str(), Some("active" | "completed"))
                    && match ctx.ver {
                        Ver::Qi411 => m["intent"] == "order",
                        Ver::Qi600 => ctx.ordered(m) && self.medication_spans(m, screen),
                    }
            })
            .any(|m| timely(None, instant(&m["authoredOn"])));
        meds || ctx
            .of("ServiceRequest", |s| {
                in_vs(&s["code"], ctx.vs, b.referral)
                    && matches!(s["status"].as_str(), Some("active" | "completed"))
            })
            .any(|s| timely(None, instant(&s["authoredOn"])))
            || ctx
                .of("Procedure", |p| {
                    in_vs(&p["code"], ctx.vs, b.follow_up) && completed(p)
                })
                .any(|p| timely(ctx.performed(p).and_then(|iv| iv.start()), None))
    }

    /// 2026: the prescription's period (see `request_period_in_time`)
    /// overlaps after some qualifying encounter whose start the positive
    /// screen preceded by ≤ 14 days.
    fn medication_spans(&self, m: &Value, screen: &Iv) -> bool {
        let rx = request_period_in_time(m);
        self.encounters.iter().any(|(_, p)| {
            within_days_before(screen.start(), p.start(), 14)
                && yes(rx.overlaps(p, Prec::Day))
                && yes(le(p.hi, rx.hi, Prec::Day))
                && !yes(le(rx.hi, p.hi, Prec::Day))
        })
    }

    /// `"Medical or Patient Reason for Not Screening …"` and no screening.
    fn excepted(&self, b: &Branch) -> bool {
        let ctx = self.ctx;
        let reason = ctx
            .of("Observation", |o| {
                is_code(&o["code"], LOINC, b.screening) && o["status"] == "cancelled"
            })
            .filter(|o| {
                let r = qicore_extension(o, "qicore-notDoneReason");
                r.is_some_and(|r| is_code(r, SNOMED, DECLINED) || in_vs(r, ctx.vs, MEDICAL_REASON))
            })
            .any(|o| {
                let p = if ctx.ver == Ver::Qi600 {
                    Prec::Day
                } else {
                    Prec::Unstated
                };
                instant(&o["issued"]).is_some_and(|at| {
                    self.encounters
                        .iter()
                        .any(|(_, e)| yes(e.contains(Bound::at(at), p)))
                })
            });
        reason && self.screenings(b).is_empty()
    }
}
