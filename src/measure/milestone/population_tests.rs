//! The patient-level milestone facts against the definitions in
//! docs/milestones.md, on hand-built records at each boundary.

use super::continuity::Staff;

use chrono::NaiveDate;
use serde_json::json;

use super::population::{AgeBand, Tally, Window, facts};
use crate::measure::record::Record;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn record(birth: &str, resources: Vec<serde_json::Value>) -> Record {
    let mut all = vec![
        json!({"resourceType": "Patient", "id": "p", "birthDate": birth,
        "generalPractitioner": [{"reference": "Practitioner/elsewhere"}]}),
    ];
    all.extend(resources);
    Record::new(all).unwrap()
}

fn visit(day: &str, class: &str, status: &str) -> serde_json::Value {
    json!({"resourceType": "Encounter", "status": status, "class": {"code": class},
           "period": {"start": format!("{day}T09:00:00-07:00")}})
}

fn screen(day: &str, instrument: &str, domain: &str, completion: &str) -> serde_json::Value {
    let cs = "http://tandem.health/fhir/CodeSystem/screening-result";
    json!({"resourceType": "Observation", "status": "final",
        "meta": {"tag": [{"system": "http://tandem.health/fhir/CodeSystem/instrument", "code": instrument}]},
        "effectiveDateTime": format!("{day}T09:10:00-07:00"),
        "component": [
            {"code": {"coding": [{"system": cs, "code": "domain"}]}, "valueCodeableConcept": {"coding": [{"system": cs, "code": domain}]}},
            {"code": {"coding": [{"system": cs, "code": "completion"}]}, "valueCodeableConcept": {"coding": [{"system": cs, "code": completion}]}}]})
}

#[test]
fn patient_facts_follow_the_definitions() {
    let w = Window::new(d("2026-07-01"), d("2026-09-30"), 24);
    assert_eq!(w.active_from, d("2024-10-01"));
    let staff: Staff = ["Practitioner/dr1".to_string()].into_iter().collect();
    // A visit on the first day of the look-back makes a patient active; a
    // day earlier, an emergency visit or a cancelled one does not.
    let f = facts(
        &record("1980-01-01", vec![visit("2024-10-01", "AMB", "finished")]),
        &w,
        &staff,
    );
    assert!(f.active && f.seen.is_empty());
    for v in [
        visit("2024-09-30", "AMB", "finished"),
        visit("2026-08-01", "EMER", "finished"),
        visit("2026-08-01", "AMB", "cancelled"),
    ] {
        assert!(!facts(&record("1980-01-01", vec![v]), &w, &staff).active);
    }
    // A PCP from another practice does not empanel; an active CareTeam with
    // the practice's clinician as PCP does, an inactive one does not.
    assert!(!f.empaneled);
    let team = |status: &str| {
        json!({"resourceType": "CareTeam", "status": status, "participant": [
        {"role": [{"coding": [{"system": "http://snomed.info/sct", "code": "446050000"}]}],
         "member": {"reference": "Practitioner/dr1"}}]})
    };
    assert!(facts(&record("1980-01-01", vec![team("active")]), &w, &staff).empaneled);
    assert!(!facts(&record("1980-01-01", vec![team("inactive")]), &w, &staff).empaneled);
    // Age bands at the visit: 12 on the visit day counts as 12.
    let teen = facts(
        &record("2014-08-01", vec![visit("2026-08-01", "VR", "finished")]),
        &w,
        &staff,
    );
    assert_eq!(teen.seen, [AgeBand::TwelvePlus].into());
    let eleven = facts(
        &record("2014-08-02", vec![visit("2026-08-01", "AMB", "finished")]),
        &w,
        &staff,
    );
    assert!(eleven.seen.is_empty());
    let infant = facts(
        &record("2026-02-02", vec![visit("2026-08-01", "AMB", "finished")]),
        &w,
        &staff,
    );
    assert_eq!(infant.seen, [AgeBand::Infant, AgeBand::UnderThree].into());
    let six_months = facts(
        &record("2026-02-01", vec![visit("2026-08-01", "AMB", "finished")]),
        &w,
        &staff,
    );
    assert_eq!(six_months.seen, [AgeBand::UnderThree].into());
    // Only completed BH results in the period count as screened.
    let screens = vec![
        visit("2026-08-01", "AMB", "finished"),
        screen("2026-08-01", "phq-9", "depression", "incomplete"),
        screen("2026-06-30", "gad-7", "anxiety", "complete"),
        screen("2026-08-01", "steadi", "falls", "complete"),
    ];
    assert!(
        facts(&record("1980-01-01", screens.clone()), &w, &staff)
            .screened
            .is_empty()
    );
    let mut more = screens;
    more.push(screen("2026-09-30", "audit-c", "alcohol", "complete"));
    let f = facts(&record("1980-01-01", more), &w, &staff);
    assert_eq!(
        f.screened,
        [("audit-c".to_string(), "alcohol".to_string())].into()
    );
}

