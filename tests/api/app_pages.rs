//! The web app's pages over HTTP with a cookie-keeping client: signing in
//! through the standalone launch, the portfolio listing exactly the
//! practices a person covers, a practice's milestone grid, the drill-down
//! equal to the subject-list MeasureReport (and its CSV), and a practice
//! user refused another practice's page (403, audited).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;
use tandem::auth::users::UserRole;

use crate::common::TestApp;
use crate::common::audit::{audit_until, requested_by};
use crate::common::people::{add_user, enrolled_app, hidden, page, signed_in};
use crate::common::population::load_own_patients;

async fn app_with_people() -> (TestApp, tempfile::TempDir) {
    let (app, root) = enrolled_app(80, 2, 7).await;
    let path = root.path().join("pop");
    load_own_patients(&app, &path).await;
    add_user(&app, "pat", UserRole::Practice, &["practice-0"]).await;
    add_user(&app, "fran", UserRole::Facilitator, &["practice-1"]).await;
    add_user(&app, "prog", UserRole::Program, &[]).await;
    (app, root)
}

/// The practice ids linked from the portfolio table.
fn practices_listed(html: &str) -> BTreeSet<String> {
    html.split("href=\"/app/practice/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn people_see_their_practices_and_the_patients_behind_a_count() {
    let (app, _root) = app_with_people().await;
    let fran = signed_in(&app, "fran").await;
    let (s, html) = page(&fran, &app, "app").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        practices_listed(&html),
        BTreeSet::from(["practice-1".to_string()])
    );
    assert!(html.contains("fran (facilitator)"));
    let prog = signed_in(&app, "prog").await;
    let (_, html) = page(&prog, &app, "app").await;
    assert_eq!(
        practices_listed(&html),
        BTreeSet::from(["practice-0".to_string(), "practice-1".to_string()])
    );
    // A facilitator sees the numbers, not the patients.
    let (s, _) = page(
        &fran,
        &app,
        "app/practice/practice-1/milestone/colorado-sim-BB3.Y1.1?periodStart=2026-01-01&periodEnd=2026-12-31",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The practice's own user: the grid, and the drill-down equal to the
    // API's subject-list report.
    let pat = signed_in(&app, "pat").await;
    let (s, grid) = page(&pat, &app, "app/practice/practice-0?year=1").await;
    assert_eq!(s, StatusCode::OK, "{grid}");
    assert!(grid.contains("BB3.Y1.1") && grid.contains("BB7.Y1.2"));
    let q = "periodStart=2026-01-01&periodEnd=2026-12-31";
    let (s, drill) = page(
        &pat,
        &app,
        &format!("app/practice/practice-0/milestone/colorado-sim-BB3.Y1.1?{q}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{drill}");
    let (_, report) = app
        .get_json(&format!(
            "Measure/colorado-sim-BB3.Y1.1/$evaluate-measure?{q}&reportType=subject-list"
        ))
        .await;
    let list = |code: &str| -> BTreeSet<String> {
        report["contained"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == code)
            .map(|l| {
                l["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["item"]["reference"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (denominator, numerator) = (list("denominator"), list("numerator"));
    assert!(denominator.len() > 10 && !numerator.is_empty(), "{report}");
    let csv = pat
        .get(app.url(&format!(
            "app/practice/practice-0/milestone/colorado-sim-BB3.Y1.1?{q}&format=csv"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let mut in_csv = BTreeSet::new();
    let mut counted = BTreeSet::new();
    for r in rows.records() {
        let r = r.unwrap();
        in_csv.insert(r[0].to_string());
        if &r[4] == "true" {
            counted.insert(r[0].to_string());
        }
    }
    assert_eq!(in_csv, denominator);
    assert_eq!(counted, numerator);
    for p in &denominator {
        assert!(drill.contains(p.as_str()), "{p} missing from the page");
    }

    // The page view of patients is on the practice's trail, by the person.
    let admin0 = crate::common::audit::auditor(&app, "practice-0").await;
    let trail = audit_until(&admin0, &app, "subtype=operation&_count=100", |e| {
        e.to_string().contains("evaluate-measure") && requested_by(e, "pat")
    })
    .await;
    let viewed = trail
        .iter()
        .any(|e| e.to_string().contains("evaluate-measure") && requested_by(e, "pat"));
    assert!(viewed, "the drill-down view is audited with the person");

    // The registries: the operations' own numbers; members for the
    // practice, numbers only for the facilitator.
    app.client
        .post(app.url("Organization/practice-0/$stratify?careGaps=false"))
        .send()
        .await
        .unwrap();
    let (_, risk) = app.get_json("Organization/practice-0/$risk-registry").await;
    let (s, html) = page(&pat, &app, "app/practice/practice-0/registries").await;
    assert_eq!(s, StatusCode::OK);
    let tiers: Vec<&Value> = risk["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "tier")
        .collect();
    assert!(!tiers.is_empty(), "{risk}");
    for t in tiers {
        let count = crate::common::part(t, "count")["valueInteger"]
            .as_i64()
            .unwrap();
        let code = crate::common::part(t, "code")["valueCode"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(html.contains(&format!("code</span>: {code}")), "{code}");
        assert!(
            html.contains(&format!("count</span>: {count}")),
            "{code} {count}"
        );
    }
    assert!(html.contains("Patient/"), "the practice sees its members");
    let (s, html) = page(&fran, &app, "app/practice/practice-1/registries").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Risk tiers") && !html.contains("Patient/"),
        "numbers only"
    );

    // Another practice's page: 403, and on that practice's audit trail.
    let (s, html) = page(&pat, &app, "app/practice/practice-1").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(html.contains("does not cover practice"));
    let admin = crate::common::audit::auditor(&app, "practice-1").await;
    let refused = audit_until(&admin, &app, "outcome=4", |e| requested_by(e, "pat")).await;
    let audited = refused.iter().any(|e| requested_by(e, "pat"));
    assert!(audited);

    // "Recompute now" starts the refresh in the background; the page then
    // shows when the rates were computed. A facilitator may not start it.
    let (_, grid) = page(&pat, &app, "app/practice/practice-0").await;
    assert!(grid.contains("Monthly rates not computed yet"));
    let csrf = hidden(&grid, "csrf").unwrap();
    let r = pat
        .post(app.url("app/practice/practice-0/refresh-charts"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut computed = false;
    for _ in 0..600 {
        let (_, grid) = page(&pat, &app, "app/practice/practice-0").await;
        if grid.contains("Monthly rates computed") {
            computed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(computed, "the background refresh finished");
    let (_, other) = page(&fran, &app, "app/practice/practice-1").await;
    let fran_csrf = hidden(&other, "csrf").unwrap();
    let r = fran
        .post(app.url("app/practice/practice-1/refresh-charts"))
        .form(&[("csrf", fran_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Signing out revokes the session: the next page asks to sign in.
    let (_, grid) = page(&pat, &app, "app").await;
    let csrf = hidden(&grid, "csrf").unwrap();
    let r = pat
        .post(app.url("app/sign-out"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = pat.get(app.url("app")).send().await.unwrap();
    assert_eq!(r.url().path(), "/auth/authorize");
    app.stop().await;
}
