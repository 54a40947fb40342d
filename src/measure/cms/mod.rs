//! One file per measure, each a transcription of the measure's CQL, plus the
//! encounter lists several measures share. The measures without a published
//! FHIR bundle (CMS82, NQF 1448, NQF 2152, NQF 1799) are written from their
//! specification, which each file cites.

pub mod cms122;
pub mod cms137;
pub mod cms138;
pub mod cms139;
pub mod cms155;
pub mod cms159;
pub mod cms165;
pub mod cms2;
pub mod cms69;
pub mod cms82;
#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod library_versions_tests;
pub mod nqf1448;
pub mod nqf1799;
pub mod nqf2152;
#[cfg(test)]
mod testkit;

use chrono::NaiveDate;
use serde_json::Value;

use super::qicore::{Ctx, completed, result_final};
use super::record::{any_in_vs, earliest, in_vs, period};
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
    pub const PREVENTIVE_INIT_0_17: &str = "2.16.840.1.113883.3.464.1003.101.12.1022";
    pub const PREVENTIVE_EST_0_17: &str = "2.16.840.1.113883.3.464.1003.101.12.1024";
    pub const PREVENTIVE_INDIVIDUAL: &str = "2.16.840.1.113883.3.464.1003.101.12.1026";
    pub const PREVENTIVE_GROUP: &str = "2.16.840.1.113883.3.464.1003.101.12.1027";
    pub const LIMITED_LIFE_EXPECTANCY: &str = "2.16.840.1.113883.3.526.3.1259";
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

    /// The dates something coded in `oid` was done: completed Procedures
    /// (performed), final Observations (effective) and performed Encounters
    /// (typed; their start). The measures written from a specification read
    /// evidence this way, since their codes (CPT 96110, 96161…) reach an EHR
    /// feed on any of the three.
    pub fn done_on(&self, oid: &str) -> Vec<NaiveDate> {
        let procedures = self
            .of("Procedure", |p| {
                in_vs(&p["code"], self.vs, oid) && completed(p)
            })
            .filter_map(|p| self.performed(p));
        let observations = self
            .of("Observation", |o| {
                in_vs(&o["code"], self.vs, oid) && result_final(o)
            })
            .filter_map(|o| self.effective(o));
        let encounters = self
            .of("Encounter", |e| {
                any_in_vs(&e["type"], self.vs, oid) && self.encounter_performed(e)
            })
            .filter_map(|e| period(&e["period"]));
        procedures
            .chain(observations)
            .chain(encounters)
            .filter_map(|iv| earliest(&iv).map(|d| d.naive_date()))
            .collect()
    }
}
