//! CMS159 Depression Remission at Twelve Months: patients with an index
//! PHQ-9 > 9 near a depression encounter in the identification period
//! (14 to 2 months before the measurement period); remission is a last PHQ-9
//! < 5 in the window 12 months ± 60 days after the index assessment.
//! CQL: `DepressionRemissionatTwelveMonthsFHIR` (2025) and
//! `CMS159FHIRDepressionRemissionatTwelveMonths` 0.3.000 (2026). The 2025
//! text compares several windows without `day of` (millisecond precision);
//! `fine` carries that difference.

use crate::measure::attribution::Attribution;
use serde_json::Value;

use crate::measure::exclusions::{cmp_opt, vs as ex};
use crate::measure::qicore::is_active;
use crate::measure::qicore::{
    Ctx, LOINC, ORDER_INTENTS, SNOMED, Ver, do_not_perform, is_screening, result_final,
};
use crate::measure::record::{any_in_vs, in_vs, instant, is_code, period};
use crate::measure::time::{Bound, Dt, Iv, Prec, age_at_datetime, at_least, le};
use crate::measure::{GroupResult, Populations, yes};

const CONTACT_OR_OFFICE: &str = "2.16.840.1.113762.1.4.1080.5";
const MAJOR_DEPRESSION: &str = "2.16.840.113883.3.67.1.101.3.2444";
const DYSTHYMIA: &str = "2.16.840.1.113883.3.67.1.101.1.254";
const PHQ9: &str = "2.16.840.1.113883.3.67.1.101.1.263";
const MENTAL_HEALTH: &[&str] = &[
    "2.16.840.1.113883.3.67.1.101.1.128",       // Bipolar Disorder
    "2.16.840.1.113883.3.67.1.101.1.246",       // Personality Disorder Emotionally Labile
    "2.16.840.1.113883.3.464.1003.105.12.1104", // Schizophrenia or Psychotic Disorder
    "2.16.840.1.113883.3.464.1003.105.12.1152", // Pervasive Developmental Disorder
];
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

/// Attributed to the clinician of an encounter from the start of the
/// denominator identification period (14 months before the period).
pub const ATTRIBUTION: Attribution = Attribution::Encounter {
    lookback_months: 14,
};

/// A higher score is better.
pub const INVERSE: bool = false;

pub const VALUE_SETS: &[&str] = &[
    CONTACT_OR_OFFICE,
    MAJOR_DEPRESSION,
    DYSTHYMIA,
    PHQ9,
    "2.16.840.1.113883.3.67.1.101.1.246",
];

pub fn evaluate(ctx: &Ctx) -> Vec<GroupResult> {
    let m = Cms159::new(ctx);
    let index = m.index_assessment();
    // `AgeInYearsAt(start of …effective…) >= 12`: a DateTime as-of, so on
    // the 12th birthday itself the age is uncertain (11 or 12) and not >= 12.
    let initial = index
        .and_then(|(_, at)| Some(age_at_datetime(ctx.rec.birth_date()?, &at)))
        .is_some_and(|age| yes(at_least(age, 12)));
    let (Some((_, at)), true) = (index, initial) else {
        return vec![GroupResult::plain(Populations::default())];
    };
    let year_after = at.date_part().add_months(12);
    let map = Iv::closed(year_after.add_days(-60), year_after.add_days(60));
    vec![GroupResult::plain(Populations::proportion(
        true,
        || m.excluded(&map),
        || m.remission(&map),
        || false,
    ))]
}

struct Cms159<'a> {
    ctx: &'a Ctx<'a>,
    /// Denominator Identification Period.
    dip: Iv,
    /// Millisecond comparisons where the 2025 text has no `day of`.
    fine: Prec,
}

/// `isConfirmedActiveDiagnosis()`: active (or recurrence/relapse) and confirmed.
fn confirmed_active(c: &Value) -> bool {
    is_active(c) && is_code(&c["verificationStatus"], VERIFICATION, "confirmed")
}

/// A PHQ-9 total as a number (valueInteger, or a Quantity's value).
fn score(o: &Value) -> Option<f64> {
    o["valueInteger"]
        .as_f64()
        .or_else(|| o["valueQuantity"]["value"].as_f64())
}

