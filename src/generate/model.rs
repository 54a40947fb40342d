//! The generator's own model of a population: plain structs the clinical
//! timeline is drawn into, rendered to FHIR by `fhir_out` and read by
//! `answers`. The expected results are computed from this model, never from
//! the FHIR JSON Tandem receives, so the two sides share no code.

use chrono::{NaiveDate, NaiveDateTime};

/// One practice (a tenant) with its providers.
#[derive(Debug, Clone)]
pub struct Practice {
    pub id: String,
    pub name: String,
    pub providers: Vec<String>,
}

impl Practice {
    /// The practice's own MRN identifier system.
    pub fn mrn_system(&self) -> String {
        format!("urn:tandem:generated:{}:mrn", self.id)
    }
}

/// The state Medicaid member-id system every practice records.
pub const MEDICAID_SYSTEM: &str = "urn:tandem:generated:medicaid";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub practice: usize,
    pub sex: Sex,
    pub birth: NaiveDate,
    /// Index into the practice's providers; `None`: unassigned.
    pub pcp: Option<usize>,
    pub mrn: String,
    pub medicaid: String,
    pub family: &'static str,
    pub given: &'static str,
    /// A delivery in the last year (postpartum women).
    pub delivered: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitKind {
    /// CPT 99213.
    Office,
    /// CPT 99396 (18 and up), 99394 (12–17) or 99392 (under 12).
    Preventive,
    /// CPT 99442.
    Telephone,
    /// CPT 98970.
    Virtual,
}

#[derive(Debug, Clone)]
pub struct Visit {
    pub id: String,
    pub day: NaiveDate,
    pub kind: VisitKind,
    pub provider: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dx {
    Diabetes,
    Hypertension,
    Depression,
    Bipolar,
    Anxiety,
    AlcoholUse,
    Asthma,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub id: String,
    pub dx: Dx,
    pub onset: NaiveDate,
}

/// An HbA1c result (%).
#[derive(Debug, Clone)]
pub struct Lab {
    pub id: String,
    pub day: NaiveDate,
    pub percent: f64,
}

/// A blood pressure taken at an office visit.
#[derive(Debug, Clone)]
pub struct Bp {
    pub id: String,
    pub day: NaiveDate,
    pub systolic: u32,
    pub diastolic: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    Phq2,
    Phq9,
    Gad7,
    AuditC,
    Epds,
    Dast10,
    /// CDC STEADI's three key questions.
    Steadi,
}

/// How an administration is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A QuestionnaireResponse with one answer per item.
    Response,
    /// A panel Observation with item Observations as `hasMember`.
    Panel,
    /// The total score alone.
    Total,
}

#[derive(Debug, Clone)]
pub struct Administration {
    pub id: String,
    pub instrument: Instrument,
    pub day: NaiveDate,
    /// Option index chosen per item; `None`: left unanswered.
    pub answers: Vec<Option<usize>>,
    pub shape: Shape,
}

/// The EHR's depression-screen result CMS2 reads (LOINC 73832-8 adult,
/// 73831-0 adolescent; SNOMED positive/negative).
#[derive(Debug, Clone)]
pub struct DepressionScreen {
    pub id: String,
    pub day: NaiveDate,
    pub adolescent: bool,
    pub positive: bool,
}

/// A follow-up for a positive depression screen (SNOMED 108313002,
/// family psychotherapy), the same day.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub id: String,
    pub day: NaiveDate,
}

/// Smoking status (US Core value set, SNOMED CT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smoking {
    /// 449868002 Smokes tobacco daily.
    Current,
    /// 8517006 Ex-smoker.
    Former,
    /// 266919005 Never smoked tobacco.
    Never,
}

/// A screen read from one value rather than summed answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    Smoking(Smoking),
    /// Adult BMI, kg/m2.
    Bmi(f64),
    /// BMI-for-age percentile (2–17).
    BmiPercentile(f64),
    /// A standardized developmental screen (CPT 96110) with its reading.
    Development {
        concern: bool,
    },
}

#[derive(Debug, Clone)]
pub struct ValueScreen {
    pub id: String,
    pub day: NaiveDate,
    pub reading: Reading,
}

/// A prescription written at a visit (RxNorm), for `days` days.
#[derive(Debug, Clone)]
pub struct Prescription {
    pub id: String,
    pub day: NaiveDate,
    pub rxnorm: &'static str,
    pub name: &'static str,
    pub days: u32,
}

/// An ED visit or inpatient stay, notified by the HIE.
#[derive(Debug, Clone)]
pub struct Stay {
    pub id: String,
    pub admitted: NaiveDateTime,
    pub discharged: NaiveDateTime,
    pub emergency: bool,
}

/// Everything one patient has.
#[derive(Debug, Clone)]
pub struct Chart {
    pub person: Person,
    pub visits: Vec<Visit>,
    pub diagnoses: Vec<Diagnosis>,
    pub labs: Vec<Lab>,
    pub bps: Vec<Bp>,
    pub administrations: Vec<Administration>,
    pub depression_screens: Vec<DepressionScreen>,
    pub follow_ups: Vec<FollowUp>,
    pub value_screens: Vec<ValueScreen>,
    pub prescriptions: Vec<Prescription>,
    /// A hospice admission (SNOMED 183919006 encounter) on this day.
    pub hospice: Option<(String, NaiveDate)>,
    /// Palliative care (SNOMED 103735009 procedure) on this day.
    pub palliative: Option<(String, NaiveDate)>,
    pub stays: Vec<Stay>,
}

impl Chart {
    pub fn has(&self, dx: Dx) -> Option<&Diagnosis> {
        self.diagnoses.iter().find(|d| d.dx == dx)
    }
}
