//! The patient-level milestones over the store: every patient of the
//! practice streams past once, a page at a time, with the resources the
//! definitions read; facts are worked out on the blocking pool and only the
//! tally is kept.

use std::collections::HashSet;
use std::sync::Arc;

use crate::measure::milestone::population::{Tally, Window, facts};
use crate::measure::record::Record;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, PatientPage, StoreError};

/// What the definitions read besides the Patient.
const TYPES: [&str; 4] = ["Encounter", "Observation", "CareTeam", "CarePlan"];
/// Patients per store page.
const PAGE: usize = 500;

impl FhirService {
    /// The practice's clinicians (`Practitioner/…`, `PractitionerRole/…`):
    /// who can be a patient's PCP here.
    pub(crate) async fn staff(&self, ctx: &AccessContext) -> Result<HashSet<String>, ServiceError> {
        let mut staff = HashSet::new();
        for rt in ["Practitioner", "PractitionerRole"] {
            for r in self.find_values(ctx, rt, &[]).await? {
                if let Some(id) = r["id"].as_str() {
                    staff.insert(format!("{rt}/{id}"));
                }
            }
        }
        Ok(staff)
    }

    /// Active, empaneled and screening facts of every patient, added up.
    pub(crate) async fn patient_tally(
        &self,
        ctx: &AccessContext,
        window: Window,
    ) -> Result<Tally, ServiceError> {
        let staff = Arc::new(self.staff(ctx).await?);
        let mut tally = Tally::default();
        let fetch = |after: Option<String>| {
            let page = PatientPage {
                types: TYPES.iter().map(|t| t.to_string()).collect(),
                after,
                only: None,
                limit: PAGE,
            };
            self.store.patient_records(ctx, page)
        };
        // The next page is read while this one is worked out.
        let mut rows = fetch(None).await?;
        while let Some(last) = rows.last() {
            let next = fetch(Some(last.patient.id.clone()));
            let staff = staff.clone();
            let t = tally;
            let work = tokio::task::spawn_blocking(move || {
                let mut t = t;
                for row in rows {
                    let parse = |s: &str| serde_json::from_str(s).ok();
                    let all = std::iter::once(&row.patient)
                        .chain(&row.resources)
                        .filter_map(|r| parse(&r.body));
                    if let Some(record) = Record::new(all) {
                        t.add(facts(&record, &window, &staff));
                    }
                }
                t
            });
            let (worked, fetched) = tokio::join!(work, next);
            tally =
                worked.map_err(|e| StoreError::Backend(format!("milestone task failed: {e}")))?;
            rows = fetched?;
        }
        Ok(tally)
    }
}
