//! Screening derivations end to end over HTTP: results, safety alerts with
//! their notification, care plans, updates, deletes, replays and bad input.

use crate::common;

use common::hook::Hook;
use common::screening::phq9;
use common::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn app_with_hook(fail_first: usize) -> (TestApp, Hook) {
    let hook = Hook::start(fail_first).await;
    let url = hook.url.clone();
    let app = spawn_app_with(move |c| {
        c.notifications.retry_base_ms = 40;
        c.notifications.endpoints = vec![tandem::exchange::practice::Endpoint {
            tenant: "default".into(),
            url,
            bearer_token_env: None,
        }];
    })
    .await;
    (app, hook)
}

async fn patient(app: &TestApp, gender: &str, birth: &str) -> String {
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": gender, "birthDate": birth}))
        .await;
    p["id"].as_str().unwrap().to_string()
}

fn component<'a>(r: &'a Value, code: &str) -> Option<&'a Value> {
    r["component"]
        .as_array()?
        .iter()
        .find(|c| c["code"]["coding"][0]["code"] == code)
}

#[tokio::test]
async fn phq9_response_derives_result_care_plan_and_goals() {
    let (app, hook) = app_with_hook(0).await;
    let pid = patient(&app, "female", "1980-05-01").await;
    // 2+2+2+2+1+1+2+2+0 = 14: moderate, positive, item 9 not at all.
    let qr = app
        .create(&phq9(
            &pid,
            [
                Some(2),
                Some(2),
                Some(2),
                Some(2),
                Some(1),
                Some(1),
                Some(2),
                Some(2),
                Some(0),
            ],
        ))
        .await;
    let res = app.screening_results(&pid).await;
    assert_eq!(res.len(), 1);
    let r = &res[0];
    assert_eq!(r["valueQuantity"]["value"], 14);
    assert_eq!(r["code"]["coding"][0]["code"], "44261-6");
    assert_eq!(r["interpretation"][0]["coding"][0]["code"], "POS");
    assert_eq!(
        component(r, "severity-band").unwrap()["valueCodeableConcept"]["coding"][0]["code"],
        "LA6710-3"
    );
    assert_eq!(
        r["derivedFrom"][0]["reference"],
        format!("QuestionnaireResponse/{}", qr["id"].as_str().unwrap())
    );
    assert_eq!(r["effectiveDateTime"], "2026-03-02T10:00:00Z");
    assert_eq!(r["category"][0]["coding"][0]["code"], "survey");
    assert!(
        r["meta"]["security"].is_null(),
        "depression results carry no Part 2 label"
    );

    let plans = app
        .search_resources(&format!("CarePlan?subject=Patient/{pid}"))
        .await;
    assert_eq!(plans.len(), 1);
    let plan = &plans[0];
    assert_eq!(plan["status"], "active");
    assert_eq!(plan["category"][0]["coding"][0]["code"], "assess-plan");
    assert_eq!(plan["goal"].as_array().unwrap().len(), 2);
    let acts = plan["activity"].as_array().unwrap();
    assert!(
        acts.iter()
            .any(|a| a["detail"]["performer"][0]["reference"] == format!("Patient/{pid}")),
        "a patient action"
    );
    assert!(
        acts.iter()
            .any(|a| a["detail"]["code"]["coding"][0]["code"] == "repeat-screen")
    );
    let goals = app
        .search_resources(&format!("Goal?subject=Patient/{pid}"))
        .await;
    assert_eq!(goals.len(), 2);
    assert!(
        goals.iter().all(|g| g["addresses"][0]["reference"]
            == format!("Observation/{}", r["id"].as_str().unwrap()))
    );
    assert!(
        goals
            .iter()
            .all(|g| g["achievementStatus"]["coding"][0]["code"] == "in-progress")
    );
    // No safety item: no Flag, no Task, nothing sent.
    assert!(
        app.search_resources(&format!("Flag?subject=Patient/{pid}"))
            .await
            .is_empty()
    );
    assert!(
        app.outbox_settled().await.is_empty(),
        "nothing was queued, so nothing will be sent"
    );
    assert!(hook.log.lock().is_empty());

    // A follow-up PHQ-9 of 4 (below half of 14, below 5): response achieved, remission not yet (not 12 months).
    let mut follow = phq9(
        &pid,
        [
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ],
    );
    follow["authored"] = json!("2026-04-20T10:00:00Z");
    app.create(&follow).await;
    let goals = app
        .search_resources(&format!("Goal?subject=Patient/{pid}"))
        .await;
    let status = |code: &str| {
        goals
            .iter()
            .find(|g| g["description"]["coding"][0]["code"] == code)
            .unwrap()["achievementStatus"]["coding"][0]["code"]
            .clone()
    };
    assert_eq!(status("depression-response"), "achieved");
    assert_eq!(status("depression-remission"), "improving");
    app.stop().await;
}

