//! The figure last submitted to the program, shown beside each chart: what
//! the practice's latest quarterly submission (not held, not superseded)
//! reported for the series — a CQM's trailing months, a milestone's
//! quarter — with its delivery state, read from the very Bundle the ledger
//! keeps.

use serde_json::Value;

use super::cqm::{CqmSeries, rate_counts};
use crate::measure::catalog::Catalog;
use crate::measure::milestone::program::Program;
use crate::service::feed::population_counts;
use crate::service::milestones::Enrolled;
use crate::service::{FhirService, ServiceError};

/// One submitted figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// `2026Q3`.
    pub quarter: String,
    pub period_start: String,
    pub period_end: String,
    /// The ledger state: `accepted`, `queued`, `recorded`, `failed`.
    pub state: String,
    pub numerator: i64,
    pub denominator: i64,
}

/// The latest submission's Bundle with its quarter and state.
pub(super) struct LastSubmission {
    quarter: String,
    state: String,
    bundle: Value,
}

impl LastSubmission {
    fn reports(&self) -> impl Iterator<Item = &Value> {
        self.bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == "MeasureReport")
    }

    fn figure(&self, report: &Value, group: usize) -> Option<Submitted> {
        let counts = population_counts(report, group);
        counts[1]?;
        let (numerator, denominator) = rate_counts(&counts.map(|c| c.unwrap_or(0)));
        Some(Submitted {
            quarter: self.quarter.clone(),
            period_start: report["period"]["start"].as_str()?.to_string(),
            period_end: report["period"]["end"].as_str()?.to_string(),
            state: self.state.clone(),
            numerator,
            denominator,
        })
    }

    /// The submitted figure of a CQM series' measure and group.
    pub(super) fn cqm(&self, s: &CqmSeries) -> Option<Submitted> {
        let catalog = Catalog::get();
        let report = self.reports().find(|r| {
            r["measure"]
                .as_str()
                .and_then(|m| catalog.by_canonical(m))
                .is_some_and(|d| d.cms.eq_ignore_ascii_case(&s.name))
        })?;
        self.figure(report, s.group)
    }

    /// The submitted figure of the milestone on `computation` in the
    /// submission (the project year's milestone of it).
    pub(super) fn milestone(&self, e: &Enrolled, computation: &str) -> Option<Submitted> {
        let urls: Vec<&str> = e
            .catalog
            .milestones
            .iter()
            .filter(|m| m.computation.as_deref() == Some(computation))
            .filter_map(|m| m.measure["url"].as_str())
            .collect();
        let report = self.reports().find(|r| {
            r["measure"]
                .as_str()
                .map(|m| m.split('|').next().unwrap_or_default())
                .is_some_and(|url| urls.contains(&url))
        })?;
        self.figure(report, 0)
    }
}

impl FhirService {
    /// The practice's submission of the latest quarter to `program` that
    /// went (or is going) to the program: its last version.
    pub(super) async fn last_submission(
        &self,
        org: &str,
        program: &Program,
    ) -> Result<Option<LastSubmission>, ServiceError> {
        let ledger = self.store.submissions(org, Some(&program.id), None).await?;
        Ok(ledger
            .iter()
            .filter(|s| !matches!(s.state(), "held" | "superseded"))
            .max_by(|a, b| (&a.entry.period, a.seq).cmp(&(&b.entry.period, b.seq)))
            .and_then(|s| {
                Some(LastSubmission {
                    quarter: s.entry.period.clone(),
                    state: s.state().to_string(),
                    bundle: serde_json::from_str(&s.entry.body).ok()?,
                })
            }))
    }
}
