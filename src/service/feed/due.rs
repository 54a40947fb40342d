//! What a practice owes its program next, for the web app's portfolio:
//! the latest ended quarter's submission, its due date and its state.

use crate::measure::milestone::program::Quarter;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// The submission a practice owes next (see `next_submission`).
#[derive(Debug, Clone, PartialEq)]
pub struct NextSubmission {
    pub period: String,
    pub due: chrono::NaiveDate,
    pub state: String,
}

impl FhirService {
    /// The submission a practice owes next: the latest quarter that has
    /// ended (the one its enrolment started in, if later), its due date and
    /// state — the ledger's (`held`, `queued`, `accepted`, `failed`, …), or
    /// `missing` once due and not built, `upcoming` before.
    pub async fn next_submission(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Option<NextSubmission>, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        let today = self.today();
        let mut q = Quarter::of(today).previous();
        if q.last < e.enrolment.start {
            q = Quarter::of(e.enrolment.start);
        }
        let Some(due) = e.program.due_date(q.end()) else {
            return Ok(None);
        };
        let latest = self
            .store
            .submissions(org, Some(&e.program.id), Some(&q.name))
            .await?
            .into_iter()
            .max_by_key(|r| r.entry.version);
        let state = match latest {
            Some(r) => r.state().to_string(),
            None if due < today => "missing".to_string(),
            None => "upcoming".to_string(),
        };
        Ok(Some(NextSubmission {
            period: q.name,
            due,
            state,
        }))
    }
}
