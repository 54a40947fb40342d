//! Pure clinical derivations: screening instruments, care plans, due dates.
//!
//! Nothing here does I/O: inputs arrive as plain values (answers, dates, the
//! patient's sex and birth date), the clock is passed in, and the service layer
//! turns the results into FHIR resources inside the write transaction.

/// Tag on every resource Tandem derives (how they are found again).
pub const DERIVED_TAG: &str = "http://tandem.health/fhir/CodeSystem/derived";

pub mod attribution;
pub mod caregaps;
pub mod careplan;
pub mod identity;
pub mod referral;
pub mod risk;
pub mod runchart;
pub mod schedule;
pub mod screening;
pub mod toc_numbers;
pub mod transitions;

#[cfg(test)]
mod tests;
