//! Generated behavioral-health referrals, answered by the partner at the
//! delays the generator drew, against the answers file: which patients are
//! referred, and the building block 7 and 8 numbers of `$referrals`.
//!
//! The server runs on a clock the test moves: the population is loaded at
//! the compact's `referredAt`, each partner step happens at its scripted
//! hour, and the numbers are asked for at `reportAt`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use common::population::{load_practice, ndjson, options};
use common::process::fetch_json;
use common::referral::partner_client;
use common::{ManualClock, part, spawn_app_at};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tandem::generate::run;
use tandem::rules::referral::compact::Partner;

const BSER: &str = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS";
const BH: [&str; 7] = [
    "phq-2", "phq-9", "gad-7", "epds", "audit-c", "audit", "dast-10",
];

fn ms(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

/// A partner step, in the order steps of the same hour happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Accept,
    Schedule,
    Visit,
    Summary,
    Complete,
}

/// Every scripted step: (hours after the referral, patient, step).
fn steps(responses: &[Value]) -> Vec<(u64, String, Step)> {
    let mut out = Vec::new();
    for r in responses {
        let pid = r["patient"].as_str().unwrap().to_string();
        for (key, step) in [
            ("acceptedAfterHours", Step::Accept),
            ("scheduledAfterHours", Step::Schedule),
            ("firstVisitAfterHours", Step::Visit),
            ("summaryAfterHours", Step::Summary),
            ("completedAfterHours", Step::Complete),
        ] {
            if let Some(h) = r[key].as_u64() {
                out.push((h, pid.clone(), step));
            }
        }
    }
    out.sort();
    out
}

