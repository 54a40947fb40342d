//! PCP assignment changes and their confirmation (BB3.Y1.3, "process to
//! validate PCP assignment"). A change is a write that changes whom a
//! resource assigns as the patient's PCP: a Patient's `generalPractitioner`
//! (from its second version on — the first is the registration, not a
//! change) or an active CareTeam's PCP participants (from its first
//! version: a new team is a new assignment). Each change is kept as a
//! Provenance of the version that made it — who wrote it (the client) and
//! when, from what to what — and a practice user confirms it by adding a
//! `verifier` agent (who, and when in the agent's extension). Pure: the
//! attribution hook and `$panel-changes` / `$panel-confirm` call these.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::measure::milestone::continuity::pcp_members;
use crate::measure::record::as_list;

/// Tags the Provenances of PCP assignment changes.
pub const PANEL_TAG: &str = "http://tandem.health/fhir/CodeSystem/panel";
pub const PCP_CHANGE: &str = "pcp-change";
/// `from` / `to` references of a change.
pub const CHANGE_EXT: &str = "http://tandem.health/fhir/StructureDefinition/pcp-change";
/// When a verifier confirmed (on the agent).
pub const CONFIRMED_EXT: &str = "http://tandem.health/fhir/StructureDefinition/confirmed-at";
const PARTICIPANT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";

/// Whom a Patient or CareTeam assigns as PCP (references as written).
pub fn assigned(resource_type: &str, r: &Value) -> BTreeSet<String> {
    let refs = |v: &Value| v["reference"].as_str().map(str::to_string);
    match resource_type {
        "Patient" => as_list(&r["generalPractitioner"])
            .filter_map(refs)
            .collect(),
        "CareTeam" => pcp_members(r).map(str::to_string).collect(),
        _ => BTreeSet::new(),
    }
}

/// One change of assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `Patient/{id}`.
    pub patient: String,
    /// `{type}/{id}/_history/{version}` that made the change.
    pub target: String,
    pub from: BTreeSet<String>,
    pub to: BTreeSet<String>,
}

/// The change a write makes, if any. `previous`: the version it replaced
/// (None for a create); `current`: None for a delete.
pub fn change(
    resource_type: &str,
    id: &str,
    version: i64,
    previous: Option<&Value>,
    current: Option<&Value>,
) -> Option<Change> {
    if resource_type == "Patient" && previous.is_none() {
        return None;
    }
    let patient = match resource_type {
        "Patient" => format!("Patient/{id}"),
        "CareTeam" => current
            .or(previous)?
            .get("subject")?
            .get("reference")?
            .as_str()
            .filter(|s| s.starts_with("Patient/"))?
            .to_string(),
        _ => return None,
    };
    let from = previous.map_or_else(BTreeSet::new, |p| assigned(resource_type, p));
    let to = current.map_or_else(BTreeSet::new, |c| assigned(resource_type, c));
    (from != to).then(|| Change {
        patient,
        target: format!("{resource_type}/{id}/_history/{version}"),
        from,
        to,
    })
}

/// The Provenance recording `c`, written by `client` for practice `org`.
pub fn provenance(c: &Change, id: &str, recorded: &str, org: &str, client: &str) -> Value {
    let mut target = vec![json!({ "reference": c.target })];
    if !c.target.starts_with("Patient/") {
        target.push(json!({ "reference": c.patient }));
    }
    let moves = c
        .from
        .iter()
        .map(|r| json!({ "url": "from", "valueReference": { "reference": r } }))
        .chain(
            c.to.iter()
                .map(|r| json!({ "url": "to", "valueReference": { "reference": r } })),
        )
        .collect::<Vec<_>>();
    json!({
        "resourceType": "Provenance", "id": id,
        "meta": { "tag": [{ "system": PANEL_TAG, "code": PCP_CHANGE }] },
        "extension": [{ "url": CHANGE_EXT, "extension": moves }],
        "target": target,
        "recorded": recorded,
        "activity": {
            "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "UPDATE" }],
            "text": "PCP assignment changed"
        },
        "agent": [agent("enterer", org, client, None)],
    })
}

fn agent(kind: &str, org: &str, client: &str, at: Option<&str>) -> Value {
    let mut a = json!({
        "type": { "coding": [{ "system": PARTICIPANT_TYPE, "code": kind }] },
        "who": { "reference": format!("Organization/{org}"), "display": client },
    });
    if let Some(at) = at {
        a["extension"] = json!([{ "url": CONFIRMED_EXT, "valueDateTime": at }]);
    }
    a
}

/// A change as a report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub provenance: String,
    pub patient: String,
    pub target: String,
    pub at: String,
    pub by: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    /// Who confirmed, and when.
    pub confirmed: Option<(String, String)>,
}

