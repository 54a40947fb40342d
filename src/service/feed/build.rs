//! Building one quarter's submission for a practice: the required CQMs over
//! the trailing months as DEQM summary MeasureReports, every milestone of the
//! project year as a MeasureReport with its status, the reporting
//! Organization and a Device naming Tandem's version, in one collection
//! Bundle; and the pre-send checks the program's data-quality gate asks for.

use chrono::Datelike;
use serde_json::{Value, json};

use crate::fhir::datetime::day_start_ms as ms;
use crate::measure::catalog::Catalog;
use crate::measure::milestone::population::Window;
use crate::measure::milestone::program::Quarter;
use crate::measure::run::Period;
use crate::service::milestones::Enrolled;
use crate::service::milestones::evidence::Scope;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Identifies submissions Tandem made (the Bundle's identifier system).
pub const SUBMISSION_SYSTEM: &str = "http://tandem.health/fhir/submission";

/// The trailing CQM period (the program's `cqm_months`) ending on `last`:
/// a quarter's submission period, and a CQM run chart's month.
pub(crate) fn cqm_period(e: &Enrolled, last: chrono::NaiveDate) -> Period {
    let end = last.succ_opt().expect("a day after");
    Period {
        first: end - chrono::Months::new(e.program.reporting.cqm_months),
        last,
    }
}

/// A submission ready to record.
pub struct Built {
    pub bundle: Value,
    /// Failed pre-send checks, each a sentence a practice can act on.
    pub checks: Vec<String>,
}

/// The denominator of each report in a Bundle, by measure canonical.
pub fn denominators(bundle: &Value) -> Vec<(String, u64)> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "MeasureReport")
        .filter_map(|r| {
            let pops = r["group"][0]["population"].as_array()?;
            let den = pops
                .iter()
                .find(|p| p["code"]["coding"][0]["code"] == "denominator")?;
            Some((r["measure"].as_str()?.to_string(), den["count"].as_u64()?))
        })
        .collect()
}

