//! Structural validation applied to every write.
//!
//! Checks, in order: the body is a JSON object, `resourceType` is a known R4 type
//! that matches the URL, `id` follows the R4 rule, and — for the resource types
//! Tandem works with — every element has the right datatype (checked by
//! deserializing into the typed fhir-sdk model, which reports the element path).
//! Unknown elements are *not* errors: Tandem keeps what it was sent.

use serde_json::Value;

use super::id::is_valid_id;
use super::outcome::Issue;
use super::resource_types::is_known;

/// Parses a request body into a JSON value; serde_json bounds nesting depth (128),
/// so hostile, deeply nested input fails here instead of overflowing the stack.
pub fn parse_json(body: &[u8]) -> Result<Value, Issue> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Issue::error(
            "structure",
            format!(
                "The body is not valid JSON: {e}. Send a FHIR resource as application/fhir+json."
            ),
        )
    })?;
    if !value.is_object() {
        return Err(Issue::error(
            "structure",
            "The body must be a JSON object (a FHIR resource), not an array or a scalar.",
        ));
    }
    if let Err(e) = serde_json::from_slice::<NoDuplicateKeys>(body) {
        return Err(Issue::error(
            "structure",
            format!("The body is not valid FHIR JSON: {e}. Send each element once."),
        ));
    }
    Ok(value)
}

/// A pass over JSON that fails on an object naming a key twice. serde_json
/// keeps the last of duplicates silently, so the checks and the index would
/// read one value while the stored text holds two; FHIR JSON forbids them.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key \"{key}\" appears twice in one object"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
            seen.push(key);
        }
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(NoDuplicateKeys)
    }
}

/// Checks `resource` against the URL it was sent to.
/// `url_type` is the type in the URL; `url_id` the id for PUT.
pub fn check_resource(
    resource: &Value,
    url_type: Option<&str>,
    url_id: Option<&str>,
) -> Result<String, Issue> {
    let rt = match resource.get("resourceType") {
        Some(Value::String(rt)) => rt.clone(),
        _ => {
            return Err(Issue::error(
                "required",
                "The resource has no resourceType; add e.g. \"resourceType\": \"Patient\".",
            )
            .at("resourceType"));
        }
    };
    if !is_known(&rt) {
        return Err(Issue::error(
            "not-supported",
            format!("'{rt}' is not an R4 resource type."),
        )
        .at("resourceType"));
    }
    if let Some(expected) = url_type
        && rt != expected
    {
        return Err(Issue::error(
            "invalid",
            format!("resourceType '{rt}' does not match the URL, which names {expected}."),
        )
        .at("resourceType"));
    }
    match (resource.get("id"), url_id) {
        (Some(Value::String(id)), _) if !is_valid_id(id) => {
            return Err(Issue::error(
                "invalid",
                format!("id '{id}' is not valid: use 1-64 characters from A-Z a-z 0-9 - ."),
            )
            .at(format!("{rt}.id")));
        }
        (Some(Value::String(id)), Some(url_id)) if id != url_id => {
            return Err(Issue::error("invalid", format!("The body id '{id}' differs from the URL id '{url_id}'; they must be equal on update.")).at(format!("{rt}.id")));
        }
        (None, Some(url_id)) => {
            return Err(Issue::error(
                "required",
                format!("An update must carry the id in the body too; add \"id\": \"{url_id}\"."),
            )
            .at(format!("{rt}.id")));
        }
        (Some(v), _) if !v.is_string() => {
            return Err(Issue::error("structure", "id must be a string.").at(format!("{rt}.id")));
        }
        _ => {}
    }
    if let Some(meta) = resource.get("meta")
        && !meta.is_object()
    {
        return Err(Issue::error("structure", "meta must be an object.").at(format!("{rt}.meta")));
    }
    quantity_values(resource, &rt)?;
    super::typed::check_types(&rt, resource)?;
    super::choice::check(resource).map_err(|b| {
        let path = format!("{rt}{}", b.path);
        Issue::error(
            "value",
            format!(
                "{path}: {}. Fix this element (see the R4 datatypes).",
                b.message
            ),
        )
        .at(path)
    })?;
    Ok(rt)
}

