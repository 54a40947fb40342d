//! Reading Questionnaire weights, the single-value screens, and the property
//! that a complete administration's total is the sum of its answers' weights.

use proptest::prelude::*;
use serde_json::json;

use super::catalog::{Instrument, builtin};
use super::rules::{ScreeningConfig, rule};
use super::score::{Answer, Response, score};
use super::value::{bmi, bmi_percentile, development, tobacco};
use super::{Outcome, Sex};

fn band(o: &Outcome) -> &str {
    &o.band.as_ref().unwrap().code
}

#[test]
fn weights_are_read_from_item_weight_and_ordinal_value() {
    let q = |url: &str| {
        json!({"resourceType": "Questionnaire", "id": "x", "url": "urn:x", "title": "X", "item": [
        {"linkId": "a", "type": "choice", "answerOption": [
            {"valueCoding": {"system": "s", "code": "lo"}, "extension": [{"url": url, "valueDecimal": 0}]},
            {"valueCoding": {"system": "s", "code": "hi"}, "extension": [{"url": url, "valueDecimal": 5}]}]},
        {"linkId": "b", "type": "choice", "answerOption": [{"valueCoding": {"system": "s", "code": "u"}}]},
        {"linkId": "t", "type": "integer", "readOnly": true, "code": [{"system": "s", "code": "total"}]}]})
    };
    for url in [
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    ] {
        let i = Instrument::from_questionnaire(&q(url)).unwrap();
        assert_eq!(i.items.len(), 1, "the unweighted item is not scored");
        assert_eq!(i.items[0].weight_of(Some("s"), "hi"), Some(5.0));
        assert_eq!(i.total.code, "total");
    }
    // On the Coding, as SDC also allows.
    let on_coding = json!({"resourceType": "Questionnaire", "id": "y", "url": "urn:y", "title": "Y", "item": [
        {"linkId": "a", "type": "choice", "answerOption": [{"valueCoding": {"system": "s", "code": "c", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 2}]}}]},
        {"linkId": "t", "type": "integer", "readOnly": true, "code": [{"system": "s", "code": "total"}]}]});
    assert_eq!(
        Instrument::from_questionnaire(&on_coding).unwrap().items[0].answers[0].weight,
        2.0
    );
}

#[test]
fn single_value_screens() {
    assert_eq!(
        tobacco(Some("http://snomed.info/sct"), "449868002")
            .unwrap()
            .positive,
        Some(true)
    );
    assert_eq!(tobacco(None, "8517006").unwrap().positive, Some(false));
    assert_eq!(tobacco(None, "266927001").unwrap().positive, None);
    assert!(tobacco(None, "123").is_err());
    assert!(tobacco(Some("http://loinc.org"), "449868002").is_err());
    for (v, b) in [
        (18.49, "underweight"),
        (18.5, "normal"),
        (24.99, "normal"),
        (25.0, "overweight"),
        (29.99, "overweight"),
        (30.0, "obese"),
    ] {
        let o = bmi(v, Some(40.0)).unwrap().unwrap();
        assert_eq!(band(&o), b, "BMI {v}");
        assert_eq!(o.positive, Some(b != "normal"));
    }
    assert_eq!(
        bmi(22.0, Some(10.0)).unwrap(),
        None,
        "children are read by percentile"
    );
    assert!(bmi(200.0, Some(40.0)).is_err());
    for (v, b) in [
        (4.9, "underweight"),
        (5.0, "healthy-weight"),
        (84.9, "healthy-weight"),
        (85.0, "overweight"),
        (94.9, "overweight"),
        (95.0, "obese"),
    ] {
        assert_eq!(
            band(&bmi_percentile(v, Some(8.0)).unwrap().unwrap()),
            b,
            "percentile {v}"
        );
    }
    assert_eq!(bmi_percentile(50.0, Some(1.5)).unwrap(), None);
    assert_eq!(bmi_percentile(50.0, Some(18.0)).unwrap(), None);
    assert!(bmi_percentile(101.0, Some(8.0)).is_err());
}

#[test]
fn developmental_screen_reading() {
    let done = development(None).unwrap();
    assert!(done.complete && done.positive.is_none());
    assert_eq!(development(Some("A")).unwrap().positive, Some(true));
    assert_eq!(development(Some("N")).unwrap().positive, Some(false));
    assert!(development(Some("X")).is_err());
}

proptest! {
    /// For any complete answer set, the total is the sum of the chosen options' weights.
    #[test]
    fn total_is_the_sum_of_weights(key_idx in 0usize..9, picks in proptest::collection::vec(0usize..8, 10)) {
        let all = builtin();
        let i = &all[key_idx];
        let r = rule(&i.key, &ScreeningConfig::default()).unwrap();
        let mut want = 0.0;
        let responses: Vec<Response> = i.items.iter().zip(&picks).map(|(item, p)| {
            let a = &item.answers[p % item.answers.len()];
            want += a.weight;
            Response { key: item.link_id.clone(), answer: Answer::Coded { system: Some(a.code.system.clone()), code: a.code.code.clone(), weight: None } }
        }).collect();
        let o = score(i, &r, &responses, None, Sex::Female).unwrap();
        prop_assert_eq!(o.total, Some(want));
        prop_assert!(want <= i.max_total());
    }
}
