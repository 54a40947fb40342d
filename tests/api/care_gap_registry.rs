//! The care-gap registry over HTTP, its server's clock moved by the test:
//! a pass opens an episode per screening due (a 46-year-old with no screen
//! is due for six); outreach recorded as a Communication about one; a
//! complete PHQ-9 closes the depression gap at the next pass — closed after
//! outreach — and the period's numbers say so. Payers and partners may not
//! read the registry; a bad period is refused.

use serde_json::{Value, json};

use crate::common::{self, ManualClock, TestApp, param, part};

const PRACTICE: &str = "practice-g";

fn at(day: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("{day}T12:00:00Z"))
        .unwrap()
        .timestamp_millis()
}

async fn pass(app: &TestApp) -> (u64, u64) {
    let b = app.stratify(PRACTICE, "").await;
    (
        param(&b, "gapsOpened")["valueInteger"].as_u64().unwrap(),
        param(&b, "gapsClosed")["valueInteger"].as_u64().unwrap(),
    )
}

async fn registry(app: &TestApp) -> Value {
    let (s, r) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$care-gap-registry?period=2026Q1"
        ))
        .await;
    assert_eq!(s, 200, "{r}");
    r
}

fn count(r: &Value, name: &str) -> u64 {
    param(r, name)["valueInteger"].as_u64().unwrap()
}

#[tokio::test]
async fn gaps_open_close_after_outreach_and_are_counted_per_period() {
    let clock = ManualClock::at(at("2026-03-01"));
    let app = common::spawn_app_at(clock.clone(), |c| c.default_tenant = PRACTICE.into()).await;
    let p = app
        .create(&json!({"resourceType": "Patient", "birthDate": "1980-06-01"}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();

    // Depression, tobacco, anxiety, alcohol, drug use and weight: due.
    assert_eq!(pass(&app).await, (6, 0));
    assert_eq!(pass(&app).await, (0, 0), "a second pass changes nothing");
    let r = registry(&app).await;
    assert_eq!(
        (count(&r, "open"), count(&r, "opened"), count(&r, "closed")),
        (6, 6, 0)
    );
    let episodes: Vec<&Value> = r["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "episode")
        .collect();
    let depression = episodes
        .iter()
        .find(|e| part(e, "key")["valueString"] == "screening:depression")
        .unwrap();
    assert_eq!(
        part(depression, "patient")["valueReference"]["reference"],
        format!("Patient/{pid}")
    );
    assert_eq!(part(depression, "opened")["valueDate"], "2026-03-01");
    let gap = part(depression, "gap")["valueReference"]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let issue = app.get_json(&gap).await.1;
    assert_eq!(issue["code"]["coding"][0]["code"], "CAREGAP");
    assert_eq!(
        issue["modifierExtension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "open-gap"
    );

    // Outreach about the depression gap, then a complete PHQ-9.
    app.create(
        &json!({"resourceType": "Communication", "status": "completed",
        "subject": {"reference": format!("Patient/{pid}")},
        "about": [{"reference": gap}], "sent": "2026-03-02T09:00:00Z",
        "payload": [{"contentString": "Called to book a depression screen"}]}),
    )
    .await;
    let mut phq9 = common::screening::phq9(&pid, [Some(0); 9]);
    phq9["authored"] = json!("2026-03-05T10:00:00Z");
    app.create(&phq9).await;
    clock.set(at("2026-03-06"));
    assert_eq!(pass(&app).await, (0, 1));
    let issue = app.get_json(&gap).await.1;
    assert_eq!(
        issue["modifierExtension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "closed-gap"
    );
    assert_eq!(issue["identifiedPeriod"]["end"], "2026-03-06");
    let r = registry(&app).await;
    assert_eq!(
        (
            count(&r, "open"),
            count(&r, "closed"),
            count(&r, "closedAfterOutreach"),
            count(&r, "outreached")
        ),
        (6, 1, 1, 1)
    );
    // The next quarter: five still open, none opened or closed in it.
    let (_, q2) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$care-gap-registry?period=2026Q2"
        ))
        .await;
    assert_eq!(
        (
            count(&q2, "open"),
            count(&q2, "opened"),
            count(&q2, "closed")
        ),
        (5, 0, 0)
    );

    // Payers and partners: refused. A bad period: 400.
    app.guests_refused(
        &format!("Organization/{PRACTICE}/$care-gap-registry?period=2026Q1"),
        PRACTICE,
    )
    .await;
    let (s, oo) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$care-gap-registry?period=2026Q9"
        ))
        .await;
    assert_eq!(
        (s.as_u16(), oo["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );
    app.stop().await;
}
