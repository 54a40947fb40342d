//! One file per measure, each a transcription of the measure's CQL, plus the
//! encounter lists several measures share.

pub mod cms122;
pub mod cms137;
pub mod cms138;
pub mod cms139;
pub mod cms155;
pub mod cms159;
pub mod cms165;
pub mod cms2;
pub mod cms69;

use serde_json::Value;

use super::qicore::Ctx;
use super::record::period;
use super::time::Prec;
use super::yes;

pub mod vs {
    pub const ANNUAL_WELLNESS: &str = "2.16.840.1.113883.3.526.3.1240";
    pub const HOME_HEALTHCARE: &str = "2.16.840.1.113883.3.464.1003.101.12.1016";
    pub const OFFICE_VISIT: &str = "2.16.840.1.113883.3.464.1003.101.12.1001";
    pub const VIRTUAL_ENCOUNTER: &str = "2.16.840.1.113883.3.464.1003.101.12.1089";
    pub const PREVENTIVE_EST_18: &str = "2.16.840.1.113883.3.464.1003.101.12.1025";
    pub const PREVENTIVE_INIT_18: &str = "2.16.840.1.113883.3.464.1003.101.12.1023";
    pub const TELEPHONE_VISITS: &str = "2.16.840.1.113883.3.464.1003.101.12.1080";
    /// AdultOutpatientEncounters `"Qualifying Encounters"` (4.11 and 4.19 agree).
    pub const ADULT_OUTPATIENT: &[&str] = &[
        OFFICE_VISIT,
        ANNUAL_WELLNESS,
        PREVENTIVE_EST_18,
        PREVENTIVE_INIT_18,
        HOME_HEALTHCARE,
        VIRTUAL_ENCOUNTER,
        TELEPHONE_VISITS,
    ];
}

impl Ctx<'_> {
    /// Performed encounters typed by any of `sets` whose period lies within the
    /// measurement period (`period during day of "Measurement Period"`).
    pub fn encounter_in_mp(&self, sets: &[&str]) -> bool {
        sets.iter()
            .any(|oid| self.encounters(oid).any(|e| self.period_during_mp(e)))
    }

    /// `E.period during day of "Measurement Period"`.
    pub fn period_during_mp(&self, e: &Value) -> bool {
        period(&e["period"]).is_some_and(|p| yes(p.during(&self.mp, Prec::Day)))
    }

    /// AdultOutpatientEncounters `"Qualifying Encounters"` exists.
    pub fn has_adult_outpatient_encounter(&self) -> bool {
        self.encounter_in_mp(vs::ADULT_OUTPATIENT)
    }
}
