//! The default method at each cut-off, and the facts read from hand-built
//! records on each side of the look-back and of each condition rule.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::*;
use crate::measure::record::Record;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn with(f: impl FnOnce(&mut RiskFacts)) -> Stratum {
    let mut facts = RiskFacts::default();
    f(&mut facts);
    Method::default().score(&facts)
}

fn refs(n: usize, ty: &str) -> Vec<String> {
    (0..n).map(|i| format!("{ty}/{i}")).collect()
}

#[test]
fn tiers_start_at_their_cut_offs() {
    let m = Method::default();
    m.check().unwrap();
    for (points, tier) in [
        (0, "low"),
        (1, "low"),
        (2, "rising"),
        (3, "rising"),
        (4, "high"),
        (6, "high"),
        (7, "complex"),
        (30, "complex"),
    ] {
        assert_eq!(m.tier_of(points).code, tier, "{points}");
    }
    assert!(m.is_high("high") && m.is_high("complex") && !m.is_high("rising"));
}

#[test]
fn graded_drivers_take_their_highest_band() {
    for (total, points) in [
        (9.0, 0),
        (10.0, 1),
        (14.0, 1),
        (15.0, 2),
        (19.0, 2),
        (20.0, 3),
        (27.0, 3),
    ] {
        let s = with(|f| f.phq9 = Some((total, "Observation/p".into())));
        assert_eq!(s.points, points, "PHQ-9 {total}");
    }
    for (total, points) in [(9.0, 0), (10.0, 1), (14.0, 1), (15.0, 2), (21.0, 2)] {
        assert_eq!(
            with(|f| f.gad7 = Some((total, "Observation/g".into()))).points,
            points,
            "GAD-7 {total}"
        );
    }
    for (meds, points) in [(4, 0), (5, 1), (9, 1), (10, 2)] {
        assert_eq!(
            with(|f| f.active_meds = refs(meds, "MedicationRequest")).points,
            points,
            "{meds} meds"
        );
    }
    for (age, points) in [(64, 0), (65, 1), (74, 1), (75, 2)] {
        assert_eq!(with(|f| f.age = Some(age)).points, points, "age {age}");
    }
}

#[test]
fn utilization_counts_up_to_its_caps_and_drivers_name_their_basis() {
    assert_eq!(with(|f| f.ed_visits = refs(2, "Encounter")).points, 2);
    assert_eq!(
        with(|f| f.ed_visits = refs(5, "Encounter")).points,
        3,
        "capped at 3 visits"
    );
    assert_eq!(
        with(|f| f.inpatient_stays = refs(3, "Encounter")).points,
        4,
        "capped at 2 stays"
    );
    let s = with(|f| {
        f.conditions
            .insert("diabetes".into(), vec!["Condition/dm".into()]);
        f.conditions
            .insert("heart-failure".into(), vec!["Condition/hf".into()]);
        f.smi = vec!["Condition/bp".into()];
        f.readmissions = vec!["Flag/r".into()];
    });
    assert_eq!((s.points, s.tier.as_str()), (2 + 3 + 3 + 2, "complex"));
    let hf = s
        .drivers
        .iter()
        .find(|d| d.code == "heart-failure")
        .unwrap();
    assert_eq!(
        (hf.points, hf.basis.clone()),
        (3, vec!["Condition/hf".to_string()])
    );
    assert!(with(|_| {}).drivers.is_empty());
}

#[test]
fn bad_methods_are_refused_naming_the_key() {
    let mut m = Method::default();
    m.tiers[0].min_points = 1;
    assert!(m.check().unwrap_err().contains("risk.tiers"));
    let mut m = Method::default();
    m.tiers[2].min_points = 2;
    assert!(m.check().unwrap_err().contains("increase"));
    let m = Method {
        high_tiers: vec!["severe".into()],
        ..Method::default()
    };
    assert!(m.check().unwrap_err().contains("risk.high_tiers"));
    let mut m = Method::default();
    m.conditions.insert("gout".into(), 1);
    assert!(m.check().unwrap_err().contains("risk.conditions"));
    let m = Method {
        phq9: vec![band(15.0, 2), band(10.0, 1)],
        ..Method::default()
    };
    assert!(m.check().unwrap_err().contains("risk.phq9"));
}