#[test]
fn the_screening_denominator_follows_the_instruments_in_use() {
    let w = Window::new(d("2026-07-01"), d("2026-09-30"), 24);
    let staff = Staff::default();
    let mut t = Tally::default();
    // An adult screened with the PHQ-9, an adult not screened, a toddler.
    t.add(facts(
        &record(
            "1980-01-01",
            vec![
                visit("2026-08-01", "AMB", "finished"),
                screen("2026-08-01", "phq-9", "depression", "complete"),
            ],
        ),
        &w,
        &staff,
    ));
    let mut adult = facts(
        &record("1981-01-01", vec![visit("2026-08-02", "AMB", "finished")]),
        &w,
        &staff,
    );
    adult.patient = "Patient/q".into();
    t.add(adult);
    let mut toddler = facts(
        &record("2025-01-01", vec![visit("2026-08-03", "AMB", "finished")]),
        &w,
        &staff,
    );
    toddler.patient = "Patient/t".into();
    t.add(toddler.clone());
    // No developmental instrument in use: the toddler is not in the denominator.
    let (den, num) = t.screening();
    assert_eq!(den, ["Patient/p", "Patient/q"]);
    assert_eq!(num, ["Patient/p"]);
    // Once one is, every toddler seen is.
    let mut dev = facts(
        &record(
            "2025-02-01",
            vec![
                visit("2026-08-04", "AMB", "finished"),
                screen("2026-08-04", "developmental", "development", "complete"),
            ],
        ),
        &w,
        &staff,
    );
    dev.patient = "Patient/u".into();
    t.add(dev);
    let (den, num) = t.screening();
    assert_eq!(den, ["Patient/p", "Patient/q", "Patient/t", "Patient/u"]);
    assert_eq!(num, ["Patient/p", "Patient/u"]);
    assert_eq!(t.instruments.len(), 2);
}

