//! The patient-level milestones over the store: every patient of the
//! practice streams past once (`fold_records`, as measure runs do), with the
//! resources the definitions read; only the tally is kept.

use crate::measure::milestone::continuity::Staff;
use crate::measure::milestone::population::{Tally, Window, facts};
use crate::service::population::{Reading, fold_records};
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// What the definitions read besides the Patient.
const TYPES: [&str; 4] = ["Encounter", "Observation", "CareTeam", "CarePlan"];

impl FhirService {
    /// The practice's clinicians (`Practitioner/…`, `PractitionerRole/…`):
    /// who can be a patient's PCP here. A role stands for its practitioner.
    pub(crate) async fn staff(&self, ctx: &AccessContext) -> Result<Staff, ServiceError> {
        let mut staff = Staff::default();
        for r in self.find_values(ctx, "Practitioner", &[]).await? {
            if let Some(id) = r["id"].as_str() {
                let me = format!("Practitioner/{id}");
                staff.add(me.clone(), me);
            }
        }
        for r in self.find_values(ctx, "PractitionerRole", &[]).await? {
            if let Some(id) = r["id"].as_str() {
                let role = format!("PractitionerRole/{id}");
                let who = r["practitioner"]["reference"]
                    .as_str()
                    .filter(|p| p.starts_with("Practitioner/"))
                    .map_or_else(|| role.clone(), str::to_string);
                staff.add(role, who);
            }
        }
        Ok(staff)
    }

    /// Every patient's milestone facts, added up (`staff`: the practice's
    /// clinicians).
    pub(crate) async fn patient_tally(
        &self,
        ctx: &AccessContext,
        window: Window,
        staff: Staff,
    ) -> Result<Tally, ServiceError> {
        let tally = fold_records(
            &self.store,
            ctx,
            Reading::of(&TYPES).keeping(crate::measure::milestone::population::reads),
            Tally::default(),
            move |t: &mut Tally, record| t.add(facts(&record, &window, &staff)),
            |_, _| {},
        )
        .await?;
        Ok(tally)
    }
}