/// Reads a change's Provenance; None when it is not one.
pub fn read(p: &Value) -> Option<Recorded> {
    let moves = as_list(&p["extension"]).find(|e| e["url"] == CHANGE_EXT)?;
    let side = |name: &str| -> Vec<String> {
        as_list(&moves["extension"])
            .filter(|e| e["url"] == name)
            .filter_map(|e| {
                e["valueReference"]["reference"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    };
    let kind = |a: &Value, k: &str| {
        as_list(&a["type"]["coding"]).any(|c| c["system"] == PARTICIPANT_TYPE && c["code"] == k)
    };
    let agents: Vec<&Value> = as_list(&p["agent"]).collect();
    let by = agents.iter().find(|a| kind(a, "enterer"))?;
    let confirmed = agents
        .iter()
        .rev()
        .find(|a| kind(a, "verifier"))
        .and_then(|a| {
            let at = as_list(&a["extension"]).find(|e| e["url"] == CONFIRMED_EXT)?;
            Some((
                a["who"]["display"].as_str()?.to_string(),
                at["valueDateTime"].as_str()?.to_string(),
            ))
        });
    let targets: Vec<&str> = as_list(&p["target"])
        .filter_map(|t| t["reference"].as_str())
        .collect();
    let target = targets.first()?.to_string();
    let patient = targets
        .iter()
        .find(|t| t.starts_with("Patient/"))
        .map(|t| t.split("/_history/").next().unwrap_or(t).to_string())?;
    Some(Recorded {
        provenance: format!("Provenance/{}", p["id"].as_str()?),
        patient,
        target,
        at: p["recorded"].as_str()?.to_string(),
        by: by["who"]["display"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        from: side("from"),
        to: side("to"),
        confirmed,
    })
}

/// Adds the confirmation of a practice user (`client`) at `at`; false when
/// it was confirmed already.
pub fn confirm(p: &mut Value, org: &str, client: &str, at: &str) -> bool {
    if read(p).is_some_and(|r| r.confirmed.is_some()) {
        return false;
    }
    match p["agent"].as_array_mut() {
        Some(agents) => {
            agents.push(agent("verifier", org, client, Some(at)));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(pcp: &[&str]) -> Value {
        let gp: Vec<Value> = pcp.iter().map(|r| json!({ "reference": r })).collect();
        json!({ "resourceType": "Patient", "generalPractitioner": gp })
    }

    #[test]
    fn what_counts_as_a_change() {
        let a = patient(&["Practitioner/a"]);
        let b = patient(&["Practitioner/b"]);
        assert_eq!(
            change("Patient", "p", 1, None, Some(&a)),
            None,
            "registration"
        );
        assert_eq!(
            change("Patient", "p", 2, Some(&a), Some(&a)),
            None,
            "no change"
        );
        let c = change("Patient", "p", 2, Some(&a), Some(&b)).unwrap();
        assert_eq!(
            (c.patient.as_str(), c.target.as_str()),
            ("Patient/p", "Patient/p/_history/2")
        );
        assert_eq!(c.from, BTreeSet::from(["Practitioner/a".to_string()]));
        assert_eq!(c.to, BTreeSet::from(["Practitioner/b".to_string()]));
        let team = |status: &str| {
            json!({ "resourceType": "CareTeam", "status": status, "subject": { "reference": "Patient/p" },
                    "participant": [{ "member": { "reference": "Practitioner/c" },
                    "role": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PCP" }] }] }] })
        };
        let new = change("CareTeam", "t", 1, None, Some(&team("active"))).unwrap();
        assert_eq!(new.patient, "Patient/p");
        assert!(new.from.is_empty() && new.to.len() == 1);
        let ended = change(
            "CareTeam",
            "t",
            2,
            Some(&team("active")),
            Some(&team("inactive")),
        );
        assert!(ended.unwrap().to.is_empty());
        assert_eq!(
            change("CareTeam", "t", 1, None, Some(&team("proposed"))),
            None
        );
    }

    #[test]
    fn a_change_is_recorded_then_confirmed_once() {
        let a = patient(&["Practitioner/a"]);
        let c = change("Patient", "p", 3, Some(&a), Some(&patient(&[]))).unwrap();
        let mut p = provenance(&c, "x1", "2026-09-01T10:00:00Z", "clinic", "ehr-1");
        let r = read(&p).unwrap();
        assert_eq!((r.by.as_str(), r.patient.as_str()), ("ehr-1", "Patient/p"));
        assert_eq!((r.from, r.to), (vec!["Practitioner/a".to_string()], vec![]));
        assert_eq!(r.confirmed, None);
        assert!(confirm(&mut p, "clinic", "qi-lead", "2026-09-02T08:00:00Z"));
        assert!(!confirm(&mut p, "clinic", "other", "2026-09-03T08:00:00Z"));
        assert_eq!(
            read(&p).unwrap().confirmed,
            Some(("qi-lead".to_string(), "2026-09-02T08:00:00Z".to_string()))
        );
    }
}
