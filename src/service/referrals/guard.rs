//! Checks on referral writes, before the unit commits: a referral Task's
//! focus is a ServiceRequest, its owner is a partner of the practice, each
//! status change is one the workflow allows to this party, and the parties,
//! patient and focus never change. A refused write rolls back whole.

use serde_json::Value;

use super::{Pass, Written, is_referral_request, is_referral_task, org_of};
use crate::fhir::outcome::Issue;
use crate::rules::referral::BUSINESS_STATUS_CS;
use crate::rules::referral::workflow::{Actor, Refusal, check};
use crate::service::ServiceError;

pub fn check_all(p: &Pass, written: &[Written]) -> Result<(), ServiceError> {
    let concerned =
        |w: &&Written| !w.deleted && matches!(w.resource_type.as_str(), "Task" | "ServiceRequest");
    for w in written.iter().filter(concerned) {
        let Ok(new) = serde_json::from_str::<Value>(&w.body) else {
            continue;
        };
        let old: Option<Value> = w
            .previous
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        match w.resource_type.as_str() {
            // A Task that becomes a referral Task is checked as a new one: a
            // partner could otherwise create some other Task it owns and
            // turn it into a referral to itself.
            "Task" if is_referral_task(&new) || old.as_ref().is_some_and(is_referral_task) => {
                task(p, old.as_ref().filter(|o| is_referral_task(o)), &new)?
            }
            "ServiceRequest" if is_referral_request(&new) => request(p, &new)?,
            _ => {}
        }
    }
    Ok(())
}

fn task(p: &Pass, old: Option<&Value>, new: &Value) -> Result<(), ServiceError> {
    let focus = new["focus"]["reference"].as_str().unwrap_or_default();
    if !focus.starts_with("ServiceRequest/") {
        return Err(invalid(format!(
            "A referral Task's focus must reference the ServiceRequest it fulfils (found '{focus}')."
        )));
    }
    let owner = org_of(&new["owner"]).ok_or_else(|| {
        invalid(
            "A referral Task needs owner = Organization/{partner}, the referral's recipient."
                .into(),
        )
    })?;
    let actor = actor(p, owner, org_of(&new["requester"]))?;
    if actor == Actor::Requester
        && owner != p.tenant
        && p.referrals.partner(p.tenant, owner).is_none()
    {
        return Err(invalid(format!(
            "Organization/{owner} is not a partner with a care compact for this practice."
        )));
    }
    if let Some(old) = old {
        for field in ["code", "focus", "for", "owner", "requester"] {
            if old[field] != new[field] {
                return Err(ServiceError::Conflict(Issue::error(
                    "conflict",
                    format!("A referral Task's {field} cannot change once it exists."),
                )));
            }
        }
    }
    let status = |v: &Value| v["status"].as_str().map(String::from);
    let to = status(new).unwrap_or_default();
    let business = new["businessStatus"]["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == BUSINESS_STATUS_CS))
        .and_then(|c| Some((BUSINESS_STATUS_CS, c["code"].as_str()?)));
    let has_reason = new["statusReason"]["text"]
        .as_str()
        .is_some_and(|t| !t.trim().is_empty());
    let from = old.and_then(status);
    check(from.as_deref(), &to, actor, has_reason, business).map_err(|r| match r {
        Refusal::Conflict(m) => ServiceError::Conflict(Issue::error("conflict", m)),
        Refusal::Invalid(m) => invalid(m),
    })
}

/// Who the writer is for this Task: its owner, or its requester (the
/// practice's own clients, or the referring organization's client when a
/// referral is pushed in); any other guest is refused.
fn actor(p: &Pass, owner: &str, requester: Option<&str>) -> Result<Actor, ServiceError> {
    if owner == p.writer.org || (!p.writer.guest && owner == p.tenant) {
        Ok(Actor::Owner)
    } else if !p.writer.guest || requester == Some(p.writer.org.as_str()) {
        Ok(Actor::Requester)
    } else {
        Err(ServiceError::Forbidden(Issue::error(
            "forbidden",
            format!(
                "Organization/{} is not a party to this referral Task and cannot change it.",
                p.writer.org
            ),
        )))
    }
}

fn request(p: &Pass, sr: &Value) -> Result<(), ServiceError> {
    let pushed_in = org_of(&sr["requester"]) == Some(p.writer.org.as_str());
    if p.writer.guest && !pushed_in {
        return Err(ServiceError::Forbidden(Issue::error(
            "forbidden",
            "A partner cannot place referrals inside another practice; it refers through its own server.",
        )));
    }
    if sr["intent"] != "order" {
        return Err(invalid(
            "A referral ServiceRequest has intent 'order'.".into(),
        ));
    }
    let performers: Vec<&str> = sr["performer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(org_of)
        .collect();
    match performers.as_slice() {
        [one] if *one == p.tenant => Ok(()),
        [one] if p.referrals.partner(p.tenant, one).is_some() => Ok(()),
        [one] => Err(invalid(format!(
            "Organization/{one} is not a partner with a care compact for this practice."
        ))),
        _ => Err(invalid(
            "A referral ServiceRequest names exactly one performer Organization: the partner."
                .into(),
        )),
    }
}

fn invalid(m: String) -> ServiceError {
    ServiceError::Unprocessable(vec![Issue::error("business-rule", m)])
}
