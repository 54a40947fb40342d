//! The evaluation context of one patient and one period, and the QI-Core
//! building blocks every measure shares: profile-based retrieves, the NCQA
//! `Status` library filters and QICoreCommon's condition prevalence.
//!
//! Two content generations are supported, chosen by the measure version:
//! `Qi411` (QI-Core 4.1.1 libraries, performance year 2025) and `Qi600`
//! (QI-Core 6.0.0 libraries, performance year 2026). Where their `Status`
//! functions differ, the difference is written next to the filter.
//!
//! Profile retrieves (`[ConditionEncounterDiagnosis: X]`): a resource belongs to
//! a profile when it claims it in `meta.profile` *or* it meets the profile's
//! discriminator (the category, code or flag the profile fixes). EHR data
//! rarely claims QI-Core profiles, so trusting claims alone would miss it.

use chrono::NaiveDate;
use serde_json::Value;

use super::record::{Record, any_in_vs, any_is_code, in_vs, is_code, to_interval};
use super::time::{Dt, Iv, Prec, Tri};
use super::valueset::ValueSets;

pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
pub const HCPCS: &str = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const COND_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
const COND_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const COND_VERIFY: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

/// Which generation of the shared libraries a measure version uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ver {
    Qi411,
    Qi600,
}

/// The version of NCQA's `Status` library a measure includes: which
/// encounter statuses count as performed and which intents as an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusLib {
    /// 1.8.000 (QI-Core 4.1.1) and 1.13.000 (6.0.0): an encounter is
    /// performed when `finished`, `arrived`, `triaged`, `in-progress` or
    /// `onleave`; an order has intent `order`.
    Broad,
    /// 1.15.000: `finished` only; an order has intent `order` or one of its
    /// sub-intents (`original-`, `reflex-`, `filler-`, `instance-order`).
    FinishedOnly,
}

/// The shared-library versions a measure includes, where a version changes
/// what is counted (read from the Measure's Library dependencies by
/// `catalog`; a version Tandem does not implement fails start-up there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Libs {
    pub status: StatusLib,
    /// Hospice 6.18.000 keeps only `verified()` hospice diagnoses; 6.15.000
    /// (and the QI-Core 4.1.1 versions) every one.
    pub hospice_verified: bool,
    /// PalliativeCare 1.18.000 keeps only `verified()` palliative-care
    /// diagnoses; 1.15.000 (and the 4.1.1 versions) every one.
    pub palliative_verified: bool,
}

impl Libs {
    /// The versions a measure without a published dependency list reads:
    /// the QI-Core 4.1.1 generation's, or the latest 6.0.0 ones.
    pub fn of(ver: Ver) -> Libs {
        match ver {
            Ver::Qi411 => Libs {
                status: StatusLib::Broad,
                hospice_verified: false,
                palliative_verified: false,
            },
            Ver::Qi600 => Libs {
                status: StatusLib::FinishedOnly,
                hospice_verified: true,
                palliative_verified: true,
            },
        }
    }
}

/// Everything a measure needs to evaluate one patient.
pub struct Ctx<'a> {
    pub rec: &'a Record,
    pub vs: &'a ValueSets,
    pub mp: Iv,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub ver: Ver,
    pub libs: Libs,
}

impl<'a> Ctx<'a> {
    pub fn new(
        rec: &'a Record,
        vs: &'a ValueSets,
        first: NaiveDate,
        last: NaiveDate,
        ver: Ver,
    ) -> Self {
        Ctx {
            rec,
            vs,
            mp: Iv::period(first, last),
            first,
            last,
            ver,
            libs: Libs::of(ver),
        }
    }

    /// The included library versions when they differ from [`Libs::of`].
    pub fn with_libs(mut self, libs: Libs) -> Self {
        self.libs = libs;
        self
    }

    /// `AgeInYearsAt(date from end of "Measurement Period")`.
    pub fn age_at_end(&self) -> Option<i32> {
        self.rec.age_at(self.last)
    }

    /// `AgeInYearsAt(date from start of "Measurement Period")`.
    pub fn age_at_start(&self) -> Option<i32> {
        self.rec.age_at(self.first)
    }

    pub fn mp_start(&self) -> Dt {
        self.mp.start().expect("the measurement period is closed")
    }

    pub fn mp_end(&self) -> Dt {
        self.mp.end().expect("the measurement period is closed")
    }

