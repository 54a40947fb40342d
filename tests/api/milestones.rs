//! Program milestones over HTTP on a generated practice enrolled with the
//! configuration `tandem generate` writes: the computed milestones' counts
//! and patient lists equal the generator's independent answers, the
//! milestone Measures are searchable, good standing names its reasons, and
//! every new operation is refused to those who must not see it.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::population::{load_practice, ndjson, options};
use common::reports::subjects;
use common::{TestApp, part, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use tandem::auth::Role;
use tandem::config::{Config, Overrides};
use tandem::generate::run;

const PRACTICE: &str = "practice-0";

/// A server whose default tenant is the generated practice, enrolled by the
/// generated `program.toml`.
async fn enrolled_app(root: &Path) -> TestApp {
    let generated = Config::load(Some(&root.join("program.toml")), &Overrides::default())
        .expect("the generated program configuration loads");
    assert_eq!(generated.enrolments.len(), 1);
    spawn_app_with(|c| {
        c.default_tenant = PRACTICE.into();
        c.programs = generated.programs;
        c.enrolments = generated.enrolments;
    })
    .await
}

/// A milestone's part of a `$milestones` report.
pub fn milestone<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "milestone" && part(p, "id")["valueString"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

fn int(p: &Value, name: &str) -> u64 {
    part(p, name)["valueInteger"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {p}"))
}

/// Patient ids whose answers for `period` satisfy `pick`.
fn answered(answers: &[Value], period: &str, pick: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    answers
        .iter()
        .filter(|a| pick(&a["milestones"][period]))
        .map(|a| a["patient"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn computed_milestones_equal_the_generators_answers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 400, 1, 26), |_| {}).unwrap();
    let app = enrolled_app(&root).await;
    load_practice(&app, &root).await;
    let answers = ndjson(&root, "answers.ndjson");
    let totals: Value =
        serde_json::from_slice(&std::fs::read(root.join("milestones.json")).unwrap()).unwrap();

    let periods = [
        ("2026Q1", "2026-01-01", "2026-03-31"),
        ("2026Q2", "2026-04-01", "2026-06-30"),
        ("2026Q3", "2026-07-01", "2026-09-30"),
        ("2026Q4", "2026-10-01", "2026-12-31"),
        ("2026", "2026-01-01", "2026-12-31"),
    ];
    for (name, start, end) in periods {
        let want = &totals[PRACTICE][name];
        let q = format!("periodStart={start}&periodEnd={end}");
        let (status, report) = app
            .get_json(&format!("Organization/{PRACTICE}/$milestones?{q}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let bb3 = milestone(&report, "BB3.Y1.1");
        let bb7 = milestone(&report, "BB7.Y1.2");
        let got = (
            int(bb3, "denominator"),
            int(bb3, "numerator"),
            int(bb7, "denominator"),
            int(bb7, "numerator"),
        );
        let expected = (
            want["activePatients"].as_u64().unwrap(),
            want["empaneledPatients"].as_u64().unwrap(),
            want["screeningDenominator"].as_u64().unwrap(),
            want["screeningNumerator"].as_u64().unwrap(),
        );
        println!("{name}: active, empaneled, screening den/num = {got:?}");
        assert_eq!(got, expected, "{name}");
        assert!(
            expected.0 > 100 && expected.2 > 20 && expected.3 > 0,
            "{name}: {expected:?}"
        );

        // The drill-down names exactly the patients of the answers.
        let list = |id: &str| {
            format!("Measure/colorado-sim-{id}/$evaluate-measure?{q}&reportType=subject-list")
        };
        let (_, empanelment) = app.get_json(&list("BB3.Y1.1")).await;
        let active = answered(&answers, name, |f| f["active"] == true);
        let empaneled = answered(&answers, name, |f| {
            f["active"] == true && f["empaneled"] == true
        });
        assert_eq!(subjects(&empanelment, 0, "denominator"), active, "{name}");
        assert_eq!(subjects(&empanelment, 0, "numerator"), empaneled, "{name}");
        // A changed definition (every patient, active or not) would not match.
        let everyone = answered(&answers, name, |f| f["empaneled"] == true);
        assert_ne!(subjects(&empanelment, 0, "numerator"), everyone, "{name}");

        let bands: BTreeSet<&str> = want["bandsScreened"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        let eligible = |f: &Value| {
            f["bands"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| bands.contains(b.as_str().unwrap()))
        };
        let screened = |f: &Value| !f["screened"].as_array().unwrap().is_empty();
        let (_, screening) = app.get_json(&list("BB7.Y1.2")).await;
        assert_eq!(
            subjects(&screening, 0, "denominator"),
            answered(&answers, name, eligible),
            "{name}"
        );
        assert_eq!(
            subjects(&screening, 0, "numerator"),
            answered(&answers, name, |f| eligible(f) && screened(f)),
            "{name}"
        );
        // Counting every active patient (not those seen at a screening age
        // in the period) would not match.
        assert_ne!(
            subjects(&screening, 0, "denominator"),
            answered(&answers, name, |f| f["active"] == true),
            "{name}"
        );
        let score = screening["group"][0]["measureScore"]["value"]
            .as_f64()
            .unwrap();
        let share = expected.3 as f64 / expected.2 as f64;
        assert!((score - share).abs() < 1e-4, "{score} vs {share}");
        // The instruments in use: at least two, so BB7.Y1.2's second
        // condition holds and its status follows the 25% threshold alone.
        assert!(want["instrumentsInUse"].as_array().unwrap().len() >= 2);
        let status = part(bb7, "status")["valueCode"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            status == "met",
            share >= 0.25,
            "{name}: {status} at {share}"
        );

        // BB10.Y1.3: its denominator is every patient with a positive
        // behavioral-health screen in the period, as the answers have them.
        let bh = [
            "phq-2",
            "phq-9",
            "gad-7",
            "audit-c",
            "epds",
            "dast-10",
            "developmental",
        ];
        let positive: BTreeSet<String> = answers
            .iter()
            .filter(|a| {
                a["screenings"].as_array().unwrap().iter().any(|s| {
                    let day = s["day"].as_str().unwrap();
                    s["positive"] == true
                        && bh.contains(&s["instrument"].as_str().unwrap())
                        && (start..=end).contains(&day)
                })
            })
            .map(|a| a["patient"].as_str().unwrap().to_string())
            .collect();
        let (_, plans) = app.get_json(&list("BB10.Y1.3")).await;
        assert_eq!(subjects(&plans, 0, "denominator"), positive, "{name}");
        assert!(!positive.is_empty(), "{name}");
        assert!(subjects(&plans, 0, "numerator").is_subset(&positive));

        // BB10.Y2.1: an elevated PHQ-9 or GAD-7 (>= 10) in the 12 months
        // ending with the period, and a repeat of it 28 days or more later.
        let last: chrono::NaiveDate = end.parse().unwrap();
        let from = last.succ_opt().unwrap() - chrono::Months::new(12);
        let (mut elevated, mut followed) = (BTreeSet::new(), BTreeSet::new());
        for a in &answers {
            for instrument in ["phq-9", "gad-7"] {
                let mut taken: Vec<(chrono::NaiveDate, f64)> = a["screenings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["instrument"] == instrument)
                    .filter_map(|s| Some((s["day"].as_str()?.parse().ok()?, s["total"].as_f64()?)))
                    .filter(|(d, _)| *d <= last)
                    .collect();
                taken.sort_by_key(|(d, _)| *d);
                let Some((index, _)) = taken.iter().find(|(d, t)| *d >= from && *t >= 10.0) else {
                    continue;
                };
                let pid = a["patient"].as_str().unwrap().to_string();
                elevated.insert(pid.clone());
                if taken
                    .iter()
                    .any(|(d, _)| *d >= *index + chrono::Days::new(28))
                {
                    followed.insert(pid);
                }
            }
        }
        let (_, outcomes) = app.get_json(&list("BB10.Y2.1")).await;
        assert_eq!(subjects(&outcomes, 0, "denominator"), elevated, "{name}");
        assert_eq!(subjects(&outcomes, 0, "numerator"), followed, "{name}");
        println!("{name}: BB10.Y2.1 {} of {}", followed.len(), elevated.len());
        assert!(!elevated.is_empty(), "{name}");
    }

    // The milestone Measures are ordinary, searchable Measures.
    let found = app.search_resources("Measure?identifier=BB7.Y1.2").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], "colorado-sim-BB7.Y1.2");
    let by_url = app
        .search_resources("Measure?url=http://tandem.health/fhir/Measure/colorado-sim-BB3.Y2.1")
        .await;
    assert_eq!(by_url.len(), 1);
    assert_eq!(by_url[0]["scoring"]["coding"][0]["code"], "proportion");
    // BB6.Y1.1's evidence: the risk method in force, as a PlanDefinition.
    let (status, plan) = app.get_json("PlanDefinition/risk-method").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        plan["description"]
            .as_str()
            .unwrap()
            .contains("from 4 points, high risk"),
        "{plan}"
    );
    let (_, year1) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$milestones?projectYear=1"
        ))
        .await;
    let bb6 = milestone(&year1, "BB6.Y1.1");
    assert_eq!(part(bb6, "count")["valueInteger"], 1, "{bb6}");

    // Good standing, year 1: not in standing, and the reasons say why —
    // attestations missing, attribution not yet computable.
    let (status, standing) = app
        .get_json(&format!(
            "Organization/{PRACTICE}/$good-standing?projectYear=1"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{standing}");
    let params = standing["parameter"].as_array().unwrap();
    let in_standing = params.iter().find(|p| p["name"] == "inStanding").unwrap();
    assert_eq!(in_standing["valueBoolean"], false);
    let block = |n: u64| {
        params
            .iter()
            .find(|p| p["name"] == "block" && part(p, "buildingBlock")["valueInteger"] == n)
            .unwrap()
            .clone()
    };
    let reasons: Vec<String> = block(1)["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "reason")
        .map(|p| p["valueString"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("BB1.Y1.1 ")
            && r.contains("0 distinct attributed lives on 0 payer list(s); 150 needed")),
        "{reasons:?}"
    );
    assert_eq!(part(&block(1), "required")["valueBoolean"], true);
    assert_eq!(part(&block(9), "required")["valueBoolean"], false);
    app.stop().await;
}

#[tokio::test]
async fn milestones_are_shown_to_the_practice_its_program_and_facilitator_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 40, 1, 3), |_| {}).unwrap();
    let app = enrolled_app(&root).await;
    load_practice(&app, &root).await;
    let q = "periodStart=2026-01-01&periodEnd=2026-12-31";
    let ops = [
        format!("Organization/{PRACTICE}/$milestones?{q}"),
        format!("Organization/{PRACTICE}/$good-standing?projectYear=1"),
        format!("Measure/colorado-sim-BB3.Y1.1/$evaluate-measure?{q}"),
        format!("Organization/{PRACTICE}/$submissions"),
    ];
    let subject_list =
        format!("Measure/colorado-sim-BB3.Y1.1/$evaluate-measure?{q}&reportType=subject-list");
    let send = |c: reqwest::Client, path: String, tenant: Option<&'static str>| {
        let url = app.url(&path);
        async move {
            let mut r = c.get(url);
            if let Some(t) = tenant {
                r = r.header("x-tandem-tenant", t);
            }
            r.send().await.unwrap().status()
        }
    };
    // The practice itself: everything, patient lists included.
    for path in ops.iter().chain([&subject_list]) {
        assert_eq!(
            send(app.client.clone(), path.clone(), None).await,
            StatusCode::OK,
            "{path}"
        );
    }
    // Program staff and the facilitator: the numbers, not the patients.
    for (org, c) in app.overseers().await {
        for path in &ops {
            assert_eq!(
                send(c.clone(), path.clone(), Some(PRACTICE)).await,
                StatusCode::OK,
                "{org} {path}"
            );
        }
        assert_eq!(
            send(c.clone(), subject_list.clone(), Some(PRACTICE)).await,
            StatusCode::FORBIDDEN,
            "{org}"
        );
        let cms2 =
            "Measure/CMS2-2026/$evaluate-measure?period=2026&reportType=subject-list".to_string();
        assert_eq!(
            send(c.clone(), cms2, Some(PRACTICE)).await,
            StatusCode::FORBIDDEN,
            "{org}"
        );
        let care_gaps = "Measure/$care-gaps?period=2026".to_string();
        assert_eq!(
            send(c, care_gaps, Some(PRACTICE)).await,
            StatusCode::FORBIDDEN,
            "{org}"
        );
    }
    // Another program's staff, another practice, a partner, an HIE: refused.
    let other_program = app
        .client_for(
            "other-staff",
            Role::Reporting,
            "other-program",
            "system/*.rs",
        )
        .await;
    assert_eq!(
        send(other_program.clone(), ops[0].clone(), Some(PRACTICE)).await,
        StatusCode::FORBIDDEN
    );
    let other_ehr = app
        .client_for("other-ehr", Role::Ehr, "practice-9", "system/*.rs")
        .await;
    for path in &ops {
        let s = send(other_ehr.clone(), path.clone(), None).await;
        assert!(
            s == StatusCode::NOT_FOUND
                || s == StatusCode::UNPROCESSABLE_ENTITY
                || s == StatusCode::FORBIDDEN,
            "{path}: {s}"
        );
        assert_ne!(s, StatusCode::OK);
    }
    let partner = app
        .client_for("cmhc", Role::BhPartner, "cmhc", "system/*.rs")
        .await;
    let hie = app
        .client_for("hie", Role::Hie, PRACTICE, "system/*.rs")
        .await;
    // Releasing, amending and running the feed are a practice admin's:
    // program staff, facilitators and the practice's EHR are refused.
    let staff = app
        .client_for(
            "program-admin-try",
            Role::Reporting,
            "colorado-sim",
            "system/*.rs",
        )
        .await;
    for path in [
        format!("Organization/{PRACTICE}/$sign-off?submission=1"),
        format!("Organization/{PRACTICE}/$amend-submission?period=2026Q3&reason=x"),
        "$run-feed".to_string(),
    ] {
        for (who, c, tenant) in [
            ("staff", &staff, Some(PRACTICE)),
            ("ehr", &app.client, None),
        ] {
            let mut r = c.post(app.url(&path));
            if let Some(t) = tenant {
                r = r.header("x-tandem-tenant", t);
            }
            assert_eq!(
                r.send().await.unwrap().status(),
                StatusCode::FORBIDDEN,
                "{who} {path}"
            );
        }
    }
    for path in &ops {
        assert_eq!(
            send(partner.clone(), path.clone(), Some(PRACTICE)).await,
            StatusCode::FORBIDDEN,
            "partner {path}"
        );
        assert_eq!(
            send(hie.clone(), path.clone(), None).await,
            StatusCode::FORBIDDEN,
            "hie {path}"
        );
    }
    app.stop().await;
}
