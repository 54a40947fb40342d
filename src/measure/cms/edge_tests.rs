//! Per-measure edges with the timestamps EHR feeds send: second precision
//! (`08:00:00Z`) against the millisecond values of the authors' data and of
//! the measurement period (`23:59:59.999`). CQL compares seconds and
//! milliseconds as one decimal, so `08:00:00` equals `08:00:00.000`; each
//! edge is tested on both sides, one second apart. Also the prevalence of a
//! condition that is neither active nor abated (CQL: a null interval), an
//! age taken at a DateTime on the birthday (uncertain), and CMS159's own
//! list of order intents — each found by the fqm-execution mutant run.

use serde_json::{Value, json};

use super::testkit::{CPT, ICD10, LOINC, SNOMED, eval, with};
use crate::measure::Populations;

fn cc(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

/// A finished encounter of one type over `[start, end]`.
fn visit(system: &str, code: &str, start: &str, end: &str) -> Value {
    json!({"resourceType": "Encounter", "status": "finished", "type": [cc(system, code)],
        "class": cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB"),
        "subject": {"reference": "Patient/p"}, "period": {"start": start, "end": end}})
}

fn sud(onset: &str) -> Value {
    super::testkit::condition(ICD10, "F10.10", onset)
}

/// CMS137-2025's first group for a 15-year-old.
fn cms137(resources: Vec<Value>) -> Populations {
    eval(
        "CMS137-2025",
        "2010-01-01",
        resources,
        "2025-01-01",
        "2025-12-31",
    )[0]
    .populations
}

#[test]
fn cms137_a_diagnosis_on_the_encounters_first_second_starts_during_it() {
    let office = |start: &str| visit(CPT, "99202", start, "2025-03-01T09:00:00.000Z");
    // The encounter in milliseconds, the diagnosis in seconds: equal.
    let on = cms137(vec![
        office("2025-03-01T08:00:00.000Z"),
        sud("2025-03-01T08:00:00Z"),
    ]);
    assert!(on.initial, "onset on the encounter's first second");
    let before = cms137(vec![
        office("2025-03-01T08:00:00.000Z"),
        sud("2025-03-01T07:59:59Z"),
    ]);
    assert!(!before.initial, "onset one second before the encounter");
    // An encounter on the period's first second is during the period; one
    // second earlier it is not.
    let first = cms137(vec![
        office("2025-01-01T00:00:00Z"),
        sud("2025-01-01T00:00:00Z"),
    ]);
    assert!(
        first.initial,
        "encounter starting at the period's first second"
    );
    let earlier = cms137(vec![
        office("2024-12-31T23:59:59Z"),
        sud("2024-12-31T23:59:59Z"),
    ]);
    assert!(
        !earlier.initial,
        "encounter starting one second before the period"
    );
}

/// CMS2's first group for a 17-year-old: an adolescent screening not done
/// for a medical reason, issued at `issued`, during a visit on `day` from
/// 08:00:00.000 to 08:15:00.000.
fn cms2_exception(id: &str, day: &str, issued: &str) -> bool {
    let year: i32 = day[..4].parse().unwrap();
    let visit = visit(
        SNOMED,
        "10197000",
        &format!("{day}T08:00:00.000+00:00"),
        &format!("{day}T08:15:00.000+00:00"),
    );
    let not_done = json!({"resourceType": "Observation", "status": "cancelled",
        "code": cc(LOINC, "73831-0"), "subject": {"reference": "Patient/p"}, "issued": issued,
        "extension": [{"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason",
            "valueCodeableConcept": cc(SNOMED, "183932001")}]});
    let born = format!("{}-01-01", year - 17);
    let (first, last) = (format!("{year}-01-01"), format!("{year}-12-31"));
    eval(id, &born, vec![visit, not_done], &first, &last)[0]
        .populations
        .denominator_exception
}

#[test]
fn cms2_a_screening_not_done_at_the_visits_first_second_is_an_exception() {
    // 2025: `issued during QualifyingEncounter.period`, no precision named.
    let at = |t: &str| cms2_exception("CMS2-2025", "2025-06-28", &format!("2025-06-28T{t}+00:00"));
    assert!(at("08:00:00"), "issued in seconds, equal to 08:00:00.000");
    assert!(at("08:00:00.000"), "as the authors send it");
    assert!(at("08:15:00"), "on the visit's last second");
    assert!(!at("07:59:59"), "one second before");
    assert!(!at("08:15:01"), "one second after");
    // 2026: `issued during day of QualifyingEncounter.period`: the day decides.
    let at = |t: &str| cms2_exception("CMS2-2026", "2026-06-28", t);
    assert!(at("2026-06-28T07:59:59+00:00"), "earlier the same day");
    assert!(at("2026-06-28T23:59:59+00:00"), "the day's last second");
    assert!(
        !at("2026-06-27T23:59:59+00:00"),
        "the day before's last second"
    );
    assert!(
        !at("2026-06-29T00:00:00+00:00"),
        "the next day's first second"
    );
}

/// CMS122-2025's first group (QI-Core 4.1.1: any Diabetes Condition; the
/// 2026 version reads encounter diagnoses only) for a 50-year-old with an office visit and a
/// diabetes problem with `clinical` status and an optional abatement.
fn cms122(clinical: &str, abatement: Option<&str>) -> Populations {
    let mut diabetes = super::testkit::condition(ICD10, "E11.9", "2024-06-01T08:00:00Z");
    diabetes["clinicalStatus"] = cc(
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        clinical,
    );
    if let Some(a) = abatement {
        diabetes = with(diabetes, "abatementDateTime", a);
    }
    let office = visit(CPT, "99213", "2025-03-02T09:00:00Z", "2025-03-02T09:30:00Z");
    eval(
        "CMS122-2025",
        "1975-01-01",
        vec![office, diabetes],
        "2025-01-01",
        "2025-12-31",
    )[0]
    .populations
}

#[test]
fn cms122_a_condition_neither_active_nor_abated_is_prevalent_in_no_period() {
    assert!(cms122("active", None).initial);
    assert!(cms122("recurrence", None).initial);
    // QICoreCommon prevalenceInterval(): not active, no abatement end — the
    // singleton query over a null source is null, so no overlap.
    for status in ["inactive", "remission", "resolved"] {
        assert!(!cms122(status, None).initial, "{status} without abatement");
        assert!(
            cms122(status, Some("2025-05-01T00:00:00Z")).initial,
            "{status}, abated inside the period"
        );
        assert!(
            !cms122(status, Some("2024-12-31T23:59:59Z")).initial,
            "{status}, abated before the period"
        );
    }
}

/// CMS159-2025's first group for a patient born on `born` with a PHQ-9 of
/// 10 at `assessed` (during a psychiatric evaluation, with major depression)
/// and a hospice order of `intent`, when given.
fn cms159(born: &str, assessed: &str, order_intent: Option<&str>) -> Populations {
    let day = &assessed[..10];
    let mut rs = vec![
        visit(
            CPT,
            "90791",
            &format!("{day}T14:30:00Z"),
            &format!("{day}T14:50:00Z"),
        ),
        with(
            super::testkit::observation(LOINC, "44261-6", assessed, None),
            "valueInteger",
            10,
        ),
        super::testkit::condition(ICD10, "F32.9", &format!("{day}T14:35:00Z")),
    ];
    if let Some(intent) = order_intent {
        rs.push(
            json!({"resourceType": "ServiceRequest", "status": "active", "intent": intent,
            "code": cc(SNOMED, "385763009"), "subject": {"reference": "Patient/p"},
            "authoredOn": "2025-01-04T08:00:00Z"}),
        );
    }
    eval("CMS159-2025", born, rs, "2025-01-01", "2025-12-31")[0].populations
}

#[test]
fn cms159_the_index_assessment_on_the_12th_birthday_and_hospice_order_intents() {
    // AgeInYearsAt(start of the assessment): a DateTime as-of, so on the
    // birthday itself the age is 11 or 12 — not >= 12.
    assert!(cms159("2012-06-24", "2024-06-25T14:35:00Z", None).initial);
    assert!(!cms159("2012-06-25", "2024-06-25T14:35:00Z", None).initial);
    assert!(!cms159("2012-06-26", "2024-06-25T14:35:00Z", None).initial);
    // The hospice order: the measure lists order and its sub-intents itself.
    for intent in [
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
    ] {
        let p = cms159("2010-01-01", "2024-02-25T14:35:00Z", Some(intent));
        assert!(p.denominator_exclusion, "{intent}");
    }
    for intent in ["plan", "proposal"] {
        let p = cms159("2010-01-01", "2024-02-25T14:35:00Z", Some(intent));
        assert!(p.initial && !p.denominator_exclusion, "{intent}");
    }
}
