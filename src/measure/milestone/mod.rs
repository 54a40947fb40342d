//! Program milestones (building blocks of the Colorado SIM, the Maine Health
//! Homes expectations): the catalog as FHIR Measures, programs and
//! enrolment, the patient-level computations, status and good standing.
//! Everything here is pure; `service::milestones` gathers the inputs.

pub mod attestation;
pub mod catalog;
pub mod continuity;
pub mod decision_aids;
pub mod population;
pub mod program;
pub mod standing;

#[cfg(test)]
mod population_tests;
#[cfg(test)]
mod tests;
