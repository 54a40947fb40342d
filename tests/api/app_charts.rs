//! Run charts in a real browser, on a hand-built practice whose screening
//! improved after a PDSA cycle: twelve months with ten patients seen each,
//! two of them screened a month for six months, then eight. The chart must
//! show one point per month equal to `$milestones` over that month, the
//! median (50%) as centre line, the program's goal lines, every point part
//! of a shift, and a PDSA note added through the page.

use fantoccini::Locator;
use fantoccini::key::Key;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::users::UserRole;
use tandem::measure::milestone::program::{Enrolment, Program, Reporting, StandingRule, Track};

use crate::common::browser::Browser;
use crate::common::people::{PASSWORD, add_user};
use crate::common::screening::phq9;
use crate::common::{ManualClock, TestApp, part, spawn_app_at};
use crate::milestones::milestone;

const ORG: &str = "practice-c";

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn enrolled() -> (Program, Enrolment) {
    let program = Program {
        id: "colorado-sim".into(),
        name: "Colorado SIM (test)".into(),
        catalog: "colorado-sim".into(),
        years: vec![d("2026-01-01"), d("2027-01-01")],
        reporting: Reporting::default(),
        tracks: vec![Track {
            id: "sim-only".into(),
            cqm_counts: [("adult".to_string(), vec![1])].into_iter().collect(),
            cqms: Default::default(),
            standing: vec![StandingRule {
                year: 1,
                blocks: vec![7],
                any_others: 0,
            }],
        }],
        submission: None,
    };
    let enrolment = Enrolment {
        practice: ORG.into(),
        program: "colorado-sim".into(),
        track: "sim-only".into(),
        cohort: "adult".into(),
        start: d("2026-01-01"),
        facilitator: None,
        preference_sensitive: Vec::new(),
    };
    (program, enrolment)
}

/// Ten patients seen in `month` (1-12 of 2026), `screened` of them with a
/// completed PHQ-9 that day.
async fn month_of_visits(app: &TestApp, month: u32, screened: usize) {
    let day = format!("2026-{month:02}-10");
    for i in 0..10 {
        let p = app
            .create(&json!({"resourceType": "Patient", "birthDate": "1980-05-01"}))
            .await;
        let pid = p["id"].as_str().unwrap();
        app.create(&json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{pid}")},
            "period": {"start": format!("{day}T09:00:00Z"), "end": format!("{day}T09:30:00Z")}}))
            .await;
        if i < screened {
            let mut qr = phq9(pid, [Some(0); 9]);
            qr["authored"] = json!(format!("{day}T09:20:00Z"));
            app.create(&qr).await;
        }
    }
}

#[tokio::test]
async fn a_run_chart_shows_each_month_the_median_and_a_shift() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-20T12:00:00Z").unwrap();
    let clock = ManualClock::at(now.timestamp_millis());
    let app = spawn_app_at(clock, |c| {
        c.default_tenant = ORG.into();
        let (p, e) = enrolled();
        c.programs = vec![p];
        c.enrolments = vec![e];
    })
    .await;
    for month in 1..=12 {
        month_of_visits(&app, month, if month <= 6 { 2 } else { 8 }).await;
    }
    let r = app
        .client
        .post(app.url(&format!("Organization/{ORG}/$refresh-charts")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // What the API says of each month, the chart's points must say too.
    let mut expected = Vec::new();
    for month in 1..=12u32 {
        let first = d(&format!("2026-{month:02}-01"));
        let last = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            .pred_opt()
            .unwrap();
        let (s, report) = app
            .get_json(&format!(
                "Organization/{ORG}/$milestones?periodStart={first}&periodEnd={last}"
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        let m: &Value = milestone(&report, "BB7.Y1.2");
        let n = part(m, "numerator")["valueInteger"].as_i64().unwrap();
        let den = part(m, "denominator")["valueInteger"].as_i64().unwrap();
        assert_eq!((n, den), (if month <= 6 { 2 } else { 8 }, 10), "{month}");
        expected.push((format!("2026-{month:02}"), n as f64 / den as f64));
    }

    add_user(&app, "pat", UserRole::Practice, &[ORG]).await;
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&app.url(&format!("app/practice/{ORG}")))
        .await
        .unwrap();
    b.fill("#username", "pat").await;
    b.fill("#password", &format!("{PASSWORD}{}", Key::Enter))
        .await;
    b.wait_for("#chart-bh-screening svg").await;
    c.execute(
        "document.getElementById('chart-bh-screening').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    b.screenshot("run-chart").await;

    let points = c
        .find_all(Locator::Css("#chart-bh-screening svg .point"))
        .await
        .unwrap();
    let mut got = Vec::new();
    for p in &points {
        let month = p.attr("data-month").await.unwrap().unwrap();
        let rate: f64 = p.attr("data-rate").await.unwrap().unwrap().parse().unwrap();
        let class = p.attr("class").await.unwrap().unwrap();
        assert!(class.contains("shift"), "{month}: {class}");
        assert!(p.is_displayed().await.unwrap(), "{month} is drawn");
        got.push((month, rate));
    }
    assert_eq!(
        got, expected,
        "one point per month, as $milestones computes it"
    );
    let median = c
        .find(Locator::Css("#chart-bh-screening svg line.median"))
        .await
        .unwrap();
    let m: f64 = median
        .attr("data-value")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!((m - 0.5).abs() < 1e-9, "{m}");
    let mut goals = Vec::new();
    for g in c
        .find_all(Locator::Css("#chart-bh-screening svg line.goal"))
        .await
        .unwrap()
    {
        goals.push(g.attr("data-goal").await.unwrap().unwrap());
    }
    goals.sort();
    assert_eq!(goals, ["0.25", "0.5", "0.9"]);
    let signals = c
        .find(Locator::Css("#chart-bh-screening ul.signals"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signals.contains("Shift: 12 points"), "{signals}");

    // A PDSA note on the month the change began.
    b.click("#chart-bh-screening-month option[value='2026-07']")
        .await;
    b.fill(
        "#chart-bh-screening-text",
        "PDSA 1: front desk hands out the PHQ-9",
    )
    .await;
    b.submit(
        "#chart-bh-screening form.note button",
        "#chart-bh-screening .note-mark",
    )
    .await;
    let html = c.source().await.unwrap();
    assert!(html.contains("PDSA 1: front desk hands out the PHQ-9"));
    assert!(
        html.contains("— <span class=\"muted\">pat</span>"),
        "the author is the person"
    );

    // The drill-down behind the year's screening rate, from the lists the
    // refresh kept, a hundred to a page: equal to the API's subject list.
    let (_, live) = app
        .get_json(
            "Measure/colorado-sim-BB7.Y1.2/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31&reportType=subject-list",
        )
        .await;
    let denominator: std::collections::BTreeSet<String> = live["contained"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "denominator")
        .unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item"]["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(denominator.len(), 120);
    let mut shown = std::collections::BTreeSet::new();
    for page in 0..2 {
        c.goto(&app.url(&format!(
            "app/practice/{ORG}/milestone/colorado-sim-BB7.Y1.2?periodStart=2026-01-01&periodEnd=2026-12-31&page={page}"
        )))
        .await
        .unwrap();
        let cells = c
            .find_all(Locator::Css("table#patients tbody tr td:first-child"))
            .await
            .unwrap();
        assert_eq!(cells.len(), if page == 0 { 100 } else { 20 });
        for cell in cells {
            shown.insert(cell.text().await.unwrap());
        }
    }
    assert_eq!(shown, denominator);
    b.stop().await;
    app.stop().await;
}
