//! Reading screening administrations out of what EHRs send: total-score
//! Observations, panels with `hasMember` or `component`s, QuestionnaireResponses
//! (Tandem's Questionnaires, ones stored here, or LOINC linkIds), and
//! single-value screens (smoking status, BMI, BMI percentile).
//!
//! One administration, one result: an Observation `derivedFrom` a
//! QuestionnaireResponse defers to that response, and a total Observation that
//! is a member of a panel defers to the panel.

use serde_json::Value;

use super::{Deriver, Written};
use crate::fhir::reference::{Ref, parse as parse_ref};
use crate::rules::screening::SafetyHit;
use crate::rules::screening::catalog;
use crate::rules::screening::score::{Answer, Response};
use crate::service::fhir_api::resource::Stamper;
use crate::store::{StoreError, WriteTx};

/// Where an administration came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// `Type/id` of the triggering resource.
    pub reference: String,
    /// `Patient/id`.
    pub subject: String,
    pub effective: Option<Value>,
    pub encounter: Option<Value>,
    /// Further sources (panel members).
    pub also: Vec<String>,
    /// 1 totals and values, 2 panels, 3 QuestionnaireResponses.
    pub phase: u8,
    /// Safety items answered above zero, found by scanning every answer
    /// whatever the instrument (`rules::screening::safety`): (instrument, hit).
    pub safety: Vec<(String, SafetyHit)>,
}

/// What a written resource asks of the derivation.
#[derive(Debug)]
pub enum Input {
    /// Withdrawn (deleted or entered-in-error): retract what it produced.
    Retract(String),
    /// Scored answers of an instrument.
    Score {
        source: Source,
        instrument: usize,
        responses: Vec<Response>,
        sent_total: Option<f64>,
    },
    /// A single-value screen.
    Value {
        source: Source,
        screen: usize,
        value: Answer,
    },
    /// Only safety items were answered (an item Observation on its own).
    Alert(Source),
    /// Stored but not scored; the reason goes back to the sender. Safety
    /// hits found in its answers still raise their alert.
    Rejected { source: Source, reason: String },
}

impl Input {
    /// Processing order: retractions, then totals and values, panels, responses
    /// (a panel then supersedes its members' results in the same transaction).
    pub fn phase(&self) -> u8 {
        match self {
            Input::Retract(_) | Input::Rejected { .. } => 0,
            Input::Value { source, .. } | Input::Score { source, .. } | Input::Alert(source) => {
                source.phase
            }
        }
    }
}

const OBS_FINAL: &[&str] = &["final", "amended", "corrected"];
const QR_FINAL: &[&str] = &["completed", "amended"];

/// Classifies one written resource; `None` when it does not concern screening.
pub fn classify(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    st: &Stamper,
    w: &Written,
) -> Result<Option<Input>, StoreError> {
    let reference = format!("{}/{}", w.resource_type, w.id);
    if w.deleted {
        return Ok(Some(Input::Retract(reference)));
    }
    let Ok(v) = serde_json::from_str::<Value>(&w.body) else {
        return Ok(None);
    };
    let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
    if status == "entered-in-error" || status == "cancelled" {
        return Ok(Some(Input::Retract(reference)));
    }
    let Some(subject) = patient_of(&v, &st.base) else {
        return Ok(None);
    };
    let mut source = Source {
        reference,
        subject,
        effective: None,
        encounter: v.get("encounter").cloned(),
        also: Vec::new(),
        phase: 1,
        safety: Vec::new(),
    };
    if w.resource_type == "QuestionnaireResponse" {
        if !QR_FINAL.contains(&status) {
            return Ok(None);
        }
        source.phase = 3;
        source.effective = v
            .get("authored")
            .map(|a| serde_json::json!({ "effectiveDateTime": a }));
        return super::questionnaire::classify(d, tx, st, &v, source);
    }
    if w.resource_type == "Procedure" {
        return Ok(procedure(d, &v, status, source));
    }
    if !OBS_FINAL.contains(&status) || derived_from_response(&v) {
        return Ok(None);
    }
    source.effective = effective_of(&v);
    let codes = codings(v.get("code"));
    if let Some(screen) = d.value_screen(&codes) {
        let value = if d.values[screen].key == "developmental" {
            Ok(interpretation(&v))
        } else {
            value_answer(&v)
        };
        return Ok(Some(match value {
            Ok(value) => Input::Value {
                source,
                screen,
                value,
            },
            Err(reason) => Input::Rejected { source, reason },
        }));
    }
    if let Some(i) = d.by_panel(&codes) {
        return super::panel::panel(d, tx, &v, i, source).map(Some);
    }
    let Some(i) = d.by_total(&codes) else {
        return lone_safety_item(d, tx, st, w, &v, &codes, source);
    };
    if super::panel::member_of_panel(d, tx, st, &w.id, Some(i))? {
        return Ok(None);
    }
    Ok(Some(match number(&v) {
        Ok(t) => Input::Score {
            source,
            instrument: i,
            responses: vec![],
            sent_total: Some(t),
        },
        Err(reason) => Input::Rejected {
            reason: format!("{} total: {reason}", d.instruments[i].title),
            source,
        },
    }))
}

