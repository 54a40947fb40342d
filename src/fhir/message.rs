//! Da Vinci Unsolicited Notification message Bundles: the IG's structural
//! rules (specs.md §1.2–1.4), checked before anything is stored.
//!
//! Every broken rule becomes one issue naming it, so an HIE can fix all of
//! them at once. References inside the message resolve by `fullUrl` or by
//! `Type/id` of a bundled resource; a reference that leaves the Bundle breaks
//! the IG's "bundled" aggregation rule.

use std::collections::HashSet;

use serde_json::Value;

use super::outcome::Issue;

/// The notification-event code system.
pub const EVENT_SYSTEM: &str =
    "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event";

const ALTERNATE_REFERENCE: &str = "http://hl7.org/fhir/StructureDefinition/alternate-reference";

/// The 23 codes of the notification-event code system.
const EVENT_CODES: &[&str] = &[
    "notification-admit",
    "notification-discharge",
    "notification-transfer",
    "notification-outpatient-visit",
    "notification-referral",
    "notification-lab-report",
    "notification-new-condition",
    "notification-care-team-change",
    "notification-coverage-change",
    "notification-social-determinants-change",
    "notification-tx-change",
    "notification-tx-issue",
    "notification-refill-request",
    "notification-progress-update",
    "notification-appointment-reminder",
    "notification-phone-consult",
    "notification-summary-report",
    "notification-ordered-device",
    "notification-prior-auth-notice",
    "notification-public-health",
    "notification-vitals",
    "notification-pharmacy",
    "notification-workers-comp",
];

/// An accepted notification message.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub bundle_id: String,
    pub message_id: String,
    pub event: String,
    pub timestamp: String,
}

/// Checks `bundle` against the notification rules.
pub fn check(bundle: &Value) -> Result<Notification, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut bad = |expr: &str, msg: String| issues.push(Issue::error("invalid", msg).at(expr));
    if bundle["resourceType"] != "Bundle" {
        bad(
            "Bundle",
            "$process-message takes a Bundle of type message.".into(),
        );
        return Err(issues);
    }
    if bundle["type"] != "message" {
        bad(
            "Bundle.type",
            format!(
                "Bundle.type must be 'message' (got '{}').",
                bundle["type"].as_str().unwrap_or("none")
            ),
        );
    }
    for key in ["id", "timestamp"] {
        if bundle[key].as_str().is_none_or(str::is_empty) {
            bad(
                &format!("Bundle.{key}"),
                format!("Bundle.{key} is required in a notification message."),
            );
        }
    }
    if bundle.get("total").is_some() {
        bad(
            "Bundle.total",
            "Bundle.total is not allowed in a message.".into(),
        );
    }
    let entries: &[Value] = bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if entries.len() < 2 {
        bad(
            "Bundle.entry",
            "A notification needs at least the MessageHeader and its focus (2 entries).".into(),
        );
    }
    let mut urls = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        for key in ["request", "response", "search"] {
            if e.get(key).is_some() {
                bad(
                    &format!("Bundle.entry[{i}].{key}"),
                    format!("entry.{key} is not allowed in a message Bundle."),
                );
            }
        }
        if let Some(u) = e["fullUrl"].as_str()
            && !urls.insert(u)
        {
            bad(
                &format!("Bundle.entry[{i}].fullUrl"),
                format!("fullUrl '{u}' appears more than once."),
            );
        }
        if e["resource"]["resourceType"] == "MessageHeader" && i > 0 {
            bad(
                &format!("Bundle.entry[{i}]"),
                "The MessageHeader must be the first entry, and only one.".into(),
            );
        }
    }
    let header = entries
        .first()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "MessageHeader");
    let Some(header) = header else {
        bad(
            "Bundle.entry[0]",
            "The first entry must be the MessageHeader.".into(),
        );
        return Err(issues);
    };
    let event = header_rules(header, entries, &mut bad);
    if let Some(enc) = focus_encounter(header, entries)
        && event.as_deref().is_some_and(|e| {
            matches!(
                e,
                "notification-admit" | "notification-discharge" | "notification-transfer"
            )
        })
    {
        encounter_rules(
            enc,
            entries,
            event.as_deref() == Some("notification-discharge"),
            &mut bad,
        );
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Notification {
        bundle_id: bundle["id"].as_str().unwrap_or_default().to_string(),
        message_id: header["id"].as_str().unwrap_or_default().to_string(),
        event: event.unwrap_or_default(),
        timestamp: bundle["timestamp"].as_str().unwrap_or_default().to_string(),
    })
}

