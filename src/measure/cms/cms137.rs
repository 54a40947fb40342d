//! CMS137 Initiation and Engagement of Substance Use Disorder Treatment —
//! two groups (initiation within 14 days of the first SUD episode;
//! engagement within 34 days after initiation), stratified by age.
//! CQL: `InitiationandEngagementofSubstanceUseDisorderTreatmentFHIR` 0.0.002
//! (2025; no 2026 FHIR version in the bundled content).
//!
//! CQL timing phrases used here, as the translator expands them (day precision):
//! `A starts N days or less before B` = `start A in [B − N days, B)`;
//! `A N days or less after B` = `A in (B, B + N days]`;
//! `A during Interval[d, d + 14 days)` = `d ≤ A < d + 14 days`.

use crate::measure::attribution::Attribution;
use serde_json::Value;

use super::vs::{OFFICE_VISIT, TELEPHONE_VISITS, VIRTUAL_ENCOUNTER};
use crate::measure::qicore::{Ctx, completed};
use crate::measure::record::{any_in_vs, in_vs, instant, period, ref_id};
use crate::measure::time::{Bound, Dt, Iv, Prec, le};
use crate::measure::{GroupResult, Populations, yes};

const ED_VISIT: &str = "2.16.840.1.113883.3.464.1003.101.12.1010";
const DETOX: &str = "2.16.840.1.113883.3.464.1003.101.12.1059";
const INITIAL_INPATIENT: &str = "2.16.840.1.113883.3.464.1003.101.12.1004";
const DISCHARGE_SAME_DAY: &str = "2.16.840.1.113883.3.464.1003.101.12.1006";
const DISCHARGE_INPATIENT: &str = "2.16.840.1.113883.3.464.1003.101.12.1007";
const PSYCHOTHERAPY: &str = "2.16.840.1.113883.3.526.3.1496";
const SUD: &str = "2.16.840.1.113883.3.464.1003.106.12.1001";
const LA_MED: &str = "2.16.840.1.113883.3.464.1003.1149";
const LA_ADMIN: &str = "2.16.840.1.113883.3.464.1003.1156";
const SA_MED: &str = "2.16.840.1.113883.3.464.1003.1150";
const SA_ADMIN: &str = "2.16.840.1.113883.3.464.1003.1157";
const SUD_TREATMENT: &str = "2.16.840.1.113883.3.464.1003.106.12.1005";

const QUALIFYING: &[&str] = &[
    OFFICE_VISIT,
    ED_VISIT,
    DETOX,
    INITIAL_INPATIENT,
    DISCHARGE_SAME_DAY,
    DISCHARGE_INPATIENT,
    TELEPHONE_VISITS,
    VIRTUAL_ENCOUNTER,
];

/// Attributed to the clinician who performed the qualifying encounter.
pub const ATTRIBUTION: Attribution = Attribution::Encounter { lookback_months: 0 };

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    ED_VISIT,
    DETOX,
    INITIAL_INPATIENT,
    DISCHARGE_SAME_DAY,
    DISCHARGE_INPATIENT,
    PSYCHOTHERAPY,
    SUD,
    LA_MED,
    LA_ADMIN,
    SA_MED,
    SA_ADMIN,
    SUD_TREATMENT,
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let age = ctx.age_at_start();
    let strata = vec![
        (
            "Stratification 1",
            age.is_some_and(|a| (13..=17).contains(&a)),
        ),
        (
            "Stratification 2",
            age.is_some_and(|a| (18..=64).contains(&a)),
        ),
        ("Stratification 3", age.is_some_and(|a| a >= 65)),
    ];
    let m = Cms137 { ctx };
    let episode = if age.is_some_and(|a| a >= 13) {
        m.first_episode()
    } else {
        None
    };
    let episode = episode.filter(|(_, d0)| !m.history(*d0));
    let group = |numerator: &dyn Fn(&Value, Dt) -> bool| {
        let populations = match episode {
            Some((e, d0)) => {
                Populations::proportion(true, || ctx.has_hospice(), || numerator(e, d0), || false)
            }
            None => Populations::default(),
        };
        GroupResult {
            populations,
            strata: strata.clone(),
        }
    };
    vec![
        group(&|e, d0| m.initiation(e, d0).is_some()),
        group(&|e, d0| m.initiation(e, d0).is_some_and(|init| m.engaged(init))),
    ]
}

