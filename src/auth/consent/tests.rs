//! Each provision kind both ways, nesting, deny over permit, and periods as
//! instants. Expected answers come from the R4 Consent definitions (nested
//! provisions are exceptions to their parent), not from running the code.

use serde_json::{Value, json};

use super::*;
use crate::fhir::datetime::parse_range;

const ACT: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

fn sud_obs() -> Value {
    json!({"resourceType": "Observation", "id": "o1",
        "meta": {"profile": ["http://example.org/StructureDefinition/sud-screen"]},
        "code": {"coding": [{"system": "http://loinc.org", "code": "75626-2"}]},
        "subject": {"reference": "Patient/p1"}})
}

fn at(t: &str) -> i64 {
    parse_range(t).unwrap().start
}

fn consent(provision: Value) -> Value {
    json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "patient": {"reference": "Patient/p1"}, "provision": provision})
}

fn permits_at(c: &Value, org: &str, labels: &[&str], now: &str) -> bool {
    let r = sud_obs();
    let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    let d = Disclosure {
        org,
        resource_type: "Observation",
        id: "o1",
        resource: &r,
        labels: &labels,
        now_ms: at(now),
    };
    verdict(std::slice::from_ref(c), &d).0
}

fn permits(c: &Value) -> bool {
    permits_at(c, "bh", &["R", "SUD", "42CFRPart2"], "2026-06-01T12:00:00Z")
}

fn actor(org: &str) -> Value {
    json!([{"reference": {"reference": format!("Organization/{org}")}}])
}

fn label(code: &str) -> Value {
    json!([{"system": ACT, "code": code}])
}

#[test]
fn actor_names_the_recipient() {
    assert!(permits(&consent(
        json!({"type": "permit", "actor": actor("bh")})
    )));
    assert!(!permits(&consent(
        json!({"type": "permit", "actor": actor("other")})
    )));
    let absolute = json!([{"reference": {"reference": "http://tandem.test/fhir/Organization/bh"}}]);
    assert!(permits(&consent(
        json!({"type": "permit", "actor": absolute})
    )));
}

#[test]
fn status_scope_and_a_root_without_type_grant_nothing() {
    let mut c = consent(json!({"type": "permit", "actor": actor("bh")}));
    c["status"] = json!("inactive");
    assert!(!permits(&c));
    let mut c = consent(json!({"type": "permit", "actor": actor("bh")}));
    c["scope"]["coding"][0]["code"] = json!("research");
    assert!(!permits(&c));
    assert!(!permits(&consent(json!({"actor": actor("bh")}))));
}

#[test]
fn a_permit_must_cover_every_sensitivity_a_deny_matches_any() {
    let permit_sud =
        consent(json!({"type": "permit", "actor": actor("bh"), "securityLabel": label("SUD")}));
    assert!(permits(&permit_sud));
    assert!(
        !permits_at(&permit_sud, "bh", &["SUD", "HIV"], "2026-06-01"),
        "HIV not covered"
    );
    let permit_psy =
        consent(json!({"type": "permit", "actor": actor("bh"), "securityLabel": label("PSY")}));
    assert!(!permits(&permit_psy));
    let deny_hiv = consent(
        json!({"type": "permit", "actor": actor("bh"), "provision": [
        {"type": "deny", "securityLabel": label("HIV")}]}),
    );
    assert!(permits(&deny_hiv), "the deny does not touch SUD-only data");
    assert!(!permits_at(&deny_hiv, "bh", &["SUD", "HIV"], "2026-06-01"));
}

