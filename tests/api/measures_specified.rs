//! The measures written from a specification (NQF 1448, NQF 1799, CMS82,
//! NQF 2152) end to end: a small hand-built practice is written over HTTP
//! and the reports must carry the counts worked out by hand below.

use crate::common;

use std::collections::BTreeSet;

use common::reports::{count, subjects};
use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::fhir::bundle::put_transaction;

const PERIOD: &str = "periodStart=2026-01-01&periodEnd=2026-12-31";
const CPT: &str = "http://www.ama-assn.org/go/cpt";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn cc(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

/// A patient on `gp`'s panel.
fn patient(id: &str, born: &str, gp: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "birthDate": born, "gender": "female",
           "generalPractitioner": [{"reference": format!("Practitioner/{gp}")}]})
}

fn procedure(id: &str, pid: &str, code: &str, day: &str) -> Value {
    json!({"resourceType": "Procedure", "id": id, "status": "completed", "code": cc(CPT, code),
           "subject": {"reference": format!("Patient/{pid}")}, "performedDateTime": day})
}

/// A finished visit with Practitioner/doc1.
fn visit(id: &str, pid: &str, code: &str, day: &str) -> Value {
    json!({"resourceType": "Encounter", "id": id, "status": "finished", "class": {"code": "AMB"},
           "type": [cc(CPT, code)], "subject": {"reference": format!("Patient/{pid}")},
           "participant": [{"individual": {"reference": "Practitioner/doc1"}}],
           "period": {"start": day, "end": day}})
}

fn dispense(id: &str, pid: &str, day: &str, days: u32) -> Value {
    json!({"resourceType": "MedicationDispense", "id": id, "status": "completed",
           "medicationCodeableConcept": cc(RXNORM, "895994"),
           "subject": {"reference": format!("Patient/{pid}")}, "whenHandedOver": day,
           "daysSupply": {"value": days, "system": "http://unitsofmeasure.org", "code": "d"}})
}

/// The practice: `a` turns 1 (screened), `b` turns 2 (not screened), `c`
/// turns 3 on the last day (screened that day), `d` an adult with
/// persistent asthma covered 91 of 182 days, `f` an infant whose mother was
/// screened at 3½ months.
fn practice() -> Vec<Value> {
    let mut r = vec![
        patient("a", "2025-02-01", "gp1"),
        procedure("a1", "a", "96110", "2025-10-01"),
        patient("b", "2024-05-05", "gp2"),
        patient("c", "2023-12-31", "gp1"),
        procedure("c1", "c", "96110", "2026-12-31"),
        patient("d", "2000-06-01", "gp2"),
        patient("f", "2025-08-15", "gp2"),
        visit("f1", "f", "99391", "2025-10-01"),
        procedure("f2", "f", "96161", "2025-12-01"),
    ];
    for (i, day) in ["2025-02-01", "2025-04-01", "2025-06-01", "2025-08-01"]
        .iter()
        .enumerate()
    {
        r.push(dispense(&format!("d{i}"), "d", day, 30));
    }
    r.push(dispense("d5", "d", "2026-07-03", 60));
    r.push(dispense("d6", "d", "2026-09-01", 31));
    r.push(dispense("d7", "d", "2026-10-03", 30));
    r
}

