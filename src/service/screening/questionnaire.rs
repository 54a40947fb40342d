//! QuestionnaireResponses: finding the instrument and reading the answers.
//!
//! The instrument is found by the response's `questionnaire` canonical: one of
//! Tandem's own (profiles/questionnaires), a known alias (US Core's PHQ-9
//! example), or a Questionnaire stored in this tenant, whose `code` or item
//! codes name the instrument and whose answer weights (`itemWeight` or
//! `ordinalValue`) are read for answer codes outside the LOINC list. A response
//! without a `questionnaire` is matched by its linkIds (LOINC codes, as US Core
//! uses), as the most complete instrument they cover. A response naming a
//! Questionnaire Tandem cannot find is stored with a warning and not scored.
//! Whatever the identification, every answer is first read for safety items
//! (`rules::screening::safety`), so a self-harm answer raises its alert even
//! when the response cannot be scored.

use std::collections::HashMap;

use serde_json::Value;

use super::Deriver;
use super::extract::{Input, Source, codings};
use crate::fhir::query::parse as parse_query;
use crate::rules::screening::catalog::{self, weight};
use crate::rules::screening::identify::by_items;
use crate::rules::screening::score::{Answer, Response};
use crate::service::fhir_api::resource::Stamper;
use crate::store::{StoreError, WriteTx};

/// Questionnaires published elsewhere whose items are an instrument's LOINC items.
const ALIASES: &[(&str, &str)] = &[(
    "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example",
    "phq-9",
)];

/// How a stored Questionnaire's linkIds map to item codes and answer weights.
#[derive(Default)]
struct Mapping {
    codes: HashMap<String, String>,
    weights: HashMap<(String, String), f64>,
}

