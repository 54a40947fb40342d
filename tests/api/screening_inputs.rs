//! The input shapes EHRs send, using US Core's own examples: a
//! QuestionnaireResponse with its panel and item Observations in one
//! transaction (one result, from the response), a panel with `hasMember`
//! items, a panel with components, a stored custom Questionnaire, and the
//! Part 2 label on positive substance-use results; then `$screening-status`.

use crate::common;

use common::{TestApp, part, shared_data, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::fhir::bundle::put_transaction;

fn us_core(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(shared_data().join("us-core-examples").join(name)).unwrap(),
    )
    .unwrap()
}

async fn post_bundle(app: &TestApp, b: &Value) -> Value {
    let r = app.post("", b).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

const PHQ9_MEMBERS: [&str; 11] = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8", "44261-6", "69722-7",
];

#[tokio::test]
async fn us_core_phq9_response_with_panel_and_items_gives_one_result() {
    let app = spawn_app().await;
    let mut all = vec![
        us_core("patient-example.json"),
        us_core("QuestionnaireResponse-phq-9-example.json"),
        us_core("Observation-PHQ9-panel-example-44249-1.json"),
    ];
    all.extend(
        PHQ9_MEMBERS
            .iter()
            .map(|c| us_core(&format!("Observation-PHQ9-item-example-{c}.json"))),
    );
    post_bundle(&app, &put_transaction(all)).await;
    let res = app.screening_results("example").await;
    assert_eq!(
        res.len(),
        1,
        "the panel and items defer to the response they were derived from"
    );
    // Hand-checked against the response: 2+2+2+2+1+1+2+0+0 = 12, as US Core's own total says.
    assert_eq!(res[0]["valueQuantity"]["value"], 12);
    assert_eq!(
        res[0]["derivedFrom"][0]["reference"],
        "QuestionnaireResponse/phq-9-example"
    );
    assert_eq!(res[0]["interpretation"][0]["coding"][0]["code"], "POS");
    app.stop().await;
}

#[tokio::test]
async fn panel_with_members_in_one_transaction_derives_from_the_panel() {
    let app = spawn_app().await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("derivedFrom");
        v
    };
    // The panel comes before its members in the Bundle.
    let mut all = vec![
        us_core("patient-example.json"),
        strip(us_core("Observation-PHQ9-panel-example-44249-1.json")),
    ];
    all.extend(
        PHQ9_MEMBERS
            .iter()
            .map(|c| strip(us_core(&format!("Observation-PHQ9-item-example-{c}.json")))),
    );
    post_bundle(&app, &put_transaction(all)).await;
    let res = app.screening_results("example").await;
    assert_eq!(
        res.len(),
        1,
        "the total member defers to its panel: {res:?}"
    );
    let r = &res[0];
    assert_eq!(
        r["derivedFrom"][0]["reference"],
        "Observation/PHQ9-panel-example-44249-1"
    );
    assert_eq!(
        r["derivedFrom"].as_array().unwrap().len(),
        12,
        "panel + 11 members"
    );
    assert_eq!(
        r["valueQuantity"]["value"], 12,
        "items agree with the sent valueString total"
    );
    app.stop().await;
}

