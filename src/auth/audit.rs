//! AuditEvent records in the IHE Basic Audit Log Patterns (BALP) shape: REST
//! interactions, token decisions and consent decisions. Pure builders; the
//! service writes them (in the same transaction as a write, batched for reads).

use base64::Engine;
use serde_json::{Value, json};

use super::policy::Interaction;
use crate::fhir::datetime::format_instant_ms;
use crate::fhir::id::is_valid_id;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";

/// What happened.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Event {
    Rest(Interaction),
    /// A token request, granted or refused.
    Token,
    /// A consent decision (BALP AuthZconsent): permit or deny.
    Consent {
        consent: Option<String>,
    },
    /// Data sent to another organization (BALP PrivacyDisclosure.Source).
    Disclosure {
        recipient: String,
    },
}

/// One audit record's facts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub event: Event,
    /// `0` success, `4` minor failure (refused), `8` serious failure.
    pub outcome: String,
    pub outcome_desc: Option<String>,
    pub client_id: String,
    /// The signed-in person the client acted for (a user-level token).
    #[serde(default)]
    pub user: Option<String>,
    pub client_address: Option<String>,
    /// Resource type of the request (`Observation`), if any.
    pub resource_type: Option<String>,
    /// `Type/id` of each resource touched or returned, with its security labels.
    pub entities: Vec<(String, Vec<Value>)>,
    /// `Patient/id` of the patients concerned.
    pub patients: Vec<String>,
    /// The raw query of a search (recorded base64, as BALP requires).
    pub query: Option<String>,
    pub request_id: String,
    pub token_id: String,
    pub now_ms: i64,
}

fn coding(system: &str, code: &str) -> Value {
    json!({"system": system, "code": code})
}

fn client_agent(r: &Record, requestor_role: &str) -> Value {
    let mut who = json!({"identifier": {"system": "urn:tandem:client", "value": r.client_id},
                         "display": r.client_id});
    if is_valid_id(&r.client_id) {
        who["reference"] = json!(format!("Device/{}", r.client_id));
    }
    let mut a = json!({"type": {"coding": [coding(DCM, requestor_role)]},
                       "who": who, "name": r.client_id, "requestor": true});
    if let Some(addr) = &r.client_address {
        a["network"] = json!({"address": addr, "type": "2"});
    }
    a
}

/// BALP: with a person signed in, the person is the requestor and the app
/// only carries the request.
fn user_agent(user: &str) -> Value {
    json!({"type": {"coding": [coding(
               "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser")]},
           "who": {"identifier": {"system": "urn:tandem:user", "value": user}, "display": user},
           "name": user, "requestor": true})
}

fn server_agent(role: &str) -> Value {
    json!({"type": {"coding": [coding(DCM, role)]},
           "who": {"display": "Tandem"}, "requestor": false})
}

/// The AuditEvent resource (without id/meta; the service stamps those).
pub fn audit_event(r: &Record) -> Value {
    let (ty, subtype, action) = match &r.event {
        Event::Rest(i) => (
            coding(
                "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "rest",
            ),
            vec![coding("http://hl7.org/fhir/restful-interaction", i.code())],
            i.action(),
        ),
        Event::Token => (coding(DCM, "110114"), vec![coding(DCM, "110122")], "E"),
        Event::Consent { .. } => (
            coding(DCM, "110113"),
            vec![coding(
                "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType",
                "AuthZ-Consent",
            )],
            "E",
        ),
        Event::Disclosure { .. } => (
            coding(DCM, "110106"),
            vec![coding(
                "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle",
                "disclose",
            )],
            "R",
        ),
    };
    // BALP: on reads the server is the source (110153) and the client the
    // destination (110152); on writes and queries the other way round.
    let reading = matches!(&r.event, Event::Rest(i) if i.action() == "R");
    let (client_role, server_role) = if reading {
        ("110152", "110153")
    } else {
        ("110153", "110152")
    };
    let mut entities: Vec<Value> = r
        .entities
        .iter()
        .map(|(what, labels)| {
            let mut e = json!({"type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "4"),
                               "what": {"reference": what}});
            if !labels.is_empty() {
                e["securityLabel"] = json!(labels);
            }
            e
        })
        .collect();
    for p in &r.patients {
        entities.push(
            json!({"type": coding(ENTITY_TYPE, "1"), "role": coding(OBJECT_ROLE, "1"),
                             "what": {"reference": p}}),
        );
    }
    if let Some(q) = &r.query {
        entities.push(
            json!({"type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "24"),
            "query": base64::engine::general_purpose::STANDARD.encode(q),
            "description": format!("{}?{}", r.resource_type.as_deref().unwrap_or(""), q)}),
        );
    }
    if let Event::Consent { consent: Some(c) } = &r.event {
        entities.push(
            json!({"type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "4"),
                             "what": {"reference": c}, "description": "consent consulted"}),
        );
    }
    entities.push(json!({"type": coding(ENTITY_TYPE, "4"),
        "detail": [{"type": "XrequestId", "valueString": r.request_id}]}));
    if !r.token_id.is_empty() {
        entities.push(json!({"type": coding(ENTITY_TYPE, "4"),
            "detail": [{"type": "jti", "valueString": r.token_id}]}));
    }
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "type": ty, "subtype": subtype, "action": action,
        "recorded": format_instant_ms(r.now_ms),
        "outcome": r.outcome,
        "agent": [client_agent(r, client_role), server_agent(server_role)],
        "source": {"observer": {"display": "Tandem"},
                   "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4")]},
        "entity": entities,
    });
    if let Some(d) = &r.outcome_desc {
        ev["outcomeDesc"] = json!(d);
    }
    if let Some(u) = &r.user
        && let Some(agents) = ev["agent"].as_array_mut()
    {
        agents[0]["requestor"] = json!(false);
        agents.push(user_agent(u));
    }
    if let Event::Disclosure { recipient } = &r.event
        && let Some(agents) = ev["agent"].as_array_mut()
    {
        agents.push(json!({"type": {"coding": [coding(DCM, "110152")]},
            "who": {"reference": recipient}, "requestor": false}));
    }
    ev
}

