//! Formats from the R4 datatype definitions (regexes of date, dateTime,
//! instant, time; integer ranges), each both ways.

use serde_json::{Value, json};

use super::*;

fn obs(extra: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn path_of(extra: Value) -> Option<String> {
    check(&obs(extra)).err().map(|b| b.path)
}

#[test]
fn choice_elements_are_checked_by_their_type() {
    for good in [
        json!({"effectiveDateTime": "2025-02-28"}),
        json!({"effectiveDateTime": "2025"}),
        json!({"effectiveDateTime": "2025-02"}),
        json!({"effectiveDateTime": "2024-02-29T23:59:59.123+14:00"}),
        json!({"effectiveDateTime": "2025-01-01T00:00:00-12:00"}),
        json!({"effectiveInstant": "2025-01-01T10:00:00Z"}),
        json!({"valueTime": "23:59:60"}),
        json!({"valueInteger": -3}),
        json!({"valueBoolean": false}),
        json!({"valueString": "ok"}),
        json!({"valueQuantity": {"value": 1}}),
        json!({"effectivePeriod": {"start": "2025-01-01", "end": "2025-01-02T10:00:00Z"}}),
        json!({"component": [{"code": {"text": "c"}, "valueInteger": 4}]}),
    ] {
        assert_eq!(path_of(good.clone()), None, "{good}");
    }
    for (bad, at) in [
        (
            json!({"effectiveDateTime": "2025-02-30"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveDateTime": "2025-01-01T24:00:00Z"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveDateTime": "2025-01-01T10:00:00+25:00"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveDateTime": "2025-01-01T10:00:00+14:30"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveDateTime": "2025-01-01T10:00:00"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveDateTime": "2025-1-1"}),
            ".effectiveDateTime",
        ),
        (
            json!({"effectiveInstant": "2025-01-01"}),
            ".effectiveInstant",
        ),
        (json!({"valueTime": "24:00:00"}), ".valueTime"),
        (json!({"valueInteger": "12"}), ".valueInteger"),
        (json!({"valueInteger": 3_000_000_000_i64}), ".valueInteger"),
        (json!({"valueInteger": 1.5}), ".valueInteger"),
        (json!({"valueBoolean": "true"}), ".valueBoolean"),
        (
            json!({"valueCodeableConcept": "x"}),
            ".valueCodeableConcept",
        ),
        (
            json!({"effectivePeriod": {"start": "2025-13-01"}}),
            ".effectivePeriod.start",
        ),
        (
            json!({"component": [{"code": {"text": "c"}}, {"code": {"text": "d"}, "valueDateTime": "2025-02-30"}]}),
            ".component[1].valueDateTime",
        ),
        (
            json!({"extension": [{"url": "http://x", "valueDate": "2025-02-30"}]}),
            ".extension[0].valueDate",
        ),
    ] {
        assert_eq!(path_of(bad.clone()).as_deref(), Some(at), "{bad}");
    }
}

#[test]
fn ordinary_elements_that_look_like_choices_are_left_alone() {
    // Attachment.contentType is a code, ElementDefinition.contentReference a
    // uri, Questionnaire.item.answerValueSet a canonical.
    let doc = json!({"resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": {"contentType": "text/plain"}}]});
    assert!(check(&doc).is_ok());
    let q = json!({"resourceType": "Questionnaire", "status": "active",
        "item": [{"linkId": "1", "type": "choice", "answerValueSet": "http://x/vs"}]});
    assert!(check(&q).is_ok());
    let contract = json!({"resourceType": "Contract", "term": [{"asset": [{"valuedItem": [
        {"effectiveTime": "1995"}]}]}]});
    assert!(
        check(&contract).is_ok(),
        "valuedItem.effectiveTime is a dateTime"
    );
}

#[test]
fn literal_references_name_a_resource() {
    for good in [
        "Patient/p1",
        "Patient/p1/_history/2",
        "http://other/fhir/Patient/1",
        "urn:uuid:4e8b5a3c-0000-4000-8000-000000000000",
        "Patient?identifier=x|1",
        "#c1",
        "#",
    ] {
        let o = obs(
            json!({"contained": [{"resourceType": "Patient", "id": "c1"}],
            "subject": {"reference": good}}),
        );
        assert!(check(&o).is_ok(), "{good}");
    }
    for bad in [
        "#nothing",
        "Patient/",
        "Patient",
        "Nonsense/1",
        "Patient/a b",
        "Patient/1/2",
    ] {
        let o = obs(json!({"subject": {"reference": bad}}));
        assert_eq!(check(&o).unwrap_err().path, ".subject.reference", "{bad}");
    }
}