struct Cms137<'a> {
    ctx: &'a Ctx<'a>,
}

/// `x in [anchor − days, anchor)` at day precision.
fn days_or_less_before(x: Dt, anchor: Dt, days: i64) -> bool {
    yes(
        Iv::new(Some(anchor.add_days(-days)), true, Some(anchor), false)
            .contains(Bound::at(x), Prec::Day),
    )
}

/// `x in (anchor, anchor + days]` at day precision.
fn days_or_less_after(x: Dt, anchor: Dt, days: i64) -> bool {
    yes(
        Iv::new(Some(anchor), false, Some(anchor.add_days(days)), true)
            .contains(Bound::at(x), Prec::Day),
    )
}

/// `x during Interval[d0, d0 + 14 days)`.
fn within_14(x: Dt, d0: Dt) -> bool {
    yes(Iv::new(Some(d0), true, Some(d0.add_days(14)), false).contains(Bound::at(x), Prec::Day))
}

impl<'a> Cms137<'a> {
    /// Performed encounters of the qualifying types.
    fn qualifying(&self) -> impl Iterator<Item = &'a Value> + '_ {
        let ctx = self.ctx;
        ctx.of("Encounter", |e| {
            ctx.encounter_performed(e)
                && QUALIFYING
                    .iter()
                    .any(|oid| any_in_vs(&e["type"], ctx.vs, oid))
        })
    }

    /// `"First SUD Episode During Measurement Period"`, with its start date.
    fn first_episode(&self) -> Option<(&'a Value, Dt)> {
        let ctx = self.ctx;
        let cutoff = ctx.mp_end().add_days(-47);
        let onsets: Vec<Bound> = ctx
            .of("Condition", |c| in_vs(&c["code"], ctx.vs, SUD))
            .map(|c| ctx.prevalence(c).lo)
            .filter(|lo| yes(le(*lo, Bound::at(cutoff), Prec::Day)))
            .collect();
        let mut found: Vec<(&Value, Dt)> = self
            .qualifying()
            .filter_map(|e| {
                let p = period(&e["period"])?;
                let ok = yes(p.during(&ctx.mp, Prec::Unstated))
                    && onsets.iter().any(|lo| yes(p.contains(*lo, Prec::Unstated)));
                ok.then_some((e, p.start()?.date_part()))
            })
            .collect();
        found.sort_by_key(|(_, d)| d.ms);
        found.into_iter().next()
    }

    /// The encounter has a `diagnosis.condition` whose code is an SUD.
    fn has_sud_diagnosis(&self, e: &Value) -> bool {
        e["diagnosis"].as_array().into_iter().flatten().any(|d| {
            ref_id(&d["condition"])
                .and_then(|id| self.ctx.rec.get("Condition", id))
                .is_some_and(|c| in_vs(&c["code"], self.ctx.vs, SUD))
        })
    }

