//! Measure evaluation end to end: the authors' CMS122 (2026) test patients are
//! written to a real server over HTTP, then `$evaluate-measure` and
//! `$care-gaps` must reproduce the authors' expected populations — per
//! patient, as subject lists, and as summary counts.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::{reports, shared_data, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::fhir::bundle::put_transaction;

/// Patient id → expected count per population code, for the 2026 CMS122 cases.
type Expected = BTreeMap<String, BTreeMap<String, u64>>;

/// Loads every case into the server (one transaction of PUTs per case).
async fn load_cms122(app: &common::TestApp) -> Expected {
    let dir = shared_data().join("ecqm/qicore-2025/CMS122/tests");
    let mut expected = Expected::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        let mut resources = Vec::new();
        let mut patient = String::new();
        let mut counts = BTreeMap::new();
        for e in bundle["entry"].as_array().unwrap() {
            let r = &e["resource"];
            match r["resourceType"].as_str().unwrap() {
                "MeasureReport" => {
                    for p in r["group"][0]["population"].as_array().unwrap() {
                        counts.insert(
                            p["code"]["coding"][0]["code"].as_str().unwrap().to_string(),
                            p["count"].as_u64().unwrap_or(0),
                        );
                    }
                }
                "Bundle" => {}
                rt => {
                    if rt == "Patient" {
                        patient = r["id"].as_str().unwrap().to_string();
                    }
                    resources.push(r.clone());
                }
            }
        }
        let tx = put_transaction(resources);
        let resp = app.post("", &tx).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{}",
            resp.text().await.unwrap()
        );
        expected.insert(patient, counts);
    }
    expected
}

/// A population's count in a report's first group.
fn count(report: &Value, code: &str) -> u64 {
    reports::count(&report["group"][0], code)
}

const PERIOD: &str = "periodStart=2026-01-01&periodEnd=2026-12-31";
const CODES: &[&str] = &[
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "numerator",
];

/// The id in a `Patient/x` reference.
fn patient_id(reference: &Value) -> String {
    reference
        .as_str()
        .unwrap()
        .trim_start_matches("Patient/")
        .to_string()
}

