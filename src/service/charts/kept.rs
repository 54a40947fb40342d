//! The subject lists the last chart refresh kept for the year running, so
//! the drill-down of a large practice reads them instead of evaluating a
//! milestone per request.

use serde_json::{Value, json};

use crate::fhir::outcome::Issue;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

impl FhirService {
    /// The subjects behind a milestone's proportion over `[start, end]`, as
    /// the last refresh kept them for the year running, as a subject-list
    /// MeasureReport's contained Lists; `None` when not kept for that period
    /// (then the drill-down evaluates). Patient lists: not for numbers-only
    /// overseers.
    pub async fn kept_subjects(
        &self,
        ctx: &AccessContext,
        org: &str,
        measure: &str,
        (start, end): (&str, &str),
    ) -> Result<Option<Value>, ServiceError> {
        self.milestone_access(ctx, org)?;
        if crate::service::milestones::numbers_only(ctx) {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Program staff and facilitators read numbers, not patient lists.",
            )));
        }
        let Some((doc, _)) = self.store.summary(org, "lists").await? else {
            return Ok(None);
        };
        let kept: Value = serde_json::from_str(&doc).unwrap_or_default();
        if kept["periodStart"] != start || kept["periodEnd"] != end {
            return Ok(None);
        }
        let lists = &kept["lists"][measure];
        if lists.is_null() {
            return Ok(None);
        }
        let subjects = |code: &str| -> Vec<String> {
            lists[code]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let contained: Vec<Value> = ["numerator", "denominator"]
            .iter()
            .map(|code| crate::service::milestones::subject_list(code, &subjects(code)))
            .collect();
        Ok(Some(
            json!({ "resourceType": "MeasureReport", "measure": measure,
                        "contained": contained }),
        ))
    }
}
