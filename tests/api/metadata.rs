//! `GET /metadata` and the checked-in CapabilityStatement must agree.
//! Regenerate the copy with: `cargo run -- capability > conformance/CapabilityStatement.json`.

use crate::common;

use common::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn metadata_matches_checked_in_copy() {
    let app = spawn_app().await;
    let (status, mut served) = app.get_json("metadata").await;
    assert_eq!(status, 200);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/CapabilityStatement.json"
    );
    let mut checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The implementation URL is the running server's own base.
    assert_eq!(served["implementation"]["url"], app.base);
    served["implementation"]["url"] = Value::Null;
    checked_in["implementation"]["url"] = Value::Null;
    // So are the SMART endpoints it advertises (token, authorize, revoke).
    for (i, name) in ["token", "authorize", "revoke"].iter().enumerate() {
        let uri = &mut served["rest"][0]["security"]["extension"][0]["extension"][i];
        assert_eq!(uri["url"], *name);
        assert_eq!(uri["valueUri"], format!("{}/auth/{name}", app.base));
        uri["valueUri"] = Value::Null;
        checked_in["rest"][0]["security"]["extension"][0]["extension"][i]["valueUri"] = Value::Null;
    }
    assert!(
        served == checked_in,
        "conformance/CapabilityStatement.json is stale: run `cargo run -- capability > conformance/CapabilityStatement.json`"
    );

    // It lists what is registered: the US Core searches and Tandem's profiles.
    let rest = &served["rest"][0];
    let patient = rest["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    let names: Vec<&str> = patient["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "_id",
        "identifier",
        "name",
        "birthdate",
        "gender",
        "family",
        "given",
        "general-practitioner",
        "organization",
    ] {
        assert!(names.contains(&n), "Patient search {n}");
    }
    assert!(
        patient["supportedProfile"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("us-core-patient"))
    );
    let interactions: Vec<&str> = rest["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(interactions, ["transaction", "batch", "history-system"]);
    app.stop().await;
}
