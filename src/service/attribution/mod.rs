//! Panels and payer attribution. The capability's post-write hook, inside
//! the write: checks every Group a payer writes, and every Group claiming
//! the Da Vinci ATR profile — a list that is not an attribution list, or
//! whose members name Patients this practice does not have, is refused
//! whole (422) and nothing is stored; each accepted list is a new version
//! of its Group, so every monthly list is kept. And records each change of
//! a patient's PCP assignment (Patient.generalPractitioner, a CareTeam's
//! PCP) as a Provenance a practice user later confirms (`panel`).

mod continuity;
mod panel;
mod report;

pub(crate) use report::ListInEffect;

use crate::fhir::outcome::Issue;
use crate::rules::attribution::{check_list, claims_atr};
use crate::service::ServiceError;
use crate::service::hooks::{HookCx, PostWriteHook};
use crate::service::managed::live;
use crate::service::screening::Written;

pub struct AttributionHook;

impl PostWriteHook for AttributionHook {
    fn name(&self) -> &'static str {
        "attribution"
    }

    fn after_write(&self, cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
        panel::record_changes(cx, written)?;
        for w in written
            .iter()
            .filter(|w| w.resource_type == "Group" && !w.deleted)
        {
            let Ok(group) = serde_json::from_str::<serde_json::Value>(&w.body) else {
                continue;
            };
            if cx.writer.role != crate::caller::Role::Payer && !claims_atr(&group) {
                continue;
            }
            let refused =
                |m: String| ServiceError::Unprocessable(vec![Issue::error("business-rule", m)]);
            for r in check_list(&group).map_err(refused)? {
                let id = r.trim_start_matches("Patient/");
                if live(cx.tx, "Patient", id)?.is_none() {
                    return Err(refused(format!(
                        "Group/{}: member {r} is not a patient of this practice; identify \
                         members of other practices by the payer's member id (entity.identifier).",
                        w.id
                    )));
                }
            }
        }
        Ok(())
    }
}
