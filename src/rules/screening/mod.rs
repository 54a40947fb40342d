//! Screening instruments: the catalog (Questionnaires as data), the rule table
//! (cut-offs, bands, missing-answer rules), scoring of item answers, and the
//! single-value screens (tobacco status, BMI, BMI percentile).

pub mod catalog;
pub mod identify;
pub mod rules;
pub mod safety;
pub mod score;
pub mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod value_tests;

pub use catalog::{Code, Instrument};
pub use rules::{Domain, Rule, ScreeningConfig};

/// The patient's administrative sex, as far as the cut-offs need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
    Unknown,
}

impl Sex {
    /// From `Patient.gender`.
    pub fn from_gender(g: Option<&str>) -> Sex {
        match g {
            Some("male") => Sex::Male,
            Some("female") => Sex::Female,
            _ => Sex::Unknown,
        }
    }
}

/// A non-zero answer on a safety item (PHQ-9 item 9, EPDS item 10).
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyHit {
    pub item: String,
    pub text: String,
    /// The answer's score; None when the answer could not be read as one
    /// (it still raises the alert: see [`safety`]).
    pub weight: Option<f64>,
}

/// The reading of one administration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The total the result reports; None when the administration is incomplete.
    pub total: Option<f64>,
    /// The total computed from the items (prorated where the rule allows).
    pub item_total: Option<f64>,
    /// The total as the sender stated it.
    pub sent_total: Option<f64>,
    /// A completed screen (counts for milestones); false when incomplete.
    pub complete: bool,
    pub answered: usize,
    pub expected: usize,
    pub prorated: bool,
    pub band: Option<Code>,
    pub positive: Option<bool>,
    pub safety: Option<SafetyHit>,
    /// Warnings for the sender (disagreeing totals, incomplete answers, cut-off choices).
    pub notes: Vec<String>,
}

/// Why an input was stored but not scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);
