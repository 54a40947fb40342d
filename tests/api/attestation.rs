//! The Milestone Attestation Checklist over HTTP: the practice answers the
//! program's Questionnaire with evidence attached, who attested and when is
//! kept as Provenance, the facilitator returns an item with a comment, a new
//! answer supersedes, and a later checklist period needs answers of its own.

use crate::common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{ManualClock, TestApp, part, spawn_app_at};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::config::{Config, Overrides};

const PRACTICE: &str = "practice-0";

fn at(day: &str) -> i64 {
    let d: NaiveDate = day.parse().unwrap();
    Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
        .timestamp_millis()
}

async fn app_at(clock: std::sync::Arc<ManualClock>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    tandem::generate::run(&common::population::options(dir.path(), 3, 1, 1), |_| {}).unwrap();
    let generated = Config::load(
        Some(&dir.path().join("program.toml")),
        &Overrides::default(),
    )
    .unwrap();
    spawn_app_at(clock, move |c| {
        c.default_tenant = PRACTICE.into();
        c.programs = generated.programs;
        c.enrolments = generated.enrolments;
    })
    .await
}

fn answer(item: &str, code: &str, evidence: Option<&str>) -> Value {
    let mut i = json!({ "linkId": item, "answer": [{ "valueCoding": {
        "system": "http://tandem.health/fhir/CodeSystem/attestation-scale", "code": code } }] });
    if let Some(doc) = evidence {
        i["item"] = json!([{ "linkId": format!("{item}.evidence"), "answer": [{ "valueReference": { "reference": doc } }] }]);
    }
    i
}

fn checklist(authored: &str, items: Vec<Value>) -> Value {
    json!({ "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://tandem.health/fhir/Questionnaire/colorado-sim-attestation",
        "status": "completed", "subject": { "reference": format!("Organization/{PRACTICE}") },
        "authored": authored, "item": items })
}