#[tokio::test]
async fn specified_measures_report_the_hand_worked_counts() {
    let app = spawn_app().await;
    let tx = put_transaction(practice());
    let resp = app.post("", &tx).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    let reporting = app
        .client_for("program", Role::Reporting, "default", "system/*.rs")
        .await;

    // NQF 1448: four groups; the total group's numerator List is a and c.
    let path = format!("Measure/NQF1448-2025/$evaluate-measure?{PERIOD}&reportType=subject-list");
    let dev = app.json_as(&reporting, &path).await;
    let groups = dev["group"].as_array().unwrap();
    let ids: Vec<&str> = groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["age-1", "age-2", "age-3", "total"]);
    let counts: Vec<(u64, u64)> = groups
        .iter()
        .map(|g| (count(g, "denominator"), count(g, "numerator")))
        .collect();
    // f (the infant) turns 1 in the period too, unscreened.
    assert_eq!(counts, [(2, 1), (1, 0), (1, 1), (4, 2)]);
    let got = subjects(&dev, 3, "numerator");
    assert_eq!(got, BTreeSet::from(["a".to_string(), "c".to_string()]));

    // NQF 1799: d reaches 50% of the treatment period, not 75%; stratum 19-50.
    let asthma = app
        .json_as(
            &reporting,
            &format!("Measure/NQF1799-2019/$evaluate-measure?{PERIOD}"),
        )
        .await;
    let pdc: Vec<(u64, u64)> = asthma["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (count(g, "denominator"), count(g, "numerator")))
        .collect();
    assert_eq!(pdc, [(1, 1), (1, 0)]);
    let strata = asthma["group"][0]["stratifier"].as_array().unwrap();
    assert_eq!(strata.len(), 4);
    assert_eq!(count(&strata[2]["stratum"][0], "denominator"), 1, "19-50");
    assert_eq!(count(&strata[0]["stratum"][0], "denominator"), 0, "5-11");

    // CMS82: the infant's individual report is in the numerator.
    let path = format!(
        "Measure/CMS82-2019/$evaluate-measure?{PERIOD}&reportType=subject&subject=Patient/f"
    );
    let infant = app.json_as(&reporting, &path).await;
    assert_eq!(count(&infant["group"][0], "numerator"), 1);
    assert!(
        infant["evaluatedResource"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reference"] == "Procedure/f2")
    );

    // Care gaps: b, turning 2 unscreened, has an open NQF 1448 gap.
    let path = format!("Measure/$care-gaps?{PERIOD}&measureId=NQF1448-2025&subject=Patient/b");
    let gaps = app.json_as(&reporting, &path).await;
    let issue = &common::reports::gaps_document(&gaps["parameter"][0]["resource"])[0];
    assert_eq!(issue["code"]["coding"][0]["code"], "CAREGAP");
    assert_eq!(issue["patient"]["reference"], "Patient/b");
    let path = format!("Measure/$care-gaps?{PERIOD}&measureId=NQF1448-2025&subject=Patient/a");
    let none = app.json_as(&reporting, &path).await;
    assert!(
        none["parameter"].as_array().is_none_or(|p| p.is_empty()),
        "{none}"
    );

    // Per provider: NQF 1448 follows the panel (gp1 has a and c, both
    // screened); CMS82 follows the encounter's performer (doc1 saw f; f's
    // own PCP, gp2, gets nothing for it).
    let slice = |id: &str, who: &str| {
        format!("Measure/{id}/$evaluate-measure?{PERIOD}&practitioner=Practitioner/{who}")
    };
    let gp1 = app.json_as(&reporting, &slice("NQF1448-2025", "gp1")).await;
    assert_eq!(
        (
            count(&gp1["group"][3], "denominator"),
            count(&gp1["group"][3], "numerator")
        ),
        (2, 2)
    );
    assert_eq!(gp1["subject"]["reference"], "Practitioner/gp1");
    let doc1 = app.json_as(&reporting, &slice("CMS82-2019", "doc1")).await;
    assert_eq!(count(&doc1["group"][0], "numerator"), 1);
    let gp2 = app.json_as(&reporting, &slice("CMS82-2019", "gp2")).await;
    assert_eq!(count(&gp2["group"][0], "initial-population"), 0);
    let doc1_dev = app
        .json_as(&reporting, &slice("NQF1448-2025", "doc1"))
        .await;
    assert_eq!(
        count(&doc1_dev["group"][3], "initial-population"),
        0,
        "panel, not encounters"
    );

    // The shipped Measure resource is readable.
    let m = app.json_as(&reporting, "Measure/NQF2152-2019").await;
    assert_eq!(m["resourceType"], "Measure");
    assert_eq!(m["group"][0]["id"], "nqf2152");
    app.stop().await;
}