    fn procedures(&self, sets: &'a [&'a str]) -> impl Iterator<Item = &'a Value> + 'a {
        let ctx = self.ctx;
        ctx.rec
            .all("Procedure")
            .iter()
            .filter(move |p| completed(p) && sets.iter().any(|oid| in_vs(&p["code"], ctx.vs, oid)))
    }

    fn med_orders(&self, sets: &'a [&'a str]) -> impl Iterator<Item = &'a Value> + 'a {
        let ctx = self.ctx;
        ctx.rec.all("MedicationRequest").iter().filter(move |m| {
            ctx.ordered(m)
                && sets
                    .iter()
                    .any(|oid| in_vs(&m["medicationCodeableConcept"], ctx.vs, oid))
        })
    }

    fn performed_date(&self, p: &Value) -> Option<Dt> {
        self.ctx
            .performed(p)
            .and_then(|iv| iv.start())
            .map(|d| d.date_part())
    }

    fn authored_date(m: &Value) -> Option<Dt> {
        instant(&m["authoredOn"]).map(|d| d.date_part())
    }

    /// `"History of SUD Diagnosis or Treatment"` in the 60 days before the episode.
    fn history(&self, d0: Dt) -> bool {
        let ctx = self.ctx;
        let before = |x: Option<Dt>| x.is_some_and(|x| days_or_less_before(x, d0, 60));
        self.procedures(&[SUD_TREATMENT, PSYCHOTHERAPY, LA_ADMIN, SA_ADMIN])
            .any(|p| before(ctx.performed(p).and_then(|iv| iv.start())))
            || self
                .qualifying()
                .filter(|e| {
                    !any_in_vs(&e["type"], ctx.vs, ED_VISIT)
                        && !any_in_vs(&e["type"], ctx.vs, DETOX)
                })
                .filter(|e| self.has_sud_diagnosis(e))
                .any(|e| before(period(&e["period"]).and_then(|p| p.start())))
            || self
                .med_orders(&[LA_MED, SA_MED])
                .any(|m| before(instant(&m["authoredOn"])))
    }

    /// `"Psychosocial Visit"` dates: procedures by performed start, telehealth
    /// encounters with an SUD diagnosis by period start.
    fn psychosocial(&self) -> Vec<(&'a Value, Dt)> {
        let ctx = self.ctx;
        let procedures = self
            .procedures(&[SUD_TREATMENT, PSYCHOTHERAPY])
            .filter_map(|p| Some((p, self.performed_date(p)?)));
        let telehealth = ctx
            .of("Encounter", |e| {
                ctx.encounter_performed(e)
                    && (any_in_vs(&e["type"], ctx.vs, TELEPHONE_VISITS)
                        || any_in_vs(&e["type"], ctx.vs, VIRTUAL_ENCOUNTER))
                    && self.has_sud_diagnosis(e)
            })
            .filter_map(|e| Some((e, period(&e["period"])?.start()?.date_part())));
        procedures.chain(telehealth).collect()
    }

    /// The earliest initiation date (`Min` of both initiation lists), if any.
    fn initiation(&self, episode: &Value, d0: Dt) -> Option<Dt> {
        let visits = self
            .psychosocial()
            .into_iter()
            .filter(|(r, _)| r["id"] != episode["id"])
            .map(|(_, d)| d);
        let orders = self
            .med_orders(&[SA_MED, LA_MED])
            .filter_map(Self::authored_date);
        let administered = self
            .procedures(&[SA_ADMIN, LA_ADMIN])
            .filter_map(|p| self.performed_date(p));
        visits
            .chain(orders)
            .chain(administered)
            .filter(|d| within_14(*d, d0))
            .min_by_key(|d| d.ms)
    }

    /// `"Numerator 2"`: a long-acting medication, or two short-acting or
    /// psychosocial treatments, within 34 days after initiation.
    fn engaged(&self, init: Dt) -> bool {
        let after = |d: Option<Dt>| d.is_some_and(|d| days_or_less_after(d, init, 34));
        let long_acting = self
            .med_orders(&[LA_MED])
            .any(|m| after(Self::authored_date(m)))
            || self
                .procedures(&[LA_ADMIN])
                .any(|p| after(self.performed_date(p)));
        if long_acting {
            return true;
        }
        // `"Psychosocial Visit" union [Procedure: SA administration]`: a CQL
        // union holds each resource once, so a procedure in both value sets
        // (methadone's G2067 is) is one treatment, not two.
        let mut treatments: Vec<*const Value> = self
            .psychosocial()
            .into_iter()
            .filter(|(_, d)| after(Some(*d)))
            .map(|(r, _)| r as *const Value)
            .collect();
        treatments.extend(
            self.procedures(&[SA_ADMIN])
                .filter(|p| after(self.performed_date(p)))
                .map(|p| p as *const Value),
        );
        treatments.sort();
        treatments.dedup();
        let orders = self
            .med_orders(&[SA_MED])
            .filter(|m| after(Self::authored_date(m)))
            .count();
        treatments.len() + orders >= 2
    }
}
