//! Screens read from a single value rather than summed answers: tobacco
//! smoking status (LOINC 72166-2, SNOMED CT answers of the US Core value set),
//! adult BMI (39156-5, LOINC part LP35925-4 categories) and BMI-for-age
//! percentile for children 2–17 (59576-9, CDC percentiles 5/85/95).
//!
//! Developmental screening with a standardized tool (ASQ-3, PEDS, M-CHAT…)
//! has no verified LOINC total; it is evidenced by CPT 96110 on an Observation
//! or a Procedure, and its reading by the Observation's interpretation (a
//! Procedure records that the screen was done, with no reading).
//!
//! A BMI is read with adult categories only from age 18; a child's BMI yields
//! no result (its percentile does), so one administration never counts twice.

use super::catalog::Code;
use super::rules::{BAND_SYSTEM, Domain};
use super::{Outcome, Rejection};

const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
/// CPT, the code system developmental screening is evidenced by (96110).
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";

/// A single-value screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueScreen {
    pub key: &'static str,
    pub title: &'static str,
    pub code: Code,
    pub domain: Domain,
}

pub fn screens() -> Vec<ValueScreen> {
    let s = |key, title, code, display, domain| ValueScreen {
        key,
        title,
        code: Code::new(LOINC, code, display),
        domain,
    };
    vec![
        s(
            "tobacco",
            "Tobacco smoking status",
            "72166-2",
            "Tobacco smoking status",
            Domain::Tobacco,
        ),
        s(
            "bmi",
            "Body mass index",
            "39156-5",
            "Body mass index (BMI) [Ratio]",
            Domain::Weight,
        ),
        s(
            "bmi-percentile",
            "BMI percentile for age",
            "59576-9",
            "Body mass index (BMI) [Percentile] Per age and sex",
            Domain::Weight,
        ),
        ValueScreen {
            key: "developmental",
            title: "Developmental screening with a standardized instrument",
            code: Code::new(
                CPT,
                "96110",
                "Developmental screening, with scoring and documentation, per standardized instrument",
            ),
            domain: Domain::Development,
        },
    ]
}

fn band(code: &str, display: &str) -> Code {
    Code::new(BAND_SYSTEM, code, display)
}

/// Smoking status → current tobacco use (positive) or not.
pub fn tobacco(system: Option<&str>, code: &str) -> Result<Outcome, Rejection> {
    if system.is_some_and(|s| s != SNOMED) {
        return Err(Rejection(format!(
            "Smoking status must be a SNOMED CT code ({SNOMED}); got system '{}'.",
            system.unwrap_or_default()
        )));
    }
    let (positive, b) = match code {
        "449868002" | "428041000124106" | "77176002" | "428071000124103" | "428061000124105" => {
            (Some(true), band("current-user", "Current tobacco user"))
        }
        "8517006" => (Some(false), band("former-user", "Former tobacco user")),
        "266919005" => (Some(false), band("never-user", "Never used tobacco")),
        "266927001" => (None, band("unknown", "Tobacco use unknown")),
        other => {
            return Err(Rejection(format!(
                "'{other}' is not a smoking status code of the US Core value set."
            )));
        }
    };
    let mut out = Outcome {
        positive,
        complete: positive.is_some(),
        band: Some(b),
        answered: usize::from(positive.is_some()),
        expected: 1,
        ..Outcome::default()
    };
    if positive.is_none() {
        out.notes.push(
            "Smoking status 'unknown if ever smoked' is not a completed tobacco screen.".into(),
        );
    }
    Ok(out)
}

/// Adult BMI categories; `None` for patients under 18 (their percentile is read).
pub fn bmi(value: f64, age_years: Option<f64>) -> Result<Option<Outcome>, Rejection> {
    if !(5.0..=150.0).contains(&value) {
        return Err(Rejection(format!(
            "A BMI of {value} kg/m2 is outside the plausible range 5-150."
        )));
    }
    if age_years.is_some_and(|a| a < 18.0) {
        return Ok(None);
    }
    let b = if value < 18.5 {
        band("underweight", "Underweight (BMI < 18.5)")
    } else if value < 25.0 {
        band("normal", "Normal weight (BMI 18.5-24.9)")
    } else if value < 30.0 {
        band("overweight", "Overweight (BMI 25.0-29.9)")
    } else {
        band("obese", "Obese (BMI >= 30)")
    };
    Ok(Some(numeric(value, b)))
}

/// BMI-for-age percentile for children 2–17; `None` outside those ages.
pub fn bmi_percentile(value: f64, age_years: Option<f64>) -> Result<Option<Outcome>, Rejection> {
    if !(0.0..=100.0).contains(&value) {
        return Err(Rejection(format!(
            "A BMI percentile of {value} is outside 0-100."
        )));
    }
    if !age_years.is_some_and(|a| (2.0..18.0).contains(&a)) {
        return Ok(None);
    }
    let b = if value < 5.0 {
        band("underweight", "Underweight (< 5th percentile)")
    } else if value < 85.0 {
        band(
            "healthy-weight",
            "Healthy weight (5th to < 85th percentile)",
        )
    } else if value < 95.0 {
        band("overweight", "Overweight (85th to < 95th percentile)")
    } else {
        band("obese", "Obese (>= 95th percentile)")
    };
    Ok(Some(numeric(value, b)))
}

/// Positive means outside the healthy band (follow-up indicated).
fn numeric(value: f64, b: Code) -> Outcome {
    let healthy = matches!(b.code.as_str(), "normal" | "healthy-weight");
    Outcome {
        total: Some(value),
        item_total: Some(value),
        answered: 1,
        expected: 1,
        positive: Some(!healthy),
        complete: true,
        band: Some(b),
        ..Outcome::default()
    }
}

/// A standardized developmental screen: completed, with a reading when the
/// sender gave an interpretation (v3-ObservationInterpretation N/NEG or A/AA/H/POS).
pub fn development(interpretation: Option<&str>) -> Result<Outcome, Rejection> {
    let (positive, b) = match interpretation {
        None => (
            None,
            band("completed", "Screen completed; no reading recorded"),
        ),
        Some("N" | "NEG") => (Some(false), band("no-concern", "No developmental concern")),
        Some("A" | "AA" | "H" | "POS") => (
            Some(true),
            band("concern", "Developmental concern: refer for evaluation"),
        ),
        Some(other) => {
            return Err(Rejection(format!(
                "The developmental screen's interpretation '{other}' is not one of N, NEG, A, AA, H, POS."
            )));
        }
    };
    Ok(Outcome {
        positive,
        complete: true,
        band: Some(b),
        answered: 1,
        expected: 1,
        ..Outcome::default()
    })
}
