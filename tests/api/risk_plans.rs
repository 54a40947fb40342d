//! High-risk care plans, outreach and the high-risk BH registry on a
//! generated practice, its server's clock on the generator's day: after the
//! risk pass every empaneled high-risk patient the generator expects has
//! an active plan with physical goals for what it has, a care team and an
//! outreach Task (BB6.Y2.2 met, all of them); the BH registry is the
//! generator's, reason for reason (BB10.Y2.2 counts completed outreach); a
//! plan the care team revoked stays revoked; a BH admission puts a patient
//! on the registry. Overseers get counts; payers and partners nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::attribution_generated::generated_practice_at;
use crate::common::{ManualClock, TestApp, param, part};
use crate::milestones::milestone;
use crate::risk::with_notifications;

const YEAR: &str = "periodStart=2026-01-01&periodEnd=2026-12-31";

async fn stratify(app: &TestApp) {
    app.stratify("practice-0", "").await;
}

/// A milestone's (numerator, denominator) for 2026.
async fn ratio(app: &TestApp, id: &str) -> (u64, u64) {
    let (s, r) = app
        .get_json(&format!("Organization/practice-0/$milestones?{YEAR}"))
        .await;
    assert_eq!(s, 200, "{r}");
    let m = milestone(&r, id);
    let int = |n: &str| part(m, n)["valueInteger"].as_u64().unwrap_or(0);
    (int("numerator"), int("denominator"))
}

