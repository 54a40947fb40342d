//! BB2.Y1.1 from the submission ledger: the quarters ending in the scope
//! whose submission is due, and of them those submitted on time with the
//! CQMs the track required that quarter.

use super::evidence::Scope;
use crate::measure::milestone::standing::Finding;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Whether a submission Bundle holds at least `n` CQM reports.
fn holds_cqms(body: &str, n: u32) -> bool {
    let Ok(b) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let catalog = crate::measure::catalog::Catalog::get();
    let cqms = b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["resource"]["measure"]
                .as_str()
                .is_some_and(|m| catalog.by_canonical(m).is_some())
        })
        .count();
    cqms >= n as usize
}

impl FhirService {
    /// BB2.Y1.1: the quarters ending in the scope whose submission is due
    /// (denominator), and of them those submitted — accepted by the program,
    /// or recorded when it takes no feed — by the due date with at least
    /// the CQMs the track required that quarter (numerator).
    pub(crate) async fn cqm_submissions(
        &self,
        ctx: &AccessContext,
        scope: &Scope,
    ) -> Result<Finding, ServiceError> {
        let Some(e) = self.settings.programs.enrolled(&ctx.tenant) else {
            return Ok(Finding::Missing(
                "the practice is not enrolled in a program".into(),
            ));
        };
        let ledger = self
            .store
            .submissions(&ctx.tenant, Some(&e.program.id), None)
            .await?;
        let today = self.today();
        let (mut numerator, mut denominator) = (Vec::new(), Vec::new());
        let mut q = crate::measure::milestone::program::Quarter::of(e.enrolment.start);
        while q.last <= scope.window.last {
            let due = e.program.due_date(q.end());
            if q.last >= scope.window.first && due.is_some_and(|d| d < today) {
                let required = e.enrolment.required_cqms(e.track, q.end());
                let deadline = due
                    .and_then(|d| d.succ_opt())
                    .map(crate::fhir::datetime::day_start_ms);
                let on_time = ledger.iter().any(|s| {
                    let at = match s.entry.destination {
                        Some(_) => s.delivered_ms,
                        None => Some(s.entry.created_ms),
                    };
                    s.entry.period == q.name
                        && at.zip(deadline).is_some_and(|(a, d)| a < d)
                        && holds_cqms(&s.entry.body, required)
                });
                if on_time {
                    numerator.push(q.name.clone());
                }
                denominator.push(q.name.clone());
            }
            q = crate::measure::milestone::program::Quarter::of(q.end());
        }
        Ok(Finding::Ratio {
            numerator,
            denominator,
            also: None,
        })
    }
}
