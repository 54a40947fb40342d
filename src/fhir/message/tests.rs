//! Every IG example is accepted; each broken rule is named.

use serde_json::{Value, json};

use super::check;

fn example(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/davinci-notifications")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const EXAMPLES: &[&str] = &[
    "admit-notification-message-bundle-01.json",
    "admit-notification-message-bundle-02.json",
    "discharge-notification-message-bundle-01.json",
    "transfer-notification-message-bundle-01.json",
    "admit-notification-intermediate-translate-bundle.json",
    "admit-notification-intermediate-transmit-bundle.json",
];

#[test]
fn every_ig_example_is_accepted() {
    for name in EXAMPLES {
        let n = check(&example(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!n.message_id.is_empty());
        assert!(n.event.starts_with("notification-"), "{name}");
    }
    assert_eq!(
        check(&example(EXAMPLES[2])).unwrap().event,
        "notification-discharge"
    );
}

/// The first broken rule's message for a mutated discharge example.
fn refused(mutate: impl FnOnce(&mut Value)) -> String {
    let mut b = example("discharge-notification-message-bundle-01.json");
    mutate(&mut b);
    let issues = check(&b).expect_err("must be refused");
    issues
        .iter()
        .map(|i| {
            format!(
                "{} @ {}",
                i.diagnostics,
                i.expression.clone().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn each_rule_is_named() {
    assert!(
        refused(|b| b["type"] = json!("transaction")).contains("Bundle.type must be 'message'")
    );
    assert!(
        refused(|b| {
            b.as_object_mut().unwrap().remove("id");
        })
        .contains("Bundle.id is required")
    );
    assert!(
        refused(|b| {
            b.as_object_mut().unwrap().remove("timestamp");
        })
        .contains("Bundle.timestamp")
    );
    assert!(
        refused(|b| {
            b["entry"].as_array_mut().unwrap().remove(0);
        })
        .contains("first entry must be the MessageHeader")
    );
    assert!(
        refused(|b| {
            let e = b["entry"].as_array_mut().unwrap();
            e.swap(0, 1);
        })
        .contains("MessageHeader must be the first entry")
    );
    assert!(
        refused(|b| b["entry"][0]["resource"]["eventCoding"]["code"] = json!("notification-party"))
            .contains("not a code of")
    );
    assert!(
        refused(|b| {
            b["entry"][0]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("eventCoding");
        })
        .contains("eventCoding is required")
    );
    assert!(
        refused(
            |b| b["entry"][0]["resource"]["focus"][0]["reference"] = json!("Encounter/elsewhere")
        )
        .contains("does not resolve")
    );
    assert!(
        refused(|b| {
            b["entry"][1]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("subject");
        })
        .contains("has no subject")
    );
    assert!(
        refused(|b| {
            b["entry"][1]["resource"]["period"]
                .as_object_mut()
                .unwrap()
                .remove("end");
        })
        .contains("needs period.end")
    );
    assert!(
        refused(|b| b["entry"][2]["request"] = json!({"method": "POST", "url": "Patient"}))
            .contains("entry.request is not allowed")
    );
    assert!(
        refused(|b| {
            let url = b["entry"][2]["fullUrl"].clone();
            b["entry"][3]["fullUrl"] = url;
        })
        .contains("appears more than once")
    );
    assert!(
        refused(
            |b| b["entry"][0]["resource"]["response"] = json!({"identifier": "x", "code": "ok"})
        )
        .contains("response is not allowed")
    );
    // Several broken rules are all reported.
    let all = refused(|b| {
        b["type"] = json!("collection");
        b.as_object_mut().unwrap().remove("timestamp");
    });
    assert!(
        all.contains("Bundle.type") && all.contains("Bundle.timestamp"),
        "{all}"
    );
}
