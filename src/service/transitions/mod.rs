//! Transitions of care (building block 9): HIE admission and discharge
//! notifications through `$process-message` (`messaging`), matched to the
//! practice's patients (`patient_match`) and processed in their transaction
//! (`receive`: Encounters, follow-up Tasks, readmissions, the practice's
//! notification); follow-up Tasks completed by their evidence
//! (`followup_evidence`, the capability's post-write hook), marked overdue by
//! a periodic sweep (`overdue`), and the `$transitions` report (`report`).

pub(crate) mod followup_evidence;
mod messaging;
pub(crate) mod overdue;
pub(crate) mod patient_match;
mod readmission_rates;
mod readmit;
pub(crate) mod receive;
mod report;

pub use patient_match::TransitionRules;
