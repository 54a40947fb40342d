//! The automatic quarterly feed on a manual clock, against a small real
//! program endpoint: a quarter is submitted once after it ends, with the
//! same idempotency key on every attempt, to an endpoint that fails twice
//! before accepting; a restart does not submit again; a held submission goes
//! out only after sign-off; an amendment supersedes in the ledger.

use crate::common;

use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use common::hook::Hook;
use common::population::{load_practice, options};
use common::{ManualClock, TestApp, part, spawn_app_at};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tandem::auth::Role;
use tandem::config::{Config, Overrides};
use tandem::generate::run;
use tandem::measure::milestone::program::{OnFailedChecks, Submission};

pub(crate) const PRACTICE: &str = "practice-0";

pub(crate) fn at(day: &str) -> i64 {
    let d: NaiveDate = day.parse().unwrap();
    Utc.from_utc_datetime(&d.and_hms_opt(6, 0, 0).unwrap())
        .timestamp_millis()
}

/// A generated practice served on 2026-10-08 (2026Q3 owed), enrolled from
/// 2026-07-01 and submitting to a local endpoint, its data loaded and the
/// feed run once by the practice's admin (`system/*.cruds`).
pub(crate) struct FedPractice {
    pub app: TestApp,
    pub admin: Client,
    pub hook: Hook,
    pub _dir: tempfile::TempDir,
    /// Last: the database goes after the server.
    pub _database: common::database::TestDatabase,
}

pub(crate) async fn fed_practice(
    patients: usize,
    seed: u64,
    on_failed: OnFailedChecks,
) -> FedPractice {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, patients, 1, seed), |_| {}).unwrap();
    let hook = Hook::start(0).await;
    let clock = ManualClock::at(at("2026-10-08"));
    let database = common::database::fresh(dir.path(), "fed.db").await;
    let db = &database.db;
    let app = feed_app(&root, db, clock, &hook.url, on_failed).await;
    load_practice(&app, &root).await;
    let admin = app
        .client_for("practice-admin", Role::Admin, PRACTICE, "system/*.cruds")
        .await;
    let r = admin.post(app.url("$run-feed")).send().await.unwrap();
    assert!(r.status().is_success());
    FedPractice {
        app,
        admin,
        hook,
        _dir: dir,
        _database: database,
    }
}

/// A server on `clock` (database `db`) whose practice is enrolled from
/// 2026-07-01 and submits to `endpoint`.
pub(crate) async fn feed_app(
    root: &Path,
    db: &tandem::config::Database,
    clock: std::sync::Arc<ManualClock>,
    endpoint: &str,
    on_failed: OnFailedChecks,
) -> TestApp {
    let generated = Config::load(Some(&root.join("program.toml")), &Overrides::default()).unwrap();
    let endpoint = endpoint.to_string();
    let db = db.clone();
    spawn_app_at(clock, move |c| {
        c.database = db;
        c.default_tenant = PRACTICE.into();
        c.programs = generated.programs;
        c.programs[0].submission = Some(Submission {
            endpoint,
            token_url: None,
            client_id: None,
            key_file: None,
        });
        c.programs[0].reporting.on_failed_checks = on_failed;
        c.enrolments = generated.enrolments;
        c.enrolments[0].start = "2026-07-01".parse().unwrap();
        c.notifications.retry_base_ms = 20;
        c.notifications.retry_max_ms = 100;
    })
    .await
}