fn condition(id: &str, system: &str, code: &str, status: &str) -> Value {
    json!({"resourceType": "Condition", "id": id,
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": system, "code": code}]}})
}

fn encounter(id: &str, class: &str, day: &str) -> Value {
    json!({"resourceType": "Encounter", "id": id, "status": "finished", "class": {"code": class},
           "period": {"start": format!("{day}T10:00:00Z")}})
}

fn result(id: &str, instrument: &str, day: &str, total: f64) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "meta": {"tag": [{"system": "http://tandem.health/fhir/CodeSystem/instrument", "code": instrument}]},
        "effectiveDateTime": format!("{day}T09:00:00Z"), "valueQuantity": {"value": total}})
}

#[test]
fn facts_follow_the_rules_on_each_side() {
    let icd = "http://hl7.org/fhir/sid/icd-10-cm";
    let record = Record::new(vec![
        json!({"resourceType": "Patient", "id": "p", "birthDate": "1951-06-01"}),
        condition("dm", icd, "E11.9", "active"),
        condition("htn-old", icd, "I10", "resolved"),
        condition("smoker", icd, "F17.210", "active"),
        condition("mdd-severe", icd, "F33.3", "active"),
        condition("aud", "http://snomed.info/sct", "7200002", "active"),
        // The look-back is the 12 months ending on 2026-09-30: from
        // 2025-09-30 (excluded) to 2026-09-30.
        encounter("ed-out", "EMER", "2025-09-30"),
        encounter("ed-in", "EMER", "2025-10-01"),
        encounter("ed-after", "EMER", "2026-10-01"),
        encounter("stay", "IMP", "2026-03-01"),
        encounter("office", "AMB", "2026-03-05"),
        result("phq-old", "phq-9", "2026-01-10", 22.0),
        result("phq-new", "phq-9", "2026-08-10", 12.0),
        json!({"resourceType": "MedicationRequest", "id": "m1", "status": "active",
               "medicationCodeableConcept": {"coding": [{"system": "rx", "code": "1"}]}}),
        json!({"resourceType": "MedicationRequest", "id": "m1-again", "status": "active",
               "medicationCodeableConcept": {"coding": [{"system": "rx", "code": "1"}]}}),
        json!({"resourceType": "MedicationRequest", "id": "m2", "status": "stopped",
               "medicationCodeableConcept": {"coding": [{"system": "rx", "code": "2"}]}}),
        json!({"resourceType": "Flag", "id": "readm", "code": {"coding": [{"code": "readmission-30d"}]},
               "period": {"start": "2026-03-20T10:00:00Z"}}),
        json!({"resourceType": "Observation", "id": "food", "status": "final",
               "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-category", "code": "sdoh"}]}],
               "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "POS"}]}],
               "effectiveDateTime": "2026-04-01"}),
    ])
    .unwrap();
    let f = RiskFacts::of(&record, d("2026-09-30"), &Method::default());
    assert_eq!(
        f.conditions.keys().collect::<Vec<_>>(),
        ["diabetes"],
        "resolved hypertension does not count"
    );
    assert_eq!(f.smi, ["Condition/mdd-severe"]);
    assert_eq!(
        f.sud,
        ["Condition/aud"],
        "nicotine (F17) is not a substance use disorder here"
    );
    assert_eq!(f.ed_visits, ["Encounter/ed-in"]);
    assert_eq!(f.inpatient_stays, ["Encounter/stay"]);
    assert_eq!(
        f.phq9,
        Some((12.0, "Observation/phq-new".into())),
        "the latest total, not the highest"
    );
    assert_eq!(f.active_meds, ["MedicationRequest/m1"]);
    assert_eq!(f.readmissions, ["Flag/readm"]);
    assert_eq!(f.social_needs, ["Observation/food"]);
    assert_eq!(f.age, Some(75));
    // diabetes 2 + SMI 3 + SUD 3 + PHQ-9 12 → 1 + ED 1 + stay 2 +
    // readmission 2 + age 75 → 2 + social need 1 = 17.
    let s = Method::default().score(&f);
    assert_eq!((s.points, s.tier.as_str()), (17, "complex"));
}