pub fn classify(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    st: &Stamper,
    v: &Value,
    mut source: Source,
) -> Result<Option<Input>, StoreError> {
    let canonical = v
        .get("questionnaire")
        .and_then(Value::as_str)
        .map(|c| c.split('|').next().unwrap_or(c).to_string());
    let mut map = Mapping::default();
    let known = match &canonical {
        Some(url) => match d.by_url(url).or_else(|| alias(d, url)) {
            Some(i) => Ok(Some(i)),
            None => stored(d, tx, st, url, &mut map)?.map(Some).ok_or(url),
        },
        None => Ok(None),
    };
    let mut items = Vec::new();
    flatten(v.get("item"), &mut items);
    // Every answered item, keyed by its item code where a stored
    // Questionnaire maps it; read for safety items before anything else.
    let mut answered = Vec::with_capacity(items.len());
    for item in &items {
        let link = item
            .get("linkId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = map
            .codes
            .get(link)
            .cloned()
            .unwrap_or_else(|| link.to_string());
        let answers = item
            .get("answer")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        answered.push((link, key, answers));
    }
    let all: Vec<Response> = answered
        .iter()
        .flat_map(|(link, key, answers)| {
            answers.iter().map(|a| Response {
                key: key.clone(),
                answer: answer_of(a, link, &map).unwrap_or_else(|_| Answer::unreadable()),
            })
        })
        .collect();
    source.safety = d.safety.scan(&all);
    let instrument = match known {
        Ok(Some(i)) => i,
        Ok(None) => {
            let keys: Vec<String> = answered.iter().map(|(_, k, _)| k.clone()).collect();
            match by_items(&d.instruments, &keys) {
                Some(i) => i,
                None if source.safety.is_empty() => return Ok(None),
                None => return Ok(Some(Input::Alert(source))),
            }
        }
        Err(url) => {
            return Ok(Some(Input::Rejected {
                reason: format!(
                    "The QuestionnaireResponse refers to Questionnaire '{url}', which this server does not know; store the Questionnaire first to have the response scored."
                ),
                source,
            }));
        }
    };
    let inst = &d.instruments[instrument];
    let (mut responses, mut sent_total) = (Vec::new(), None);
    for (link, key, answers) in answered {
        let is_total = key.trim_start_matches('/') == inst.total.code || key == "total";
        let Some(first) = answers.first() else {
            continue;
        };
        if is_total {
            sent_total = first
                .get("valueInteger")
                .or_else(|| first.get("valueDecimal"))
                .or_else(|| first.pointer("/valueQuantity/value"))
                .and_then(Value::as_f64);
            continue;
        }
        if inst.item(&key).is_none() {
            continue;
        }
        if answers.len() > 1 {
            return Ok(Some(Input::Rejected {
                reason: format!(
                    "{} item '{link}' has {} answers; it takes one.",
                    inst.title,
                    answers.len()
                ),
                source,
            }));
        }
        let answer = match answer_of(first, link, &map) {
            Ok(a) => a,
            Err(reason) => {
                return Ok(Some(Input::Rejected {
                    reason: format!("{} item '{link}': {reason}", inst.title),
                    source,
                }));
            }
        };
        responses.push(Response { key, answer });
    }
    Ok(Some(Input::Score {
        source,
        instrument,
        responses,
        sent_total,
    }))
}

fn alias(d: &Deriver, url: &str) -> Option<usize> {
    let key = ALIASES.iter().find(|(u, _)| *u == url)?.1;
    d.instruments.iter().position(|i| i.key == key)
}

/// A Questionnaire stored in the tenant: the instrument it is, and its mapping.
fn stored(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    st: &Stamper,
    url: &str,
    map: &mut Mapping,
) -> Result<Option<usize>, StoreError> {
    let pairs = vec![("url".to_string(), url.to_string())];
    let Ok(q) = parse_query(&st.registry, &st.base, "Questionnaire", &pairs) else {
        return Ok(None);
    };
    let Some(found) = tx.find(&q, 1)?.into_iter().next() else {
        return Ok(None);
    };
    let Ok(qv) = serde_json::from_str::<Value>(&found.body) else {
        return Ok(None);
    };
    let mut items = Vec::new();
    flatten(qv.get("item"), &mut items);
    for it in &items {
        let link = it
            .get("linkId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some((_, code)) = codings(Some(
            &serde_json::json!({ "coding": it.get("code").cloned().unwrap_or_default() }),
        ))
        .into_iter()
        .next()
        {
            map.codes.insert(link.clone(), code);
        }
        for opt in catalog::answer_options(it).unwrap_or_default() {
            map.weights
                .insert((link.clone(), opt.code.code), opt.weight);
        }
    }
    if let Some(i) = d.by_panel(&codings(
        qv.get("code")
            .map(|c| serde_json::json!({ "coding": c }))
            .as_ref(),
    )) {
        return Ok(Some(i));
    }
    let keys: Vec<String> = map.codes.values().cloned().collect();
    Ok(by_items(&d.instruments, &keys))
}

fn answer_of(a: &Value, link: &str, map: &Mapping) -> Result<Answer, String> {
    if let Some(c) = a.get("valueCoding") {
        let code = c
            .get("code")
            .and_then(Value::as_str)
            .ok_or("the coded answer has no code")?
            .to_string();
        let w = weight(a)
            .or_else(|| weight(c))
            .or_else(|| map.weights.get(&(link.to_string(), code.clone())).copied());
        return Ok(Answer::Coded {
            system: c.get("system").and_then(Value::as_str).map(String::from),
            code,
            weight: w,
        });
    }
    if let Some(n) = a.get("valueInteger").or_else(|| a.get("valueDecimal")) {
        return n
            .as_f64()
            .map(Answer::Number)
            .ok_or_else(|| "the answer is not a number".into());
    }
    if let Some(s) = a.get("valueString").and_then(Value::as_str) {
        return s
            .trim()
            .parse::<f64>()
            .map(Answer::Number)
            .map_err(|_| format!("the answer '{s}' is not numeric"));
    }
    Err("the answer is neither a coding nor a number".into())
}

/// Every item with its nested items (groups), depth first.
fn flatten<'a>(items: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    for it in items.and_then(Value::as_array).into_iter().flatten() {
        out.push(it);
        flatten(it.get("item"), out);
        for a in it
            .get("answer")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            flatten(a.get("item"), out);
        }
    }
}