impl FhirService {
    /// Builds the practice's submission for quarter `q`. `previous` is the
    /// Bundle last submitted for the quarter before (denominator shifts).
    pub(crate) async fn build_submission(
        &self,
        ctx: &AccessContext,
        e: &Enrolled<'_>,
        q: &Quarter,
        key: &str,
        previous: Option<&Value>,
    ) -> Result<Built, ServiceError> {
        let period = cqm_period(e, q.last);
        let names = e
            .track
            .cqms
            .get(&e.enrolment.cohort)
            .cloned()
            .unwrap_or_default();
        let catalog = Catalog::get();
        let mut defs = Vec::new();
        for n in &names {
            let def = catalog.for_period(n, period.first).ok_or_else(|| {
                ServiceError::Internal(format!("no version of {n} for {}", period.first.year()))
            })?;
            defs.push(def);
        }
        let year = e.program.year_of(q.first);
        let milestones: Vec<_> = e
            .catalog
            .milestones
            .iter()
            .filter(|m| year.is_none_or(|y| m.year == y || m.year == 0))
            .collect();
        let scope = Scope {
            start_ms: ms(q.first),
            end_ms: ms(q.end()),
            window: Window::new(q.first, q.last, e.program.reporting.active_lookback_months),
            open: false,
        };
        // The CQM pass and the milestones' reads side by side (each is a
        // pass of its own over the practice, reading while evaluating).
        let (cqms, assessed) = tokio::try_join!(
            self.measure_reports(ctx, period, &defs, false, |_| {}),
            self.assess_milestones(ctx, &milestones, &scope)
        )?;
        let required = e.enrolment.required_cqms(e.track, q.end());
        let mut checks = Vec::new();
        if (cqms.len() as u32) < required {
            checks.push(format!(
                "{} CQMs are configured for track '{}' ({}), {required} are required this quarter",
                cqms.len(),
                e.track.id,
                e.enrolment.cohort
            ));
        }
        let org = self
            .store
            .read(ctx, "Organization", &ctx.tenant)
            .await?
            .filter(|r| !r.deleted)
            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
            .unwrap_or_else(|| json!({ "resourceType": "Organization", "id": ctx.tenant }));
        let device = json!({
            "resourceType": "Device", "id": "tandem",
            "deviceName": [{ "name": "Tandem", "type": "manufacturer-name" }],
            "version": [{ "value": env!("CARGO_PKG_VERSION") }],
        });
        let mut entries = vec![org, device];
        for r in &cqms {
            let pops = r["group"][0]["population"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let den = pops
                .iter()
                .find(|p| p["code"]["coding"][0]["code"] == "initial-population")
                .and_then(|p| p["count"].as_u64());
            if den == Some(0) {
                checks.push(format!(
                    "{}: the initial population is empty",
                    r["measure"].as_str().unwrap_or_default()
                ));
            }
        }
        entries.extend(cqms.into_iter().map(|mut r| {
            r["reporter"] = json!({ "reference": format!("Organization/{}", ctx.tenant) });
            r
        }));
        entries.extend(
            assessed
                .iter()
                .map(|a| self.milestone_report(a, &scope, &ctx.tenant, false)),
        );
        let bundle = json!({
            "resourceType": "Bundle",
            "identifier": { "system": SUBMISSION_SYSTEM, "value": key },
            "type": "collection",
            "timestamp": self.now_text(),
            "entry": entries.into_iter().map(|r| {
                let url = format!("{}/{}", r["resourceType"].as_str().unwrap_or_default(), r["id"].as_str().unwrap_or_default());
                json!({ "fullUrl": format!("{}/{url}", self.settings.base_url), "resource": r })
            }).collect::<Vec<_>>(),
        });
        if let Some(prev) = previous {
            checks.extend(shifts(
                &denominators(prev),
                &denominators(&bundle),
                e.program.reporting.max_denominator_shift,
            ));
        }
        checks.extend(self.staleness(ctx, e.program.reporting.stale_days).await?);
        Ok(Built { bundle, checks })
    }

    /// No HIE notification or screening result received lately.
    async fn staleness(&self, ctx: &AccessContext, days: u32) -> Result<Vec<String>, ServiceError> {
        let since = chrono::DateTime::from_timestamp_millis(
            self.clock.now_ms() - i64::from(days) * 86_400_000,
        )
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
        let mut out = Vec::new();
        for (rt, tag, what) in [
            (
                "Bundle",
                format!(
                    "{}|processed",
                    crate::service::transitions::receive::MESSAGE_TAG
                ),
                "HIE notification",
            ),
            (
                "Observation",
                format!(
                    "{}|screening-result",
                    crate::service::screening::DERIVED_TAG
                ),
                "screening result",
            ),
        ] {
            let pairs = vec![
                ("_tag".to_string(), tag),
                ("_lastUpdated".to_string(), format!("ge{since}")),
            ];
            let q = crate::fhir::query::parse(&self.registry, &self.settings.base_url, rt, &pairs)
                .map_err(|e| ServiceError::Internal(e.0))?;
            if self.store.find(ctx, q, 1).await?.is_empty() {
                out.push(format!("no {what} received in the last {days} days"));
            }
        }
        Ok(out)
    }
}

/// Denominators that moved more than `max` (a share) between two submissions.
fn shifts(before: &[(String, u64)], now: &[(String, u64)], max: f64) -> Vec<String> {
    now.iter()
        .filter_map(|(m, n)| {
            let (_, b) = before.iter().find(|(x, _)| x == m)?;
            let moved = (*n as f64 - *b as f64).abs() / (*b).max(1) as f64;
            (moved > max).then(|| {
                format!(
                    "{m}: the denominator moved from {b} to {n} since the previous quarter ({:+.0}%)",
                    (*n as f64 - *b as f64) / (*b).max(1) as f64 * 100.0
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::shifts;

    #[test]
    fn a_denominator_shift_beyond_the_share_is_named() {
        let before = vec![("CMS2|1".to_string(), 100), ("CMS122|1".to_string(), 40)];
        let now = vec![("CMS2|1".to_string(), 125), ("CMS122|1".to_string(), 29)];
        let s = shifts(&before, &now, 0.25);
        assert_eq!(
            s,
            ["CMS122|1: the denominator moved from 40 to 29 since the previous quarter (-28%)"]
        );
        assert!(shifts(&before, &[("CMS9".into(), 1)], 0.25).is_empty());
    }
}