/// (status, reason) of milestone `id` in `$milestones?{query}`.
async fn status(app: &TestApp, query: &str, id: &str) -> (String, String) {
    let (s, r) = app
        .get_json(&format!("Organization/{PRACTICE}/$milestones?{query}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let m = r["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "milestone" && part(p, "id")["valueString"] == id)
        .unwrap()
        .clone();
    (
        part(&m, "status")["valueCode"]
            .as_str()
            .unwrap()
            .to_string(),
        part(&m, "reason")["valueString"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn attestations_are_recorded_reviewed_and_renewed_each_period() {
    let clock = ManualClock::at(at("2026-03-10"));
    let app = app_at(clock.clone()).await;
    // The checklist is served like any Questionnaire.
    let (s, q) = app.get_json("Questionnaire/colorado-sim-attestation").await;
    assert_eq!(s, StatusCode::OK);
    let item = q["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["linkId"] == "BB1.Y1.3")
        .unwrap()
        .clone();
    assert_eq!(item["answerOption"].as_array().unwrap().len(), 5);

    let minutes = app
        .create(&json!({ "resourceType": "DocumentReference", "status": "current",
            "description": "QI team minutes, February",
            "content": [{ "attachment": { "contentType": "text/plain", "data": "UUkgdGVhbSBtZXQ=" } }] }))
        .await;
    let doc = format!("DocumentReference/{}", minutes["id"].as_str().unwrap());
    let first = app
        .create(&checklist(
            "2026-03-10T12:00:00Z",
            vec![
                answer("BB1.Y1.3", "4", Some(&doc)),
                answer("BB1.Y1.2", "2", None),
            ],
        ))
        .await;
    let year = "projectYear=1";
    assert_eq!(status(&app, year, "BB1.Y1.3").await.0, "met");
    assert_eq!(
        status(&app, year, "BB1.Y1.2").await,
        ("in-progress".into(), "attested 2 (Just Beginning)".into())
    );
    assert_eq!(
        status(&app, year, "BB1.Y1.4").await,
        (
            "in-progress".into(),
            "no attestation recorded for this checklist period".into()
        )
    );

    // Who attested and when.
    let qr = first["id"].as_str().unwrap();
    let provenance = app.search_resources("Provenance").await;
    let p = provenance
        .iter()
        .find(|p| p["target"][0]["reference"] == format!("QuestionnaireResponse/{qr}/_history/1"))
        .expect("a Provenance for the answer");
    assert_eq!(
        p["agent"][0]["who"]["reference"],
        format!("Organization/{PRACTICE}")
    );
    assert_eq!(p["agent"][0]["who"]["display"], "test-ehr");

    // The facilitator returns the item; the practice may not review itself.
    let facilitator = app
        .client_for("pf", Role::Reporting, "facilitator-1", "system/*.rs")
        .await;
    let review = |c: &reqwest::Client, q: &str| {
        c.post(app.url(&format!("Organization/{PRACTICE}/$review-attestation?{q}")))
            .header("x-tandem-tenant", PRACTICE)
            .send()
    };
    let own = app.client.post(app.url(&format!(
        "Organization/{PRACTICE}/$review-attestation?item=BB1.Y1.3&decision=accept"
    )));
    assert_eq!(own.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        review(&facilitator, "item=BB1.Y1.3&decision=return")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        review(&facilitator, "item=BB1.Y1.5&decision=accept")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    clock.set(at("2026-03-11"));
    let r = review(
        &facilitator,
        "item=BB1.Y1.3&decision=return&comment=minutes%20for%20March%20missing",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        status(&app, year, "BB1.Y1.3").await,
        (
            "in-progress".into(),
            "returned by the facilitator: minutes for March missing".into()
        )
    );
    // A new answer after the review stands (the first is kept).
    clock.set(at("2026-03-20"));
    app.create(&checklist(
        "2026-03-20T12:00:00Z",
        vec![answer("BB1.Y1.3", "4", Some(&doc))],
    ))
    .await;
    assert_eq!(status(&app, year, "BB1.Y1.3").await.0, "met");
    assert_eq!(
        app.get(&format!("QuestionnaireResponse/{qr}"))
            .await
            .status(),
        StatusCode::OK
    );

    // A later checklist period needs its own answers.
    clock.set(at("2026-11-15"));
    let q4 = "period=2026Q4";
    assert_eq!(status(&app, q4, "BB1.Y1.3").await.0, "in-progress");
    app.create(&checklist(
        "2026-11-15T12:00:00Z",
        vec![answer("BB1.Y1.3", "4", None)],
    ))
    .await;
    assert_eq!(status(&app, q4, "BB1.Y1.3").await.0, "met");

    // The first period (January to June) has closed: its answers stay as
    // they were — no update, no delete, no answer backdated into it — and
    // nothing is stored by the attempts.
    let mut edited = app.get_json(&format!("QuestionnaireResponse/{qr}")).await.1;
    edited["item"] = json!([answer("BB1.Y1.3", "0", None)]);
    let r = app
        .put(&format!("QuestionnaireResponse/{qr}"), &edited)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let oo: Value = r.json().await.unwrap();
    assert!(
        oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("2026-01-01 to 2026-06-30"),
        "{oo}"
    );
    let r = app
        .client
        .delete(app.url(&format!("QuestionnaireResponse/{qr}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (_, kept) = app.get_json(&format!("QuestionnaireResponse/{qr}")).await;
    assert_eq!(kept["meta"]["versionId"], "1");
    let r = app
        .post(
            "QuestionnaireResponse",
            &checklist("2026-05-01T12:00:00Z", vec![answer("BB1.Y1.4", "4", None)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // An answer of the open period may still be corrected.
    let (_, mut open) = app
        .get_json("QuestionnaireResponse?authored=ge2026-11-01")
        .await;
    let mut current = open["entry"][0]["resource"].take();
    current["item"] = json!([answer("BB1.Y1.3", "3", None)]);
    let id = current["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.put(&format!("QuestionnaireResponse/{id}"), &current)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(status(&app, q4, "BB1.Y1.3").await.0, "in-progress");
    app.stop().await;
}
