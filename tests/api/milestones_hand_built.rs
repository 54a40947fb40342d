//! Milestones on hand-built practices over HTTP. Maine's Health Homes
//! program: its readmission milestones from a practice's hospital stays —
//! all causes (HH.READMIT) and after mental-health stays (HH.READMIT-MH) —
//! lower is better, met when tracked; a period with no stays to count is
//! not. Colorado's BB5.Y2.1–Y2.3: the active patients with the practice's
//! chosen preference-sensitive condition, and of them those whose care plan
//! records a decision aid; not computable until the practice names one.

use serde_json::{Value, json};
use tandem::measure::milestone::program::{Enrolment, Program, Reporting, StandingRule, Track};

use crate::common::{self, TestApp, part};
use crate::milestones::milestone;

const PRACTICE: &str = "practice-m";

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

/// A program on `catalog` with project years from `years`, and the
/// practice's enrolment in it.
fn program(catalog: &str, years: &[&str], blocks: Vec<u8>) -> (Program, Enrolment) {
    let program = Program {
        id: catalog.into(),
        name: format!("{catalog} (test)"),
        catalog: catalog.into(),
        years: years.iter().map(|y| d(y)).collect(),
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
            id: "track".into(),
            cqm_counts: [("adult".to_string(), vec![1])].into_iter().collect(),
            cqms: Default::default(),
            standing: (1..=years.len() as u8)
                .map(|year| StandingRule {
                    year,
                    blocks: blocks.clone(),
                    any_others: 0,
                })
                .collect(),
        }],
        submission: None,
    };
    let enrolment = Enrolment {
        practice: PRACTICE.into(),
        program: catalog.into(),
        track: "track".into(),
        cohort: "adult".into(),
        start: d("2026-01-01"),
        facilitator: None,
        preference_sensitive: Vec::new(),
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
    status(app, id, &format!("period={period}")).await
}

/// (status, numerator, denominator) of a milestone for `query`.
async fn status(app: &TestApp, id: &str, query: &str) -> (String, u64, u64) {
    let (s, r) = app
        .get_json(&format!("Organization/{PRACTICE}/$milestones?{query}"))
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
        let (p, e) = program("maine-health-homes", &["2026-01-01"], vec![1, 2, 3, 4]);
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

#[tokio::test]
async fn decision_aids_count_the_chosen_conditions_patients_with_a_tool_in_their_plan() {
    let visit = |pid: &str| {
        common::encounter(
            pid,
            "AMB",
            "2026-03-02T09:00:00Z",
            Some("2026-03-02T09:30:00Z"),
        )
    };
    let condition = |pid: &str, code: &str| {
        json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
        "subject": {"reference": format!("Patient/{pid}")}})
    };
    let plan = |pid: &str, tool: &str| {
        json!({"resourceType": "CarePlan", "status": "active", "intent": "plan",
        "subject": {"reference": format!("Patient/{pid}")},
        "activity": [{"detail": {"status": "in-progress",
            "code": {"coding": [{"system": "http://tandem.health/fhir/CodeSystem/care-management", "code": tool}]}}}]})
    };
    // 2026 is the program's second project year: the BB5.Y2 milestones.
    for chosen in [vec![], vec!["M17".to_string()]] {
        let app = common::spawn_app_with(|c| {
            c.default_tenant = PRACTICE.into();
            let (p, mut e) = program(
                "colorado-sim",
                &["2025-01-01", "2026-01-01"],
                vec![1, 2, 3, 4, 7],
            );
            e.preference_sensitive = chosen.clone();
            c.programs = vec![p];
            c.enrolments = vec![e];
        })
        .await;
        let mut ids = Vec::new();
        for _ in 0..4 {
            let p = app
                .create(&json!({"resourceType": "Patient", "birthDate": "1955-01-01"}))
                .await;
            ids.push(p["id"].as_str().unwrap().to_string());
        }
        // Knee osteoarthritis: 0 (with a decision aid), 1 (a plan without
        // a tool); 2 has hip osteoarthritis; 3 has knee OA but no visit.
        for (i, code) in [(0, "M17.11"), (1, "M17.0"), (2, "M16.0"), (3, "M17.9")] {
            app.create(&condition(&ids[i], code)).await;
        }
        for id in &ids[..3] {
            app.create(&visit(id)).await;
        }
        app.create(&plan(&ids[0], "decision-aid")).await;
        app.create(&plan(&ids[1], "outreach")).await;
        for id in ["BB5.Y2.1", "BB5.Y2.2", "BB5.Y2.3"] {
            let got = status(&app, id, "projectYear=2").await;
            if chosen.is_empty() {
                assert_eq!(got.0, "not-computable", "{id}");
            } else {
                assert_eq!(got, ("met".to_string(), 1, 2), "{id}");
            }
        }
        app.stop().await;
    }
}
