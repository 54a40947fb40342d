//! CMS69 Preventive Care and Screening: BMI Screening and Follow-Up Plan.
//! CQL: `PCSBMIScreenAndFollowUpFHIR` 0.2.000 (2025) and
//! `CMS69FHIRPCSBMIScreenAndFollowUp` 0.3.000 (2026); the two differ only in
//! retrieve profiles (handled by `conditions_pl`).

use crate::measure::attribution::Attribution;
use serde_json::Value;

use crate::measure::qicore::{Ctx, LOINC, Ver, do_not_perform, is_problem, is_vital_sign};
use crate::measure::qicore::{is_active, qicore_extension};
use crate::measure::record::{any_in_vs, in_vs, instant, is_code, period, quantity, to_interval};
use crate::measure::time::{Bound, Dt, Iv, Prec, le};
use crate::measure::{GroupResult, Populations, yes};

const ENCOUNTER_BMI: &str = "2.16.840.1.113883.3.600.1.1751";
const FOLLOW_UP_HIGH: &str = "2.16.840.1.113883.3.600.1.1525";
const FOLLOW_UP_LOW: &str = "2.16.840.1.113883.3.600.1.1528";
const MEDICAL_REASON: &str = "2.16.840.1.113883.3.526.3.1007";
const MEDS_HIGH: &str = "2.16.840.1.113883.3.526.3.1561";
const MEDS_LOW: &str = "2.16.840.1.113883.3.526.3.1562";
const OVERWEIGHT: &str = "2.16.840.1.113762.1.4.1047.502";
const DECLINED: &str = "2.16.840.1.113883.3.526.3.1582";
const PREGNANCY: &str = "2.16.840.1.113883.3.600.1.1623";
const REFERRALS: &str = "2.16.840.1.113883.3.600.1.1527";
const UNDERWEIGHT: &str = "2.16.840.1.113883.3.526.3.1563";
const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    ENCOUNTER_BMI,
    FOLLOW_UP_HIGH,
    FOLLOW_UP_LOW,
    MEDICAL_REASON,
    MEDS_HIGH,
    MEDS_LOW,
    OVERWEIGHT,
    DECLINED,
    PREGNANCY,
    REFERRALS,
    UNDERWEIGHT,
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let encounters = qualifying_encounters(ctx);
    let initial = encounters.iter().any(|(_, p)| {
        p.start()
            .and_then(|s| ctx.rec.age_at(s.naive_date()))
            .is_some_and(|a| a >= 18)
    });
    let m = Cms69 { ctx, encounters };
    vec![GroupResult::plain(Populations::proportion(
        initial,
        || ctx.has_hospice() || ctx.has_palliative_care() || m.pregnant(),
        || m.numerator(),
        || m.follow_up_refused() || m.bmi_not_done(),
    ))]
}

/// `"Qualifying Encounter During Day Of Measurement Period"`: not virtual, finished.
fn qualifying_encounters<'a>(ctx: &'a Ctx) -> Vec<(&'a Value, Iv)> {
    ctx.of("Encounter", |e| {
        any_in_vs(&e["type"], ctx.vs, ENCOUNTER_BMI)
            && e["status"] == "finished"
            && e["class"]["code"] != "VR"
    })
    .filter_map(|e| Some((e, period(&e["period"])?)))
    .filter(|(_, p)| yes(p.during(&ctx.mp, Prec::Day)))
    .collect()
}

struct Cms69<'a> {
    ctx: &'a Ctx<'a>,
    encounters: Vec<(&'a Value, Iv)>,
}

fn is_health_concern(c: &Value) -> bool {
    c["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|cc| {
            crate::measure::record::codings(cc)
                .map(|(_, code)| code)
                .collect::<Vec<_>>()
        })
        .any(|code| code == "health-concern")
}