#[test]
fn a_positive_bh_screen_needs_a_bh_plan_with_a_patient_action() {
    let w = Window::new(d("2026-07-01"), d("2026-09-30"), 24);
    let staff = Staff::default();
    let mut positive = screen("2026-08-01", "phq-9", "depression", "complete");
    positive["interpretation"] = json!([{"coding": [{"code": "POS"}]}]);
    let plan = |category: &str, performer: &str, start: &str| {
        json!({"resourceType": "CarePlan", "status": "active",
            "category": [{"coding": [{"code": category}]}], "period": {"start": start},
            "activity": [{"detail": {"performer": [{"reference": performer}]}}]})
    };
    let f = facts(&record("1980-01-01", vec![positive.clone()]), &w, &staff);
    assert!(f.positive && !f.planned);
    let f = facts(
        &record(
            "1980-01-01",
            vec![
                positive.clone(),
                plan("behavioral-health", "Patient/p", "2026-08-01"),
            ],
        ),
        &w,
        &staff,
    );
    assert!(f.positive && f.planned);
    // Not a BH plan, not the patient's own action, or started after the period.
    for p in [
        plan("assess-plan", "Patient/p", "2026-08-01"),
        plan("behavioral-health", "Practitioner/dr1", "2026-08-01"),
        plan("behavioral-health", "Patient/p", "2026-10-01"),
    ] {
        assert!(!facts(&record("1980-01-01", vec![positive.clone(), p]), &w, &staff).planned);
    }
    // A negative or a falls screen is no BH need.
    let mut falls = screen("2026-08-01", "steadi", "falls", "complete");
    falls["interpretation"] = json!([{"coding": [{"code": "POS"}]}]);
    assert!(!facts(&record("1980-01-01", vec![falls]), &w, &staff).positive);
    let mut t = Tally::default();
    t.add(facts(
        &record(
            "1980-01-01",
            vec![
                positive,
                plan("behavioral-health", "Patient/p", "2026-08-01"),
            ],
        ),
        &w,
        &staff,
    ));
    assert_eq!((t.positive.len(), t.planned.len()), (1, 1));
}

#[test]
fn an_elevated_score_is_tracked_by_a_repeat_four_weeks_later() {
    let w = Window::new(d("2026-07-01"), d("2026-09-30"), 24);
    let staff = Staff::default();
    let phq9 = |day: &str, total: f64| {
        let mut o = screen(day, "phq-9", "depression", "complete");
        o["valueQuantity"] = json!({"value": total});
        o
    };
    let run = |obs: Vec<serde_json::Value>| {
        let f = facts(&record("1980-01-01", obs), &w, &staff);
        (f.elevated, f.followed)
    };
    // Elevated within the 12 months ending 2026-09-30, repeated 28 days on.
    assert_eq!(
        run(vec![phq9("2025-10-01", 12.0), phq9("2025-10-29", 6.0)]),
        (true, true)
    );
    assert_eq!(
        run(vec![phq9("2025-10-01", 12.0), phq9("2025-10-28", 6.0)]),
        (true, false)
    );
    // Before the 12 months, or below 10: not in the denominator.
    assert_eq!(
        run(vec![phq9("2025-09-30", 12.0), phq9("2026-01-01", 6.0)]),
        (false, false)
    );
    assert_eq!(
        run(vec![phq9("2026-01-01", 9.0), phq9("2026-03-01", 6.0)]),
        (false, false)
    );
    // A repeat after the period's end does not count yet.
    assert_eq!(
        run(vec![phq9("2026-09-01", 15.0), phq9("2026-10-01", 5.0)]),
        (true, false)
    );
}

#[test]
fn the_pass_skips_only_observations_the_facts_never_read() {
    use super::population::reads;
    let w = Window::new(d("2026-01-01"), d("2026-12-31"), 24);
    let vital = json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "effectiveDateTime": "2026-03-02", "valueQuantity": {"value": 120}});
    let all = vec![
        visit("2026-03-02", "AMB", "finished"),
        screen("2026-03-02", "phq-9", "depression", "complete"),
        screen("2026-04-02", "audit-c", "alcohol", "partial"),
        vital.clone(),
    ];
    assert!(!reads("Observation", &vital.to_string()));
    for r in &all[1..3] {
        assert!(reads("Observation", &r.to_string()), "{r}");
    }
    assert!(reads("Observation", "{\"meta\": 3}"), "unreadable: kept");
    assert!(reads("Encounter", &all[0].to_string()));
    // The facts of the kept resources are the facts of all of them.
    let kept: Vec<_> = all
        .iter()
        .filter(|r| reads(r["resourceType"].as_str().unwrap(), &r.to_string()))
        .cloned()
        .collect();
    assert_eq!(kept.len(), 3);
    let staff = Staff::default();
    assert_eq!(
        format!("{:?}", facts(&record("1980-01-01", kept), &w, &staff)),
        format!("{:?}", facts(&record("1980-01-01", all), &w, &staff))
    );
}
