//! Cut-offs, severity bands, missing-answer rules and safety items: every
//! number that turns a total into a clinical reading, in one table.
//!
//! Sources (see `../shared/reference/specs.md` §6.2): PHQ-9 bands LOINC LL382-3,
//! positive ≥10 (Arroll 2010), item 9 any non-zero answer = same-day safety
//! assessment (Simon 2013); PHQ-2 ≥3 (programs may use ≥2); GAD-7 bands 5/10/15,
//! positive ≥10 (Spitzer 2006); AUDIT-C ≥4 men / ≥3 women (LOINC 75626-2);
//! AUDIT ≥8 and WHO risk zones 8/16/20 (Babor 2001); DAST-10 ≥3, NIDA bands
//! 1/3/6/9; EPDS ≥10 possible / ≥13 probable (program choice), item 10 any
//! non-zero answer = immediate safety evaluation; Morse 25 moderate, high from a
//! configured score (LOINC says 50+, moderate ends at 45; the 46–49 gap is closed
//! in [`ScreeningConfig::morse_high_from`]); STEADI key questions any yes.
//!
//! Missing answers: only PHQ-9 has a published proration rule (PHQ instruction
//! manual: with one or two items missing, the total is the mean of the answered
//! items × 9, rounded). Every other instrument needs all items; with fewer the
//! administration is incomplete and does not count as a completed screen.

use serde::{Deserialize, Serialize};

use super::catalog::{Code, TANDEM_BASE};

const LOINC: &str = "http://loinc.org";

/// Program choices that differ between programs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScreeningConfig {
    /// PHQ-2 positive from this total (3 standard, 2 in some programs).
    pub phq2_cutoff: f64,
    /// EPDS positive from this total (10 "possible", 13 "probable" depression).
    pub epds_cutoff: f64,
    /// Morse Fall Scale "high" band from this total (45–50 in the sources).
    pub morse_high_from: f64,
}

impl Default for ScreeningConfig {
    fn default() -> Self {
        ScreeningConfig {
            phq2_cutoff: 3.0,
            epds_cutoff: 10.0,
            morse_high_from: 46.0,
        }
    }
}

/// The clinical area a result belongs to (care-plan goals and due dates use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    Depression,
    Anxiety,
    MaternalDepression,
    Alcohol,
    Drug,
    Tobacco,
    Weight,
    Development,
    Falls,
}

