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
/// A generated population of 240 patients in 3 practices with practice-0's
/// own patients loaded over HTTP; the generator's files stay in `dir`.
pub async fn generated_practice() -> (common::TestApp, tempfile::TempDir, std::path::PathBuf) {
    generated_practice_at(std::sync::Arc::new(tandem::service::SystemClock), |_| {}).await
}

/// As [`generated_practice`], the server's time set by `clock` and its
/// configuration changed by `tweak` last.
pub async fn generated_practice_at(
    clock: std::sync::Arc<dyn tandem::service::Clock>,
    tweak: impl FnOnce(&mut tandem::config::Config),
) -> (common::TestApp, tempfile::TempDir, std::path::PathBuf) {
    generated_population((240, 3, 27), clock, tweak).await
}

/// `patients` generated in `practices` with `seed`, practice-0 served and
/// loaded as [`generated_practice_at`] does.
pub async fn generated_population(
    (patients, practices, seed): (usize, usize, u64),
    clock: std::sync::Arc<dyn tandem::service::Clock>,
    tweak: impl FnOnce(&mut tandem::config::Config),
) -> (common::TestApp, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("gen");
    let options = common::population::options(&root, patients, practices, seed);
    tandem::generate::run(&options, |_| {}).unwrap();
    let generated = tandem::config::Config::load(
        Some(&root.join("program.toml")),
        &tandem::config::Overrides::default(),
    )
    .unwrap();
    let app = common::spawn_app_at(clock, |c| {
        c.default_tenant = "practice-0".into();
        c.programs = generated.programs;
        c.enrolments = generated.enrolments;
        // The HIE's messages name the patient by Medicaid id.
        c.transitions.trusted_identifier_systems =
            vec![tandem::generate::model::MEDICAID_SYSTEM.into()];
        tweak(c);
    })
    .await;
    common::population::load_own_patients(&app, &root).await;
    (app, dir, root)
}

/// A generated population (3 practices; the payer's lists leave out about
/// 12% of a practice's patients and add about 5% of others'): practice-0's
/// list, sent as a payer sends it (members by Medicaid id), reconciles to
/// the generator's answers — every count and every list.
#[tokio::test]
async fn a_generated_list_reconciles_to_the_generators_answers() {
    use common::population::ndjson;
    use std::collections::BTreeSet;
    let (app, _dir, root) = generated_practice().await;
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
    let path = format!("Organization/practice-0/$attribution?month={month}");
    for b in app.overseers_see_numbers_only(&path).await {
        assert!(b.to_string().contains("\"attributed\""), "{b}");
    }
    app.guests_refused(&path, "practice-0").await;
    app.stop().await;
}