pub(crate) async fn post(app: &TestApp, c: &Client, path: &str) -> (StatusCode, Value) {
    let r = c.post(app.url(path)).send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn entries(ledger: &Value) -> Vec<Value> {
    ledger["parameter"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn field(entry: &Value, name: &str) -> Value {
    let p = part(entry, name);
    ["valueCode", "valueString", "valueInteger", "valueInstant"]
        .iter()
        .find_map(|k| p.get(*k).cloned())
        .unwrap_or(Value::Null)
}

/// BB2.Y1.1 for 2026Q3: (numerator, denominator, status).
async fn bb2(app: &TestApp, c: &Client) -> (u64, u64, String) {
    let r = app
        .json_as(
            c,
            &format!("Organization/{PRACTICE}/$milestones?period=2026Q3"),
        )
        .await;
    let m = r["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "milestone" && part(p, "id")["valueString"] == "BB2.Y1.1")
        .unwrap()
        .clone();
    (
        part(&m, "numerator")["valueInteger"].as_u64().unwrap(),
        part(&m, "denominator")["valueInteger"].as_u64().unwrap(),
        part(&m, "status")["valueCode"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Waits until ledger entry `seq` reaches `state` (at most 10 s).
pub(crate) async fn wait_state(app: &TestApp, c: &Client, seq: i64, state: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        let ledger = app
            .json_as(c, &format!("Organization/{PRACTICE}/$submissions"))
            .await;
        if let Some(e) = entries(&ledger)
            .into_iter()
            .find(|e| field(e, "seq") == seq)
        {
            if field(&e, "state") == state {
                return e;
            }
            last = e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("submission {seq} never became {state}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarter_is_submitted_once_through_failures_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 60, 1, 11), |_| {}).unwrap();
    let database = common::database::fresh(dir.path(), "feed.db").await;
    let db = &database.db;
    let hook = Hook::start(2).await;
    let clock = ManualClock::at(at("2026-09-20"));
    let app = feed_app(&root, db, clock.clone(), &hook.url, OnFailedChecks::Send).await;
    load_practice(&app, &root).await;
    let admin = app
        .client_for("practice-admin", Role::Admin, PRACTICE, "system/*.cruds")
        .await;

    // Before the quarter ends (and before the lag has passed): nothing.
    for day in ["2026-09-20", "2026-10-07"] {
        clock.set(at(day));
        let (s, r) = post(&app, &admin, "$run-feed").await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["parameter"][0]["valueInteger"], 0, "{day}");
    }
    // A week after 2026Q3 ended: one submission, delivered through two failures.
    clock.set(at("2026-10-08"));
    let (_, r) = post(&app, &admin, "$run-feed").await;
    assert_eq!(r["parameter"][0]["valueInteger"], 1);
    let ledger = app
        .json_as(&admin, &format!("Organization/{PRACTICE}/$submissions"))
        .await;
    let first = &entries(&ledger)[0];
    let seq = field(first, "seq").as_i64().unwrap();
    assert_eq!(field(first, "period"), "2026Q3");
    let done = wait_state(&app, &admin, seq, "accepted").await;
    assert_eq!(field(&done, "attempts"), 3);
    let log = hook.log.lock().clone();
    assert_eq!(log.len(), 3, "two refusals, one acceptance");
    assert_eq!(log.iter().filter(|r| r.accepted).count(), 1);
    let key = field(first, "idempotencyKey");
    assert!(
        log.iter().all(|r| r.key == key),
        "the same key on every attempt"
    );
    assert_eq!(key, "practice-0.colorado-sim.2026Q3.v1");
    // What was sent is what the ledger holds, hash and all.
    let sent = &log[2].body;
    assert_eq!(sent["type"], "collection");
    assert_eq!(sent["identifier"]["value"], key);
    let types: Vec<&str> = sent["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(&types[..2], ["Organization", "Device"]);
    let cqms = sent["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resource"]["measure"]
                .as_str()
                .is_some_and(|m| m.starts_with("https://madie.cms.gov/"))
        })
        .count();
    // The generated track lists seven adult CQMs; three are required in the
    // first quarter.
    assert_eq!(cqms, 7);
    let milestones = sent["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resource"]["measure"]
                .as_str()
                .is_some_and(|m| m.starts_with("http://tandem.health/fhir/Measure/colorado-sim-"))
        })
        .count();
    assert!(
        milestones > 30,
        "the project year's milestones and goals: {milestones}"
    );
    let with_content = app
        .json_as(
            &admin,
            &format!("Organization/{PRACTICE}/$submissions?content=true"),
        )
        .await;
    assert_eq!(
        part(&entries(&with_content)[0], "content")["resource"],
        *sent
    );
    assert!(
        field(&done, "receipt")
            .as_str()
            .unwrap()
            .contains("\"status\":200")
    );
    // BB2.Y1.1: 2026Q3 submitted by its due date (2026-11-01) with enough CQMs.
    assert_eq!(
        bb2(&app, &admin).await,
        (0, 0, "not-met".to_string()),
        "not due yet"
    );
    clock.set(at("2026-11-02"));
    assert_eq!(bb2(&app, &admin).await, (1, 1, "met".to_string()));

    // The scheduler again, and a restart: the quarter is not submitted again.
    let (_, r) = post(&app, &admin, "$run-feed").await;
    assert_eq!(r["parameter"][0]["valueInteger"], 0);
    app.stop().await;
    let app = feed_app(&root, db, clock.clone(), &hook.url, OnFailedChecks::Send).await;
    let admin = app
        .client_for("practice-admin-2", Role::Admin, PRACTICE, "system/*.cruds")
        .await;
    let (_, r) = post(&app, &admin, "$run-feed").await;
    assert_eq!(r["parameter"][0]["valueInteger"], 0);
    let ledger = app
        .json_as(&admin, &format!("Organization/{PRACTICE}/$submissions"))
        .await;
    assert_eq!(entries(&ledger).len(), 1);
    assert_eq!(hook.accepted().len(), 1);

    // An amendment is a new entry that supersedes; the first is kept.
    let (s, r) = post(
        &app,
        &admin,
        &format!(
            "Organization/{PRACTICE}/$amend-submission?period=2026Q3&reason=late%20lab%20results"
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let v2 = r["parameter"][0]["valueInteger"].as_i64().unwrap();
    let amended = wait_state(&app, &admin, v2, "accepted").await;
    assert_eq!(field(&amended, "version"), 2);
    assert_eq!(field(&amended, "supersedes"), seq);
    assert_eq!(field(&amended, "reason"), "late lab results");
    let ledger = app
        .json_as(&admin, &format!("Organization/{PRACTICE}/$submissions"))
        .await;
    let old = entries(&ledger)
        .into_iter()
        .find(|e| field(e, "seq") == seq)
        .unwrap();
    assert_eq!(field(&old, "state"), "superseded");
    assert_eq!(field(&old, "contentHash"), field(first, "contentHash"));
    assert_eq!(
        hook.accepted().last().unwrap().key,
        "practice-0.colorado-sim.2026Q3.v2"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_submission_waits_for_sign_off() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 30, 1, 12), |_| {}).unwrap();
    let hook = Hook::start(0).await;
    let clock = ManualClock::at(at("2026-10-08"));
    let database = common::database::fresh(dir.path(), "held.db").await;
    let db = &database.db;
    let app = feed_app(&root, db, clock.clone(), &hook.url, OnFailedChecks::Hold).await;
    load_practice(&app, &root).await;
    let admin = app
        .client_for("practice-admin", Role::Admin, PRACTICE, "system/*.cruds")
        .await;
    post(&app, &admin, "$run-feed").await;
    let ledger = app
        .json_as(&admin, &format!("Organization/{PRACTICE}/$submissions"))
        .await;
    let entry = entries(&ledger).pop().expect("recorded");
    // No HIE notification was ever received: the data-quality gate holds it.
    assert_eq!(field(&entry, "state"), "held");
    let checks: Vec<String> = entry["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "check")
        .map(|p| p["valueString"].as_str().unwrap().to_string())
        .collect();
    assert!(
        checks
            .iter()
            .any(|c| c == "no HIE notification received in the last 30 days"),
        "{checks:?}"
    );
    let seq = field(&entry, "seq").as_i64().unwrap();
    assert!(hook.log.lock().is_empty(), "nothing sent while held");
    // Held past the due date, the quarter counts as not submitted.
    clock.set(at("2026-11-02"));
    assert_eq!(bb2(&app, &admin).await, (0, 1, "not-met".to_string()));
    // Only an admin signs off; then it goes out.
    let ehr = app.client.clone();
    let path = format!("Organization/{PRACTICE}/$sign-off?submission={seq}");
    assert_eq!(post(&app, &ehr, &path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(post(&app, &admin, &path).await.0, StatusCode::OK);
    let sent = wait_state(&app, &admin, seq, "accepted").await;
    assert_eq!(field(&sent, "releasedBy"), "practice-admin");
    assert_eq!(hook.accepted().len(), 1);
    // Released late: still not on time.
    assert_eq!(bb2(&app, &admin).await, (0, 1, "not-met".to_string()));
    // Signing off twice is a conflict, not a second send.
    assert_eq!(post(&app, &admin, &path).await.0, StatusCode::CONFLICT);
    app.stop().await;
}

#[test]
fn the_report_command_writes_the_feeds_numbers_as_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pop");
    run(&options(&root, 80, 1, 13), |_| {}).unwrap();
    let database = common::database::fresh_blocking(dir.path(), "report.db");
    let db = &database.db;
    let config = root.join("program.toml");
    let c = config.to_str().unwrap();
    let (practices, bundles) = (root.join("practices"), root.join("bundles"));
    common::process::cli(
        &db,
        &[
            "--config",
            c,
            "import",
            "--tenant",
            PRACTICE,
            practices.to_str().unwrap(),
            bundles.to_str().unwrap(),
        ],
    );
    let out = dir.path().join("out");
    for format in ["csv", "json"] {
        let said = common::process::cli(
            &db,
            &[
                "--config",
                c,
                "report",
                "--program",
                "colorado-sim",
                "--period",
                "2026Q3",
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(said.contains("1 practice(s)"), "{said}");
    }
    let totals: Value =
        serde_json::from_slice(&std::fs::read(root.join("milestones.json")).unwrap()).unwrap();
    let want = &totals[PRACTICE]["2026Q3"];
    let mut reader = csv::Reader::from_path(out.join("colorado-sim-2026Q3.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = |measure: &str| {
        rows.iter()
            .find(|r| r[col("measure_id")] == *measure)
            .unwrap_or_else(|| {
                panic!(
                    "no row for {measure} in {:?}",
                    rows.iter()
                        .map(|r| r[col("measure")].to_string())
                        .collect::<Vec<_>>()
                )
            })
            .clone()
    };
    let bb3 = row("colorado-sim-BB3.Y1.1");
    assert_eq!(bb3[col("denominator")], want["activePatients"].to_string());
    assert_eq!(bb3[col("numerator")], want["empaneledPatients"].to_string());
    let bb7 = row("colorado-sim-BB7.Y1.2");
    assert_eq!(
        bb7[col("denominator")],
        want["screeningDenominator"].to_string()
    );
    assert_eq!(
        bb7[col("numerator")],
        want["screeningNumerator"].to_string()
    );
    let rate: f64 = bb7[col("rate")].parse().unwrap();
    let share = want["screeningNumerator"].as_f64().unwrap()
        / want["screeningDenominator"].as_f64().unwrap();
    assert!((rate - share).abs() < 1e-4);
    // The CQMs over the trailing twelve months, one row each.
    let cqm = row("CMS2-2025");
    assert_eq!(
        (&cqm[col("period_start")], &cqm[col("period_end")]),
        ("2025-10-01", "2026-09-30")
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r[col("measure")].starts_with("https://madie.cms.gov/"))
            .count(),
        7
    );
    // The JSON has the same rows.
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("colorado-sim-2026Q3.json")).unwrap())
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows.len());
}
