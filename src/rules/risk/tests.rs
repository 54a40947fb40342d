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

fn tier_override(id: &str, tier: &str, from: &str, until: &str, status: &str) -> Value {
    json!({"resourceType": "RiskAssessment", "id": id, "status": status,
        "subject": {"reference": "Patient/p"},
        "performer": {"reference": "Practitioner/dr"},
        "reasonCode": [{"text": "known to the team"}],
        "prediction": [{"qualitativeRisk": {"coding": [{"system": TIER_CS, "code": tier}]},
            "whenPeriod": {"start": from, "end": until}}]})
}

#[test]
fn an_override_holds_from_its_first_through_its_last_day() {
    let m = Method::default();
    let o = [tier_override(
        "a",
        "low",
        "2026-03-01",
        "2026-03-31",
        "final",
    )];
    for (day, holds) in [
        ("2026-02-28", false),
        ("2026-03-01", true),
        ("2026-03-31", true),
        ("2026-04-01", false),
    ] {
        assert_eq!(
            overrides::in_force(&o, &m, d(day)).is_some(),
            holds,
            "{day}"
        );
    }
}

#[test]
fn the_latest_standing_override_wins_and_retracted_ones_do_not_hold() {
    let m = Method::default();
    let older = tier_override("a", "low", "2026-01-01", "2026-12-31", "final");
    let newer = tier_override("b", "complex", "2026-06-01", "2026-06-30", "amended");
    let retracted = tier_override(
        "c",
        "rising",
        "2026-06-15",
        "2026-12-31",
        "entered-in-error",
    );
    let all = [older, newer, retracted];
    let tier = |day: &str| overrides::in_force(&all, &m, d(day)).map(|o| o.tier);
    assert_eq!(tier("2026-05-01").as_deref(), Some("low"));
    assert_eq!(tier("2026-06-20").as_deref(), Some("complex"));
    assert_eq!(tier("2026-07-01").as_deref(), Some("low"));
    // The stratum keeps its computed tier beside the override's.
    let s = Method::default()
        .score(&RiskFacts::default())
        .with_override(overrides::in_force(&all, &m, d("2026-06-20")));
    assert_eq!(
        (s.tier.as_str(), s.computed(&m).code.as_str()),
        ("complex", "low")
    );
}

#[test]
fn an_override_missing_what_it_needs_is_read_as_an_error_naming_the_element() {
    let m = Method::default();
    let good = tier_override("a", "high", "2026-01-01", "2026-02-01", "final");
    assert!(overrides::read(&good, &m).is_ok());
    for (path, element) in [
        ("/performer", "performer"),
        ("/reasonCode", "reasonCode"),
        ("/prediction/0/whenPeriod/end", "whenPeriod.end"),
    ] {
        let mut v = good.clone();
        let (parent, key) = path.rsplit_once('/').unwrap();
        v.pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        let e = overrides::read(&v, &m).unwrap_err();
        assert!(e.contains(element), "{e}");
    }
    let e = overrides::read(
        &tier_override("a", "urgent", "2026-01-01", "2026-02-01", "final"),
        &m,
    )
    .unwrap_err();
    assert!(
        e.contains("'urgent' is not one of the method's tiers"),
        "{e}"
    );
    let backwards = tier_override("a", "high", "2026-03-01", "2026-02-01", "final");
    assert!(overrides::read(&backwards, &m).is_err());
}

#[test]
fn of_several_results_on_the_latest_day_the_highest_counts_whatever_their_order() {
    for order in [[8.0, 16.0], [16.0, 8.0]] {
        let record = Record::new(vec![
            json!({"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01"}),
            result("a", "gad-7", "2026-05-01", order[0]),
            result("b", "gad-7", "2026-05-01", order[1]),
            result("earlier", "gad-7", "2026-04-01", 20.0),
        ])
        .unwrap();
        let f = RiskFacts::of(&record, d("2026-09-30"), &Method::default());
        assert_eq!(f.gad7.map(|(t, _)| t), Some(16.0), "{order:?}");
    }
}
