//! BB5.Y2.1–Y2.3 over the store: the active patients with one of the
//! practice's chosen preference-sensitive conditions, and of them those
//! whose active care plan records a decision aid or self-management support
//! tool (`measure::milestone::decision_aids`). One reading serves the three
//! milestones.

use std::collections::HashSet;

use crate::measure::milestone::decision_aids::{names_condition, records_tool};
use crate::measure::milestone::standing::Finding;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

impl FhirService {
    pub(crate) async fn decision_aids(
        &self,
        ctx: &AccessContext,
        active: &[String],
    ) -> Result<Finding, ServiceError> {
        let wanted = self
            .settings
            .programs
            .enrolled(&ctx.tenant)
            .map(|e| e.enrolment.preference_sensitive.clone())
            .unwrap_or_default();
        if wanted.is_empty() {
            return Ok(Finding::Missing(
                "the practice has not named its preference-sensitive condition(s) (BB5.Y1.1): \
                 [[enrolments]] preference_sensitive = ICD-10-CM categories or SNOMED CT codes"
                    .into(),
            ));
        }
        let subject =
            |v: &serde_json::Value| v["subject"]["reference"].as_str().map(str::to_string);
        let eligible: HashSet<String> = self
            .find_map(ctx, "Condition", &[], |c| {
                names_condition(&c, &wanted).then(|| subject(&c))?
            })
            .await?
            .into_iter()
            .collect();
        let tooled: HashSet<String> = self
            .find_map(ctx, "CarePlan", &[("status", "active".into())], |p| {
                records_tool(&p).then(|| subject(&p))?
            })
            .await?
            .into_iter()
            .collect();
        let denominator: Vec<String> = active
            .iter()
            .filter(|p| eligible.contains(*p))
            .cloned()
            .collect();
        Ok(Finding::Ratio {
            numerator: denominator
                .iter()
                .filter(|p| tooled.contains(*p))
                .cloned()
                .collect(),
            denominator,
            also: None,
        })
    }
}
