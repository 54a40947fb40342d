//! Element-type checks through the typed fhir-sdk (R4B) models, done by the
//! `fhir-typed` crate (its own crate for build time, see there); this module
//! turns its finding into an OperationOutcome issue a sender can act on.

use serde_json::Value;

use super::outcome::Issue;

/// Deserializes `resource` into its typed model when there is one, reporting
/// the first element whose JSON type is wrong.
pub fn check_types(resource_type: &str, resource: &Value) -> Result<(), Issue> {
    fhir_typed::check_types(resource_type, resource).map_err(|e| {
        Issue::error(
            "structure",
            format!(
                "{}: {}. Fix this element (see the R4 definition of {resource_type}).",
                e.expression, e.message
            ),
        )
        .at(e.expression)
    })
}