impl<'a> Cms159<'a> {
    fn new(ctx: &'a Ctx<'a>) -> Self {
        let start = ctx.mp_start();
        let dip = Iv::new(
            Some(start.add_months(-14)),
            true,
            Some(start.add_months(-2)),
            false,
        );
        let fine = if ctx.ver == Ver::Qi600 {
            Prec::Day
        } else {
            Prec::Unstated
        };
        Cms159 { ctx, dip, fine }
    }

    /// PHQ-9 assessments, final, with their start time.
    fn phq9(&self) -> Vec<(&'a Value, Dt)> {
        let ctx = self.ctx;
        ctx.of("Observation", |o| {
            in_vs(&o["code"], ctx.vs, PHQ9)
                && result_final(o)
                && (ctx.ver == Ver::Qi411 || is_screening(o))
        })
        .filter_map(|o| Some((o, ctx.effective(o)?.start()?)))
        .collect()
    }

    /// `"Depression Encounter"` periods.
    fn depression_encounters(&self) -> Vec<Iv> {
        let ctx = self.ctx;
        let diagnoses: Vec<Iv> = [MAJOR_DEPRESSION, DYSTHYMIA]
            .iter()
            .flat_map(|oid| self.ctx.conditions_unverified(oid))
            .filter(|c| confirmed_active(c))
            .map(|c| ctx.prevalence(c))
            .collect();
        ctx.of("Encounter", |e| {
            any_in_vs(&e["type"], ctx.vs, CONTACT_OR_OFFICE) && e["status"] == "finished"
        })
        .filter_map(|e| period(&e["period"]))
        .filter(|p| yes(p.ends_during(&self.dip, self.fine)))
        .filter(|p| diagnoses.iter().any(|d| yes(p.overlaps(d, Prec::Unstated))))
        .collect()
    }

    /// `"Index Depression Assessment"`: the first PHQ-9 > 9 from 7 days before
    /// to the end of a depression encounter.
    fn index_assessment(&self) -> Option<(&'a Value, Dt)> {
        let encounters = self.depression_encounters();
        let mut found: Vec<(&Value, Dt)> = self
            .phq9()
            .into_iter()
            .filter(|(o, _)| score(o).is_some_and(|s| s > 9.0))
            .filter(|(o, _)| {
                let Some(eff) = self.ctx.effective(o) else {
                    return false;
                };
                encounters.iter().any(|p| match (p.start(), p.end()) {
                    (Some(s), Some(e)) => {
                        yes(eff.during(&Iv::closed(s.add_days(-7).date_part(), e), Prec::Day))
                    }
                    _ => false,
                })
            })
            .collect();
        found.sort_by(|a, b| cmp_opt(Some(a.1), Some(b.1)));
        found.into_iter().next()
    }

    /// `"Numerator"`: the last PHQ-9 in the assessment window is below 5.
    fn remission(&self, map: &Iv) -> bool {
        let mut found: Vec<(&Value, Dt)> = self
            .phq9()
            .into_iter()
            .filter(|(_, at)| yes(map.contains(Bound::at(at.date_part()), Prec::Day)))
            .collect();
        found.sort_by(|a, b| cmp_opt(Some(a.1), Some(b.1)));
        found
            .last()
            .and_then(|(o, _)| score(o))
            .is_some_and(|s| s < 5.0)
    }

    fn excluded(&self, map: &Iv) -> bool {
        let end = map.end().expect("closed window");
        let window = Iv::closed(self.dip.start().expect("closed"), end);
        self.hospice(&window)
            || self.palliative(&window)
            || self.expired(end)
            || self.mental_health(end)
    }

    /// `"Patient Expired"` on or before the end of the assessment window.
    fn expired(&self, end: Dt) -> bool {
        instant(&self.ctx.rec.patient["deceasedDateTime"])
            .is_some_and(|d| yes(le(Bound::at(d), Bound::at(end), Prec::Day)))
    }

    /// `"Has Mental Health Disorder Diagnoses"`.
    fn mental_health(&self, end: Dt) -> bool {
        MENTAL_HEALTH
            .iter()
            .flat_map(|oid| self.ctx.conditions_unverified(oid))
            .any(|c| {
                confirmed_active(c)
                    && self.ctx.prevalence(c).start().is_some_and(|s| {
                        yes(le(Bound::at(s.date_part()), Bound::at(end), Prec::Day))
                    })
            })
    }

