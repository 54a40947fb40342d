//! Access decisions: which interactions a grant allows on which types (role
//! rules, then SMART scopes), whether a resource matches a restricted scope,
//! which resources carry sensitive labels (whether a Consent permits
//! disclosing them is `consent`). Pure functions; the service layer gathers
//! the inputs.

use std::collections::HashSet;

use serde_json::Value;

use crate::caller::grant::{Grant, Role};
use crate::caller::scopes::{Allowance, Perms};
use crate::fhir::index::{IndexValue, extract, normalize};
use crate::fhir::params::Registry;

/// A FHIR interaction, as audited and as checked against scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interaction {
    Create,
    Read,
    Vread,
    Update,
    Delete,
    Search,
    HistoryInstance,
    HistoryType,
    HistorySystem,
    Operation,
}

impl Interaction {
    /// The SMART permission letter it needs.
    pub fn perm(self) -> Perms {
        use Interaction::*;
        match self {
            Create => Perms::C,
            Read | Vread | HistoryInstance => Perms::R,
            Update => Perms::U,
            Delete => Perms::D,
            Search | HistoryType | HistorySystem | Operation => Perms::S,
        }
    }

    /// Code from http://hl7.org/fhir/restful-interaction.
    pub fn code(self) -> &'static str {
        use Interaction::*;
        match self {
            Create => "create",
            Read => "read",
            Vread => "vread",
            Update => "update",
            Delete => "delete",
            Search => "search-type",
            HistoryInstance => "history-instance",
            HistoryType => "history-type",
            HistorySystem => "history-system",
            Operation => "operation",
        }
    }

    /// BALP AuditEvent.action.
    pub fn action(self) -> &'static str {
        use Interaction::*;
        match self {
            Create => "C",
            Read | Vread | HistoryInstance => "R",
            Update => "U",
            Delete => "D",
            _ => "E",
        }
    }

    pub fn is_write(self) -> bool {
        matches!(
            self,
            Interaction::Create | Interaction::Update | Interaction::Delete
        )
    }
}

/// Why an interaction is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 403: the grant does not cover it.
    Forbidden(String),
    /// 405: nobody may do this through the API (altering the audit trail).
    Immutable(String),
}

/// Types a `reporting` client may read: measure outputs and their definitions.
const REPORTING_TYPES: &[&str] = &["Measure", "MeasureReport", "Library"];

/// Decides whether `grant` may perform `i` on `rt`; on success, whether every
/// resource of the type is allowed or only those matching scope restrictions.
pub fn authorize(grant: &Grant, rt: &str, i: Interaction) -> Result<Allowance, Denial> {
    if rt == "AuditEvent" {
        if i.is_write() {
            return Err(Denial::Immutable(
                "AuditEvent records are written by Tandem only and cannot be created, changed or deleted through the API.".into(),
            ));
        }
        if !grant.role.is_admin() {
            return Err(Denial::Forbidden(
                "Only admin and operator clients may read the audit trail.".into(),
            ));
        }
    }
    if grant.role == Role::Reporting && (i.is_write() || !REPORTING_TYPES.contains(&rt)) {
        return Err(Denial::Forbidden(format!(
            "Reporting clients read measure outputs only ({}).",
            REPORTING_TYPES.join(", ")
        )));
    }
    if grant.role == Role::Payer && rt != "Group" {
        return Err(Denial::Forbidden(
            "Payer clients send and read attribution lists (Group) only.".into(),
        ));
    }
    match grant.scopes.allowance(rt, i.perm()) {
        Allowance::Denied => Err(Denial::Forbidden(format!(
            "The granted scopes do not allow {} on {rt} (needs system/{rt}.{}).",
            i.code(),
            i.perm()
        ))),
        a => Ok(a),
    }
}

/// Whether `resource` satisfies one of the scope restrictions
/// (`?param=value&…`, all pairs of one restriction must hold).
pub fn matches_restrictions(
    registry: &Registry,
    base: &str,
    rt: &str,
    resource: &Value,
    allowance: &Allowance,
) -> bool {
    let Allowance::Matching(restrictions) = allowance else {
        return matches!(allowance, Allowance::All);
    };
    let index = extract(registry, base, rt, resource);
    restrictions.iter().any(|pairs| {
        pairs.iter().all(|(param, want)| {
            index
                .iter()
                .filter(|e| &e.param == param)
                .any(|e| value_matches(&e.value, want))
        })
    })
}

fn value_matches(v: &IndexValue, want: &str) -> bool {
    match v {
        IndexValue::Token { system, code, .. } => match want.split_once('|') {
            Some((s, c)) => system.as_deref() == Some(s) && code.as_deref() == Some(c),
            None => code.as_deref() == Some(want),
        },
        IndexValue::Reference {
            target_type,
            target_id,
            url,
        } => {
            let local = format!(
                "{}/{}",
                target_type.as_deref().unwrap_or(""),
                target_id.as_deref().unwrap_or("")
            );
            local == want || target_id.as_deref() == Some(want) || url.as_deref() == Some(want)
        }
        IndexValue::String { norm, .. } => norm.starts_with(&normalize(want)),
        _ => false,
    }
}

const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// Sensitivity and policy codes that make a resource sensitive (v3-ActCode).
const SENSITIVE_ACT_CODES: &[&str] = &["SUD", "ETH", "PSY", "MH", "HIV", "42CFRPart2"];

/// The labels of 42 CFR Part 2 data: sensitivity `SUD` and confidentiality `R`.
pub fn part2_labels() -> Value {
    serde_json::json!([
        { "system": ACT_CODE, "code": "SUD", "display": "substance use disorder information sensitivity" },
        { "system": CONFIDENTIALITY, "code": "R", "display": "restricted" },
    ])
}

/// The sensitive labels of a resource (`R`, `V`, `SUD`, `42CFRPart2`, …).
pub fn sensitive_labels(resource: &Value) -> Vec<String> {
    let Some(labels) = resource["meta"]["security"].as_array() else {
        return Vec::new();
    };
    labels
        .iter()
        .filter_map(|l| {
            let (sys, code) = (l["system"].as_str()?, l["code"].as_str()?);
            let hit = (sys == CONFIDENTIALITY && matches!(code, "R" | "V"))
                || (sys == ACT_CODE && SENSITIVE_ACT_CODES.contains(&code));
            hit.then(|| code.to_string())
        })
        .collect()
}

/// Task statuses of a referral that is still open (the partner works on it).
pub const ACTIVE_REFERRAL_STATUSES: &[&str] = &[
    "requested",
    "received",
    "accepted",
    "ready",
    "in-progress",
    "on-hold",
];

/// What open referrals share with a partner: each Task, its focus
/// ServiceRequest, the patient and the ServiceRequest's `supportingInfo`.
pub fn shared_refs(tasks: &[Value], requests: &[Value]) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut add = |v: &Value| {
        if let Some(r) = v["reference"].as_str()
            && r.split('/').count() == 2
        {
            out.insert(r.to_string());
        }
    };
    for t in tasks {
        if let Some(id) = t["id"].as_str() {
            add(&serde_json::json!({"reference": format!("Task/{id}")}));
        }
        add(&t["focus"]);
        add(&t["for"]);
    }
    for sr in requests {
        add(&sr["subject"]);
        for s in sr["supportingInfo"].as_array().into_iter().flatten() {
            add(s);
        }
    }
    out
}

#[cfg(test)]
mod tests;