    /// `[ty]` filtered by a predicate.
    pub fn of<'b>(
        &'b self,
        ty: &str,
        keep: impl Fn(&Value) -> bool + 'b,
    ) -> impl Iterator<Item = &'a Value> + 'b {
        self.rec.all(ty).iter().filter(move |r| keep(r))
    }

    /// `[Encounter: "VS"]`, performed (`isEncounterPerformed`).
    pub fn encounters<'b>(&'b self, oid: &'b str) -> impl Iterator<Item = &'a Value> + 'b {
        self.of("Encounter", move |e| {
            any_in_vs(&e["type"], self.vs, oid) && self.encounter_performed(e)
        })
    }

    /// `[Encounter] E where exists (E.type T where T ~ code)`, performed.
    pub fn encounters_coded<'b>(
        &'b self,
        system: &'b str,
        code: &'b str,
    ) -> impl Iterator<Item = &'a Value> + 'b {
        self.of("Encounter", move |e| {
            any_is_code(&e["type"], system, code) && self.encounter_performed(e)
        })
    }

    /// NCQA `isEncounterPerformed`, by the `Status` version included.
    pub fn encounter_performed(&self, e: &Value) -> bool {
        let s = e["status"].as_str().unwrap_or_default();
        match self.libs.status {
            StatusLib::FinishedOnly => s == "finished",
            StatusLib::Broad => matches!(
                s,
                "finished" | "arrived" | "triaged" | "in-progress" | "onleave"
            ),
        }
    }

    /// Conditions with a code in the set: 4.1.1 `[Condition: X]`; 6.0.0
    /// `([ConditionProblemsHealthConcerns: X] union [ConditionEncounterDiagnosis: X]).verified()`.
    pub fn conditions<'b>(&'b self, oid: &'b str) -> impl Iterator<Item = &'a Value> + 'b {
        self.of("Condition", move |c| {
            in_vs(&c["code"], self.vs, oid)
                && match self.ver {
                    Ver::Qi411 => true,
                    Ver::Qi600 => (is_problem(c) || is_encounter_diagnosis(c)) && verified(c),
                }
        })
    }

    /// Conditions with a code in the set, of either QI-Core condition
    /// profile in 6.0.0 (any Condition in 4.1.1), *without* `verified()`:
    /// the retrieves CMS69, CMS155 and CMS159 use.
    pub fn conditions_unverified<'b>(
        &'b self,
        oid: &'b str,
    ) -> impl Iterator<Item = &'a Value> + 'b {
        self.of("Condition", move |c| {
            in_vs(&c["code"], self.vs, oid)
                && (self.ver == Ver::Qi411 || is_problem(c) || is_encounter_diagnosis(c))
        })
    }

    /// QICoreCommon `prevalenceInterval()`.
    pub fn prevalence(&self, c: &Value) -> Iv {
        let onset = to_interval(c, "onset", self.rec).and_then(|i| i.start());
        let abatement = to_interval(c, "abatement", self.rec).and_then(|i| i.end());
        if is_active(c) {
            // Interval[onset, end of abatement] (a null closed end: ongoing).
            return Iv::new(onset, true, abatement, true);
        }
        // Otherwise the CQL is a query over a single value:
        //   (end of condition.abatementInterval()) abatementDate
        //     return if abatementDate is null then Interval[onset, abatementDate)
        //     else Interval[onset, abatementDate]
        // A query whose source is null is null, so without an abatement end
        // the interval is null (the `is null` branch is never reached) — and
        // an inactive, resolved or remitted condition with no abatement date
        // is prevalent in no period. fqm-execution agrees.
        match abatement {
            Some(end) => Iv::new(onset, true, Some(end), true),
            None => Iv::null(),
        }
    }

    /// `X.prevalenceInterval() overlaps day of "Measurement Period"`.
    pub fn prevalent_in_mp(&self, c: &Value) -> Tri {
        self.prevalence(c).overlaps(&self.mp, Prec::Day)
    }

    /// An Observation's `effective.toInterval()`.
    pub fn effective(&self, o: &Value) -> Option<Iv> {
        to_interval(o, "effective", self.rec)
    }

    /// A Procedure's `performed.toInterval()`.
    pub fn performed(&self, p: &Value) -> Option<Iv> {
        to_interval(p, "performed", self.rec)
    }

    /// NCQA `isAssessmentPerformed`: final/amended/corrected; 4.1.1 also
    /// required the `survey` category.
    pub fn assessment_performed(&self, o: &Value) -> bool {
        result_final(o)
            && (self.ver == Ver::Qi600 || any_is_code(&o["category"], OBS_CATEGORY, "survey"))
    }

    /// NCQA `isLaboratoryTestPerformed`: final/amended/corrected; 4.1.1 also
    /// required the `laboratory` category.
    pub fn lab_performed(&self, o: &Value) -> bool {
        result_final(o)
            && (self.ver == Ver::Qi600 || any_is_code(&o["category"], OBS_CATEGORY, "laboratory"))
    }

    /// NCQA `isInterventionOrder` / `isLaboratoryTestOrder` / `isDeviceOrder`:
    /// active or completed, with an order intent (see [`StatusLib`]).
    pub fn ordered(&self, r: &Value) -> bool {
        matches!(r["status"].as_str(), Some("active" | "completed")) && self.order_intent(r)
    }

    /// NCQA `isMedicationActive`: status active with an order intent.
    pub fn medication_active(&self, r: &Value) -> bool {
        r["status"] == "active" && self.order_intent(r)
    }

    fn order_intent(&self, r: &Value) -> bool {
        let i = r["intent"].as_str().unwrap_or_default();
        match self.libs.status {
            StatusLib::Broad => i == "order",
            StatusLib::FinishedOnly => ORDER_INTENTS.contains(&i),
        }
    }
}

