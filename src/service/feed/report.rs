//! The spreadsheet form of a submission (`tandem report`): one row per
//! practice × measure × period, read from the very Bundle the feed sends,
//! and building a quarter's Bundle without recording it.

use serde_json::Value;

use crate::measure::run::POPULATIONS;

use crate::fhir::outcome::Issue;
use crate::measure::milestone::program::Quarter;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// One row of the spreadsheet form: a practice's measure for a period.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportRow {
    pub practice: String,
    pub program: String,
    pub period: String,
    /// Tandem's Measure id: `CMS2-2026`, `colorado-sim-BB7.Y1.2`.
    pub measure_id: String,
    /// The Measure's canonical (`url|version`).
    pub measure: String,
    pub period_start: String,
    pub period_end: String,
    pub numerator: u64,
    pub denominator: u64,
    pub exclusions: u64,
    pub exceptions: u64,
    /// numerator ÷ (denominator − exclusions − exceptions); none when that is 0.
    pub rate: Option<f64>,
    /// A milestone's status (empty for CQMs).
    pub status: String,
}

/// The population counts of a MeasureReport's `group[i]`, in the order of
/// `GroupTally::counts`; `None` for a population the group does not have.
pub fn population_counts(report: &Value, group: usize) -> [Option<u64>; 6] {
    let pops = report["group"][group]["population"].as_array();
    std::array::from_fn(|i| {
        let code = POPULATIONS[i];
        pops.into_iter()
            .flatten()
            .find(|p| p["code"]["coding"][0]["code"] == code)
            .and_then(|p| p["count"].as_u64())
    })
}

/// The rows of a submission Bundle: the very numbers it sends.
pub fn rows_of(practice: &str, program: &str, period: &str, bundle: &Value) -> Vec<ReportRow> {
    let mut out = Vec::new();
    for r in bundle["entry"].as_array().into_iter().flatten() {
        let r = &r["resource"];
        if r["resourceType"] != "MeasureReport" {
            continue;
        }
        let [initial, denominator, exclusions, exceptions, numerator, _] = population_counts(r, 0);
        let status = r["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"] == crate::service::milestones::STATUS_EXT)
            .and_then(|e| e["valueCode"].as_str())
            .unwrap_or_default();
        let Some(denominator) = denominator.or(initial) else {
            continue;
        };
        let has_numerator = numerator.is_some();
        let numerator = numerator.unwrap_or(0);
        let exclusions = exclusions.unwrap_or(0);
        let exceptions = exceptions.unwrap_or(0);
        let base = denominator.saturating_sub(exclusions + exceptions);
        let canonical = r["measure"].as_str().unwrap_or_default();
        let measure_id = match crate::measure::catalog::Catalog::get().by_canonical(canonical) {
            Some(d) => d.id.to_string(),
            None => canonical
                .split('|')
                .next()
                .and_then(|u| u.rsplit('/').next())
                .unwrap_or_default()
                .to_string(),
        };
        out.push(ReportRow {
            practice: practice.into(),
            program: program.into(),
            period: period.into(),
            measure_id,
            measure: r["measure"].as_str().unwrap_or_default().into(),
            period_start: r["period"]["start"].as_str().unwrap_or_default().into(),
            period_end: r["period"]["end"].as_str().unwrap_or_default().into(),
            numerator,
            denominator,
            exclusions,
            exceptions,
            rate: (has_numerator && base > 0)
                .then(|| (numerator as f64 / base as f64 * 10000.0).round() / 10000.0),
            status: status.into(),
        });
    }
    out
}

impl FhirService {
    /// A practice's submission for a quarter, built but not recorded (the
    /// CLI report), with its failed checks.
    pub async fn preview_submission(
        &self,
        practice: &str,
        quarter: &str,
    ) -> Result<(Value, Vec<String>), ServiceError> {
        let ctx = AccessContext::internal(practice, "report");
        let e = self.settings.programs.enrolled(practice).ok_or_else(|| {
            ServiceError::NotFound(Issue::error(
                "not-found",
                format!("{practice} is not enrolled in a program"),
            ))
        })?;
        let first = crate::service::report::period(&[("period".into(), quarter.into())])?.0;
        let q = Quarter::of(crate::fhir::datetime::utc_date(first));
        let key = format!("{practice}.{}.{}.preview", e.program.id, q.name);
        let built = self.build_submission(&ctx, &e, &q, &key, None).await?;
        Ok((built.bundle, built.checks))
    }

    /// The practices enrolled in `program`, sorted.
    pub fn enrolled_in(&self, program: &str) -> Vec<String> {
        self.settings.programs.in_program(program)
    }
}
