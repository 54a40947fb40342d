//! ED visits and inpatient stays as the HIE sends them: Da Vinci
//! Unsolicited Notification message Bundles (admit, then discharge), with
//! the delivery faults HIEs really produce — a discharge that arrives before
//! its admit, and the same Bundle delivered twice.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::dice::Dice;
use super::model::{Chart, MEDICAID_SYSTEM, Sex};

const EVENTS: &str = "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event";
/// The identifier system of the HIE's encounter ids.
pub const ENCOUNTER_SYSTEM: &str = "urn:tandem:generated:hie:encounter";

fn instant(t: NaiveDateTime) -> String {
    format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn message(c: &Chart, stay: &super::model::Stay, discharge: bool) -> Value {
    let p = &c.person;
    let kind = if discharge { "discharge" } else { "admit" };
    let id = format!("{}-{kind}", stay.id);
    let (enc, pat, org) = (
        format!("urn:uuid:{id}-enc"),
        format!("urn:uuid:{id}-pat"),
        format!("urn:uuid:{id}-org"),
    );
    let mut period = json!({"start": instant(stay.admitted)});
    if discharge {
        period["end"] = json!(instant(stay.discharged));
    }
    let sent = if discharge {
        stay.discharged
    } else {
        stay.admitted
    };
    json!({
        "resourceType": "Bundle", "id": id, "type": "message", "timestamp": instant(sent + chrono::Duration::minutes(20)),
        "entry": [
            {"fullUrl": format!("urn:uuid:{id}-hdr"), "resource": {
                "resourceType": "MessageHeader", "id": format!("{id}-hdr"),
                "eventCoding": {"system": EVENTS, "code": format!("notification-{kind}")},
                "source": {"endpoint": "urn:tandem:generated:hie"},
                "focus": [{"reference": enc}]}},
            {"fullUrl": enc, "resource": {
                "resourceType": "Encounter", "id": format!("{id}-enc"),
                "identifier": [{"system": ENCOUNTER_SYSTEM, "value": stay.id}],
                "status": if discharge { "finished" } else { "in-progress" },
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": if stay.emergency { "EMER" } else { "IMP" }},
                "subject": {"reference": pat}, "period": period, "serviceProvider": {"reference": org}}},
            {"fullUrl": pat, "resource": {
                "resourceType": "Patient", "id": format!("{id}-pat"),
                "identifier": [{"system": MEDICAID_SYSTEM, "value": p.medicaid}],
                "name": [{"family": p.family, "given": [p.given]}],
                "gender": if p.sex == Sex::Female { "female" } else { "male" },
                "birthDate": p.birth.to_string()}},
            {"fullUrl": org, "resource": {"resourceType": "Organization", "id": format!("{id}-org"), "name": "Generated Regional Hospital"}}
        ]
    })
}

/// The messages of a chart's stays, in the order the HIE delivers them.
pub fn messages(d: &mut Dice, c: &Chart) -> Vec<Value> {
    let mut out = Vec::new();
    for stay in &c.stays {
        let (admit, discharge) = (message(c, stay, false), message(c, stay, true));
        if d.chance(0.1) {
            out.push(discharge.clone());
            out.push(admit);
        } else {
            out.push(admit);
            out.push(discharge.clone());
        }
        if d.chance(0.05) {
            out.push(discharge);
        }
    }
    out
}