/// Every `…Quantity` element's `value` is a finite JSON number. The typed
/// checks do not reach choice elements (`valueQuantity`), and a string such
/// as "nan" or "12" there would be stored and then read by search and the
/// measures as a number.
fn quantity_values(v: &Value, rt: &str) -> Result<(), Issue> {
    let Some((segments, value)) = bad_quantity(v) else {
        return Ok(());
    };
    // The path is built only for the error (this runs on every write).
    let path: String = std::iter::once(rt.to_string())
        .chain(segments.into_iter().rev())
        .collect();
    Err(Issue::error(
        "value",
        format!(
            "{path} must be a decimal JSON number (got {value}); send e.g. 12.5, not a string."
        ),
    )
    .at(path))
}

/// The first `…Quantity.value` in `v` that is not a finite number, with its
/// path as segments, innermost first (`.value`, `.valueQuantity`, `[0]`, …).
fn bad_quantity(v: &Value) -> Option<(Vec<String>, &Value)> {
    // The segment is formatted only when something below it is bad.
    fn nested(segment: impl FnOnce() -> String, c: &Value) -> Option<(Vec<String>, &Value)> {
        bad_quantity(c).map(|(mut path, value)| {
            path.push(segment());
            (path, value)
        })
    }
    match v {
        Value::Object(o) => o.iter().find_map(|(k, c)| {
            if k.ends_with("Quantity")
                && let Some(value) = c.get("value")
                && !value.as_f64().is_some_and(f64::is_finite)
            {
                return Some((vec![".value".to_string(), format!(".{k}")], value));
            }
            nested(|| format!(".{k}"), c)
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, c)| nested(|| format!("[{i}]"), c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structural_rules() {
        assert!(parse_json(b"[1]").is_err());
        assert!(parse_json(b"{").is_err());
        // A key twice in one object, at any depth, is refused; the same key
        // in sibling objects is not a duplicate.
        let twice = br#"{"resourceType":"Patient","gender":"male","gender":"female"}"#;
        let e = parse_json(twice).unwrap_err();
        assert!(
            e.diagnostics.contains("\"gender\" appears twice"),
            "{}",
            e.diagnostics
        );
        let nested = br#"{"resourceType":"Patient","name":[{"family":"A","family":"B"}]}"#;
        assert!(parse_json(nested).is_err());
        let siblings = br#"{"resourceType":"Patient","name":[{"family":"A"},{"family":"B"}],"x":{"v":1.50,"w":[1,2]}}"#;
        assert!(parse_json(siblings).is_ok());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_json(deep.as_bytes()).is_err());
        let p = json!({"resourceType": "Patient", "id": "a"});
        assert_eq!(
            check_resource(&p, Some("Patient"), Some("a")).unwrap(),
            "Patient"
        );
        assert!(check_resource(&p, Some("Observation"), None).is_err());
        assert!(check_resource(&p, Some("Patient"), Some("b")).is_err());
        assert!(check_resource(&json!({"resourceType": "Foo"}), None, None).is_err());
        assert!(
            check_resource(&json!({"resourceType": "Patient", "id": "a_b"}), None, None).is_err()
        );
        let wrong_type = json!({"resourceType": "Patient", "active": "yes"});
        let issue = check_resource(&wrong_type, None, None).unwrap_err();
        assert_eq!(issue.expression.as_deref(), Some("Patient.active"));
        // Nested and inside arrays, whatever comes before or after it (a
        // missing required element elsewhere does not hide it).
        let nested = json!({"resourceType": "Observation", "code": {"text": "x"},
            "component": [{"code": {"text": "a"}, "valueInteger": 1},
                          {"code": {"coding": [{"system": "s", "code": 5}]}}],
            "subject": {"reference": "Patient/1"}});
        let issue = check_resource(&nested, None, None).unwrap_err();
        assert_eq!(
            issue.expression.as_deref(),
            Some("Observation.component[1].code.coding[0].code"),
            "{issue:?}"
        );
        // A Quantity value that is not a finite number, named by its path.
        let nan = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "component": [{"code": {"text": "a"}, "valueQuantity": {"value": 1}},
                          {"code": {"text": "b"}, "valueQuantity": {"value": "nan"}}]});
        let issue = check_resource(&nan, None, None).unwrap_err();
        assert_eq!(
            issue.expression.as_deref(),
            Some("Observation.component[1].valueQuantity.value"),
            "{issue:?}"
        );
        let unknown_ok = json!({"resourceType": "Patient", "madeUp": {"x": 1}});
        assert!(check_resource(&unknown_ok, None, None).is_ok());
    }
}