/// The patients whose expected counts satisfy `keep`.
fn patients_where(
    expected: &Expected,
    keep: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> BTreeSet<String> {
    expected
        .iter()
        .filter(|(_, c)| keep(c))
        .map(|(p, _)| p.clone())
        .collect()
}

/// A server holding the CMS122 cases, their expected results, and a
/// reporting client of the practice.
async fn loaded() -> (common::TestApp, Expected, reqwest::Client) {
    let app = spawn_app().await;
    let expected = load_cms122(&app).await;
    let reporting = app
        .client_for("program", Role::Reporting, "default", "system/*.rs")
        .await;
    (app, expected, reporting)
}

#[tokio::test]
async fn evaluate_measure_reproduces_the_authors_expected_results_over_http() {
    let (app, expected, reporting) = loaded().await;

    // Summary over the whole practice: each population is the sum of the cases.
    let path = format!("Measure/CMS122-2026/$evaluate-measure?{PERIOD}");
    let summary = app.json_as(&reporting, &path).await;
    assert_eq!(summary["type"], "summary", "{summary}");
    // FHIR JSON has no nulls, also where a Measure lacks an element
    // (CMS2-2026 has no improvementNotation).
    for m in ["CMS122-2026", "CMS2-2026"] {
        let r = app
            .json_as(
                &reporting,
                &format!("Measure/{m}/$evaluate-measure?{PERIOD}"),
            )
            .await;
        assert_eq!(r["resourceType"], "MeasureReport", "{r}");
        assert!(!has_null(&r), "{m}: a null in {r}");
    }
    for code in CODES {
        let want: u64 = expected
            .values()
            .map(|c| c.get(*code).copied().unwrap_or(0))
            .sum();
        assert_eq!(count(&summary, code), want, "{code}");
    }
    let (d, x, n) = (
        count(&summary, "denominator"),
        count(&summary, "denominator-exclusion"),
        count(&summary, "numerator"),
    );
    let score = summary["group"][0]["measureScore"]["value"]
        .as_f64()
        .unwrap();
    assert!(
        (score - n as f64 / (d - x) as f64).abs() < 1e-4,
        "score {score}"
    );

    // Subject list: the numerator List names exactly the expected patients.
    let path = format!("Measure/CMS122/$evaluate-measure?{PERIOD}&reportType=subject-list");
    let list = app.json_as(&reporting, &path).await;
    assert_eq!(list["type"], "subject-list");
    let got = reports::subjects(&list, 0, "numerator");
    let want: BTreeSet<String> = patients_where(&expected, |c| c["numerator"] == 1);
    assert_eq!(got, want);

    // Individual reports for every case.
    for (patient, counts) in &expected {
        let path =
            format!("Measure/CMS122-2026/$evaluate-measure?{PERIOD}&subject=Patient/{patient}");
        let report = app.json_as(&reporting, &path).await;
        assert_eq!(report["type"], "individual");
        assert_eq!(report["subject"]["reference"], format!("Patient/{patient}"));
        for code in CODES {
            assert_eq!(count(&report, code), counts[*code], "{patient} {code}");
        }
        let refs = report["evaluatedResource"].as_array().unwrap();
        assert!(
            refs.iter()
                .any(|r| r["reference"] == format!("Patient/{patient}"))
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn care_gaps_follow_the_inverse_measure_and_access_is_checked_both_ways() {
    let (app, expected, reporting) = loaded().await;
    // CMS122 is inverse: a gap is a counted patient *in* the numerator.
    let path = format!("Measure/$care-gaps?{PERIOD}&measureId=CMS122-2026");
    let gaps = app.json_as(&reporting, &path).await;
    let got: BTreeSet<String> = gaps["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let doc = &p["resource"];
            let issue = common::reports::gaps_document(doc).remove(0);
            assert_eq!(issue["code"]["coding"][0]["code"], "CAREGAP");
            patient_id(&issue["patient"]["reference"])
        })
        .collect();
    let want: BTreeSet<String> = patients_where(&expected, |c| {
        c["denominator"] == 1 && c["denominator-exclusion"] == 0 && c["numerator"] == 1
    });
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // One patient's gaps only.
    let one = want.iter().next().unwrap();
    let path = format!("Measure/$care-gaps?{PERIOD}&measureId=CMS122-2026&subject=Patient/{one}");
    let gaps = app.json_as(&reporting, &path).await;
    assert_eq!(gaps["parameter"].as_array().unwrap().len(), 1);

    // Refused: a behavioural-health partner and an HIE may not evaluate measures.
    for (id, role) in [("cmhc", Role::BhPartner), ("hie", Role::Hie)] {
        let c = app.client_for(id, role, "default", "system/*.rs").await;
        let r = c
            .get(app.url(&format!("Measure/CMS122-2026/$evaluate-measure?{PERIOD}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{id}");
        let r = c
            .get(app.url(&format!("Measure/$care-gaps?{PERIOD}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_measure_requests_get_an_operation_outcome() {
    let app = spawn_app().await;
    let cases = [
        (
            "Measure/CMS122-2026/$evaluate-measure",
            StatusCode::BAD_REQUEST,
            "periodStart",
        ),
        (
            "Measure/CMS122-2026/$evaluate-measure?period=2026Q5",
            StatusCode::BAD_REQUEST,
            "quarter",
        ),
        (
            "Measure/CMS122-2026/$evaluate-measure?periodStart=2026-12-31&periodEnd=2026-01-01",
            StatusCode::BAD_REQUEST,
            "before",
        ),
        (
            "Measure/CMS999/$evaluate-measure?period=2026",
            StatusCode::NOT_FOUND,
            "CMS122",
        ),
        (
            "Measure/CMS122/$evaluate-measure?period=2026&reportType=subject",
            StatusCode::BAD_REQUEST,
            "subject",
        ),
        (
            "Measure/CMS122/$evaluate-measure?period=2026&reportType=patient",
            StatusCode::BAD_REQUEST,
            "reportType",
        ),
        (
            "Measure/CMS122/$evaluate-measure?period=2026&subject=Patient/nobody",
            StatusCode::NOT_FOUND,
            "not a patient",
        ),
        (
            "Measure/$care-gaps?period=2026&status=maybe",
            StatusCode::BAD_REQUEST,
            "open-gap",
        ),
    ];
    for (path, status, words) in cases {
        let (got, body) = app.get_json(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
        assert!(body.to_string().contains(words), "{path}: {body}");
    }
    // The Measure resources themselves are served read-only.
    let (status, m) = app.get_json("Measure/CMS165-2026").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["id"], "CMS165-2026");
    // A practice can still store a Measure of its own next to them.
    let own = json!({"resourceType": "Measure", "id": "local-bmi", "status": "draft"});
    assert_eq!(
        app.put("Measure/local-bmi", &own).await.status(),
        StatusCode::CREATED
    );
    let (status, _) = app.get_json("Measure/local-bmi").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

/// Runs `tandem --database db measure --out out <args>`.
fn measure_cli(
    db: &tandem::config::Database,
    out: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["--database", &db.locator(), "measure", "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn tandem_measure_writes_one_summary_per_measure_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database::fresh(dir.path(), "practice.db").await;
    let db = &database.db;
    let db2 = db.clone();
    let app = common::spawn_app_with(move |c| c.database = db2).await;
    let expected = load_cms122(&app).await;
    app.stop().await;
    let out = dir.path().join("reports");
    let run = measure_cli(
        db,
        &out,
        &[
            "--period",
            "2026",
            "--tenant",
            "default",
            "--measure",
            "CMS122",
            "--measure",
            "CMS165",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!("{} patients", expected.len())),
        "{stdout}"
    );
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap()
    };
    let report = read("MeasureReport-CMS122-2026-2026-01-01-2026-12-31.json");
    assert_eq!(report["type"], "summary");
    for code in CODES {
        let want: u64 = expected.values().map(|c| c[*code]).sum();
        assert_eq!(count(&report, code), want, "{code}");
    }
    // CMS165 ran in the same pass and has its own report.
    let bp = read("MeasureReport-CMS165-2026-2026-01-01-2026-12-31.json");
    assert_eq!(
        bp["measure"].as_str().unwrap().split('|').next(),
        Some("https://madie.cms.gov/Measure/CMS165FHIRControllingHighBloodPressure")
    );
    // A SIM cohort picks its measure set (pediatric: CMS2, NQF 1448, CMS82,
    // CMS155 and NQF 1799, each in the version for the period).
    let kids = dir.path().join("kids");
    let run = measure_cli(db, &kids, &["--period", "2026Q4", "--cohort", "pediatric"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&kids)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "MeasureReport-CMS155-2026-2026-01-01-2026-12-31.json",
            "MeasureReport-CMS2-2026-2026-01-01-2026-12-31.json",
            "MeasureReport-CMS82-2019-2026-01-01-2026-12-31.json",
            "MeasureReport-NQF1448-2025-2026-01-01-2026-12-31.json",
            "MeasureReport-NQF1799-2019-2026-01-01-2026-12-31.json"
        ]
    );
    // A bad period is refused before anything runs.
    let bad = measure_cli(db, &out, &["--period", "2026Q7"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--period"));
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(has_null),
        Value::Object(o) => o.values().any(has_null),
        _ => false,
    }
}
