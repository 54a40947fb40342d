//! Element-type checks through the typed fhir-sdk (R4B) models.
//!
//! fhir-sdk models R4B, which is wire-compatible with R4 for the resources
//! listed here (the ones Tandem reads and derives from). Other types are only
//! checked structurally: R4B changed some of them (e.g. the Evidence and
//! MedicinalProduct families), so a typed parse could wrongly reject valid R4.

use fhir_sdk::r4b::resources as r;
use serde_json::Value;

use super::outcome::Issue;

macro_rules! typed_check {
    ($rt:expr, $value:expr, [$($ty:ident),* $(,)?]) => {
        match $rt {
            $(stringify!($ty) => check::<r::$ty>($rt, $value),)*
            _ => Ok(()),
        }
    };
}

/// Deserializes `resource` into its typed model when there is one, reporting
/// the first element whose JSON type is wrong.
pub fn check_types(resource_type: &str, resource: &Value) -> Result<(), Issue> {
    typed_check!(resource_type, resource, [
        Patient, Observation, Encounter, Condition, QuestionnaireResponse, Questionnaire,
        Practitioner, PractitionerRole, Organization, Location, Procedure, MedicationRequest,
        Medication, MedicationStatement, Immunization, AllergyIntolerance, DiagnosticReport,
        DocumentReference, CarePlan, CareTeam, Goal, ServiceRequest, Task, Flag, Communication,
        Consent, Provenance, Coverage, Group, Device, MessageHeader, Endpoint, EpisodeOfCare,
        RelatedPerson,
    ])
}

fn check<T: serde::de::DeserializeOwned>(rt: &str, resource: &Value) -> Result<(), Issue> {
    match serde_path_to_error::deserialize::<_, T>(resource) {
        Ok(_) => Ok(()),
        Err(e) => {
            let path = e.path().to_string();
            let expr = if path == "." || path.is_empty() { rt.to_string() } else { format!("{rt}.{path}") };
            let msg = e.into_inner().to_string();
            Err(Issue::error("structure", format!("{expr}: {msg}. Fix the element's datatype (see the R4 definition of {rt}).")).at(expr))
        }
    }
}