/// An Observation, DiagnosticReport … with status final, amended or corrected.
pub fn result_final(o: &Value) -> bool {
    matches!(
        o["status"].as_str(),
        Some("final" | "amended" | "corrected")
    )
}

/// `status ~ 'completed'` (Procedure, Immunization).
pub fn completed(r: &Value) -> bool {
    r["status"] == "completed"
}

/// A canonical URL whose last segment is `name` (`…/qicore-encounter`),
/// checked without allocating.
pub fn names_profile(url: &str, name: &str) -> bool {
    url.strip_suffix(name)
        .is_some_and(|head| head.ends_with('/'))
}

fn claims(r: &Value, profile: &str) -> bool {
    r["meta"]["profile"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|p| names_profile(p, profile))
}

/// QI-Core ConditionEncounterDiagnosis.
pub fn is_encounter_diagnosis(c: &Value) -> bool {
    claims(c, "qicore-condition-encounter-diagnosis")
        || any_is_code(&c["category"], COND_CATEGORY, "encounter-diagnosis")
}

/// QI-Core ConditionProblemsHealthConcerns.
pub fn is_problem(c: &Value) -> bool {
    claims(c, "qicore-condition-problems-health-concerns")
        || any_is_code(&c["category"], COND_CATEGORY, "problem-list-item")
        || any_is_code(
            &c["category"],
            "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
            "health-concern",
        )
}

/// QICoreCommon `isActive()`: clinical status active, recurrence or relapse.
/// `order` and its sub-intents, as the CQL lists them where it names them.
pub const ORDER_INTENTS: &[&str] = &[
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
];

pub fn is_active(c: &Value) -> bool {
    ["active", "recurrence", "relapse"]
        .iter()
        .any(|s| is_code(&c["clinicalStatus"], COND_CLINICAL, s))
}

/// The CodeableConcept of a QI-Core extension (`qicore-notDoneReason`,
/// `qicore-doNotPerformReason`, …) on a resource.
pub fn qicore_extension<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["extension"]
        .as_array()?
        .iter()
        .find(|x| x["url"].as_str().is_some_and(|u| names_profile(u, name)))
        .map(|x| &x["valueCodeableConcept"])
}

/// NCQA `verified()`: no verification status, or confirmed, unconfirmed,
/// provisional or differential.
pub fn verified(c: &Value) -> bool {
    let v = &c["verificationStatus"];
    v.is_null()
        || ["confirmed", "unconfirmed", "provisional", "differential"]
            .iter()
            .any(|s| is_code(v, COND_VERIFY, s))
}

/// QI-Core LaboratoryResultObservation.
pub fn is_lab(o: &Value) -> bool {
    claims(o, "qicore-observation-lab") || any_is_code(&o["category"], OBS_CATEGORY, "laboratory")
}

/// QI-Core ObservationScreeningAssessment.
pub fn is_screening(o: &Value) -> bool {
    claims(o, "qicore-observation-screening-assessment")
        || any_is_code(&o["category"], OBS_CATEGORY, "survey")
}

/// A vital-sign profile instance (US Core BMI, blood pressure …): it claims
/// the profile (`profile_tail`), or has the profile's LOINC code *and* the
/// `vital-signs` category every vital-sign profile requires.
pub fn is_vital_sign(o: &Value, profile_tails: &[&str], loinc: &str) -> bool {
    let claims = o["meta"]["profile"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|p| profile_tails.iter().any(|t| names_profile(p, t)));
    claims
        || (is_code(&o["code"], LOINC, loinc)
            && any_is_code(&o["category"], OBS_CATEGORY, "vital-signs"))
}

/// A request that says "do not" (QI-Core ServiceNotRequested,
/// MedicationNotRequested). DeviceRequest has no `doNotPerform` element in
/// R4; QI-Core carries it as the `qicore-doNotPerform` modifier extension,
/// which QICoreCommon `doNotPerform()` reads.
pub fn do_not_perform(r: &Value) -> bool {
    r["doNotPerform"] == true
        || r["modifierExtension"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| {
                x["url"]
                    .as_str()
                    .is_some_and(|u| names_profile(u, "qicore-doNotPerform"))
                    && x["valueBoolean"] == true
            })
}
