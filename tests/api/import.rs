//! `tandem import` of NDJSON and collection Bundles: counts, kept ids and
//! references, and rejections reported with a reason.

use crate::common;

use std::collections::BTreeMap;

use common::process::run_import;
use common::{shared_data, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn ndjson_and_collection_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database::fresh(dir.path(), "i.db").await;
    let db = &database.db;
    let ndjson = shared_data().join("synthea/smart-sample-bulk-10-patients-ndjson");
    // Expected: one resource per line of every Type.000.ndjson file; log.ndjson is not FHIR.
    let mut expected = BTreeMap::new();
    for e in std::fs::read_dir(&ndjson).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(ty) = name.strip_suffix(".000.ndjson") {
            let n = std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count() as u64;
            expected.insert(ty.to_string(), n);
        }
    }
    let total: u64 = expected.values().sum();
    let collection = dir.path().join("collection.json");
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Organization", "id": "coll-org", "name": "From a collection"}},
        {"resource": {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/coll-org"}}},
        {"resource": {"resourceType": "Patient", "active": "not-a-boolean"}}
    ]});
    std::fs::write(&collection, bundle.to_string()).unwrap();

    let out = run_import(&db, &[&ndjson, &collection]);
    let log_lines = std::fs::read_to_string(ndjson.join("log.ndjson"))
        .unwrap()
        .lines()
        .count() as u64;
    assert!(
        out.contains(&format!(
            "loaded {} resources, rejected {}",
            total + 2,
            log_lines + 1
        )),
        "{out}"
    );
    assert!(out.contains("no resourceType"), "{out}");
    assert!(
        out.contains("Patient.active"),
        "the rejected resource names its element: {out}"
    );

    let app = spawn_app_with(|c| c.database = db.clone()).await;
    for (ty, n) in &expected {
        let (_, b) = app.get_json(&format!("{ty}?_summary=count")).await;
        let extra = u64::from(ty == "Organization" || ty == "Patient"); // from the collection
        assert_eq!(b["total"].as_u64().unwrap(), n + extra, "{ty}");
    }
    // Ids are kept, so references between NDJSON files still resolve.
    let (_, enc) = app
        .get_json("Encounter?_count=5&_include=Encounter:subject")
        .await;
    let included = enc["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .count();
    assert!(
        included >= 1,
        "Encounter subjects resolve to imported Patients"
    );
    let (_, pats): (_, Value) = app
        .get_json("Patient?organization=Organization/coll-org")
        .await;
    assert_eq!(pats["total"], 1);
    app.stop().await;
}
