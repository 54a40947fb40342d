//! The synthetic population against its answers file: the same seed gives
//! byte-identical output, and a generated practice loaded into a real
//! server over HTTP yields exactly the screening results and measure
//! populations the generator worked out independently.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::population::{files, load_practice, ndjson, options};
use common::reports::subjects;
use common::spawn_app;
use serde_json::Value;
use tandem::auth::Role;
use tandem::generate::run;

#[test]
fn the_same_seed_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let first = run(&options(&a, 150, 2, 9), |_| {}).unwrap();
    run(&options(&b, 150, 2, 9), |_| {}).unwrap();
    run(&options(&c, 150, 2, 10), |_| {}).unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert!(fa.len() > 150, "{} files", fa.len());
    assert_eq!(fa, fb);
    assert_ne!(
        fa.get(Path::new("answers.ndjson")),
        fc.get(Path::new("answers.ndjson"))
    );
    assert_eq!(first.patients, 150);
    // Every patient has a transaction Bundle and an answers line.
    let bundles = fa.keys().filter(|p| p.starts_with("bundles")).count();
    assert_eq!(bundles, 150);
    let answers = String::from_utf8(fa[Path::new("answers.ndjson")].clone()).unwrap();
    assert_eq!(answers.lines().count(), 150);
    // The payer's attribution list disagrees with the practice panel in places.
    let group: Value = serde_json::from_slice(&fa[Path::new("groups/practice-0.json")]).unwrap();
    assert_eq!(group["resourceType"], "Group");
    let members = group["member"].as_array().unwrap().len();
    assert_eq!(group["quantity"], members);
    assert!(members > 40 && members < 80, "{members} of about 75");
}

fn tag<'a>(r: &'a Value, system: &str) -> Option<&'a str> {
    r["meta"]["tag"]
        .as_array()?
        .iter()
        .find(|t| t["system"] == system)?["code"]
        .as_str()
}

fn band(r: &Value) -> Option<&str> {
    let c = r["component"]
        .as_array()?
        .iter()
        .find(|c| c["code"]["coding"][0]["code"] == "severity-band")?;
    c["valueCodeableConcept"]["coding"][0]["code"].as_str()
}

/// Compares one patient's derived screening results with the answers.
fn check_screenings(pid: &str, expected: &[Value], results: &[Value], failures: &mut Vec<String>) {
    if expected.len() != results.len() {
        failures.push(format!(
            "{pid}: {} results, {} expected",
            results.len(),
            expected.len()
        ));
        return;
    }
    for e in expected {
        let source = e["source"].as_str().unwrap();
        let Some(r) = results
            .iter()
            .find(|r| r["derivedFrom"][0]["reference"] == source)
        else {
            failures.push(format!("{pid}: no result from {source}"));
            continue;
        };
        let got = (
            tag(r, "http://tandem.health/fhir/CodeSystem/instrument"),
            r["valueQuantity"]["value"].as_f64(),
            band(r),
            r["interpretation"][0]["coding"][0]["code"]
                .as_str()
                .map(|c| c == "POS"),
        );
        let want = (
            e["instrument"].as_str(),
            e["total"].as_f64(),
            e["band"].as_str(),
            e["positive"].as_bool(),
        );
        if got != want {
            failures.push(format!("{pid} {source}: got {got:?}, expected {want:?}"));
        }
    }
}

#[tokio::test]
async fn a_generated_practice_yields_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 400, 1, 2026), |_| {}).unwrap();
    let app = spawn_app().await;
    load_practice(&app, &root).await;
    let answers = ndjson(&root, "answers.ndjson");

    // Screening results: one per administration, with the expected total,
    // band and positivity; safety Flags where item 9 / item 10 was positive.
    let mut failures = Vec::new();
    let (mut compared, mut flags_expected) = (0, 0);
    for a in &answers {
        let pid = a["patient"].as_str().unwrap();
        let expected = a["screenings"].as_array().unwrap();
        let results = app
            .search_resources(&format!(
                "Observation?_tag=http://tandem.health/fhir/CodeSystem/derived|screening-result&subject=Patient/{pid}&_count=500"
            ))
            .await;
        check_screenings(pid, expected, &results, &mut failures);
        compared += expected.len();
        let want_flags = expected.iter().filter(|e| e["safety"] == true).count();
        flags_expected += want_flags;
        let flags = app
            .search_resources(&format!("Flag?subject=Patient/{pid}&_tag=http://tandem.health/fhir/CodeSystem/derived|safety-alert"))
            .await;
        if flags.len() != want_flags {
            failures.push(format!(
                "{pid}: {} safety flags, {want_flags} expected",
                flags.len()
            ));
        }
    }
    println!("{compared} screening results and {flags_expected} safety flags compared");
    assert!(
        compared > 500 && flags_expected > 0,
        "{compared} screenings, {flags_expected} flags"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Measures: every population of CMS2, CMS122, CMS165 and CMS159 (2026)
    // names exactly the patients the answers put there.
    let reporting = app
        .client_for("program", Role::Reporting, "default", "system/*.rs")
        .await;
    for measure in ["CMS2-2026", "CMS122-2026", "CMS165-2026", "CMS159-2026"] {
        let path =
            format!("Measure/{measure}/$evaluate-measure?period=2026&reportType=subject-list");
        let report = app.json_as(&reporting, &path).await;
        for code in [
            "initial-population",
            "denominator-exclusion",
            "numerator",
            "denominator-exception",
        ] {
            let want: BTreeSet<String> = answers
                .iter()
                .filter(|a| a["measures"][measure][code] == true)
                .map(|a| a["patient"].as_str().unwrap().to_string())
                .collect();
            let got = subjects(&report, 0, code);
            println!("{measure} {code}: {} patients", got.len());
            assert_eq!(
                got.symmetric_difference(&want).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{measure} {code}: Tandem {} patients, answers {}",
                got.len(),
                want.len()
            );
            if code == "initial-population" || code == "numerator" {
                assert!(
                    !want.is_empty(),
                    "{measure} {code} is empty: the test would prove nothing"
                );
            }
        }
    }
    app.stop().await;
}