/// Continuity per clinician and month (BB3.Y2.2) matches the generator's
/// own draw: for each of practice-0's patients with a PCP, the months it
/// was seen and whether its PCP saw it.
#[tokio::test]
async fn continuity_matches_the_generators_visits() {
    use std::collections::BTreeMap;
    let (app, _dir, root) = generated_practice().await;
    // (clinician, month) → (seen, own), from the answers.
    let mut want: BTreeMap<(String, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for a in common::population::ndjson(&root, "answers.ndjson") {
        let c = &a["continuity"];
        if a["practice"] != "practice-0" || c.is_null() {
            continue;
        }
        let patient = format!("Patient/{}", a["patient"].as_str().unwrap());
        for (month, own) in c["months"].as_object().unwrap() {
            let key = (c["pcp"].as_str().unwrap().to_string(), month.clone());
            let cell = want.entry(key).or_default();
            cell.0.push(patient.clone());
            if own == true {
                cell.1.push(patient.clone());
            }
        }
    }
    let months: std::collections::BTreeSet<&String> = want.keys().map(|(_, m)| m).collect();
    let last = months.iter().next_back().unwrap().to_string();
    // The last 36 months with visits (the most one request spans).
    let first = months
        .iter()
        .rev()
        .nth(35)
        .unwrap_or(months.iter().next().unwrap())
        .to_string();
    want.retain(|(_, m), _| *m >= first);
    assert!(want.len() > 20, "{} cells", want.len());
    let (status, report) = app
        .get_json(&format!(
            "Organization/practice-0/$continuity?start={first}&end={last}"
        ))
        .await;
    assert_eq!(status, 200, "{report}");
    let mut got: BTreeMap<(String, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
    let list = |m: &Value, name: &str| -> Vec<String> {
        let mut v: Vec<String> = common::part(m, name)["resource"]["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["item"]["reference"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    for p in report["parameter"].as_array().unwrap() {
        if p["name"] != "provider" {
            continue;
        }
        let clinician = common::part(p, "clinician")["valueReference"]["reference"]
            .as_str()
            .unwrap()
            .to_string();
        for m in p["part"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == "month")
        {
            let month = common::part(m, "month")["valueString"]
                .as_str()
                .unwrap()
                .to_string();
            let (seen, own) = (list(m, "seenList"), list(m, "ownList"));
            assert_eq!(common::part(m, "seen")["valueInteger"], seen.len());
            assert_eq!(common::part(m, "own")["valueInteger"], own.len());
            got.insert((clinician.clone(), month), (seen, own));
        }
    }
    for cell in want.values_mut() {
        cell.0.sort();
        cell.1.sort();
    }
    assert_eq!(got, want);
    // Practice-wide: every patient-month once; BB3.Y2.2 reads the same
    // figures over the project year.
    let mut seen = 0;
    let mut own = 0;
    for (s, o) in want.values() {
        seen += s.len();
        own += o.len();
    }
    let practice = report["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "practice")
        .unwrap();
    let (mut s, mut o) = (0, 0);
    for m in practice["part"].as_array().unwrap() {
        s += common::part(m, "seen")["valueInteger"].as_u64().unwrap();
        o += common::part(m, "own")["valueInteger"].as_u64().unwrap();
    }
    assert_eq!(
        (s, o),
        (seen as u64, own as u64),
        "one PCP each: practice = sum of providers"
    );
    assert!(
        o * 100 / s >= 60 && o < s,
        "about 80% of visits are with the PCP: {o}/{s}"
    );
    // A practice client that may read patients but not payer lists gets
    // continuity, not the reconciliation.
    let reader = app
        .client_for(
            "qi-reader",
            Role::Ehr,
            "practice-0",
            "system/Patient.rs system/Encounter.rs",
        )
        .await;
    let get = |path: String| {
        let reader = reader.clone();
        let url = app.url(&path);
        async move { reader.get(url).send().await.unwrap().status() }
    };
    assert_eq!(
        get(format!(
            "Organization/practice-0/$continuity?start={first}&end={last}"
        ))
        .await,
        200
    );
    assert_eq!(
        get(format!("Organization/practice-0/$attribution?month={last}")).await,
        403
    );
    // The milestone reads the same facts over its project year.
    let report = app
        .get_json("Organization/practice-0/$milestones?projectYear=2")
        .await
        .1;
    let bb3 = milestone(&report, "BB3.Y2.2");
    assert_ne!(
        common::part(bb3, "status")["valueCode"],
        "not-computable",
        "{bb3}"
    );
    app.stop().await;
}

/// `tandem import` loads a payer's attribution Group like any file, checked
/// by the same hook: the generated list reconciles as it does over HTTP,
/// and a list naming a patient the practice lacks is rejected with its
/// reason while the rest loads.
#[tokio::test]
async fn tandem_import_loads_attribution_lists() {
    use common::process::cli;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("gen");
    tandem::generate::run(&common::population::options(&root, 120, 2, 31), |_| {}).unwrap();
    let bad = dir.path().join("bad-group.json");
    let mut wrong: Value =
        serde_json::from_slice(&std::fs::read(root.join("groups/practice-0.json")).unwrap())
            .unwrap();
    wrong["id"] = "atr-wrong".into();
    wrong["member"] = serde_json::json!([{"entity": {"reference": "Patient/nobody"}}]);
    std::fs::write(&bad, wrong.to_string()).unwrap();
    let database = common::database::fresh(dir.path(), "t.db").await;
    let db = &database.db;
    let path = |p: &str| root.join(p).to_str().unwrap().to_string();
    let out = cli(
        &db,
        &[
            "import",
            "--tenant",
            "practice-0",
            &path("practices/practice-0.json"),
            &path("bundles/practice-0"),
            &path("groups/practice-0.json"),
            bad.to_str().unwrap(),
        ],
    );
    assert!(out.contains("rejected 1"), "{out}");
    assert!(
        out.contains("Patient/nobody"),
        "the reason names the member: {out}"
    );
    let app = spawn_app_with(|c| {
        c.database = db.clone();
        c.default_tenant = "practice-0".into();
    })
    .await;
    let answers = common::population::ndjson(&root, "answers.ndjson");
    let on_list = |a: &&Value| {
        a["attribution"]["lists"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "practice-0")
    };
    let listed: Vec<&Value> = answers.iter().filter(on_list).collect();
    let own = listed
        .iter()
        .filter(|a| a["practice"] == "practice-0")
        .count();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (status, report) = app
        .get_json(&format!(
            "Organization/practice-0/$attribution?month={month}"
        ))
        .await;
    assert_eq!(status, 200, "{report}");
    let list = only_list(&report);
    assert_eq!(figure(&list, "attributed")["valueInteger"], listed.len());
    assert_eq!(figure(&list, "matched")["valueInteger"], own);
    assert_eq!(
        figure(&list, "unmatched")["valueInteger"],
        listed.len() - own
    );
    app.stop().await;
}
