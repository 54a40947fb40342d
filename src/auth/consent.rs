//! Whether a patient's privacy Consents let Tandem disclose one sensitive
//! resource to one organization: the FHIR R4 Consent model, evaluated here
//! for the partner screen and the referral package alike.
//!
//! The rule, as FHIR describes provisions:
//! * A Consent counts when it is `active` with scope `patient-privacy`
//!   (the caller checks it is the patient's).
//! * A provision *applies* when each criterion it lists matches: `actor`
//!   (a reference naming the recipient Organization), `period` (the moment
//!   of disclosure inside it, compared as UTC instants: a date covers its
//!   whole day, an offset is honoured, never compared as text), `action`
//!   (disclose or access), `securityLabel`, `class` (resource type or
//!   profile), `code` (the resource's code) and `data` (the resource
//!   itself). An unlisted criterion matches anything.
//! * A permit's `securityLabel` must cover every sensitivity of the data
//!   (a permit for SUD does not open HIV data); a deny's matches any label
//!   the data carries. Confidentiality codes (`R`, `V`) and the
//!   `42CFRPart2` policy code are implied by the sensitivity they protect.
//! * An applying provision decides with its `type` (a nested one without a
//!   type takes its parent's), unless nested provisions apply: they are
//!   exceptions and more specific, so theirs wins; among applying siblings
//!   (equally specific) deny wins over permit.
//! * Across a patient's Consents, an applying deny wins; without any
//!   applying permit the answer is deny (sensitive data is withheld by
//!   default).

use serde_json::Value;

use crate::fhir::datetime::parse_range;

const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";
const CONSENT_ACTION: &str = "http://terminology.hl7.org/CodeSystem/consentaction";

/// One disclosure to decide.
#[derive(Debug, Clone, Copy)]
pub struct Disclosure<'a> {
    /// The recipient Organization's id.
    pub org: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
    pub resource: &'a Value,
    /// The resource's sensitive labels (`policy::sensitive_labels`).
    pub labels: &'a [String],
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Permit,
    Deny,
}

/// Whether `consents` permit the disclosure, and the Consent that decided
/// (the denying one, or the permitting one).
pub fn verdict<'c>(consents: &'c [Value], d: &Disclosure) -> (bool, Option<&'c Value>) {
    let decided: Vec<(Decision, &Value)> = consents
        .iter()
        .filter_map(|c| decide(c, d).map(|x| (x, c)))
        .collect();
    if let Some((_, c)) = decided.iter().find(|(x, _)| *x == Decision::Deny) {
        return (false, Some(c));
    }
    match decided.first() {
        Some((_, c)) => (true, Some(c)),
        None => (false, None),
    }
}

/// One Consent's decision, or `None` when it does not apply.
pub fn decide(consent: &Value, d: &Disclosure) -> Option<Decision> {
    let privacy = consent["scope"]["coding"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["code"] == "patient-privacy"));
    if consent["status"] != "active" || !privacy {
        return None;
    }
    // A root provision without a type grants nothing by itself.
    provision(&consent["provision"], Decision::Deny, d)
}

fn provision(p: &Value, inherited: Decision, d: &Disclosure) -> Option<Decision> {
    let own = match p["type"].as_str() {
        Some("permit") => Decision::Permit,
        Some("deny") => Decision::Deny,
        _ => inherited,
    };
    if !p.is_object() || !applies(p, own, d) {
        return None;
    }
    let nested: Vec<Decision> = p["provision"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| provision(n, own, d))
        .collect();
    Some(if nested.contains(&Decision::Deny) {
        Decision::Deny
    } else if nested.contains(&Decision::Permit) {
        Decision::Permit
    } else {
        own
    })
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn applies(p: &Value, kind: Decision, d: &Disclosure) -> bool {
    let actor = format!("Organization/{}", d.org);
    let actors = list(&p["actor"]);
    let actor_ok = actors.is_empty() || actors.iter().any(|a| references(&a["reference"], &actor));
    let actions = list(&p["action"]);
    let action_ok = actions.is_empty()
        || actions.iter().any(|a| {
            list(&a["coding"]).iter().any(|c| {
                c["system"] == CONSENT_ACTION
                    && matches!(c["code"].as_str(), Some("disclose" | "access"))
            })
        });
    actor_ok
        && action_ok
        && period_ok(&p["period"], kind, d.now_ms)
        && labels_ok(list(&p["securityLabel"]), kind, d)
        && class_ok(list(&p["class"]), d)
        && code_ok(list(&p["code"]), d)
        && data_ok(list(&p["data"]), d)
}

/// Whether `reference` (a Reference) names `target` (`Type/id`), relative or
/// absolute.
fn references(reference: &Value, target: &str) -> bool {
    reference["reference"]
        .as_str()
        .is_some_and(|r| r == target || r.ends_with(&format!("/{target}")))
}

/// `now` inside the period, as instants. An unreadable bound (validation
/// refuses them, but stored data may predate it) makes a permit not apply
/// and a deny apply: the answer is never a disclosure.
fn period_ok(period: &Value, kind: Decision, now_ms: i64) -> bool {
    let bound = |key: &str| -> Result<Option<(i64, i64)>, ()> {
        match period[key].as_str() {
            None => Ok(None),
            Some(t) => parse_range(t).map(|r| Some((r.start, r.end))).ok_or(()),
        }
    };
    match (bound("start"), bound("end")) {
        (Ok(start), Ok(end)) => {
            start.is_none_or(|(s, _)| now_ms >= s) && end.is_none_or(|(_, e)| now_ms < e)
        }
        _ => kind == Decision::Deny,
    }
}

fn labels_ok(listed: &[Value], kind: Decision, d: &Disclosure) -> bool {
    if listed.is_empty() {
        return true;
    }
    let codes: Vec<&str> = listed.iter().filter_map(|c| c["code"].as_str()).collect();
    match kind {
        Decision::Permit => d
            .labels
            .iter()
            .filter(|l| !matches!(l.as_str(), "R" | "V" | "42CFRPart2"))
            .all(|l| codes.contains(&l.as_str())),
        Decision::Deny => d.labels.iter().any(|l| codes.contains(&l.as_str())),
    }
}

fn class_ok(classes: &[Value], d: &Disclosure) -> bool {
    let profiles = list(&d.resource["meta"]["profile"]);
    classes.is_empty()
        || classes.iter().any(|c| {
            let code = c["code"].as_str().unwrap_or_default();
            let type_match =
                code == d.resource_type && c["system"].as_str().is_none_or(|s| s == RESOURCE_TYPES);
            type_match || profiles.iter().any(|p| p.as_str() == Some(code))
        })
}

fn code_ok(codes: &[Value], d: &Disclosure) -> bool {
    let have = list(&d.resource["code"]["coding"]);
    codes.is_empty()
        || codes.iter().any(|cc| {
            list(&cc["coding"]).iter().any(|want| {
                have.iter()
                    .any(|h| h["system"] == want["system"] && h["code"] == want["code"])
            })
        })
}

fn data_ok(data: &[Value], d: &Disclosure) -> bool {
    let me = format!("{}/{}", d.resource_type, d.id);
    data.is_empty() || data.iter().any(|x| references(&x["reference"], &me))
}

#[cfg(test)]
mod tests;