fn members(registry: &Value) -> BTreeMap<String, Value> {
    registry["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "member")
        .map(|m| {
            let p = part(m, "patient")["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string();
            (p, m.clone())
        })
        .collect()
}

fn values(m: &Value, name: &str) -> BTreeSet<String> {
    m["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["valueCode"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn high_risk_patients_get_plans_and_the_bh_registry_is_the_generators() {
    let clock = ManualClock::at(chrono::Utc::now().timestamp_millis());
    // 2026, the generator's year, as the program's second project year:
    // the year of the BB6.Y2 and BB10.Y2 milestones.
    let (app, _dir, root) = generated_practice_at(clock.clone(), |c| {
        let d = |s: &str| s.parse().unwrap();
        c.programs[0].years = vec![d("2025-01-01"), d("2026-01-01")];
    })
    .await;
    let answers = with_notifications(&app, &root).await;
    let on = answers[0]["risk"]["asOf"].as_str().unwrap();
    let noon = format!("{on}T12:00:00Z");
    clock.set(
        chrono::DateTime::parse_from_rfc3339(&noon)
            .unwrap()
            .timestamp_millis(),
    );
    let empaneled = |a: &&Value| {
        a["milestones"]["2026"]["active"] == true && a["milestones"]["2026"]["empaneled"] == true
    };
    let patient = |a: &Value| format!("Patient/{}", a["patient"].as_str().unwrap());
    let high: BTreeSet<String> = answers
        .iter()
        .filter(empaneled)
        .filter(|a| a["risk"]["high"] == true)
        .map(patient)
        .collect();
    let bh: BTreeMap<String, BTreeSet<String>> = answers
        .iter()
        .filter(|a| !a["risk"]["bh"].as_array().unwrap().is_empty())
        .map(|a| {
            let why = a["risk"]["bh"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (patient(a), why)
        })
        .collect();
    assert!(
        high.len() >= 5 && bh.len() >= 5,
        "{} {}",
        high.len(),
        bh.len()
    );

    // Before the first pass nothing is kept: no high-risk patient known.
    assert_eq!(ratio(&app, "BB6.Y2.2").await, (0, 0));
    stratify(&app).await;
    let n = high.len() as u64;
    assert_eq!(ratio(&app, "BB6.Y2.2").await, (n, n));

    // BB6.Y2.3: the year's gap episodes the pass opened, none closed yet.
    let (_, gaps) = app
        .get_json(&format!(
            "Organization/practice-0/$care-gap-registry?{YEAR}"
        ))
        .await;
    let open = param(&gaps, "open")["valueInteger"].as_u64().unwrap();
    assert!(open > 0, "{gaps}");
    assert_eq!(ratio(&app, "BB6.Y2.3").await, (0, open));

    // The BH registry is the generator's, reason for reason; no outreach yet.
    let (s, registry) = app.get_json("Organization/practice-0/$bh-registry").await;
    assert_eq!(s, 200, "{registry}");
    let got = members(&registry);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        bh.keys().cloned().collect::<BTreeSet<_>>()
    );
    for (p, why) in &bh {
        assert_eq!(&values(&got[p], "reason"), why, "{p}");
        assert_eq!(part(&got[p], "outreachStatus")["valueCode"], "requested");
    }
    let bh_empaneled = answers
        .iter()
        .filter(empaneled)
        .filter(|a| bh.contains_key(&patient(a)))
        .count() as u64;
    assert_eq!(ratio(&app, "BB10.Y2.2").await, (0, bh_empaneled));

    // One plan, looked at closely: a high-risk patient with diabetes.
    let (_, tiers) = app.get_json("Organization/practice-0/$risk-registry").await;
    let diabetic = tiers["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "tier" && part(t, "high")["valueBoolean"] == true)
        .flat_map(|t| t["part"].as_array().unwrap().iter())
        .filter(|m| m["name"] == "member" && m.to_string().contains("\"diabetes\""))
        .map(|m| {
            part(m, "patient")["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .find(|p| high.contains(p))
        .expect("an empaneled high-risk patient with diabetes");
    let plans = app
        .search_resources(&format!("CarePlan?subject={diabetic}&status=active"))
        .await;
    let plan = plans
        .iter()
        .find(|p| p["title"] == "High-risk care plan")
        .expect("the high-risk plan");
    assert!(!plan["careTeam"].as_array().unwrap().is_empty(), "{plan}");
    let goals: Vec<Value> = futures::future::join_all(
        plan["goal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| async { app.get_json(g["reference"].as_str().unwrap()).await.1 }),
    )
    .await;
    let hba1c = goals
        .iter()
        .find(|g| g["target"][0]["measure"]["coding"][0]["code"] == "4548-4")
        .expect("an HbA1c goal");
    assert_eq!(hba1c["target"][0]["detailQuantity"]["value"], 8.0);
    assert_eq!(hba1c["target"][0]["detailQuantity"]["comparator"], "<");
    let task_ref = plan["activity"][0]["reference"]["reference"]
        .as_str()
        .unwrap();
    let task = app.get_json(task_ref).await.1;
    assert_eq!(
        (task["status"].as_str(), task["for"]["reference"].as_str()),
        (Some("requested"), Some(diabetic.as_str()))
    );

    // Outreach done for one registry patient counts for BB10.Y2.2.
    let (first, m) = got
        .iter()
        .find(|(p, _)| answers.iter().filter(empaneled).any(|a| &patient(a) == *p))
        .unwrap();
    let tid = part(m, "outreach")["valueReference"]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let mut t = app.get_json(&tid).await.1;
    t["status"] = json!("completed");
    assert_eq!(app.put(&tid, &t).await.status(), 200);
    assert_eq!(ratio(&app, "BB10.Y2.2").await, (1, bh_empaneled));
    let (_, registry) = app.get_json("Organization/practice-0/$bh-registry").await;
    assert_eq!(
        part(&members(&registry)[first], "outreachStatus")["valueCode"],
        "completed"
    );
    assert_eq!(param(&registry, "outreachCompleted")["valueInteger"], 1);

    // A plan the care team revoked stays revoked through the next pass.
    let mut revoked = plan.clone();
    revoked["status"] = json!("revoked");
    let pid = format!("CarePlan/{}", plan["id"].as_str().unwrap());
    assert_eq!(app.put(&pid, &revoked).await.status(), 200);
    stratify(&app).await;
    assert_eq!(app.get_json(&pid).await.1["status"], "revoked");
    assert_eq!(ratio(&app, "BB6.Y2.2").await, (n - 1, n));

    // Overseers: counts only. Payers and partners: nothing.
    for b in app
        .overseers_see_numbers_only("Organization/practice-0/$bh-registry")
        .await
    {
        assert_eq!(param(&b, "count")["valueInteger"], bh.len());
    }
    app.guests_refused("Organization/practice-0/$bh-registry", "practice-0")
        .await;
    app.stop().await;
}
