//! Boundary tests of NQF 1799 on hand-built records.

use super::super::testkit::*;
use crate::measure::Populations;
use serde_json::{Value, json};

const FLUTICASONE: &str = "895994";
const ALBUTEROL: &str = "2123111";
const YEAR: (&str, &str) = ("2026-01-01", "2026-12-31");

/// Four monthly controller fills in 2025: persistent asthma the year before.
fn last_year() -> Vec<Value> {
    ["2025-02-01", "2025-04-01", "2025-06-01", "2025-08-01"]
        .iter()
        .map(|d| dispense(FLUTICASONE, d, 30))
        .collect()
}

/// 2026: 60 + `second` controller days from 2026-07-03 (IPSD) and two
/// reliever fills, so four dispensing events. The treatment period is
/// 182 days.
fn this_year(second: u32) -> Vec<Value> {
    vec![
        dispense(FLUTICASONE, "2026-07-03", 60),
        dispense(FLUTICASONE, "2026-09-01", second),
        dispense(ALBUTEROL, "2026-07-03", 30),
        dispense(ALBUTEROL, "2026-10-03", 30),
    ]
}

fn run(born: &str, resources: Vec<Value>) -> [Populations; 2] {
    let g = eval("NQF1799-2019", born, resources, YEAR.0, YEAR.1);
    [g[0].populations, g[1].populations]
}

fn both(second: u32) -> Vec<Value> {
    let mut r = last_year();
    r.extend(this_year(second));
    r
}

#[test]
fn half_of_the_treatment_period_is_the_first_threshold() {
    let [half, three_quarters] = run("2000-06-01", both(31)); // 91 of 182 days
    assert!(half.denominator && half.numerator);
    assert!(three_quarters.denominator && !three_quarters.numerator);
    let [half, _] = run("2000-06-01", both(30)); // 90 of 182
    assert!(half.denominator && !half.numerator);
    let [_, three_quarters] = run("2000-06-01", both(120)); // 07-03..08-31 and 09-01..12-29: 180 days
    assert!(three_quarters.numerator);
}

#[test]
fn ages_five_to_sixty_four_at_the_end_of_the_period() {
    assert!(run("2021-12-31", both(31))[0].initial, "5 on the last day");
    assert!(!run("2022-01-01", both(31))[0].initial, "still 4");
    assert!(run("1962-01-01", both(31))[0].initial, "64");
    assert!(
        !run("1961-12-31", both(31))[0].initial,
        "65 on the last day"
    );
    let g = eval("NQF1799-2019", "2010-06-01", both(31), YEAR.0, YEAR.1);
    assert_eq!(g[0].strata[1], ("Stratification 2", true), "16 is in 12-18");
    assert!(!g[0].strata[0].1 && !g[0].strata[2].1);
}

#[test]
fn persistent_asthma_is_needed_in_both_years() {
    assert!(
        !run("2000-06-01", this_year(31))[0].initial,
        "nothing in 2025"
    );
    let mut three = last_year();
    three.pop();
    three.extend(this_year(31));
    assert!(!run("2000-06-01", three)[0].initial, "three events in 2025");
    // An ED visit with an asthma diagnosis makes 2025 persistent on its own.
    let mut ed = json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "EMER"},
        "reasonCode": [{"coding": [{"system": ICD10, "code": "J45.41"}]}], "period": {"start": "2025-03-01", "end": "2025-03-01"}});
    let mut r = this_year(31);
    r.push(ed.clone());
    assert!(run("2000-06-01", r)[0].initial);
    ed["reasonCode"] = json!([{"coding": [{"system": ICD10, "code": "J20.9"}]}]);
    let mut r = this_year(31);
    r.push(ed);
    assert!(
        !run("2000-06-01", r)[0].initial,
        "an ED visit for bronchitis"
    );
}

#[test]
fn leukotriene_modifiers_alone_need_a_diagnosis() {
    let montelukast = |day: &str| {
        let mut d = dispense("997488", day, 30);
        d["medicationCodeableConcept"]["text"] = json!("Montelukast 10 MG Oral Tablet");
        d
    };
    let mut r: Vec<Value> = ["2025-02-01", "2025-04-01", "2025-06-01", "2025-08-01"]
        .iter()
        .map(|d| montelukast(d))
        .collect();
    r.extend(this_year(31));
    assert!(!run("2000-06-01", r.clone())[0].initial);
    r.push(condition(SNOMED, "195967001", "2020-01-01"));
    assert!(run("2000-06-01", r)[0].initial);
}

#[test]
fn exclusions() {
    let mut r = both(31);
    r.push(condition(SNOMED, "13645005", "2026-12-31"));
    assert!(
        run("2000-06-01", r)[0].denominator_exclusion,
        "COPD on the last day"
    );
    let mut r = both(31);
    r.push(condition(SNOMED, "13645005", "2027-01-01"));
    assert!(
        !run("2000-06-01", r)[0].denominator_exclusion,
        "COPD after the period"
    );
    // Relievers only in 2026: persistent, but no controller in the period.
    let mut r = last_year();
    r.extend((0..4).map(|i| dispense(ALBUTEROL, &format!("2026-0{}-01", i + 2), 30)));
    let [p, _] = run("2000-06-01", r);
    assert!(p.initial && p.denominator_exclusion);
    // A nasal fluticasone is not an asthma controller.
    let mut nasal = dispense("000000", "2026-03-01", 30);
    nasal["medicationCodeableConcept"]["text"] =
        json!("fluticasone propionate 0.05 MG/ACTUAT Nasal Spray");
    let mut r = last_year();
    r.extend((0..4).map(|i| dispense(ALBUTEROL, &format!("2026-0{}-01", i + 2), 30)));
    r.push(nasal);
    assert!(run("2000-06-01", r)[0].denominator_exclusion);
}

#[test]
fn orders_stand_in_when_no_dispensing_is_recorded() {
    let order = |day: &str, days: u32| {
        json!({"resourceType": "MedicationRequest", "status": "completed", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": FLUTICASONE}]},
               "authoredOn": day,
               "dispenseRequest": {"expectedSupplyDuration": {"value": days, "code": "d"}}})
    };
    // 120 days in 2025 = 4 events; 2026-07-03 for 120 days = 4 events, 120/182.
    let r = vec![order("2025-02-01", 120), order("2026-07-03", 120)];
    let [half, three_quarters] = run("2000-06-01", r);
    assert!(half.initial && half.numerator && !three_quarters.numerator);
}
