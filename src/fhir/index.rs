//! Turns a resource into search-index entries, driven by the SearchParameter registry.
//!
//! The store writes these rows in the same transaction as the resource, so an
//! acknowledged write is immediately searchable. What each FHIR datatype
//! contributes to each parameter type follows the R4 search page (§3.1.1.4).

use serde_json::Value;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use super::datetime::{DateRange, parse_range};
use super::params::{ParamType, Registry};
use super::reference::{Ref, parse as parse_ref};

/// One indexed value.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    Token {
        system: Option<String>,
        code: Option<String>,
        text: Option<String>,
    },
    String {
        norm: String,
        exact: String,
    },
    Date(DateRange),
    /// `url` is set only for references that are not local `Type/id` ones.
    Reference {
        target_type: Option<String>,
        target_id: Option<String>,
        url: Option<String>,
    },
    /// Numbers and quantities share a table; numbers have no system/code.
    Quantity {
        value: f64,
        system: Option<String>,
        code: Option<String>,
    },
}

/// An index row: parameter code plus value.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub param: String,
    pub value: IndexValue,
}

/// Lower-cases and strips accents, as string search compares.
pub fn normalize(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Computes every index entry of `resource` (of type `resource_type`).
pub fn extract(
    registry: &Registry,
    base: &str,
    resource_type: &str,
    resource: &Value,
) -> Vec<IndexEntry> {
    // Sized for a typical resource up front: growing it reallocated a
    // kilobyte-sized block several times per write, on the writer thread.
    let mut out = Vec::with_capacity(32);
    let mut values = Vec::new();
    for param in registry.for_type(resource_type) {
        if param.code == "_id" || param.code == "_lastUpdated" {
            continue; // stored as columns of the resource row
        }
        for node in param.path.evaluate(resource_type, resource) {
            match param.kind {
                ParamType::Token => token_values(node.value, &mut values),
                ParamType::String => string_values(node.value, &mut values),
                ParamType::Date => date_values(node.value, &mut values),
                ParamType::Reference => reference_values(node.value, base, &mut values),
                ParamType::Quantity | ParamType::Number => quantity_values(node.value, &mut values),
                ParamType::Uri => uri_values(node.value, &mut values),
            }
            out.extend(values.drain(..).map(|value| IndexEntry {
                param: param.code.clone(),
                value,
            }));
        }
    }
    out.dedup();
    out
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn token_values(v: &Value, out: &mut Vec<IndexValue>) {
    match v {
        Value::String(code) => out.push(IndexValue::Token {
            system: None,
            code: Some(code.clone()),
            text: None,
        }),
        Value::Bool(b) => out.push(IndexValue::Token {
            system: None,
            code: Some(b.to_string()),
            text: None,
        }),
        Value::Object(o)
            if o.contains_key("coding") || (o.contains_key("text") && !o.contains_key("value")) =>
        {
            let text = s(v, "text").map(|t| normalize(&t));
            for c in v["coding"].as_array().into_iter().flatten() {
                coding(c, text.clone(), out);
            }
            if v["coding"].as_array().is_none_or(Vec::is_empty) && text.is_some() {
                out.push(IndexValue::Token {
                    system: None,
                    code: None,
                    text,
                });
            }
        }
        Value::Object(o) if o.contains_key("value") && !o.contains_key("code") => {
            // Identifier or ContactPoint: system|value.
            let text = v
                .get("type")
                .and_then(|t| s(t, "text"))
                .map(|t| normalize(&t));
            out.push(IndexValue::Token {
                system: s(v, "system"),
                code: s(v, "value"),
                text,
            });
        }
        Value::Object(_) => coding(v, None, out),
        _ => {}
    }
}

fn coding(c: &Value, text: Option<String>, out: &mut Vec<IndexValue>) {
    let text = s(c, "display").map(|d| normalize(&d)).or(text);
    if c.get("code").is_some() || c.get("system").is_some() {
        out.push(IndexValue::Token {
            system: s(c, "system"),
            code: s(c, "code"),
            text,
        });
    }
}

fn string_values(v: &Value, out: &mut Vec<IndexValue>) {
    let mut push = |t: &str| {
        if !t.is_empty() {
            out.push(IndexValue::String {
                norm: normalize(t),
                exact: t.to_string(),
            })
        }
    };
    match v {
        Value::String(t) => push(t),
        Value::Object(o) => {
            // HumanName, Address and similar: every string part is searchable.
            for key in [
                "text",
                "family",
                "given",
                "prefix",
                "suffix",
                "line",
                "city",
                "district",
                "state",
                "postalCode",
                "country",
            ] {
                match o.get(key) {
                    Some(Value::String(t)) => push(t),
                    Some(Value::Array(items)) => {
                        items.iter().filter_map(Value::as_str).for_each(&mut push)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn date_values(v: &Value, out: &mut Vec<IndexValue>) {
    match v {
        Value::String(t) => out.extend(parse_range(t).map(IndexValue::Date)),
        Value::Object(o) if o.contains_key("start") || o.contains_key("end") => {
            let start = o
                .get("start")
                .and_then(Value::as_str)
                .and_then(parse_range)
                .map(|r| r.start);
            let end = o
                .get("end")
                .and_then(Value::as_str)
                .and_then(parse_range)
                .map(|r| r.end);
            out.push(IndexValue::Date(DateRange::open(start, end)));
        }
        Value::Object(o) if o.contains_key("event") => {
            for e in o["event"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                out.extend(parse_range(e).map(IndexValue::Date));
            }
        }
        _ => {}
    }
}

fn reference_values(v: &Value, base: &str, out: &mut Vec<IndexValue>) {
    let text = match v {
        Value::String(t) => t.as_str(), // canonical
        Value::Object(_) => match v.get("reference").and_then(Value::as_str) {
            Some(r) => r,
            None => return,
        },
        _ => return,
    };
    let value = match parse_ref(text, base) {
        Ref::Local {
            resource_type, id, ..
        } => IndexValue::Reference {
            target_type: Some(resource_type.to_string()),
            target_id: Some(id.to_string()),
            url: None,
        },
        _ => IndexValue::Reference {
            target_type: None,
            target_id: None,
            url: Some(text.to_string()),
        },
    };
    out.push(value);
}

fn quantity_values(v: &Value, out: &mut Vec<IndexValue>) {
    // Only finite JSON numbers: validation refuses anything else, and the
    // index must never hold NaN or an infinity whatever reaches it.
    let number = |n: &Value| n.as_f64().filter(|f| f.is_finite());
    match v {
        Value::Number(_) => out.extend(number(v).map(|value| IndexValue::Quantity {
            value,
            system: None,
            code: None,
        })),
        Value::Object(o) => {
            if let Some(value) = o.get("value").and_then(number) {
                let code = s(v, "code").or_else(|| s(v, "unit"));
                out.push(IndexValue::Quantity {
                    value,
                    system: s(v, "system"),
                    code,
                });
            }
        }
        _ => {}
    }
}

fn uri_values(v: &Value, out: &mut Vec<IndexValue>) {
    if let Some(u) = v.as_str() {
        out.push(IndexValue::Token {
            system: None,
            code: Some(u.to_string()),
            text: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find<'a>(entries: &'a [IndexEntry], p: &str) -> Vec<&'a IndexValue> {
        entries
            .iter()
            .filter(|e| e.param == p)
            .map(|e| &e.value)
            .collect()
    }

    #[test]
    fn observation_entries() {
        let reg = Registry::builtin();
        let obs = json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6", "display": "PHQ-9 total"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-05-01",
            "valueQuantity": {"value": 12, "system": "http://unitsofmeasure.org", "code": "{score}"}
        });
        let e = extract(&reg, "http://x", "Observation", &obs);
        assert_eq!(find(&e, "code").len(), 1);
        assert!(
            matches!(find(&e, "patient")[0], IndexValue::Reference { target_id: Some(id), .. } if id == "p1")
        );
        assert!(matches!(find(&e, "date")[0], IndexValue::Date(_)));
        assert!(
            matches!(find(&e, "value-quantity")[0], IndexValue::Quantity { value, .. } if *value == 12.0)
        );
        assert!(
            matches!(find(&e, "status")[0], IndexValue::Token { code: Some(c), .. } if c == "final")
        );
    }

    #[test]
    fn names_are_normalized() {
        let reg = Registry::builtin();
        let p = json!({"resourceType": "Patient", "name": [{"family": "Muñoz", "given": ["Ana", "María"]}]});
        let e = extract(&reg, "", "Patient", &p);
        let fams = find(&e, "family");
        assert_eq!(
            fams,
            vec![&IndexValue::String {
                norm: "munoz".into(),
                exact: "Muñoz".into()
            }]
        );
        assert_eq!(find(&e, "name").len(), 3);
        assert_eq!(find(&e, "given").len(), 2);
    }
}