#[test]
fn nested_deny_inside_permit_by_class_code_and_data() {
    let with = |nested: Value| {
        consent(json!({"type": "permit", "actor": actor("bh"), "provision": [nested]}))
    };
    // class: the resource type, or a profile the resource claims.
    assert!(!permits(&with(
        json!({"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]})
    )));
    assert!(permits(&with(
        json!({"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Condition"}]})
    )));
    assert!(!permits(&with(
        json!({"type": "deny", "class": [{"code": "http://example.org/StructureDefinition/sud-screen"}]})
    )));
    // code
    assert!(!permits(&with(
        json!({"type": "deny", "code": [{"coding": [{"system": "http://loinc.org", "code": "75626-2"}]}]})
    )));
    assert!(permits(&with(
        json!({"type": "deny", "code": [{"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}]})
    )));
    // data reference
    assert!(!permits(&with(
        json!({"type": "deny", "data": [{"meaning": "instance", "reference": {"reference": "Observation/o1"}}]})
    )));
    assert!(permits(&with(
        json!({"type": "deny", "data": [{"meaning": "instance", "reference": {"reference": "Observation/o2"}}]})
    )));
    // actor: a deny for another recipient leaves this one permitted.
    assert!(permits(&with(
        json!({"type": "deny", "actor": actor("other")})
    )));
    assert!(!permits(&with(
        json!({"type": "deny", "actor": actor("bh")})
    )));
    // period of the nested deny
    assert!(!permits(&with(
        json!({"type": "deny", "period": {"start": "2026-05-01", "end": "2026-07-01"}})
    )));
    assert!(permits(&with(
        json!({"type": "deny", "period": {"start": "2026-07-01"}})
    )));
}

#[test]
fn nested_permit_inside_deny_is_the_exception() {
    let c = consent(json!({"type": "deny", "provision": [
        {"type": "permit", "actor": actor("bh"), "securityLabel": label("SUD")}]}));
    assert!(permits(&c));
    assert!(!permits_at(&c, "other", &["SUD"], "2026-06-01"));
    // Deeper nesting: the most specific applying provision decides.
    let c = consent(json!({"type": "deny", "provision": [
        {"type": "permit", "actor": actor("bh"), "provision": [
            {"type": "deny", "code": [{"coding": [{"system": "http://loinc.org", "code": "75626-2"}]}]}]}]}));
    assert!(!permits(&c));
}

#[test]
fn deny_wins_over_permit_at_the_same_level_and_across_consents() {
    let c = consent(json!({"type": "deny", "provision": [
        {"type": "permit", "actor": actor("bh")},
        {"type": "deny", "securityLabel": label("SUD")}]}));
    assert!(!permits(&c));
    let permit = consent(json!({"type": "permit", "actor": actor("bh")}));
    let deny = consent(json!({"type": "deny", "actor": actor("bh")}));
    let r = sud_obs();
    let labels = vec!["SUD".to_string()];
    let d = Disclosure {
        org: "bh",
        resource_type: "Observation",
        id: "o1",
        resource: &r,
        labels: &labels,
        now_ms: at("2026-06-01"),
    };
    assert!(verdict(std::slice::from_ref(&permit), &d).0);
    assert!(!verdict(&[permit, deny], &d).0);
}

#[test]
fn periods_compare_as_instants_not_text() {
    // 2026-06-01T10:00+14:00 is 2026-05-31T20:00Z, before a start of
    // 2026-05-31T21:00Z; as text it sorts after it.
    let c = consent(json!({"type": "permit", "actor": actor("bh"),
        "period": {"start": "2026-05-31T21:00:00Z"}}));
    assert!(!permits_at(&c, "bh", &["SUD"], "2026-06-01T10:00:00+14:00"));
    assert!(
        permits_at(&c, "bh", &["SUD"], "2026-05-31T12:00:00-10:00"),
        "22:00Z"
    );
    // An end with an offset: 2026-06-01T08:00-10:00 is 18:00Z.
    let c = consent(json!({"type": "permit", "actor": actor("bh"),
        "period": {"end": "2026-06-01T08:00:00-10:00"}}));
    assert!(permits_at(&c, "bh", &["SUD"], "2026-06-01T17:59:00Z"));
    assert!(!permits_at(&c, "bh", &["SUD"], "2026-06-01T18:01:00Z"));
    // A date end covers its whole day (UTC).
    let c =
        consent(json!({"type": "permit", "actor": actor("bh"), "period": {"end": "2026-06-01"}}));
    assert!(permits_at(&c, "bh", &["SUD"], "2026-06-01T23:59:00Z"));
    assert!(!permits_at(&c, "bh", &["SUD"], "2026-06-02T00:00:00Z"));
}

#[test]
fn action_must_include_disclosure() {
    let with = |code: &str| {
        consent(json!({"type": "permit", "actor": actor("bh"),
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": code}]}]}))
    };
    assert!(permits(&with("disclose")));
    assert!(permits(&with("access")));
    assert!(!permits(&with("research")));
}
