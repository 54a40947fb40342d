//! Payer attribution on a generated population: the lists `tandem
//! generate` writes (members by Medicaid id) reconcile over HTTP to the
//! generator's own answers, feed BB1.Y1.1, and are read by program staff
//! as numbers only.

use crate::attribution::{figure, only_list, people};
use crate::common;
use crate::milestones::milestone;

use common::spawn_app_with;
use serde_json::Value;
use tandem::auth::Role;

/// A generated population (3 practices; the payer's lists leave out about
/// 12% of a practice's patients and add about 5% of others'): practice-0's
/// list, sent as a payer sends it (members by Medicaid id), reconciles to
/// the generator's answers — every count and every list.
#[tokio::test]
async fn a_generated_list_reconciles_to_the_generators_answers() {
    use common::population::{load_own_patients, ndjson, options};
    use std::collections::BTreeSet;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("gen");
    tandem::generate::run(&options(&root, 240, 3, 27), |_| {}).unwrap();
    let generated = tandem::config::Config::load(
        Some(&root.join("program.toml")),
        &tandem::config::Overrides::default(),
    )
    .unwrap();
    let app = spawn_app_with(|c| {
        c.default_tenant = "practice-0".into();
        c.programs = generated.programs;
        c.enrolments = generated.enrolments;
    })
    .await;
    load_own_patients(&app, &root).await;
    let group: Value =
        serde_json::from_slice(&std::fs::read(root.join("groups/practice-0.json")).unwrap())
            .unwrap();
    let r = app
        .put(&format!("Group/{}", group["id"].as_str().unwrap()), &group)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // Expected, from the generator's own draw.
    let answers = ndjson(&root, "answers.ndjson");
    let mine = |a: &Value| a["practice"] == "practice-0";
    let listed = |a: &Value| {
        a["attribution"]["lists"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "practice-0")
    };
    let pid = |a: &Value| format!("Patient/{}", a["patient"].as_str().unwrap());
    let set = |pick: &dyn Fn(&Value) -> bool, key: &dyn Fn(&Value) -> String| -> BTreeSet<String> {
        answers.iter().filter(|a| pick(a)).map(key).collect()
    };
    let empaneled = |a: &Value| a["attribution"]["empaneled"] == true;
    let medicaid = |a: &Value| a["attribution"]["medicaid"].as_str().unwrap().to_string();
    let expected = [
        ("matched", set(&|a| mine(a) && listed(a), &pid)),
        (
            "concordant",
            set(&|a| mine(a) && listed(a) && empaneled(a), &pid),
        ),
        (
            "attributedNotEmpaneled",
            set(&|a| mine(a) && listed(a) && !empaneled(a), &pid),
        ),
        (
            "empaneledNotAttributed",
            set(&|a| mine(a) && !listed(a) && empaneled(a), &pid),
        ),
        ("otherPractice", BTreeSet::new()),
        ("unmatched", set(&|a| !mine(a) && listed(a), &medicaid)),
    ];
    let attributed = set(&listed, &medicaid).len();
    assert!(
        !expected[5].1.is_empty() && !expected[3].1.is_empty(),
        "the lists disagree in places"
    );
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let report = app
        .get_json(&format!(
            "Organization/practice-0/$attribution?month={month}"
        ))
        .await
        .1;
    let list = only_list(&report);
    assert_eq!(figure(&list, "attributed")["valueInteger"], attributed);
    for (name, want) in expected {
        let got: BTreeSet<String> = people(&list, name).into_iter().collect();
        assert_eq!(figure(&list, name)["valueInteger"], want.len(), "{name}");
        assert_eq!(got, want, "{name}");
    }
    // The milestone engine reads the same lists: BB1.Y1.1 counts every
    // distinct life on them (here each member once).
    let report = app
        .get_json("Organization/practice-0/$milestones?projectYear=1")
        .await
        .1;
    let bb1 = milestone(&report, "BB1.Y1.1");
    assert_eq!(
        common::part(bb1, "count")["valueInteger"],
        attributed,
        "{bb1}"
    );
    // BB3.Y1.2 counts the months whose reconciliation the practice marked
    // reviewed: none yet, then this month.
    let bb3 = milestone(&report, "BB3.Y1.2");
    assert_ne!(
        common::part(bb3, "status")["valueCode"],
        "not-computable",
        "{bb3}"
    );
    assert_eq!(common::part(bb3, "numerator")["valueInteger"], 0, "{bb3}");
    let group_id = group["id"].as_str().unwrap().to_string();
    let r = app
        .client
        .post(app.url(&format!(
            "Organization/practice-0/$attribution-review?group={group_id}&month={month}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again = app
        .get_json("Organization/practice-0/$milestones?projectYear=1")
        .await
        .1;
    let bb3 = milestone(&again, "BB3.Y1.2");
    assert_eq!(common::part(bb3, "numerator")["valueInteger"], 1, "{bb3}");
    // Program staff and the facilitator: the numbers, never the patients;
    // payers and partners: nothing.
    let url = app.url(&format!(
        "Organization/practice-0/$attribution?month={month}"
    ));
    for org in ["colorado-sim", "facilitator-1"] {
        let c = app
            .client_for(
                &format!("staff-{org}"),
                Role::Reporting,
                org,
                "system/MeasureReport.rs",
            )
            .await;
        let r = c
            .get(&url)
            .header("x-tandem-tenant", "practice-0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{org}");
        let b: Value = r.json().await.unwrap();
        let text = b.to_string();
        assert!(
            text.contains("\"attributed\"") && !text.contains("Patient/"),
            "{org}: {b}"
        );
    }
    for (id, role, org) in [
        ("acme-1", Role::Payer, "acme-health"),
        ("bh-1", Role::BhPartner, "bh-org"),
    ] {
        let c = app.client_for(id, role, org, "system/*.rs").await;
        let r = c
            .get(&url)
            .header("x-tandem-tenant", "practice-0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{id}");
    }
    app.stop().await;
}
