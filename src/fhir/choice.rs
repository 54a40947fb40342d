//! Type checks the typed models leave out: choice elements (`value[x]`,
//! `effective[x]`, `onset[x]`, …, in the resource, its backbone elements,
//! contained resources and extensions) and literal references.
//!
//! fhir-sdk reads a choice element it cannot parse as absent, so
//! `effectiveDateTime: "2025-02-30"` or `valueInteger: "12"` passed the
//! typed check and was stored — and then silently dropped out of measures
//! and derivations, which read those elements. Here each choice element is
//! checked by the type its name carries, with the R4 formats (real calendar
//! dates, hours 00–23, offsets up to ±14:00), and each literal reference
//! must be `Type/id` (optionally versioned), absolute, a placeholder, or a
//! `#id` that names a contained resource.

use std::fmt::Write;

use serde_json::Value;

use super::resource_types::is_known;

/// R4 choice elements, by the name before the type (`value` of
/// `valueQuantity`): every `[x]` element of the R4 StructureDefinitions
/// except those where an ordinary element shares the name and a type (e.g.
/// `locationReference`, `dateTime`), found by comparing the two lists.
const CHOICES: &[&str] = &[
    "value",
    "effective",
    "onset",
    "abatement",
    "occurrence",
    "deceased",
    "multipleBirth",
    "performed",
    "born",
    "age",
    "serviced",
    "timing",
    "asNeeded",
    "reported",
    "defaultValue",
    "fixed",
    "pattern",
    "minValue",
    "maxValue",
    "answer",
    "initial",
    "scheduled",
    "probability",
    "when",
    "due",
    "allowed",
    "collected",
    "author",
    "rate",
    "dose",
    "content",
    "legallyBinding",
    "medication",
    "product",
    "subject",
    "event",
    "detail",
    "start",
    "occurred",
    "identified",
    "time",
    "amount",
    "duration",
    "bounds",
    "offset",
    "fastingStatus",
    "created",
    "quantity",
    "entity",
    "code",
    "name",
    "additive",
    "characteristic",
    "diagnosis",
    "indication",
    "substance",
    "topic",
    "statusReason",
    "module",
    "example",
    "minimumVolume",
    "manufacturer",
    "seriesDoses",
    "doseNumber",
    "instances",
    "chargeItem",
    "participantEffective",
    "studyEffective",
    "definingSubstance",
];

/// Ordinary elements whose name is a choice name and a type that is not
/// theirs (`Contract…valuedItem.effectiveTime` is a dateTime,
/// `ElementDefinition.contentReference` a uri), from the same comparison;
/// those with their own type (`Immunization.doseQuantity`) are checked.
const ORDINARY: &[&str] = &[
    "effectiveTime",
    "effectiveDate",
    "productCode",
    "contentReference",
];

/// Primitive types held as JSON strings without a format checked here.
const PRIMITIVE_STRINGS: &[&str] = &[
    "String",
    "Markdown",
    "Uri",
    "Url",
    "Canonical",
    "Oid",
    "Uuid",
    "Base64Binary",
    "Code",
    "Id",
];

/// What is wrong, and where (a FHIRPath-like suffix such as `.effectiveDateTime`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    pub path: String,
    pub message: String,
}

/// The first choice element or literal reference in `resource` that is not
/// of its type.
pub fn check(resource: &Value) -> Result<(), Bad> {
    walk(resource, &[], false, &mut String::new())
}

