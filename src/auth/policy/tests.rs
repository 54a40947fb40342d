use serde_json::json;

use super::*;
use crate::caller::scopes::Scopes;

fn grant(role: Role, scopes: &str) -> Grant {
    Grant {
        client_id: "c".into(),
        role,
        org: "org-a".into(),
        scopes: Scopes::parse_list(scopes).0,
        token_id: "t".into(),
        person: None,
    }
}

#[test]
fn scopes_decide_per_interaction() {
    let g = grant(Role::Ehr, "system/Observation.rs");
    assert!(authorize(&g, "Observation", Interaction::Read).is_ok());
    assert!(authorize(&g, "Observation", Interaction::Search).is_ok());
    assert!(matches!(
        authorize(&g, "Observation", Interaction::Create),
        Err(Denial::Forbidden(_))
    ));
    assert!(matches!(
        authorize(&g, "Patient", Interaction::Read),
        Err(Denial::Forbidden(_))
    ));
}

#[test]
fn audit_trail_is_admin_read_only_and_immutable() {
    let admin = grant(Role::Admin, "system/*.cruds");
    let ehr = grant(Role::Ehr, "system/*.cruds");
    assert!(authorize(&admin, "AuditEvent", Interaction::Search).is_ok());
    assert!(matches!(
        authorize(&ehr, "AuditEvent", Interaction::Search),
        Err(Denial::Forbidden(_))
    ));
    for i in [
        Interaction::Create,
        Interaction::Update,
        Interaction::Delete,
    ] {
        assert!(matches!(
            authorize(&admin, "AuditEvent", i),
            Err(Denial::Immutable(_))
        ));
    }
}

#[test]
fn reporting_reads_measure_outputs_only() {
    let g = grant(Role::Reporting, "system/*.cruds");
    assert!(authorize(&g, "MeasureReport", Interaction::Search).is_ok());
    assert!(authorize(&g, "Patient", Interaction::Read).is_err());
    assert!(authorize(&g, "MeasureReport", Interaction::Create).is_err());
}

fn part2_resource() -> Value {
    json!({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
      "meta": {"security": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}]}})
}

#[test]
fn sensitive_labels_are_recognised() {
    assert_eq!(
        sensitive_labels(&part2_resource()),
        vec!["R", "SUD", "42CFRPart2"]
    );
    assert!(
        sensitive_labels(&json!({"meta": {"security": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]}}))
        .is_empty()
    );
}

#[test]
fn referrals_share_task_request_patient_and_supporting_info() {
    let tasks = vec![
        json!({"id": "t1", "focus": {"reference": "ServiceRequest/sr1"},
                            "for": {"reference": "Patient/p1"}}),
    ];
    let srs = vec![json!({"id": "sr1", "subject": {"reference": "Patient/p1"},
                          "supportingInfo": [{"reference": "Observation/phq9"}]})];
    let shared = shared_refs(&tasks, &srs);
    let mut got: Vec<&str> = shared.iter().map(String::as_str).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "Observation/phq9",
            "Patient/p1",
            "ServiceRequest/sr1",
            "Task/t1"
        ]
    );
}
