//! Payer attribution lists (Da Vinci ATR member-attribution `Group`s): the
//! payers and the practices they attribute patients to (`[[payers]]`), and
//! what makes a Group an attribution list Tandem can reconcile. Pure: the
//! service checks written Groups with [`check_list`] inside the write.

pub mod panel;
pub mod reconcile;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Da Vinci ATR Group profile.
pub const ATR_PROFILE: &str = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/atr-group";

/// A payer and the practices (tenants) it sends attribution lists to; its
/// clients (role `payer`) act for Organization `id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub tenants: Vec<String>,
}

/// Whether `payer` attributes patients to practice `tenant`.
pub fn serves(payers: &[Payer], payer: &str, tenant: &str) -> bool {
    payers
        .iter()
        .any(|p| p.id == payer && p.tenants.iter().any(|t| t == tenant))
}

/// Whether a Group claims to be an attribution list.
pub fn claims_atr(group: &Value) -> bool {
    group["meta"]["profile"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(ATR_PROFILE)))
}

/// Checks an attribution list; on success returns the `Patient/{id}`
/// references its members name (they must exist in the practice). A
/// member is identified by the payer's member id (`entity.identifier`), by
/// a Patient contained in the list (`#id`: the payer's member record, with
/// its ids and demographics), or by a reference to one of the practice's
/// Patients — never a resource on another server or in another practice.
pub fn check_list(group: &Value) -> Result<Vec<String>, String> {
    if !claims_atr(group) {
        return Err(format!(
            "A payer's Group must be an attribution list: claim the Da Vinci ATR profile \
             ({ATR_PROFILE}) in meta.profile."
        ));
    }
    if group["type"] != "person" || group["actual"] != true {
        return Err("An attribution list is a Group of type 'person' with actual = true.".into());
    }
    let mut refs = Vec::new();
    for (i, m) in group["member"].as_array().into_iter().flatten().enumerate() {
        let entity = &m["entity"];
        let identified = entity["identifier"]["value"]
            .as_str()
            .is_some_and(|v| !v.trim().is_empty());
        match entity["reference"].as_str() {
            Some(r) if r.starts_with('#') => {
                if contained_patient(group, r).is_none() {
                    return Err(format!(
                        "Group.member[{i}].entity.reference '{r}' names no Patient contained \
                         in the list."
                    ));
                }
            }
            Some(r) => match r.strip_prefix("Patient/") {
                Some(id) if !id.contains('/') && crate::fhir::id::is_valid_id(id) => {
                    refs.push(r.to_string())
                }
                _ => {
                    return Err(format!(
                        "Group.member[{i}].entity.reference '{r}' is not one of this practice's \
                         Patients: reference Patient/{{id}} here, or identify the member by \
                         entity.identifier (the payer's member id)."
                    ));
                }
            },
            None if identified => {}
            None => {
                return Err(format!(
                    "Group.member[{i}].entity needs the payer's member id (identifier) or a \
                     Patient reference."
                ));
            }
        }
    }
    Ok(refs)
}

/// The Patient contained in `group` that `#id` names.
pub fn contained_patient<'a>(group: &'a Value, reference: &str) -> Option<&'a Value> {
    let id = reference.strip_prefix('#')?;
    group["contained"]
        .as_array()?
        .iter()
        .find(|c| c["resourceType"] == "Patient" && c["id"] == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(members: Value) -> Value {
        json!({"resourceType": "Group", "meta": {"profile": [ATR_PROFILE]},
            "type": "person", "actual": true, "member": members})
    }

    #[test]
    fn attribution_lists_are_checked() {
        let by_id = json!([{"entity": {"identifier": {"system": "urn:medicaid", "value": "M1"}}}]);
        assert_eq!(check_list(&list(by_id)), Ok(vec![]));
        let by_ref = json!([{"entity": {"reference": "Patient/p1"}}]);
        assert_eq!(
            check_list(&list(by_ref)),
            Ok(vec!["Patient/p1".to_string()])
        );
        for bad in [
            json!([{"entity": {"reference": "http://other/fhir/Patient/p1"}}]),
            json!([{"entity": {"reference": "Practitioner/d1"}}]),
            json!([{"entity": {"display": "nobody"}}]),
            json!([{"entity": {"reference": "#not-contained"}}]),
        ] {
            assert!(check_list(&list(bad.clone())).is_err(), "{bad}");
        }
        let mut plain = list(json!([]));
        plain["meta"] = json!({});
        assert!(check_list(&plain).is_err(), "no ATR claim");
        let mut device = list(json!([]));
        device["type"] = json!("device");
        assert!(check_list(&device).is_err());
    }

    #[test]
    fn a_payer_serves_only_its_practices() {
        let payers = vec![Payer {
            id: "acme".into(),
            name: None,
            tenants: vec!["p-a".into()],
        }];
        assert!(serves(&payers, "acme", "p-a"));
        assert!(!serves(&payers, "acme", "p-b"));
        assert!(!serves(&payers, "other", "p-a"));
    }
}