#[tokio::test]
async fn component_panel_audit_c_positive_is_labelled_part2() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "female"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    let comp = |code: &str, answer: &str| json!({"code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": answer}]}});
    let panel = json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "72109-2"}]},
        "subject": {"reference": format!("Patient/{pid}")}, "effectiveDateTime": "2026-05-05",
        "component": [comp("68518-0", "LA18926-8"), comp("68519-8", "LA15695-2"), comp("68520-6", "LA18933-4")]});
    app.create(&panel).await;
    let res = app.screening_results(pid).await;
    assert_eq!(res[0]["valueQuantity"]["value"], 3);
    assert_eq!(
        res[0]["interpretation"][0]["coding"][0]["code"], "POS",
        "3 is positive for a woman"
    );
    let codes: Vec<&str> = res[0]["meta"]["security"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SUD", "R"]);
    // The SUD goal makes the care plan sensitive too.
    let (_, plans) = app
        .get_json(&format!("CarePlan?subject=Patient/{pid}"))
        .await;
    assert_eq!(
        plans["entry"][0]["resource"]["meta"]["security"][0]["code"],
        "SUD"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stored_questionnaire_with_local_codes_is_scored_by_its_weights() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "male"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    // A practice's own GAD-7 form: local linkIds and answer codes, LOINC item codes, itemWeight.
    let opts = |n: usize| -> Vec<Value> {
        (0..4).map(|w| json!({"valueCoding": {"system": "urn:practice", "code": format!("q{n}a{w}")}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": w}]})).collect()
    };
    let loinc = [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ];
    let items: Vec<Value> = loinc.iter().enumerate().map(|(n, c)| json!({"linkId": format!("q{n}"), "type": "choice", "code": [{"system": "http://loinc.org", "code": c}], "answerOption": opts(n)})).collect();
    app.create(&json!({"resourceType": "Questionnaire", "url": "http://practice.example/Questionnaire/gad7", "status": "active", "item": items})).await;
    let answers: Vec<Value> = (0..7).map(|n| json!({"linkId": format!("q{n}"), "answer": [{"valueCoding": {"system": "urn:practice", "code": format!("q{n}a2")}}]})).collect();
    app.create(&json!({"resourceType": "QuestionnaireResponse", "questionnaire": "http://practice.example/Questionnaire/gad7|1.0", "status": "completed",
        "subject": {"reference": format!("Patient/{pid}")}, "authored": "2026-06-01", "item": answers})).await;
    let res = app.screening_results(pid).await;
    assert_eq!(res[0]["code"]["coding"][0]["code"], "70274-6");
    assert_eq!(res[0]["valueQuantity"]["value"], 14, "7 items x weight 2");
    app.stop().await;
}

#[tokio::test]
async fn in_progress_waits_and_screening_status_reports_due_dates() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "female", "birthDate": "1970-02-02"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    let total = |status: &str, value: i64, date: &str| {
        json!({"resourceType": "Observation", "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": format!("Patient/{pid}")}, "effectiveDateTime": date, "valueInteger": value})
    };
    app.create(&total("preliminary", 15, "2026-01-05")).await;
    assert!(
        app.screening_results(pid).await.is_empty(),
        "preliminary inputs wait"
    );
    app.create(&total("final", 15, "2026-01-05")).await;
    let (s, status) = app
        .get_json(&format!("Patient/{pid}/$screening-status"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["resourceType"], "Parameters");
    let params = status["parameter"].as_array().unwrap();
    let phq = params
        .iter()
        .find(|p| p["name"] == "instrument" && part(p, "instrument")["valueCode"] == "phq-9")
        .unwrap();
    assert_eq!(part(phq, "total")["valueDecimal"], 15);
    assert_eq!(part(phq, "positive")["valueBoolean"], true);
    let due = |domain: &str| {
        params
            .iter()
            .find(|p| p["name"] == "due" && part(p, "domain")["valueCode"] == domain)
            .map(|p| part(p, "dueDate")["valueDate"].clone())
    };
    assert_eq!(
        due("depression"),
        Some(json!("2027-01-05")),
        "annual after the last completed screen"
    );
    assert!(due("alcohol").is_some(), "never screened: due now");
    assert_eq!(due("development"), None, "not for a 56-year-old");
    let (s, _) = app.get_json("Patient/nobody/$screening-status").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, oo) = app
        .get_json(&format!("Patient/{pid}/$everything-else"))
        .await;
    assert_eq!(
        (s, oo["resourceType"].as_str()),
        (StatusCode::NOT_FOUND, Some("OperationOutcome"))
    );
    app.stop().await;
}

#[tokio::test]
async fn screening_status_follows_the_callers_scopes() {
    use tandem::auth::Role;
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "male", "birthDate": "1960-01-01"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    let url = app.url(&format!("Patient/{pid}/$screening-status"));
    let narrow = app
        .client_for("patients-only", Role::Ehr, "default", "system/Patient.r")
        .await;
    assert_eq!(
        narrow.get(&url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "reading results needs Observation search"
    );
    let enough = app
        .client_for(
            "screening-reader",
            Role::Ehr,
            "default",
            "system/Patient.r system/Observation.rs",
        )
        .await;
    assert_eq!(
        enough.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let other = app
        .client_for("other-practice", Role::Ehr, "other", "system/*.rs")
        .await;
    assert_eq!(
        other.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "another tenant's patient does not exist for it"
    );
    app.stop().await;
}

#[tokio::test]
async fn developmental_screen_procedure_counts_for_the_nine_month_visit() {
    let app = spawn_app().await;
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "female", "birthDate": "2026-01-10"}))
        .await;
    let pid = p["id"].as_str().unwrap();
    app.create(&json!({"resourceType": "Procedure", "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "96110"}]},
        "subject": {"reference": format!("Patient/{pid}")}, "performedDateTime": "2026-10-20"}))
        .await;
    let res = app.screening_results(pid).await;
    assert_eq!(res.len(), 1);
    assert!(res[0]["dataAbsentReason"].is_null(), "a completed screen");
    assert!(res[0]["interpretation"].is_null(), "no reading was sent");
    let (_, status) = app
        .get_json(&format!("Patient/{pid}/$screening-status"))
        .await;
    let params = status["parameter"].as_array().unwrap();
    let dev = params
        .iter()
        .find(|p| p["name"] == "due" && part(p, "domain")["valueCode"] == "development")
        .unwrap();
    assert_eq!(
        part(dev, "dueDate")["valueDate"],
        "2027-07-10",
        "the 18-month visit is next"
    );
    let inst = params
        .iter()
        .find(|p| {
            p["name"] == "instrument" && part(p, "instrument")["valueCode"] == "developmental"
        })
        .unwrap();
    assert_eq!(part(inst, "completed")["valueBoolean"], true);
    app.stop().await;
}