/// The ids a `#id` reference may name inside `resource`.
fn contained_ids(resource: &Value) -> Vec<&str> {
    resource["contained"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect()
}

/// Walks `v`; `contained` are the ids of the enclosing resource's contained
/// resources. A resource inside another (a Bundle entry, a Parameters
/// part) has its own; a contained resource shares its container's.
fn walk(v: &Value, contained: &[&str], in_contained: bool, path: &mut String) -> Result<(), Bad> {
    match v {
        Value::Object(o) => {
            let own;
            let contained = if o.contains_key("resourceType") && !in_contained {
                own = contained_ids(v);
                own.as_slice()
            } else {
                contained
            };
            for (k, c) in o {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if let Some(ty) = choice_type(k) {
                    check_typed(ty, c, path)?;
                }
                if k == "reference"
                    && let Some(r) = c.as_str()
                {
                    check_reference(r, contained, path)?;
                }
                match (k.as_str(), c) {
                    ("contained", Value::Array(a)) => {
                        for (i, r) in a.iter().enumerate() {
                            let len = path.len();
                            let _ = write!(path, "[{i}]");
                            walk(r, contained, true, path)?;
                            path.truncate(len);
                        }
                    }
                    _ => walk(c, contained, false, path)?,
                }
                path.truncate(len);
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk(c, contained, false, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The R4 data types a choice element can take.
const TYPES: &[&str] = &[
    "Base64Binary",
    "Boolean",
    "Canonical",
    "Code",
    "Date",
    "DateTime",
    "Decimal",
    "Id",
    "Instant",
    "Integer",
    "Markdown",
    "Oid",
    "PositiveInt",
    "String",
    "Time",
    "UnsignedInt",
    "Uri",
    "Url",
    "Uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
];

/// The type a choice element's name carries (`DateTime` of `onsetDateTime`).
fn choice_type(key: &str) -> Option<&str> {
    if ORDINARY.contains(&key) {
        return None;
    }
    CHOICES.iter().find_map(|base| {
        let rest = key.strip_prefix(base)?;
        TYPES.contains(&rest).then_some(rest)
    })
}

fn bad(path: &str, message: String) -> Result<(), Bad> {
    Err(Bad {
        path: path.to_string(),
        message,
    })
}

fn check_typed(ty: &str, v: &Value, path: &str) -> Result<(), Bad> {
    let text = v.as_str();
    let ok = match ty {
        "Boolean" => v.is_boolean(),
        "Integer" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "PositiveInt" => v
            .as_i64()
            .is_some_and(|n| (1..=i64::from(i32::MAX)).contains(&n)),
        "UnsignedInt" => v
            .as_i64()
            .is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)),
        "Decimal" => v.as_f64().is_some_and(f64::is_finite),
        "Date" => text.is_some_and(is_date),
        "DateTime" => text.is_some_and(is_date_time),
        "Instant" => text.is_some_and(|t| t.contains('T') && is_date_time(t)),
        "Time" => text.is_some_and(is_time),
        "Code" => text.is_some_and(|t| !t.is_empty() && t.trim() == t),
        "Id" => text.is_some_and(super::id::is_valid_id),
        t if PRIMITIVE_STRINGS.contains(&t) => text.is_some_and(|t| !t.is_empty()),
        "Period" => {
            return period(v, path);
        }
        // Complex types: an object (their parts are checked as they are walked).
        _ => v.is_object(),
    };
    if ok {
        return Ok(());
    }
    let expected = match ty {
        "Date" => "a date: YYYY, YYYY-MM or YYYY-MM-DD, a real calendar day".to_string(),
        "DateTime" => "a dateTime: a date, or YYYY-MM-DDThh:mm:ss with Z or an offset up to \
                       ±14:00 (hours 00-23)"
            .to_string(),
        "Instant" => "an instant: YYYY-MM-DDThh:mm:ss with Z or an offset".to_string(),
        "Time" => "a time: hh:mm:ss with hours 00-23".to_string(),
        "Integer" | "PositiveInt" | "UnsignedInt" => format!("a JSON number ({ty}), not a string"),
        "Decimal" => "a finite JSON number, not a string".to_string(),
        "Boolean" => "true or false".to_string(),
        t if PRIMITIVE_STRINGS.contains(&t) => {
            format!("a {t} (a non-empty JSON string)")
        }
        t => format!("a {t} (a JSON object)"),
    };
    bad(path, format!("{} is not {expected}", short(v)))
}

fn period(v: &Value, path: &str) -> Result<(), Bad> {
    if !v.is_object() {
        return bad(path, format!("{} is not a Period (JSON object)", short(v)));
    }
    for key in ["start", "end"] {
        if let Some(t) = v.get(key)
            && !t.as_str().is_some_and(is_date_time)
        {
            return bad(
                &format!("{path}.{key}"),
                format!("{} is not a dateTime", short(t)),
            );
        }
    }
    Ok(())
}

/// The value as the sender wrote it, cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}…", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

fn check_reference(r: &str, contained: &[&str], path: &str) -> Result<(), Bad> {
    if let Some(id) = r.strip_prefix('#') {
        if id.is_empty() || contained.contains(&id) {
            return Ok(());
        }
        return bad(
            path,
            format!(
                "\"{r}\" names no contained resource: add one with id \"{id}\", or reference Type/id"
            ),
        );
    }
    // Absolute URLs, urn:uuid/urn:oid placeholders and conditional
    // references (resolved in transactions) are checked where they resolve.
    if r.contains(':') || r.contains('?') {
        return Ok(());
    }
    let parts: Vec<&str> = r.split('/').collect();
    let ok = match parts.as_slice() {
        [rt, id] => is_known(rt) && super::id::is_valid_id(id),
        [rt, id, "_history", vid] => {
            is_known(rt) && super::id::is_valid_id(id) && super::id::is_valid_id(vid)
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    bad(
        path,
        format!(
            "\"{}\" is not a reference: write Type/id (e.g. Patient/123) or an absolute URL",
            short_str(r)
        ),
    )
}

fn short_str(s: &str) -> &str {
    &s[..s.floor_char_boundary(64)]
}

fn two(s: &str, max: u32) -> bool {
    s.len() == 2
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|n| n <= max)
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real day.
fn is_date(t: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match t.split('-').collect::<Vec<_>>().as_slice() {
        [y] => digits(y, 4) && *y != "0000",
        [y, m] => {
            digits(y, 4)
                && *y != "0000"
                && digits(m, 2)
                && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        }
        [y, m, d] => {
            digits(y, 4)
                && digits(m, 2)
                && digits(d, 2)
                && *y != "0000"
                && chrono::NaiveDate::from_ymd_opt(
                    y.parse().unwrap_or(0),
                    m.parse().unwrap_or(0),
                    d.parse().unwrap_or(0),
                )
                .is_some()
        }
        _ => false,
    }
}

/// `hh:mm:ss` with an optional fraction; hours 00–23, seconds up to 60.
fn is_time(t: &str) -> bool {
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let parts: Vec<&str> = hms.split(':').collect();
    matches!(parts.as_slice(), [h, m, s] if two(h, 23) && two(m, 59) && two(s, 60))
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A date, or a full date and time with `Z` or an offset up to ±14:00.
fn is_date_time(t: &str) -> bool {
    let Some((date, rest)) = t.split_once('T') else {
        return is_date(t);
    };
    if date.len() != 10 || !is_date(date) {
        return false;
    }
    let (time, zone) = if let Some(time) = rest.strip_suffix('Z') {
        (time, None)
    } else if rest.len() > 6 && rest.is_char_boundary(rest.len() - 6) {
        let (time, zone) = rest.split_at(rest.len() - 6);
        (time, Some(zone))
    } else {
        return false;
    };
    let zone_ok = zone.is_none_or(|z| {
        let (sign, hm) = z.split_at(1);
        let parts: Vec<&str> = hm.split(':').collect();
        matches!(sign, "+" | "-")
            && matches!(parts.as_slice(), [h, m] if two(h, 14) && two(m, 59) && (*h != "14" || *m == "00"))
    });
    zone_ok && is_time(time)
}

#[cfg(test)]
mod tests;
