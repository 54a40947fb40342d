//! Patient compartments as Tandem keeps them: a resource belongs to the
//! patients its `patient` search parameter names *on this server*. A
//! reference to a Patient on another server (`http://other/fhir/Patient/7`)
//! puts the resource in no compartment here, so measures, screening and
//! patient-level reads never see it. That is right — Tandem cannot know the
//! other server's patient is one of its own — but silent, so a write that
//! does it gets a warning the sender can act on.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::fhirpath::reference_type;
use super::outcome::Issue;
use super::params::Registry;
use super::reference::{Ref, parse};

/// The Patient references in `resource`'s `patient` search parameter that
/// point at another server. `local` says which absolute URLs the write
/// itself resolves (a transaction's own fullUrls); those are not foreign.
pub fn foreign_patients(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    resource: &Value,
    local: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let Some(param) = registry.get(resource_type, "patient") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for node in param.path.evaluate(resource_type, resource) {
        let Some(r) = node.value.get("reference").and_then(Value::as_str) else {
            continue;
        };
        if matches!(parse(r, base), Ref::External(_))
            && reference_type(node.value) == Some("Patient")
            && !local(r)
            && !out.iter().any(|o| o == r)
        {
            out.push(r.to_string());
        }
    }
    out
}

/// The R4 Patient CompartmentDefinition (4.0.1, as published by HL7): for
/// each resource type, the search parameters that put it in a patient's
/// compartment (`Observation`: subject, performer; `Appointment`: actor; …).
static PATIENT_COMPARTMENT: LazyLock<HashMap<String, Vec<String>>> = LazyLock::new(|| {
    let def: Value = serde_json::from_str(include_str!(
        "../../conformance/CompartmentDefinition-patient.json"
    ))
    .expect("the checked-in CompartmentDefinition parses");
    def["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let params: Vec<String> = r["param"]
                .as_array()?
                .iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect();
            Some((r["code"].as_str()?.to_string(), params))
        })
        .collect()
});

/// Every patient of this server whose compartment `resource` is in, as
/// `Patient/{id}`: the Patient itself, and each reference of the
/// compartment's parameters for the type that names a Patient here
/// (relative, or absolute under `base`). Derived from the
/// CompartmentDefinition, so every path counts (`Appointment.participant
/// .actor`, `Observation.performer`, `Coverage.payor`, …), not a hand list.
pub fn patients_in(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    id: &str,
    resource: &Value,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: String| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if resource_type == "Patient" {
        add(format!("Patient/{id}"));
    }
    let params = PATIENT_COMPARTMENT.get(resource_type).into_iter().flatten();
    for param in params.filter_map(|code| registry.get(resource_type, code)) {
        for node in param.path.evaluate(resource_type, resource) {
            let Some(r) = node.value.get("reference").and_then(Value::as_str) else {
                continue;
            };
            if let Ref::Local {
                resource_type: "Patient",
                id,
                ..
            } = parse(r, base)
            {
                add(format!("Patient/{id}"));
            }
        }
    }
    out
}

/// One warning per foreign Patient reference (see [`foreign_patients`]).
pub fn foreign_patient_warnings(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    resource: &Value,
    local: &dyn Fn(&str) -> bool,
) -> Vec<Issue> {
    foreign_patients(registry, base, resource_type, resource, local)
        .into_iter()
        .map(|r| {
            Issue::warning(
                "business-rule",
                format!(
                    "This {resource_type} names the patient {r}, which is on another server: it \
                     is stored, but it is in no patient's compartment here, so no patient's \
                     measures, screening or patient-level reads include it. To make it count \
                     for a patient of this practice, reference that Patient as Patient/<id>."
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patients(rt: &str, r: Value) -> Vec<String> {
        patients_in(&Registry::builtin(), "http://tandem.test/fhir", rt, "x", &r)
    }

    /// Each path of the CompartmentDefinition counts, relative or absolute
    /// under this server's base; other servers' patients and other types
    /// do not.
    #[test]
    fn compartment_membership_follows_the_definition() {
        let appt = json!({"resourceType": "Appointment", "status": "booked", "participant": [
            {"actor": {"reference": "Practitioner/dr"}, "status": "accepted"},
            {"actor": {"reference": "http://tandem.test/fhir/Patient/p1"}, "status": "accepted"},
            {"actor": {"reference": "http://other.test/fhir/Patient/p9"}, "status": "accepted"}]});
        assert_eq!(patients("Appointment", appt), vec!["Patient/p1"]);
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"}, "performer": [{"reference": "Patient/p2"}]});
        assert_eq!(
            patients("Observation", obs),
            vec!["Patient/p1", "Patient/p2"]
        );
        assert_eq!(
            patients("Patient", json!({"resourceType": "Patient"})),
            vec!["Patient/x"]
        );
        let task = json!({"resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"reference": "Patient/p1"}});
        assert_eq!(patients("Task", task), vec!["Patient/p1"], "Task.for");
    }

    fn foreign(rt: &str, r: Value, local: &dyn Fn(&str) -> bool) -> Vec<String> {
        foreign_patients(
            &Registry::builtin(),
            "http://tandem.test/fhir",
            rt,
            &r,
            local,
        )
    }

    #[test]
    fn only_patient_references_to_another_server_are_foreign() {
        let none = |_: &str| false;
        let order = |subject: &str| json!({"resourceType": "ServiceRequest", "subject": {"reference": subject}});
        let other = "http://GoodHealthcare.com/fhir/Patient/46464646";
        assert_eq!(foreign("ServiceRequest", order(other), &none), [other]);
        // Ours, relative or under our base; a placeholder; a Group; another type.
        for ours in [
            "Patient/1",
            "http://tandem.test/fhir/Patient/1",
            "urn:uuid:4f0c1e7a-0000-4000-8000-000000000001",
            "http://other/fhir/Group/9",
        ] {
            assert!(
                foreign("ServiceRequest", order(ours), &none).is_empty(),
                "{ours}"
            );
        }
        // A transaction entry's own fullUrl is resolved by the write: not foreign.
        assert!(foreign("ServiceRequest", order(other), &|r| r == other).is_empty());
        // Coverage's compartment is its beneficiary.
        let cov = json!({"resourceType": "Coverage", "beneficiary": {"reference": other}});
        assert_eq!(foreign("Coverage", cov, &none), [other]);
        // Types outside the patient compartment are never warned about.
        let org = json!({"resourceType": "Organization", "partOf": {"reference": other}});
        assert!(foreign("Organization", org, &none).is_empty());
    }

    #[test]
    fn the_warning_names_the_reference_and_what_to_do() {
        let r = json!({"resourceType": "Observation",
            "subject": {"reference": "https://elsewhere.example/Patient/p1"}});
        let w = foreign_patient_warnings(
            &Registry::builtin(),
            "http://tandem.test/fhir",
            "Observation",
            &r,
            &|_| false,
        );
        assert_eq!(w.len(), 1);
        assert!(!w[0].is_error());
        assert!(
            w[0].diagnostics
                .contains("https://elsewhere.example/Patient/p1")
        );
        assert!(w[0].diagnostics.contains("Patient/<id>"));
    }
}