impl Domain {
    pub fn code(self) -> &'static str {
        match self {
            Domain::Depression => "depression",
            Domain::Anxiety => "anxiety",
            Domain::MaternalDepression => "maternal-depression",
            Domain::Alcohol => "alcohol",
            Domain::Drug => "drug",
            Domain::Tobacco => "tobacco",
            Domain::Weight => "weight",
            Domain::Development => "development",
            Domain::Falls => "falls",
        }
    }

    /// Domains a positive screen puts on the behavioral-health care plan.
    pub fn is_behavioral(self) -> bool {
        matches!(
            self,
            Domain::Depression
                | Domain::Anxiety
                | Domain::MaternalDepression
                | Domain::Alcohol
                | Domain::Drug
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cutoff {
    AtLeast(f64),
    /// AUDIT-C: the cut-off depends on sex.
    BySex {
        male: f64,
        female: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Missing {
    /// Every item must be answered.
    AllRequired,
    /// Up to `max_missing` unanswered items are prorated.
    Prorate { max_missing: usize },
}

/// A severity band: applies from `from` up to the next band's `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub code: Code,
}

/// How one instrument's total is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub key: &'static str,
    pub domain: Domain,
    pub cutoff: Cutoff,
    pub bands: Vec<Band>,
    pub missing: Missing,
    /// The item whose non-zero answer raises a safety alert whatever the total.
    pub safety_item: Option<&'static str>,
    /// Results are 42 CFR Part 2 sensitive when positive (labelled SUD + R).
    pub sensitive: bool,
}

/// The Tandem code system of severity bands that have no LOINC answer code.
pub const BAND_SYSTEM: &str = "http://tandem.health/fhir/CodeSystem/screening-band";

fn band(from: f64, system: &str, code: &str, display: &str) -> Band {
    Band {
        from,
        code: Code::new(system, code, display),
    }
}

fn tb(from: f64, code: &str, display: &str) -> Band {
    band(from, BAND_SYSTEM, code, display)
}

/// The rule of an instrument, by its key (the Questionnaire id).
pub fn rule(key: &str, cfg: &ScreeningConfig) -> Option<Rule> {
    let r = |key, domain, cutoff, bands, missing, safety_item, sensitive| Rule {
        key,
        domain,
        cutoff,
        bands,
        missing,
        safety_item,
        sensitive,
    };
    use Cutoff::AtLeast;
    use Missing::AllRequired;
    Some(match key {
        "phq-9" => r(
            "phq-9",
            Domain::Depression,
            AtLeast(10.0),
            vec![
                band(0.0, LOINC, "LA6708-7", "Minimal depression"),
                band(5.0, LOINC, "LA6709-5", "Mild depression"),
                band(10.0, LOINC, "LA6710-3", "Moderate depression"),
                band(15.0, LOINC, "LA6711-1", "Moderately severe depression"),
                band(20.0, LOINC, "LA6712-9", "Severe depression"),
            ],
            Missing::Prorate { max_missing: 2 },
            Some("44260-8"),
            false,
        ),
        "phq-2" => r(
            "phq-2",
            Domain::Depression,
            AtLeast(cfg.phq2_cutoff),
            vec![
                tb(0.0, "negative", "Negative depression screen"),
                tb(
                    cfg.phq2_cutoff,
                    "positive",
                    "Positive depression screen: administer the PHQ-9",
                ),
            ],
            AllRequired,
            None,
            false,
        ),
        "gad-7" => r(
            "gad-7",
            Domain::Anxiety,
            AtLeast(10.0),
            vec![
                tb(0.0, "minimal", "Minimal anxiety"),
                tb(5.0, "mild", "Mild anxiety"),
                tb(10.0, "moderate", "Moderate anxiety"),
                tb(15.0, "severe", "Severe anxiety"),
            ],
            AllRequired,
            None,
            false,
        ),
        "epds" => r(
            "epds",
            Domain::MaternalDepression,
            AtLeast(cfg.epds_cutoff),
            vec![
                tb(0.0, "depression-unlikely", "Depression unlikely"),
                tb(10.0, "possible-depression", "Possible depression"),
                tb(13.0, "probable-depression", "Probable depression"),
            ],
            AllRequired,
            Some("epds-10"),
            false,
        ),
        "audit-c" => r(
            "audit-c",
            Domain::Alcohol,
            Cutoff::BySex {
                male: 4.0,
                female: 3.0,
            },
            vec![
                tb(0.0, "lower-risk", "Lower-risk drinking"),
                tb(
                    3.0,
                    "possible-hazardous",
                    "Possible hazardous drinking (positive for women)",
                ),
                tb(
                    4.0,
                    "hazardous",
                    "Hazardous drinking or active alcohol use disorder",
                ),
            ],
            AllRequired,
            None,
            true,
        ),
        "audit" => r(
            "audit",
            Domain::Alcohol,
            AtLeast(8.0),
            vec![
                tb(0.0, "zone-1", "Zone I: low risk"),
                tb(8.0, "zone-2", "Zone II: hazardous use"),
                tb(16.0, "zone-3", "Zone III: harmful use"),
                tb(20.0, "zone-4", "Zone IV: possible dependence"),
            ],
            AllRequired,
            None,
            true,
        ),
        "dast-10" => r(
            "dast-10",
            Domain::Drug,
            AtLeast(3.0),
            vec![
                tb(0.0, "none", "No problems reported"),
                tb(1.0, "low", "Low level"),
                tb(3.0, "moderate", "Moderate level"),
                tb(6.0, "substantial", "Substantial level"),
                tb(9.0, "severe", "Severe level"),
            ],
            AllRequired,
            None,
            true,
        ),
        "morse-fall-scale" => r(
            "morse-fall-scale",
            Domain::Falls,
            AtLeast(25.0),
            vec![
                band(0.0, LOINC, "LA13038-7", "Low risk"),
                band(25.0, LOINC, "LA13039-5", "Moderate risk"),
                band(cfg.morse_high_from, LOINC, "LA13040-3", "High risk"),
            ],
            AllRequired,
            None,
            false,
        ),
        "steadi-key-questions" => r(
            "steadi-key-questions",
            Domain::Falls,
            AtLeast(1.0),
            vec![
                tb(0.0, "not-at-risk", "Not at risk of falling"),
                tb(1.0, "at-risk", "At risk of falling"),
            ],
            AllRequired,
            None,
            false,
        ),
        _ => return None,
    })
}

/// The band a total falls in.
pub fn band_of(bands: &[Band], total: f64) -> Option<&Band> {
    bands.iter().rev().find(|b| total >= b.from)
}

/// The code identifying a Tandem-defined instrument result (no LOINC exists).
pub fn tandem_instrument_system() -> String {
    format!("{TANDEM_BASE}/CodeSystem/instrument")
}