impl Cms69<'_> {
    /// `[ConditionProblemsHealthConcerns: oid]` (2026) or `[Condition: oid]` (2025).
    fn conditions_pl<'b>(&'b self, oid: &'b str) -> impl Iterator<Item = &'b Value> + 'b {
        let ctx = self.ctx;
        ctx.of("Condition", move |c| {
            in_vs(&c["code"], ctx.vs, oid) && (ctx.ver == Ver::Qi411 || is_problem(c))
        })
    }

    /// `"Is Pregnant During Day Of Measurement Period"`.
    fn pregnant(&self) -> bool {
        let ctx = self.ctx;
        !self.encounters.is_empty()
            && ctx.conditions_unverified(PREGNANCY).any(|c| {
                is_code(&c["clinicalStatus"], CLINICAL, "active") && yes(ctx.prevalent_in_mp(c))
            })
    }

    /// `"BMI During Measurement Period"` with each value (kg/m2).
    fn bmis(&self) -> Vec<f64> {
        let ctx = self.ctx;
        ctx.of("Observation", is_bmi)
            .filter(|o| crate::measure::qicore::result_final(o))
            .filter(|o| {
                ctx.effective(o)
                    .is_some_and(|iv| yes(iv.during(&ctx.mp, Prec::Day)))
            })
            .filter_map(|o| {
                quantity(&o["valueQuantity"])
                    .filter(|(_, u)| *u == "kg/m2")
                    .map(|(v, _)| v)
            })
            .filter(|v| *v > 0.0)
            .collect()
    }

    fn numerator(&self) -> bool {
        let bmis = self.bmis();
        let high = bmis.iter().any(|v| *v >= 25.0);
        let low = bmis.iter().any(|v| *v < 18.5);
        let normal = bmis.iter().any(|v| (18.5..25.0).contains(v)) && !high && !low;
        normal || (high && self.high_follow_up()) || (low && self.low_follow_up())
    }

    /// `Coalesce(performed.toInterval(), authoredOn.toInterval()) starts during day of MP`.
    fn starts_in_mp(&self, r: &Value) -> bool {
        let ctx = self.ctx;
        let iv = to_interval(r, "performed", ctx.rec)
            .or_else(|| instant(&r["authoredOn"]).map(Iv::point));
        iv.is_some_and(|iv| yes(iv.starts_during(&ctx.mp, Prec::Day)))
    }

    /// Requests (not "do not") for the follow-up sets and medications.
    fn orders<'b>(
        &'b self,
        services: &'b [&'b str],
        meds: &'b str,
    ) -> impl Iterator<Item = &'b Value> + 'b {
        let ctx = self.ctx;
        let sr = ctx.of("ServiceRequest", move |s| {
            !do_not_perform(s) && services.iter().any(|oid| in_vs(&s["code"], ctx.vs, oid))
        });
        let mr = ctx.of("MedicationRequest", move |m| {
            !do_not_perform(m) && in_vs(&m["medicationCodeableConcept"], ctx.vs, meds)
        });
        sr.chain(mr)
    }

    /// `"High BMI Interventions Ordered"` ∪ `"… Performed"`, started in the period.
    fn high_follow_up(&self) -> bool {
        let ctx = self.ctx;
        let ordered = self
            .orders(&[FOLLOW_UP_HIGH, REFERRALS], MEDS_HIGH)
            .filter(|r| {
                any_in_vs(&r["reasonCode"], ctx.vs, OVERWEIGHT)
                    || instant(&r["authoredOn"]).is_some_and(|at| {
                        self.conditions_pl(OVERWEIGHT).any(|c| {
                            (is_problem(c) || is_health_concern(c))
                                && is_active(c)
                                && self.began_by(c, at)
                        })
                    })
            });
        let performed = ctx
            .of("Procedure", |p| in_vs(&p["code"], ctx.vs, FOLLOW_UP_HIGH))
            .filter(|p| {
                any_in_vs(&p["reasonCode"], ctx.vs, OVERWEIGHT)
                    || self.performed_start(p).is_some_and(|at| {
                        self.conditions_pl(OVERWEIGHT)
                            .any(|c| self.began_by(c, at) && !self.ended_before(c, at))
                    })
            });
        ordered.chain(performed).any(|r| self.starts_in_mp(r))
    }

    /// `"Low BMI Interventions Ordered"` ∪ `"… Performed"`, started in the period.
    fn low_follow_up(&self) -> bool {
        let ctx = self.ctx;
        let in_mp = |at: Dt| yes(ctx.mp.contains(Bound::at(at), Prec::Day));
        let ordered = self
            .orders(&[FOLLOW_UP_LOW, REFERRALS], MEDS_LOW)
            .filter(|r| {
                any_in_vs(&r["reasonCode"], ctx.vs, UNDERWEIGHT)
                    || instant(&r["authoredOn"]).is_some_and(|at| {
                        in_mp(at)
                            && self.conditions_pl(UNDERWEIGHT).any(|c| {
                                is_health_concern(c) && is_active(c) && self.began_by(c, at)
                            })
                    })
            });
        let performed = ctx
            .of("Procedure", |p| in_vs(&p["code"], ctx.vs, FOLLOW_UP_LOW))
            .filter(|p| {
                (any_in_vs(&p["reasonCode"], ctx.vs, UNDERWEIGHT) && p["status"] == "completed")
                    || self.performed_start(p).is_some_and(|at| {
                        ctx.performed(p)
                            .is_some_and(|iv| yes(iv.during(&ctx.mp, Prec::Day)))
                            && self.conditions_pl(UNDERWEIGHT).any(|c| {
                                is_health_concern(c)
                                    && is_active(c)
                                    && self.began_by(c, at)
                                    && !self.ended_before(c, at)
                            })
                    })
            });
        ordered.chain(performed).any(|r| self.starts_in_mp(r))
    }

    fn performed_start(&self, p: &Value) -> Option<Dt> {
        self.ctx.performed(p).and_then(|iv| iv.start())
    }

    /// `prevalenceInterval() starts before or on day of at`.
    fn began_by(&self, c: &Value, at: Dt) -> bool {
        yes(le(self.ctx.prevalence(c).lo, Bound::at(at), Prec::Day))
    }

    /// `prevalenceInterval() ends before day of at`.
    fn ended_before(&self, c: &Value, at: Dt) -> bool {
        let hi = self.ctx.prevalence(c).hi;
        yes(le(hi, Bound::at(at), Prec::Day)) && !yes(le(Bound::at(at), hi, Prec::Day))
    }

    /// `authoredOn same day as start of` some qualifying encounter.
    fn same_day_as_encounter(&self, r: &Value) -> bool {
        instant(&r["authoredOn"]).is_some_and(|at| {
            self.encounters.iter().any(|(_, p)| {
                p.start().and_then(|s| at.cmp_at(&s, Prec::Day)) == Some(std::cmp::Ordering::Equal)
            })
        })
    }

    /// `"Medical Reason For Not Documenting A Follow Up Plan For Low Or High BMI"`.
    /// The QI-Core model info maps ServiceNotRequested `reasonRefused` to the
    /// `qicore-doNotPerformReason` extension; the older `qicore-reasonRefused`
    /// is read too.
    fn follow_up_refused(&self) -> bool {
        let ctx = self.ctx;
        let services = ctx
            .of("ServiceRequest", |s| {
                do_not_perform(s)
                    && [REFERRALS, FOLLOW_UP_HIGH, FOLLOW_UP_LOW]
                        .iter()
                        .any(|oid| in_vs(&s["code"], ctx.vs, oid))
                    && s["status"] == "completed"
                    && ["qicore-doNotPerformReason", "qicore-reasonRefused"]
                        .iter()
                        .any(|x| {
                            qicore_extension(s, x).is_some_and(|r| in_vs(r, ctx.vs, MEDICAL_REASON))
                        })
            })
            .any(|s| self.same_day_as_encounter(s));
        services
            || ctx
                .of("MedicationRequest", |m| {
                    do_not_perform(m)
                        && (in_vs(&m["medicationCodeableConcept"], ctx.vs, MEDS_HIGH)
                            || in_vs(&m["medicationCodeableConcept"], ctx.vs, MEDS_LOW))
                        && m["status"] == "completed"
                        && any_in_vs(&m["reasonCode"], ctx.vs, MEDICAL_REASON)
                })
                .any(|m| self.same_day_as_encounter(m))
    }

    /// `"Medical Reason Or Patient Reason For Not Performing BMI Exam"`.
    fn bmi_not_done(&self) -> bool {
        let ctx = self.ctx;
        ctx.of("Observation", |o| {
            is_code(&o["code"], LOINC, "39156-5")
                && o["status"] == "cancelled"
                && qicore_extension(o, "qicore-notDoneReason")
                    .is_some_and(|r| in_vs(r, ctx.vs, DECLINED) || in_vs(r, ctx.vs, MEDICAL_REASON))
        })
        .any(|o| {
            let end = ctx.effective(o).and_then(|iv| iv.end());
            end.is_some_and(|end| {
                self.encounters.iter().any(|(_, p)| {
                    p.start().and_then(|s| end.cmp_at(&s, Prec::Day))
                        == Some(std::cmp::Ordering::Equal)
                })
            })
        })
    }
}

/// A BMI observation (US Core / QI-Core BMI profile).
fn is_bmi(o: &Value) -> bool {
    is_vital_sign(o, &["us-core-bmi", "observation-bmi"], "39156-5")
}