/// `Patient/id` references a resource is about (itself, `subject`, `patient`, `for`).
pub fn patients_of(rt: &str, id: &str, v: &Value) -> Vec<String> {
    if rt == "Patient" {
        return vec![format!("Patient/{id}")];
    }
    ["subject", "patient", "for", "beneficiary"]
        .iter()
        .filter_map(|k| v[*k]["reference"].as_str())
        .filter(|r| r.starts_with("Patient/"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: Event) -> Record {
        Record {
            event,
            outcome: "0".into(),
            outcome_desc: Some("ok".into()),
            client_id: "ehr-a".into(),
            user: None,
            client_address: Some("127.0.0.1".into()),
            resource_type: Some("Observation".into()),
            entities: vec![(
                "Observation/o1".into(),
                vec![
                    json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"}),
                ],
            )],
            patients: vec!["Patient/p1".into()],
            query: Some("code=44261-6".into()),
            request_id: "req-1".into(),
            token_id: "jti-1".into(),
            now_ms: 1_700_000_000_000,
        }
    }

    /// Every shape parses as an AuditEvent in the fhir-sdk typed model (an
    /// independent implementation of the R4/R4B structure).
    #[test]
    fn audit_events_are_valid_fhir() {
        for ev in [
            Event::Rest(Interaction::Read),
            Event::Rest(Interaction::Create),
            Event::Rest(Interaction::Search),
            Event::Token,
            Event::Consent {
                consent: Some("Consent/c1".into()),
            },
        ] {
            let v = audit_event(&record(ev.clone()));
            let typed: Result<fhir_sdk::r4b::resources::AuditEvent, _> =
                serde_json::from_value(v.clone());
            assert!(typed.is_ok(), "{ev:?}: {typed:?}\n{v}");
        }
    }

    #[test]
    fn a_signed_in_person_is_the_requestor() {
        let mut r = record(Event::Rest(Interaction::Read));
        assert_eq!(audit_event(&r)["agent"][0]["requestor"], true);
        r.user = Some("ann".into());
        let v = audit_event(&r);
        let agents = v["agent"].as_array().unwrap();
        let requestors: Vec<&Value> = agents.iter().filter(|a| a["requestor"] == true).collect();
        assert_eq!(requestors.len(), 1);
        assert_eq!(requestors[0]["who"]["identifier"]["value"], "ann");
        assert_eq!(requestors[0]["type"]["coding"][0]["code"], "humanuser");
        let typed: Result<fhir_sdk::r4b::resources::AuditEvent, _> = serde_json::from_value(v);
        assert!(typed.is_ok(), "{typed:?}");
    }

    #[test]
    fn balp_roles_follow_the_direction_of_the_data() {
        let read = audit_event(&record(Event::Rest(Interaction::Read)));
        assert_eq!(read["action"], "R");
        assert_eq!(read["agent"][0]["type"]["coding"][0]["code"], "110152");
        let create = audit_event(&record(Event::Rest(Interaction::Create)));
        assert_eq!(create["action"], "C");
        assert_eq!(create["agent"][0]["type"]["coding"][0]["code"], "110153");
        let search = audit_event(&record(Event::Rest(Interaction::Search)));
        let q = search["entity"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["role"]["code"] == "24")
            .unwrap();
        assert_eq!(q["query"], "Y29kZT00NDI2MS02"); // base64("code=44261-6")
    }
}