/// MessageHeader rules; returns the event code when it is valid.
fn header_rules(
    h: &Value,
    entries: &[Value],
    bad: &mut impl FnMut(&str, String),
) -> Option<String> {
    if h["id"].as_str().is_none_or(str::is_empty) {
        bad(
            "MessageHeader.id",
            "MessageHeader.id is required (it identifies the message for replays).".into(),
        );
    }
    if h.get("response").is_some() {
        bad(
            "MessageHeader.response",
            "MessageHeader.response is not allowed in a notification.".into(),
        );
    }
    let code = h["eventCoding"]["code"].as_str();
    let event = match (h["eventCoding"]["system"].as_str(), code) {
        (Some(EVENT_SYSTEM), Some(c)) if EVENT_CODES.contains(&c) => Some(c.to_string()),
        (None, None) => {
            bad(
                "MessageHeader.eventCoding",
                "MessageHeader.eventCoding is required.".into(),
            );
            None
        }
        _ => {
            bad(
                "MessageHeader.eventCoding",
                format!(
                    "eventCoding '{}' is not a code of {EVENT_SYSTEM}.",
                    code.unwrap_or("none")
                ),
            );
            None
        }
    };
    let focus = h["focus"].as_array().map(Vec::as_slice).unwrap_or_default();
    if focus.is_empty() {
        bad(
            "MessageHeader.focus",
            "MessageHeader.focus is required (the Encounter for admit/discharge/transfer).".into(),
        );
    }
    for (i, f) in focus.iter().enumerate() {
        must_resolve(f, entries, &format!("MessageHeader.focus[{i}]"), true, bad);
    }
    for key in ["sender", "author", "responsible"] {
        if h.get(key).is_some() {
            must_resolve(
                &h[key],
                entries,
                &format!("MessageHeader.{key}"),
                false,
                bad,
            );
        }
    }
    if event.as_deref().is_some_and(|e| {
        matches!(
            e,
            "notification-admit" | "notification-discharge" | "notification-transfer"
        )
    }) && !focus.is_empty()
        && focus_encounter(h, entries).is_none()
    {
        bad("MessageHeader.focus", "An admit, discharge or transfer notification's focus must be an Encounter in the Bundle.".into());
    }
    event
}

fn encounter_rules(
    enc: &Value,
    entries: &[Value],
    discharge: bool,
    bad: &mut impl FnMut(&str, String),
) {
    match resolve(&enc["subject"], entries) {
        Some(p) if p["resourceType"] == "Patient" => {}
        Some(_) => bad(
            "Encounter.subject",
            "Encounter.subject must be a Patient.".into(),
        ),
        None if enc["subject"]["reference"].is_string() => bad(
            "Encounter.subject",
            "Encounter.subject must resolve to a Patient inside the Bundle.".into(),
        ),
        None => bad(
            "Encounter.subject",
            "The notification Encounter has no subject.".into(),
        ),
    }
    for (i, p) in enc["participant"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        must_resolve(
            &p["individual"],
            entries,
            &format!("Encounter.participant[{i}].individual"),
            true,
            bad,
        );
    }
    for (i, l) in enc["location"].as_array().into_iter().flatten().enumerate() {
        must_resolve(
            &l["location"],
            entries,
            &format!("Encounter.location[{i}].location"),
            true,
            bad,
        );
    }
    if discharge && enc["period"]["end"].as_str().is_none() {
        bad(
            "Encounter.period.end",
            "A discharge notification's Encounter needs period.end (the discharge time).".into(),
        );
    }
}

/// A reference (or, for a Device sender/author, its `alternate-reference`
/// extension) must resolve inside the Bundle. A reference with neither a
/// `reference` nor the extension (display only) is accepted unless `required`.
fn must_resolve(
    r: &Value,
    entries: &[Value],
    expr: &str,
    required: bool,
    bad: &mut impl FnMut(&str, String),
) {
    let target = r.get("reference").filter(|v| v.is_string()).or_else(|| {
        r["extension"]
            .as_array()?
            .iter()
            .find(|e| e["url"] == ALTERNATE_REFERENCE)
            .map(|e| &e["valueReference"]["reference"])
    });
    match target.and_then(Value::as_str) {
        None if required => bad(
            expr,
            format!("{expr} needs a reference to a resource in the Bundle."),
        ),
        None => {}
        Some(s) if resolve(&serde_json::json!({ "reference": s }), entries).is_none() => bad(
            expr,
            format!("{expr} '{s}' does not resolve to a resource inside the Bundle."),
        ),
        Some(_) => {}
    }
}

/// The bundled resource a Reference points to (by fullUrl or Type/id).
pub fn resolve<'a>(r: &Value, entries: &'a [Value]) -> Option<&'a Value> {
    let target = r["reference"].as_str()?;
    entries.iter().find_map(|e| {
        let res = &e["resource"];
        let local = format!(
            "{}/{}",
            res["resourceType"].as_str()?,
            res["id"].as_str().unwrap_or_default()
        );
        (e["fullUrl"].as_str() == Some(target)
            || local == target
            || e["fullUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/{target}"))))
        .then_some(res)
    })
}

/// The Encounter the header's focus points to, when there is one.
pub fn focus_encounter<'a>(h: &Value, entries: &'a [Value]) -> Option<&'a Value> {
    h["focus"]
        .as_array()?
        .iter()
        .filter_map(|f| resolve(f, entries))
        .find(|r| r["resourceType"] == "Encounter")
}

#[cfg(test)]
mod tests;
