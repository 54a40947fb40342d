//! A care team's override of a patient's tier: its own RiskAssessment,
//! written by the practice, stating a tier of the method
//! (`prediction.qualitativeRisk` in [`TIER_CS`]) with who decided
//! (`performer`), why (`reasonCode` or `reasonReference`) and until when
//! (`prediction.whenPeriod.end`, the last day it holds). While it holds it
//! wins over the computed tier; the computed RiskAssessment is still kept,
//! so both stay visible. Overrides are read here, refused with a reason a
//! sender can act on when they cannot be applied, and chosen per day.

use chrono::NaiveDate;
use serde_json::Value;

use super::Method;
use crate::fhir::datetime::date_written;
use crate::measure::record::as_list;

/// The code system of the method's tiers.
pub const TIER_CS: &str = "http://tandem.health/fhir/CodeSystem/risk-tier";
pub use crate::rules::DERIVED_TAG;
/// The tag code of the RiskAssessments Tandem keeps itself.
pub const DERIVED_CODE: &str = "risk-stratification";

/// A care team's tier for a patient, from a day through the last day.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// `RiskAssessment/{id}`.
    pub reference: String,
    pub tier: String,
    pub from: Option<NaiveDate>,
    pub until: NaiveDate,
    pub performer: String,
    pub reason: String,
}

/// Whether `ra` is one of the RiskAssessments Tandem keeps itself.
pub fn is_derived(ra: &Value) -> bool {
    as_list(&ra["meta"]["tag"]).any(|t| t["system"] == DERIVED_TAG && t["code"] == DERIVED_CODE)
}

/// Whether `ra` states a tier of the method (and so is an override).
pub fn states_tier(ra: &Value) -> bool {
    as_list(&ra["prediction"])
        .any(|p| as_list(&p["qualitativeRisk"]["coding"]).any(|c| c["system"] == TIER_CS))
}

/// Whether `ra`'s status lets it hold (retracted ones are kept, not applied).
pub fn standing(ra: &Value) -> bool {
    matches!(
        ra["status"].as_str(),
        Some("registered" | "preliminary" | "final" | "amended" | "corrected")
    )
}

/// Reads the override `ra` states; the error names the element to fix.
pub fn read(ra: &Value, method: &Method) -> Result<Override, String> {
    let id = ra["id"].as_str().unwrap_or_default();
    let prediction = as_list(&ra["prediction"])
        .find(|p| as_list(&p["qualitativeRisk"]["coding"]).any(|c| c["system"] == TIER_CS))
        .ok_or("prediction.qualitativeRisk: no coding in the risk-tier code system")?;
    let tier = as_list(&prediction["qualitativeRisk"]["coding"])
        .find(|c| c["system"] == TIER_CS)
        .and_then(|c| c["code"].as_str())
        .unwrap_or_default();
    if !method.tiers.iter().any(|t| t.code == tier) {
        let codes: Vec<&str> = method.tiers.iter().map(|t| t.code.as_str()).collect();
        return Err(format!(
            "prediction.qualitativeRisk: tier '{tier}' is not one of the method's tiers ({})",
            codes.join(", ")
        ));
    }
    let performer = ra["performer"]["reference"]
        .as_str()
        .filter(|r| !r.is_empty())
        .ok_or("performer: an override names who decided it (a Practitioner, PractitionerRole or CareTeam reference)")?;
    let reason = as_list(&ra["reasonCode"])
        .find_map(|c| {
            c["text"]
                .as_str()
                .or_else(|| as_list(&c["coding"]).find_map(|k| k["code"].as_str()))
        })
        .or_else(|| as_list(&ra["reasonReference"]).find_map(|r| r["reference"].as_str()))
        .filter(|r| !r.trim().is_empty())
        .ok_or("reasonCode: an override gives its reason (reasonCode with text or a code, or reasonReference)")?;
    let until = prediction["whenPeriod"]["end"]
        .as_str()
        .and_then(date_written)
        .ok_or("prediction.whenPeriod.end: an override gives its expiry (the last day it holds, YYYY-MM-DD)")?;
    let from = prediction["whenPeriod"]["start"]
        .as_str()
        .or(ra["occurrenceDateTime"].as_str())
        .and_then(date_written);
    if from.is_some_and(|f| f > until) {
        return Err("prediction.whenPeriod: the start is after the end".into());
    }
    if !ra["subject"]["reference"]
        .as_str()
        .is_some_and(|s| s.starts_with("Patient/"))
    {
        return Err("subject: an override is about a Patient".into());
    }
    Ok(Override {
        reference: format!("RiskAssessment/{id}"),
        tier: tier.to_string(),
        from,
        until,
        performer: performer.to_string(),
        reason: reason.to_string(),
    })
}

impl Override {
    pub fn holds_on(&self, on: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= on) && on <= self.until
    }
}

/// The override holding on `on` among a patient's RiskAssessments: the
/// latest to start (then the latest to end) when several hold.
pub fn in_force<'a>(
    assessments: impl IntoIterator<Item = &'a Value>,
    method: &Method,
    on: NaiveDate,
) -> Option<Override> {
    assessments
        .into_iter()
        .filter(|ra| !is_derived(ra) && states_tier(ra) && standing(ra))
        .filter_map(|ra| read(ra, method).ok())
        .filter(|o| o.holds_on(on))
        .max_by(|a, b| (a.from, a.until, &a.reference).cmp(&(b.from, b.until, &b.reference)))
}