    /// `"Has Hospice Services in the Measure Assessment Period"` (its own
    /// statuses and window, not the shared Hospice library).
    fn hospice(&self, w: &Iv) -> bool {
        let ctx = self.ctx;
        let overlaps = |iv: Option<Iv>| iv.is_some_and(|iv| yes(iv.overlaps(w, Prec::Day)));
        let not_voided =
            |r: &Value, bad: &[&str]| !bad.contains(&r["status"].as_str().unwrap_or_default());
        ctx.of("Encounter", |e| {
            any_in_vs(&e["type"], ctx.vs, ex::ENCOUNTER_INPATIENT) && e["status"] == "finished"
        })
        .any(|e| {
            let d = &e["hospitalization"]["dischargeDisposition"];
            (is_code(d, SNOMED, "428361000124107") || is_code(d, SNOMED, "428371000124100"))
                && period(&e["period"]).is_some_and(|p| yes(p.ends_during(w, Prec::Day)))
        }) || ctx
            .of("Encounter", |e| {
                any_in_vs(&e["type"], ctx.vs, ex::HOSPICE_ENCOUNTER)
                    && not_voided(e, &["cancelled", "entered-in-error", "unknown"])
            })
            .any(|e| overlaps(period(&e["period"])))
            || self.assessed(LOINC, "45755-6", w, Prec::Day, |o| {
                is_code(&o["valueCodeableConcept"], SNOMED, "373066001")
            })
            || ctx
                .of("ServiceRequest", |s| {
                    // The measure states its own statuses and intents (it
                    // includes no Status library): order and its sub-intents.
                    in_vs(&s["code"], ctx.vs, ex::HOSPICE_CARE_AMBULATORY)
                        && matches!(s["status"].as_str(), Some("active" | "completed"))
                        && ORDER_INTENTS.contains(&s["intent"].as_str().unwrap_or_default())
                        && !do_not_perform(s)
                })
                .any(|s| {
                    instant(&s["authoredOn"])
                        .is_some_and(|a| yes(w.contains(Bound::at(a), Prec::Day)))
                })
            || ctx
                .of("Procedure", |p| {
                    in_vs(&p["code"], ctx.vs, ex::HOSPICE_CARE_AMBULATORY)
                        && not_voided(p, &["not-done", "entered-in-error", "unknown"])
                })
                .any(|p| overlaps(ctx.performed(p)))
            || self
                .ctx
                .conditions_unverified(ex::HOSPICE_DIAGNOSIS)
                .any(|c| confirmed_active(c) && yes(ctx.prevalence(c).overlaps(w, Prec::Day)))
    }

    /// `"Has Palliative Care in the Measure Assessment Period"`.
    fn palliative(&self, w: &Iv) -> bool {
        let ctx = self.ctx;
        let p = self.fine;
        self.assessed(LOINC, "71007-9", w, p, |_| true)
            || self
                .ctx
                .conditions_unverified(ex::PALLIATIVE_DIAGNOSIS)
                .any(|c| confirmed_active(c) && yes(ctx.prevalence(c).overlaps(w, p)))
            || ctx
                .of("Encounter", |e| {
                    any_in_vs(&e["type"], ctx.vs, ex::PALLIATIVE_ENCOUNTER)
                        && e["status"] == "finished"
                })
                .any(|e| period(&e["period"]).is_some_and(|iv| yes(iv.overlaps(w, p))))
            || ctx
                .of("Procedure", |r| {
                    in_vs(&r["code"], ctx.vs, ex::PALLIATIVE_INTERVENTION)
                        && !matches!(
                            r["status"].as_str(),
                            Some("not-done" | "entered-in-error" | "unknown")
                        )
                })
                .any(|r| ctx.performed(r).is_some_and(|iv| yes(iv.overlaps(w, p))))
    }

    /// A final assessment with the code, overlapping the window, meeting `extra`.
    fn assessed(
        &self,
        system: &str,
        code: &str,
        w: &Iv,
        p: Prec,
        extra: impl Fn(&Value) -> bool,
    ) -> bool {
        let ctx = self.ctx;
        ctx.of("Observation", |o| {
            is_code(&o["code"], system, code)
                && result_final(o)
                && (ctx.ver == Ver::Qi411 || is_screening(o))
                && extra(o)
        })
        .any(|o| ctx.effective(o).is_some_and(|iv| yes(iv.overlaps(w, p))))
    }
}
