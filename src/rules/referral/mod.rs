//! Behavioral-health referrals, pure: which partner's care compact a positive
//! screen falls under (`compact`), and which Task status changes the
//! Gravity/BSeR workflow allows, and to whom (`workflow`).

pub mod compact;
pub mod numbers;
pub mod workflow;

/// BSeR Task business statuses.
pub const BUSINESS_STATUS_CS: &str = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS";
/// `Task.code` of a referral Task.
pub const TASK_CODE_CS: &str = "http://hl7.org/fhir/CodeSystem/task-code";
/// `ServiceRequest.category` marking a referral (SNOMED CT "Patient referral").
pub const REFERRAL_CATEGORY: (&str, &str) = ("http://snomed.info/sct", "3457005");
