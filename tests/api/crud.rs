//! REST interactions over real HTTP: create, read, vread, update, delete,
//! history, conditional operations, headers, Prefer and content negotiation.

use crate::common;

use common::process::{fetch_json, next_link};
use common::{spawn_app, without_meta};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn patient(mrn: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}], "name": [{"family": "Rivera", "given": ["Ana"]}], "gender": "female",
           "birthDate": "1980-02-03", "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1980-02-03T10:15:00-05:00"}]},
           "unknownElement": serde_json::from_str::<Value>(r#"{"kept": [1, 2.50, "x"]}"#).unwrap()})
}

#[tokio::test]
async fn create_read_update_delete_with_headers() {
    let app = spawn_app().await;
    let sent = patient("1");
    let r = app.post("Patient", &sent).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    assert!(r.headers().contains_key("last-modified"));
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, app.url(&format!("Patient/{id}/_history/1")));
    assert_eq!(created["meta"]["versionId"], "1");

    // Read back: JSON-equal to what was sent, apart from id and meta.
    let (status, read) = app.get_json(&format!("Patient/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut expected = sent.clone();
    expected["id"] = json!(id);
    assert_eq!(without_meta(read.clone()), without_meta(expected));
    assert_eq!(
        read["unknownElement"]["kept"][1].to_string(),
        "2.50",
        "decimal precision kept"
    );

    // Update with the right If-Match.
    let mut changed = read.clone();
    changed["gender"] = json!("other");
    let r = app
        .put_with(
            &format!("Patient/{id}"),
            &changed,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "W/\"2\"");

    // Stale If-Match: 412, nothing changes.
    let r = app
        .put_with(
            &format!("Patient/{id}"),
            &changed,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let oo: Value = r.json().await.unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");

    // Conditional read: the current version is not sent again; an old one is.
    let etag_now = app.get(&format!("Patient/{id}")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let cached = app
        .get_with(&format!("Patient/{id}"), &[("if-none-match", &etag_now)])
        .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let stale = app
        .get_with(&format!("Patient/{id}"), &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(stale.status(), StatusCode::OK);
    let later = app
        .get_with(
            &format!("Patient/{id}"),
            &[("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")],
        )
        .await;
    assert_eq!(later.status(), StatusCode::NOT_MODIFIED);
    let earlier = app
        .get_with(
            &format!("Patient/{id}"),
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        )
        .await;
    assert_eq!(earlier.status(), StatusCode::OK);

    // vread of both versions.
    let (s1, v1) = app.get_json(&format!("Patient/{id}/_history/1")).await;
    assert_eq!(
        (s1, v1["gender"].as_str()),
        (StatusCode::OK, Some("female"))
    );
    let (_, v2) = app.get_json(&format!("Patient/{id}/_history/2")).await;
    assert_eq!(v2["gender"], "other");
    assert_eq!(
        app.get(&format!("Patient/{id}/_history/9")).await.status(),
        StatusCode::NOT_FOUND
    );

    // Delete: logical. Read → 410; history keeps all three versions.
    assert_eq!(
        app.delete(&format!("Patient/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("Patient/{id}")).await.status(),
        StatusCode::GONE
    );
    let (_, hist) = app.get_json(&format!("Patient/{id}/_history")).await;
    assert_eq!(hist["type"], "history");
    assert_eq!(hist["total"], 3);
    assert_eq!(hist["entry"][0]["request"]["method"], "DELETE");
    assert!(hist["entry"][0].get("resource").is_none());
    assert_eq!(
        app.get(&format!("Patient/{id}/_history/3")).await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        app.get("Patient/never-there").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn create_on_update_and_prefer() {
    let app = spawn_app().await;
    let mut p = patient("2");
    p["id"] = json!("client-id-1");
    let r = app.put("Patient/client-id-1", &p).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        app.url("Patient/client-id-1/_history/1")
    );

    let minimal = app
        .client
        .put(app.url("Patient/client-id-1"))
        .header("prefer", "return=minimal")
        .header("content-type", "application/fhir+json")
        .body(p.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(minimal.status(), StatusCode::OK);
    assert_eq!(minimal.headers()["etag"], "W/\"2\"");
    assert!(minimal.text().await.unwrap().is_empty());

    let oo = app
        .client
        .post(app.url("Patient"))
        .header("prefer", "return=OperationOutcome")
        .header("content-type", "application/fhir+json")
        .body(patient("3").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(oo.status(), StatusCode::CREATED);
    let body: Value = oo.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    app.stop().await;
}

#[tokio::test]
async fn history_levels_since_and_count() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create(&patient(&i.to_string())).await;
    }
    // Millisecond timestamps: keep the cutoff clear of both neighbours.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.create(&json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}))
        .await;

    let (_, sys) = app.get_json("_history").await;
    assert_eq!(sys["total"], 6);
    let (_, ty) = app.get_json("Patient/_history?_count=2").await;
    assert_eq!(ty["total"], 5);
    assert_eq!(ty["entry"].as_array().unwrap().len(), 2);
    // Follow next links to the end: every version exactly once.
    let mut seen = 0;
    let mut next = next_link(&ty);
    seen += 2;
    while let Some(url) = next {
        let page: Value = fetch_json(&app.client, &url).await;
        seen += page["entry"].as_array().unwrap().len();
        next = next_link(&page);
    }
    assert_eq!(seen, 5);
    let (_, since) = app
        .get_json(&format!("_history?_since={}", urlencode(&cutoff)))
        .await;
    assert_eq!(since["total"], 1);
    assert_eq!(since["entry"][0]["resource"]["resourceType"], "Observation");
    let (status, _) = app.get_json("_history?_since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn conditional_create_update_delete() {
    let app = spawn_app().await;
    let send = |body: Value, ine: &'static str| {
        let c = app
            .client
            .post(app.url("Patient"))
            .header("content-type", "application/fhir+json")
            .header("if-none-exist", ine);
        async move { c.body(body.to_string()).send().await.unwrap() }
    };
    assert_eq!(
        send(patient("10"), "identifier=urn:mrn|10").await.status(),
        StatusCode::CREATED
    );
    let again = send(patient("10"), "identifier=urn:mrn|10").await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "existing match returns 200 and creates nothing"
    );
    assert_eq!(app.history_total().await, 1);

    app.create(&patient("11")).await;
    let multi = send(patient("12"), "family=rivera").await;
    assert_eq!(multi.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.history_total().await, 2);

    // Conditional update: match → update; no match → create.
    let mut p = patient("10");
    p["gender"] = json!("male");
    let r = app.put("Patient?identifier=urn:mrn|10", &p).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .put("Patient?identifier=urn:mrn|99", &patient("99"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        app.put("Patient?family=rivera", &patient("5"))
            .await
            .status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.put("Patient?bogus=1", &patient("5")).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Conditional delete.
    assert_eq!(
        app.delete("Patient?identifier=urn:mrn|99").await.status(),
        StatusCode::NO_CONTENT
    );
    let (_, b) = app.get_json("Patient?identifier=urn:mrn|99").await;
    assert_eq!(b["total"], 0);
    assert_eq!(
        app.delete("Patient?family=rivera").await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    app.stop().await;
}

#[tokio::test]
async fn content_negotiation_and_pretty() {
    let app = spawn_app().await;
    let created = app.create(&patient("1")).await;
    let id = created["id"].as_str().unwrap();
    let xml = app
        .get_with(
            &format!("Patient/{id}"),
            &[("accept", "application/fhir+xml")],
        )
        .await;
    assert_eq!(xml.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        xml.json::<Value>().await.unwrap()["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(
        app.get(&format!("Patient/{id}?_format=xml")).await.status(),
        StatusCode::NOT_ACCEPTABLE
    );
    let fhir_json = app
        .get(&format!("Patient/{id}?_format=application/fhir+json"))
        .await;
    assert_eq!(
        fhir_json.status(),
        StatusCode::OK,
        "an unencoded + in _format still means fhir+json"
    );
    let json_fmt = app.get(&format!("Patient/{id}?_format=json")).await;
    assert_eq!(json_fmt.status(), StatusCode::OK);
    assert!(
        json_fmt.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let plain = app
        .get_with(&format!("Patient/{id}"), &[("accept", "application/json")])
        .await;
    assert_eq!(plain.status(), StatusCode::OK);
    let pretty = app
        .get(&format!("Patient/{id}?_pretty=true"))
        .await
        .text()
        .await
        .unwrap();
    assert!(pretty.contains("\n  \""), "pretty output is indented");
    let compact = app
        .get(&format!("Patient/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!compact.contains('\n'));
    app.stop().await;
}
