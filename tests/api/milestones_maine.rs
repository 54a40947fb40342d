//! Maine's Health Homes program over HTTP: its readmission milestones from
//! a practice's hospital stays — all causes (HH.READMIT) and after
//! mental-health stays (HH.READMIT-MH) — lower is better, met when tracked;
//! a period with no stays to count is not.

use serde_json::{Value, json};
use tandem::measure::milestone::program::{Enrolment, Program, Reporting, StandingRule, Track};

use crate::common::{self, TestApp, part};
use crate::milestones::milestone;

const PRACTICE: &str = "practice-m";

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn maine() -> (Program, Enrolment) {
    let program = Program {
        id: "maine-hh".into(),
        name: "Maine Health Homes learning collaborative".into(),
        catalog: "maine-health-homes".into(),
        years: vec![d("2026-01-01")],
        reporting: Reporting {
            due_dates: vec![
                d("2026-04-29"),
                d("2026-07-29"),
                d("2026-09-30"),
                d("2027-01-29"),
            ],
            ..Reporting::default()
        },
        tracks: vec![Track {
            id: "health-home".into(),
            cqm_counts: [("adult".to_string(), vec![1])].into_iter().collect(),
            cqms: Default::default(),
            standing: vec![StandingRule {
                year: 1,
                blocks: vec![1, 2, 3, 4],
                any_others: 0,
            }],
        }],
        submission: None,
    };
    let enrolment = Enrolment {
        practice: PRACTICE.into(),
        program: "maine-hh".into(),
        track: "health-home".into(),
        cohort: "adult".into(),
        start: d("2026-01-01"),
        facilitator: None,
    };
    (program, enrolment)
}

async fn stay(app: &TestApp, pid: &str, from: &str, to: &str, reason: Option<&str>) {
    let mut e = json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": format!("Patient/{pid}")},
        "period": {"start": format!("{from}T10:00:00Z"), "end": format!("{to}T10:00:00Z")}});
    if let Some(code) = reason {
        e["reasonCode"] =
            json!([{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}]);
    }
    app.create(&e).await;
}

/// (status, numerator, denominator) of a milestone in a period.
async fn readmit(app: &TestApp, id: &str, period: &str) -> (String, u64, u64) {
    let (s, r) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$milestones?period={period}"
        ))
        .await;
    assert_eq!(s, 200, "{r}");
    let m: &Value = milestone(&r, id);
    let int = |n: &str| part(m, n)["valueInteger"].as_u64().unwrap_or(0);
    (
        part(m, "status")["valueCode"].as_str().unwrap().to_string(),
        int("numerator"),
        int("denominator"),
    )
}

#[tokio::test]
async fn readmissions_are_counted_overall_and_after_mental_health_stays() {
    let app = common::spawn_app_with(|c| {
        c.default_tenant = PRACTICE.into();
        let (p, e) = maine();
        c.programs = vec![p];
        c.enrolments = vec![e];
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let p = app
            .create(&json!({"resourceType": "Patient", "birthDate": "1970-01-01"}))
            .await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    // Patient 1: a depression stay, back 20 days after it; then home.
    stay(&app, &ids[0], "2026-04-02", "2026-04-06", Some("F33.2")).await;
    stay(&app, &ids[0], "2026-04-26", "2026-04-30", None).await;
    // Patient 2: a stay, back 31 days later (not a readmission).
    stay(&app, &ids[1], "2026-05-01", "2026-05-03", None).await;
    stay(&app, &ids[1], "2026-06-03", "2026-06-05", None).await;

    // Four index stays in 2026Q2, one followed within 30 days.
    assert_eq!(
        readmit(&app, "HH.READMIT", "2026Q2").await,
        ("met".into(), 1, 4)
    );
    // After mental-health stays: the one, readmitted.
    assert_eq!(
        readmit(&app, "HH.READMIT-MH", "2026Q2").await,
        ("met".into(), 1, 1)
    );
    // No stay discharged in 2026Q1: nothing tracked, not met.
    let (status, _, d) = readmit(&app, "HH.READMIT", "2026Q1").await;
    assert_eq!((status.as_str(), d), ("not-met", 0));
    app.stop().await;
}
