//! Building blocks 1 and 3 from payer attribution lists: BB1.Y1.1 counts
//! the distinct lives on the lists in effect at the period's end (a member
//! matched to a patient counts once however many payers list them; an
//! unmatched member once per payer id), and BB3.Y1.2 asks for a payer
//! list's reconciliation marked reviewed by the practice in every month of
//! the period so far (`$attribution-review`).

use std::collections::BTreeSet;

use chrono::Datelike;

use super::evidence::Scope;
use crate::fhir::datetime::utc_date;
use crate::measure::milestone::standing::Finding;
use crate::rules::attribution::reconcile::reconcile;
use crate::service::attribution::ListInEffect;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

impl FhirService {
    pub(crate) async fn attributed_lives(
        &self,
        ctx: &AccessContext,
        lists: &[ListInEffect],
    ) -> Result<Finding, ServiceError> {
        let mut lives = BTreeSet::new();
        if !lists.is_empty() {
            let panel = self.panel(ctx).await?;
            for l in lists {
                let r = reconcile(&l.list, &panel, self.demographic_match());
                lives.extend(r.matched);
                lives.extend(r.unmatched);
            }
        }
        Ok(Finding::Count {
            count: lives.len() as u64,
            what: format!("distinct attributed lives on {} payer list(s)", lists.len()),
        })
    }

    /// Months of the period (up to today) with a reviewed reconciliation.
    pub(crate) async fn attribution_months(
        &self,
        ctx: &AccessContext,
        scope: &Scope,
        lists: &[ListInEffect],
    ) -> Result<Finding, ServiceError> {
        let groups: Vec<&str> = lists
            .iter()
            .filter_map(|l| l.reference.split('/').nth(1))
            .collect();
        let last = utc_date(scope.end_ms - 1).min(self.today());
        let mut month = utc_date(scope.start_ms).with_day(1).expect("day 1");
        let (mut numerator, mut denominator) = (Vec::new(), Vec::new());
        while month <= last {
            let m = month.format("%Y-%m").to_string();
            let mut reviewed = false;
            for g in &groups {
                reviewed = reviewed || self.attribution_review(ctx, g, &m).await?.is_some();
            }
            if reviewed {
                numerator.push(m.clone());
            }
            denominator.push(m);
            month = month
                .checked_add_months(chrono::Months::new(1))
                .expect("a month after a valid one");
        }
        let every = numerator.len() == denominator.len();
        Ok(Finding::Ratio {
            also: Some((
                format!(
                    "a payer list's reconciliation reviewed in {} of {} months",
                    numerator.len(),
                    denominator.len()
                ),
                every,
            )),
            numerator,
            denominator,
        })
    }
}