/// The partner's move on `task` (a Task update, or a visit summary posted).
async fn act(app: &common::TestApp, partner: &Client, task: &str, pid: &str, step: Step) {
    let url = app.url(&format!("Task/{task}"));
    if step == Step::Summary {
        let doc = json!({"resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "subject": {"reference": format!("Patient/{pid}")},
            "content": [{"attachment": {"contentType": "text/plain", "data": "VmlzaXQgc3VtbWFyeQ=="}}]});
        let r = partner
            .post(app.url("DocumentReference"))
            .header("content-type", "application/fhir+json")
            .body(doc.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        return;
    }
    let mut t = fetch_json(partner, &url).await;
    let (status, business) = match step {
        Step::Accept => ("accepted", "3.0"),
        Step::Schedule => ("in-progress", "5.1.1"),
        Step::Visit => ("in-progress", "5.1.4"),
        _ => ("completed", "7.0"),
    };
    t["status"] = json!(status);
    t["businessStatus"] = json!({"coding": [{"system": BSER, "code": business}]});
    let r = partner
        .put(&url)
        .header("content-type", "application/fhir+json")
        .body(t.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{step:?} {task}");
}

/// The patients of `name`'s numerator or denominator in a `$referrals` answer.
fn patients(report: &Value, name: &str, which: &str) -> BTreeSet<String> {
    let p = report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    p["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == which)
        .map(|x| {
            x["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Patients (`Patient/id`) whose answers line satisfies `pred`.
fn expected(answers: &[Value], pred: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    answers
        .iter()
        .filter(|a| pred(a))
        .map(|a| format!("Patient/{}", a["patient"].as_str().unwrap()))
        .collect()
}

fn same(what: &str, got: &BTreeSet<String>, want: &BTreeSet<String>) {
    assert!(
        !want.is_empty(),
        "{what}: nothing expected, the test would prove nothing"
    );
    assert_eq!(
        got.symmetric_difference(want).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "{what}: Tandem {} patients, answers {}",
        got.len(),
        want.len()
    );
    println!("{what}: {} patients", got.len());
}

#[tokio::test]
async fn generated_referrals_answered_at_their_delays_give_the_expected_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 300, 1, 77), |_| {}).unwrap();
    let compact: Value =
        serde_json::from_slice(&std::fs::read(root.join("partner/compact.json")).unwrap()).unwrap();
    let mut partner: Partner = serde_json::from_value(compact["partner"].clone()).unwrap();
    partner.tenants = vec!["default".into()];
    let partner_id = partner.id.clone();
    let referred_at = ms(compact["referredAt"].as_str().unwrap());
    let clock = ManualClock::at(referred_at);
    let app = spawn_app_at(clock.clone(), move |c| c.partners = vec![partner]).await;
    load_practice(&app, &root).await;
    let answers = ndjson(&root, "answers.ndjson");

    // One referral Task for each patient the compact takes, and no other.
    let tasks = app
        .search_resources("Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill&_count=1000")
        .await;
    let task_of: BTreeMap<String, String> = tasks
        .iter()
        .map(|t| {
            let pid = t["for"]["reference"].as_str().unwrap();
            (
                pid.trim_start_matches("Patient/").to_string(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(task_of.len(), tasks.len(), "one referral per patient");
    let referred: BTreeSet<String> = task_of.keys().map(|p| format!("Patient/{p}")).collect();
    same(
        "referred",
        &referred,
        &expected(&answers, |a| !a["referral"].is_null()),
    );

    // The partner works through its script, the clock following it.
    let partner = partner_client(&app, "cmhc-at-practice", &partner_id).await;
    let script = steps(&ndjson(&root, "partner/responses.ndjson"));
    for (hours, pid, step) in &script {
        clock.set(referred_at + *hours as i64 * 3_600_000);
        act(&app, &partner, &task_of[pid], pid, *step).await;
    }
    clock.set(ms(compact["reportAt"].as_str().unwrap()));

    let (status, report) = app
        .get_json("Organization/default/$referrals?periodStart=2026-01-01&periodEnd=2026-12-31")
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let bh_positive_2026 = |a: &Value| {
        a["screenings"].as_array().unwrap().iter().any(|s| {
            s["positive"] == true
                && s["day"].as_str().unwrap().starts_with("2026")
                && BH.contains(&s["instrument"].as_str().unwrap())
        })
    };
    let r = |a: &Value, k: &str| a["referral"][k] == true;
    let connected = "positive-screens-connected";
    same(
        "BB7 positive screens",
        &patients(&report, connected, "denominatorPatient"),
        &expected(&answers, bh_positive_2026),
    );
    same(
        "BB7 connected",
        &patients(&report, connected, "numeratorPatient"),
        &expected(&answers, |a| r(a, "connected")),
    );
    let two_way = "two-way-exchange-within-7-days";
    same(
        "BB8 accepted referrals",
        &patients(&report, two_way, "denominatorPatient"),
        &expected(&answers, |a| r(a, "accepted")),
    );
    same(
        "BB8 two-way within 7 days",
        &patients(&report, two_way, "numeratorPatient"),
        &expected(&answers, |a| r(a, "twoWayWithin7Days")),
    );
    // Open past the agreed 14 days, at reportAt: never answered, or no visit.
    let late = report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "open-past-agreed-days")
        .unwrap();
    let got: BTreeSet<String> = late["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == "patient")
        .map(|x| {
            x["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    same(
        "open past the agreed days",
        &got,
        &expected(&answers, |a| r(a, "openPastAgreedDays")),
    );
    assert_eq!(part(late, "count")["valueInteger"], got.len());
    // Median days from referral to first visit.
    let mut days: Vec<f64> = answers
        .iter()
        .filter_map(|a| a["referral"]["daysToFirstVisit"].as_f64())
        .collect();
    days.sort_by(f64::total_cmp);
    let m = days.len() / 2;
    let median = if days.len().is_multiple_of(2) {
        (days[m - 1] + days[m]) / 2.0
    } else {
        days[m]
    };
    let got = report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "median-days-to-first-visit")
        .unwrap()["valueDecimal"]
        .as_f64()
        .unwrap();
    assert!(
        (got - (median * 10.0).round() / 10.0).abs() < 1e-9,
        "median days to first visit: Tandem {got}, answers {median}"
    );
    app.stop().await;
}