/// An item Observation sent on its own (not derived from a response, not a
/// panel member) that answers a safety item: no result, but the alert.
fn lone_safety_item(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    st: &Stamper,
    w: &Written,
    v: &Value,
    codes: &[(Option<String>, String)],
    mut source: Source,
) -> Result<Option<Input>, StoreError> {
    // An unreadable value still counts: the safety scan treats it as a hit.
    let answer = value_answer(v).unwrap_or_else(|_| Answer::unreadable());
    let responses: Vec<Response> = codes
        .iter()
        .filter(|(_, c)| d.safety.names(c))
        .map(|(_, c)| Response {
            key: c.clone(),
            answer: answer.clone(),
        })
        .collect();
    if responses.is_empty() || super::panel::member_of_panel(d, tx, st, &w.id, None)? {
        return Ok(None);
    }
    source.safety = d.safety.scan(&responses);
    Ok(Some(Input::Alert(source)))
}

/// A completed Procedure coded as a developmental screen (CPT 96110); a
/// Procedure marked not-done withdraws what it produced.
fn procedure(d: &Deriver, v: &Value, status: &str, mut source: Source) -> Option<Input> {
    let screen = d.value_screen(&codings(v.get("code")))?;
    if d.values[screen].key != "developmental" {
        return None;
    }
    match status {
        "not-done" => return Some(Input::Retract(source.reference)),
        "completed" => {}
        _ => return None,
    }
    source.effective = v
        .get("performedDateTime")
        .map(|e| serde_json::json!({ "effectiveDateTime": e }))
        .or_else(|| {
            v.get("performedPeriod")
                .map(|p| serde_json::json!({ "effectivePeriod": p }))
        });
    Some(Input::Value {
        source,
        screen,
        value: interpretation(v),
    })
}

/// The interpretation code of a result as an answer (empty when absent).
fn interpretation(v: &Value) -> Answer {
    let code = v
        .pointer("/interpretation/0/coding/0/code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Answer::Coded {
        system: None,
        code: code.to_string(),
        weight: None,
    }
}

/// `(system, code)` of every coding of a CodeableConcept.
pub fn codings(cc: Option<&Value>) -> Vec<(Option<String>, String)> {
    cc.and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let code = c.get("code")?.as_str()?.to_string();
            Some((
                c.get("system").and_then(Value::as_str).map(String::from),
                code,
            ))
        })
        .collect()
}

/// An Observation's (or component's) value as an answer.
pub fn value_answer(v: &Value) -> Result<Answer, String> {
    if let Some(cc) = v.get("valueCodeableConcept") {
        let coding = cc
            .pointer("/coding/0")
            .ok_or("the coded value has no coding")?;
        return Ok(Answer::Coded {
            system: coding
                .get("system")
                .and_then(Value::as_str)
                .map(String::from),
            code: coding
                .get("code")
                .and_then(Value::as_str)
                .ok_or("the coded value has no code")?
                .to_string(),
            weight: catalog::weight(coding),
        });
    }
    number(v).map(Answer::Number)
}

/// A numeric value: valueInteger, valueDecimal, valueQuantity.value or a numeric valueString.
pub fn number(v: &Value) -> Result<f64, String> {
    if let Some(n) = v
        .get("valueInteger")
        .or_else(|| v.get("valueDecimal"))
        .or_else(|| v.pointer("/valueQuantity/value"))
    {
        return n
            .as_f64()
            .ok_or_else(|| "the value is not a number".to_string());
    }
    if let Some(s) = v.get("valueString").and_then(Value::as_str) {
        return s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("the value '{s}' is not numeric"));
    }
    Err("the Observation has no numeric value".into())
}

fn effective_of(v: &Value) -> Option<Value> {
    ["effectiveDateTime", "effectiveInstant"]
        .iter()
        .find_map(|k| {
            v.get(*k)
                .map(|e| serde_json::json!({ "effectiveDateTime": e }))
        })
        .or_else(|| {
            v.get("effectivePeriod")
                .map(|p| serde_json::json!({ "effectivePeriod": p }))
        })
}

fn derived_from_response(v: &Value) -> bool {
    v.get("derivedFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| {
            r.get("reference")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains("QuestionnaireResponse/"))
        })
}

/// `Patient/id` of the subject, when the subject is a local Patient.
pub fn patient_of(v: &Value, base: &str) -> Option<String> {
    let r = v.pointer("/subject/reference")?.as_str()?;
    match parse_ref(r, base) {
        Ref::Local {
            resource_type: "Patient",
            id,
            ..
        } => Some(format!("Patient/{id}")),
        _ => None,
    }
}
