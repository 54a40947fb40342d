//! Panels: an Observation whose `component`s or `hasMember` Observations are
//! the answers (US Core's PHQ-9 and AUDIT-C panels), and the rule that a total
//! Observation belonging to a panel defers to it.

use serde_json::Value;

use super::Deriver;
use super::extract::{Input, Source, codings, value_answer};
use crate::fhir::query::parse as parse_query;
use crate::rules::screening::score::{Answer, Response};
use crate::service::fhir_api::resource::Stamper;
use crate::store::{StoreError, WriteTx};

/// A panel: its components and its members are the answers; a total among them is the sent total.
pub fn panel(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    v: &Value,
    i: usize,
    mut source: Source,
) -> Result<Input, StoreError> {
    source.phase = 2;
    let inst = &d.instruments[i];
    let mut parts: Vec<Value> = v
        .get("component")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in v
        .get("hasMember")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(r) = m.get("reference").and_then(Value::as_str) else {
            continue;
        };
        let Some(id) = r.strip_prefix("Observation/") else {
            continue;
        };
        match tx.current("Observation", id)? {
            Some(c) if !c.deleted => {
                let member: Value = serde_json::from_str(&c.body).unwrap_or_default();
                if member.get("status").and_then(Value::as_str) != Some("entered-in-error") {
                    parts.push(member);
                    source.also.push(r.to_string());
                }
            }
            _ => {}
        }
    }
    // Every coded part with a value is read for safety items first, whatever
    // the panel's instrument: a self-harm answer is never lost to the rest.
    let all: Vec<Response> = parts
        .iter()
        .flat_map(|part| {
            // Unreadable counts too: on a safety item it raises the alert.
            let answer = value_answer(part).unwrap_or_else(|_| Answer::unreadable());
            codings(part.get("code"))
                .into_iter()
                .map(move |(_, code)| Response {
                    key: code,
                    answer: answer.clone(),
                })
        })
        .collect();
    source.safety = d.safety.scan(&all);
    let (mut responses, mut sent_total) = (Vec::new(), None);
    for part in &parts {
        let codes = codings(part.get("code"));
        let is_total = codes.iter().any(|(s, c)| {
            *c == inst.total.code && s.as_deref().is_none_or(|s| s == inst.total.system)
        });
        let answer = match value_answer(part) {
            Ok(a) => a,
            Err(_) if !codes.iter().any(|(_, c)| inst.item(c).is_some()) && !is_total => continue,
            Err(reason) => {
                return Ok(Input::Rejected {
                    source,
                    reason: format!("{}: {reason}", inst.title),
                });
            }
        };
        if is_total {
            match answer {
                Answer::Number(n) => sent_total = Some(n),
                Answer::Coded { .. } => {
                    return Ok(Input::Rejected {
                        reason: format!("The {} total is not numeric.", inst.title),
                        source,
                    });
                }
            }
        } else if let Some((_, code)) = codes.iter().find(|(_, c)| inst.item(c).is_some()) {
            responses.push(Response {
                key: code.clone(),
                answer,
            });
        }
    }
    Ok(Input::Score {
        source,
        instrument: i,
        responses,
        sent_total,
    })
}

/// True when a live panel lists Observation/`id` as a member: a panel of
/// instrument `i`, or of any instrument when `i` is None.
pub fn member_of_panel(
    d: &Deriver,
    tx: &mut dyn WriteTx,
    st: &Stamper,
    id: &str,
    i: Option<usize>,
) -> Result<bool, StoreError> {
    let pairs = vec![("has-member".to_string(), format!("Observation/{id}"))];
    let Ok(q) = parse_query(&st.registry, &st.base, "Observation", &pairs) else {
        return Ok(false);
    };
    Ok(tx.find(&q, 10)?.iter().any(|p| {
        serde_json::from_str::<Value>(&p.body).is_ok_and(|v| {
            let p = d.by_panel(&codings(v.get("code")));
            p.is_some() && (i.is_none() || p == i)
        })
    }))
}
