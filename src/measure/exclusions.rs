//! The shared exclusion libraries: `Hospice` (6.12 / 6.18), `PalliativeCare`
//! (1.11 / 1.18) and `AdvancedIllnessandFrailty` (1.16 / 1.27). The two
//! generations differ only in the `Status` filters and profile retrieves,
//! which `Ctx` already switches on.

use serde_json::Value;

use super::medication::request_period_in_time;
use super::qicore::{Ctx, LOINC, SNOMED, Ver, completed, do_not_perform, is_screening};
use super::record::{in_vs, instant, is_code, latest};
use super::time::{Bound, Iv, Prec};
use super::yes;

pub mod vs {
    pub const ENCOUNTER_INPATIENT: &str = "2.16.840.1.113883.3.666.5.307";
    pub const HOSPICE_CARE_AMBULATORY: &str = "2.16.840.1.113883.3.526.3.1584";
    pub const HOSPICE_ENCOUNTER: &str = "2.16.840.1.113883.3.464.1003.1003";
    pub const HOSPICE_DIAGNOSIS: &str = "2.16.840.1.113883.3.464.1003.1165";
    pub const PALLIATIVE_ENCOUNTER: &str = "2.16.840.1.113883.3.464.1003.101.12.1090";
    pub const PALLIATIVE_INTERVENTION: &str = "2.16.840.1.113883.3.464.1003.198.12.1135";
    pub const PALLIATIVE_DIAGNOSIS: &str = "2.16.840.1.113883.3.464.1003.1167";
    pub const ADVANCED_ILLNESS: &str = "2.16.840.1.113883.3.464.1003.110.12.1082";
    pub const DEMENTIA_MEDICATIONS: &str = "2.16.840.1.113883.3.464.1003.196.12.1510";
    pub const FRAILTY_DEVICE: &str = "2.16.840.1.113883.3.464.1003.118.12.1300";
    pub const FRAILTY_DIAGNOSIS: &str = "2.16.840.1.113883.3.464.1003.113.12.1074";
    pub const FRAILTY_ENCOUNTER: &str = "2.16.840.1.113883.3.464.1003.101.12.1088";
    pub const FRAILTY_SYMPTOM: &str = "2.16.840.1.113883.3.464.1003.113.12.1075";
    pub const HOSPICE: &[&str] = &[
        ENCOUNTER_INPATIENT,
        HOSPICE_CARE_AMBULATORY,
        HOSPICE_ENCOUNTER,
        HOSPICE_DIAGNOSIS,
    ];
    pub const PALLIATIVE: &[&str] = &[
        PALLIATIVE_ENCOUNTER,
        PALLIATIVE_INTERVENTION,
        PALLIATIVE_DIAGNOSIS,
    ];
    pub const FRAILTY: &[&str] = &[
        ADVANCED_ILLNESS,
        DEMENTIA_MEDICATIONS,
        FRAILTY_DEVICE,
        FRAILTY_DIAGNOSIS,
        FRAILTY_ENCOUNTER,
        FRAILTY_SYMPTOM,
    ];
}