#[tokio::test]
async fn item_nine_raises_flag_task_and_one_notification_despite_endpoint_outage() {
    let (app, hook) = app_with_hook(3).await;
    let pid = patient(&app, "male", "1990-01-01").await;
    // Total 3 (negative) but item 9 = "several days".
    let mut body = phq9(
        &pid,
        [
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(1),
        ],
    );
    body["id"] = json!("qr-item9");
    let resp = app.put("QuestionnaireResponse/qr-item9", &body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let flags = app
        .search_resources(&format!("Flag?subject=Patient/{pid}"))
        .await;
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0]["status"], "active");
    let tasks = app
        .search_resources(&format!("Task?subject=Patient/{pid}"))
        .await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "urgent");
    assert_eq!(tasks[0]["owner"]["reference"], "Organization/default");
    let r = &app.screening_results(&pid).await[0];
    assert_eq!(
        r["interpretation"][0]["coding"][0]["code"], "NEG",
        "total 3 is negative"
    );
    assert!(component(r, "safety-item").is_some());

    // Replaying the same PUT changes nothing derived and sends nothing new.
    let again = app.put("QuestionnaireResponse/qr-item9", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    let r2 = &app.screening_results(&pid).await[0];
    assert_eq!(
        r2["meta"]["versionId"], r["meta"]["versionId"],
        "the result was not rewritten"
    );
    assert_eq!(
        app.search_resources(&format!("Task?subject=Patient/{pid}"))
            .await
            .len(),
        1
    );

    let accepted = hook.wait_accepted(1).await;
    // Delivered and recorded: the worker sends it no more.
    app.outbox_settled().await;
    let log = hook.log.lock().clone();
    assert_eq!(
        log.iter().filter(|r| !r.accepted).count(),
        3,
        "three refused attempts while down"
    );
    assert_eq!(hook.accepted().len(), 1, "delivered exactly once");
    assert_eq!(accepted[0].topic, "safety-alert");
    assert!(
        log.iter().all(|r| r.key == accepted[0].key),
        "every attempt carries the same key"
    );
    let kinds: Vec<&str> = accepted[0].body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Task", "Flag", "Observation"]);

    // Deleting the source retracts the result, withdraws the Flag and cancels the Task.
    assert_eq!(
        app.delete("QuestionnaireResponse/qr-item9").await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.screening_results(&pid).await.is_empty());
    let (_, flag) = app
        .get_json(&format!("Flag/{}", flags[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(flag["status"], "entered-in-error");
    let (_, task) = app
        .get_json(&format!("Task/{}", tasks[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(task["status"], "cancelled");
    app.stop().await;
}

#[tokio::test]
async fn updating_the_source_updates_the_result_and_entered_in_error_retracts_it() {
    let (app, _hook) = app_with_hook(0).await;
    let pid = patient(&app, "female", "1985-01-01").await;
    let mut body = phq9(&pid, [Some(3); 9].map(|a| a.map(|x: usize| x.min(1))));
    body["id"] = json!("qr-upd");
    app.put("QuestionnaireResponse/qr-upd", &body).await;
    let first = app.screening_results(&pid).await;
    assert_eq!(first[0]["valueQuantity"]["value"], 9);
    let mut updated = phq9(
        &pid,
        [
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(0),
        ],
    );
    updated["id"] = json!("qr-upd");
    app.put("QuestionnaireResponse/qr-upd", &updated).await;
    let second = app.screening_results(&pid).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], first[0]["id"], "same result, new version");
    assert_eq!(second[0]["valueQuantity"]["value"], 24);
    assert_eq!(
        component(&second[0], "severity-band").unwrap()["valueCodeableConcept"]["coding"][0]["code"],
        "LA6712-9"
    );
    let mut eie = updated.clone();
    eie["status"] = json!("entered-in-error");
    app.put("QuestionnaireResponse/qr-upd", &eie).await;
    assert!(app.screening_results(&pid).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_stored_with_a_warning_and_derives_nothing() {
    let (app, _hook) = app_with_hook(0).await;
    let pid = patient(&app, "female", "1985-01-01").await;
    let total = |value: Value| {
        let mut o = json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "subject": {"reference": format!("Patient/{pid}")}, "effectiveDateTime": "2026-02-01"});
        for (k, v) in value.as_object().unwrap() {
            o[k.as_str()] = v.clone();
        }
        o
    };
    let cases = [
        (
            total(json!({"valueInteger": 28})),
            "outside the instrument's range",
        ),
        (total(json!({"valueString": "twelve"})), "not numeric"),
        (
            {
                let mut q = phq9(&pid, [Some(0); 9]);
                q["item"][0]["answer"][0]["valueCoding"]["code"] = json!("LA9999-9");
                q
            },
            "not in the answer list",
        ),
        (
            {
                let mut q = phq9(&pid, [Some(0); 9]);
                let dup = q["item"][0].clone();
                q["item"].as_array_mut().unwrap().push(dup);
                q
            },
            "more than once",
        ),
        (
            {
                let mut q = phq9(&pid, [Some(0); 9]);
                q["questionnaire"] = json!("http://example.org/Questionnaire/unknown");
                q
            },
            "does not know",
        ),
    ];
    for (body, why) in cases {
        let rt = body["resourceType"].as_str().unwrap().to_string();
        let resp = app
            .client
            .post(app.url(&rt))
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=OperationOutcome")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{why}: the sender's record is stored"
        );
        let oo: Value = resp.json().await.unwrap();
        let text = oo.to_string();
        assert!(text.contains(why), "{why}: {text}");
        assert!(
            oo["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["severity"] == "warning")
        );
    }
    assert!(
        app.screening_results(&pid).await.is_empty(),
        "nothing derived from bad input"
    );
    // A valid total derives; 12 from the sender is kept as the number.
    app.create(&total(json!({"valueQuantity": {"value": 12, "system": "http://unitsofmeasure.org", "code": "{score}"}}))).await;
    let res = app.screening_results(&pid).await;
    assert_eq!(res.len(), 1);
    assert_eq!(res[0]["valueQuantity"]["value"], 12);
    app.stop().await;
}
