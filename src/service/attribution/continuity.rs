//! `GET Organization/{id}/$continuity?start=YYYY-MM&end=YYYY-MM`: for each
//! month, each clinician's panel patients seen by the practice and, of
//! them, those seen by that clinician (BB3.Y2.2), and the practice as a
//! whole (a patient-month once, own when seen by any of their PCPs). The
//! practice's users get the patients behind each figure; its overseers the
//! numbers.

use chrono::Datelike;
use serde_json::{Value, json};

use super::report::{first_of, month_of, people};
use crate::measure::milestone::continuity::Cell;
use crate::measure::milestone::population::Window;
use crate::service::report::param;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Months one request may span.
const MAX_MONTHS: u32 = 36;

impl FhirService {
    pub async fn continuity_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "continuity")?;
        let today = self.today();
        let (end, end_ms) = month_of(param(pairs, "end"), today)?;
        let first = first_of(param(pairs, "start").or(Some(&end)), today)?;
        let start = first.format("%Y-%m").to_string();
        let last = crate::fhir::datetime::utc_date(end_ms - 1);
        let months = (last.year() - first.year()) * 12 + last.month() as i32 - first.month() as i32;
        if !(0..MAX_MONTHS as i32).contains(&months) {
            return Err(ServiceError::bad(crate::fhir::outcome::Issue::error(
                "invalid",
                format!(
                    "start {start} must be a month on or before end {end}, at most {MAX_MONTHS} months apart."
                ),
            )));
        }
        let staff = self.staff(ctx).await?;
        let tally = self
            .patient_tally(ctx, Window::new(first, last, 24), staff)
            .await?;
        let c = tally.continuity;
        let mut parameter = vec![
            json!({ "name": "start", "valueString": start }),
            json!({ "name": "end", "valueString": end }),
        ];
        let practice: Vec<Value> = c
            .practice
            .iter()
            .map(|(m, cell)| month_part(m, cell, numbers_only))
            .collect();
        parameter.push(json!({ "name": "practice", "part": practice }));
        for (clinician, cells) in &c.by_provider {
            let mut part =
                vec![json!({ "name": "clinician", "valueReference": { "reference": clinician } })];
            part.extend(
                cells
                    .iter()
                    .map(|(m, cell)| month_part(m, cell, numbers_only)),
            );
            parameter.push(json!({ "name": "provider", "part": part }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }
}

/// One month's cell: seen, own, the rate and (for the practice) the lists.
fn month_part(month: &str, cell: &Cell, numbers_only: bool) -> Value {
    let mut part = vec![
        json!({ "name": "month", "valueString": month }),
        json!({ "name": "seen", "valueInteger": cell.seen.len() }),
        json!({ "name": "own", "valueInteger": cell.own.len() }),
    ];
    if let Some(s) = crate::measure::milestone::standing::share(cell.own.len(), cell.seen.len()) {
        part.push(json!({ "name": "rate", "valueDecimal": (s * 10000.0).round() / 10000.0 }));
    }
    if !numbers_only {
        part.push(json!({ "name": "seenList", "resource": people("seen", &cell.seen) }));
        part.push(json!({ "name": "ownList", "resource": people("own", &cell.own) }));
    }
    json!({ "name": "month", "part": part })
}