impl Ctx<'_> {
    /// `period overlaps day of "Measurement Period"` for an element holding a Period.
    pub fn period_overlaps_mp(&self, p: &Value) -> bool {
        super::record::period(p).is_some_and(|iv| yes(iv.overlaps(&self.mp, Prec::Day)))
    }

    /// `X.toInterval() overlaps day of "Measurement Period"`.
    pub fn iv_overlaps_mp(&self, iv: Option<Iv>) -> bool {
        iv.is_some_and(|iv| yes(iv.overlaps(&self.mp, Prec::Day)))
    }

    /// Assessments (`[ObservationScreeningAssessment: code]`, performed).
    pub fn assessments<'b>(
        &'b self,
        system: &'b str,
        code: &'b str,
    ) -> impl Iterator<Item = &'b Value> + 'b {
        self.of("Observation", move |o| {
            is_code(&o["code"], system, code)
                && self.assessment_performed(o)
                && (self.ver == Ver::Qi411 || is_screening(o))
        })
    }

    /// Hospice `"Has Hospice Services"`.
    pub fn has_hospice(&self) -> bool {
        let discharged_to_hospice = self.encounters(vs::ENCOUNTER_INPATIENT).any(|e| {
            let d = &e["hospitalization"]["dischargeDisposition"];
            (is_code(d, SNOMED, "428361000124107") || is_code(d, SNOMED, "428371000124100"))
                && super::record::period(&e["period"])
                    .is_some_and(|p| yes(p.ends_during(&self.mp, Prec::Day)))
        });
        discharged_to_hospice
            || self
                .encounters(vs::HOSPICE_ENCOUNTER)
                .any(|e| self.period_overlaps_mp(&e["period"]))
            || self.assessments(LOINC, "45755-6").any(|o| {
                is_code(&o["valueCodeableConcept"], SNOMED, "373066001")
                    && self.iv_overlaps_mp(self.effective(o))
            })
            || self
                .of("ServiceRequest", |s| {
                    in_vs(&s["code"], self.vs, vs::HOSPICE_CARE_AMBULATORY)
                        && !do_not_perform(s)
                        && self.ordered(s)
                })
                .any(|s| {
                    instant(&s["authoredOn"])
                        .is_some_and(|a| yes(self.mp.contains(Bound::at(a), Prec::Day)))
                })
            || self
                .of("Procedure", |p| {
                    in_vs(&p["code"], self.vs, vs::HOSPICE_CARE_AMBULATORY) && completed(p)
                })
                .any(|p| self.iv_overlaps_mp(self.performed(p)))
            || self.diagnosis_prevalent_in_mp(vs::HOSPICE_DIAGNOSIS, self.libs.hospice_verified)
    }

    /// PalliativeCare `"Has Palliative Care in the Measurement Period"`.
    pub fn has_palliative_care(&self) -> bool {
        self.assessments(LOINC, "71007-9")
            .any(|o| self.iv_overlaps_mp(self.effective(o)))
            || self
                .diagnosis_prevalent_in_mp(vs::PALLIATIVE_DIAGNOSIS, self.libs.palliative_verified)
            || self
                .encounters(vs::PALLIATIVE_ENCOUNTER)
                .any(|e| self.period_overlaps_mp(&e["period"]))
            || self
                .of("Procedure", |p| {
                    in_vs(&p["code"], self.vs, vs::PALLIATIVE_INTERVENTION) && completed(p)
                })
                .any(|p| self.iv_overlaps_mp(self.performed(p)))
    }

    /// A problem-list or encounter diagnosis in `oid` prevalent in the
    /// measurement period; `verified()` ones only when the library version
    /// says so (Hospice 6.18 / PalliativeCare 1.18, not 6.15 / 1.15).
    fn diagnosis_prevalent_in_mp(&self, oid: &str, verified: bool) -> bool {
        if verified {
            self.conditions(oid).any(|c| yes(self.prevalent_in_mp(c)))
        } else {
            self.conditions_unverified(oid)
                .any(|c| yes(self.prevalent_in_mp(c)))
        }
    }

    /// AIFrailLTCF `"Has Criteria Indicating Frailty"`.
    pub fn has_frailty(&self) -> bool {
        let device_order = self
            .of("DeviceRequest", |d| {
                in_vs(&d["codeCodeableConcept"], self.vs, vs::FRAILTY_DEVICE)
                    && self.ordered(d)
                    && !do_not_perform(d)
            })
            .any(|d| {
                instant(&d["authoredOn"])
                    .is_some_and(|a| yes(self.mp.contains(Bound::at(a), Prec::Day)))
            });
        let equipment = self.assessments(LOINC, "98181-1").any(|o| {
            in_vs(&o["valueCodeableConcept"], self.vs, vs::FRAILTY_DEVICE)
                && self
                    .effective(o)
                    .is_some_and(|iv| yes(iv.ends_during(&self.mp, Prec::Day)))
        });
        let symptom = self
            .of("Observation", |o| {
                in_vs(&o["code"], self.vs, vs::FRAILTY_SYMPTOM)
                    && matches!(
                        o["status"].as_str(),
                        Some("preliminary" | "final" | "amended" | "corrected")
                    )
            })
            .any(|o| self.iv_overlaps_mp(self.effective(o)));
        device_order
            || equipment
            || self
                .conditions(vs::FRAILTY_DIAGNOSIS)
                .any(|c| yes(self.prevalent_in_mp(c)))
            || self
                .encounters(vs::FRAILTY_ENCOUNTER)
                .any(|e| self.period_overlaps_mp(&e["period"]))
            || symptom
    }

    /// Advanced illness starting, or dementia medication active, in the year
    /// before or during the measurement period.
    fn has_advanced_illness_or_dementia_meds(&self) -> bool {
        let window = Iv::closed(self.mp_start().add_years(-1), self.mp_end());
        let illness = self
            .conditions(vs::ADVANCED_ILLNESS)
            .any(|c| yes(self.prevalence(c).starts_during(&window, Prec::Day)));
        illness
            || self
                .of("MedicationRequest", |m| {
                    in_vs(
                        &m["medicationCodeableConcept"],
                        self.vs,
                        vs::DEMENTIA_MEDICATIONS,
                    ) && self.medication_active(m)
                        && !do_not_perform(m)
                })
                .any(|m| yes(request_period_in_time(m).overlaps(&window, Prec::Day)))
    }

    /// `"Is Age 66 or Older with Advanced Illness and Frailty"`.
    pub fn is_66_with_illness_and_frailty(&self) -> bool {
        self.age_at_end().is_some_and(|a| a >= 66)
            && self.has_frailty()
            && self.has_advanced_illness_or_dementia_meds()
    }

    /// `"Is Age 66 to 80 with Advanced Illness and Frailty or Is Age 81 or Older with Frailty"`.
    pub fn is_66_80_frail_ill_or_81_frail(&self) -> bool {
        match self.age_at_end() {
            Some(66..=80) => self.has_frailty() && self.has_advanced_illness_or_dementia_meds(),
            Some(a) if a >= 81 => self.has_frailty(),
            _ => false,
        }
    }

    /// `"Is Age 66 or Older Living Long Term in a Nursing Home"`: the last
    /// housing status up to the end of the period says "lives in nursing home".
    pub fn is_66_in_nursing_home(&self) -> bool {
        if self.age_at_end().is_none_or(|a| a < 66) {
            return false;
        }
        let end = Bound::at(self.mp_end());
        let mut housing: Vec<(&Value, _)> = self
            .assessments(LOINC, "71802-3")
            .filter_map(|o| {
                let iv = self.effective(o)?;
                yes(super::time::le(iv.hi, end, Prec::Day)).then_some((o, iv.end()))
            })
            .collect();
        housing.sort_by(|a, b| cmp_opt(a.1, b.1));
        housing
            .last()
            .is_some_and(|(o, _)| is_code(&o["valueCodeableConcept"], SNOMED, "160734000"))
    }
}

/// Ascending order with nulls first, as CQL `sort` places them.
pub fn cmp_opt(a: Option<super::time::Dt>, b: Option<super::time::Dt>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.ms.cmp(&y.ms),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// `X.effective.latest()` of an Observation-like resource.
pub fn latest_of(ctx: &Ctx, r: &Value, element: &str) -> Option<super::time::Dt> {
    super::record::to_interval(r, element, ctx.rec).and_then(|iv| latest(&iv))
}
