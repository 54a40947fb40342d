//! Bad input: each case answers an OperationOutcome with the right status and
//! changes nothing (checked through the system history total).

use crate::common;

use common::spawn_app_with;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn expect_outcome(r: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(r.status(), status, "expected {status} for '{needle}'");
    let body: Value = r.json().await.expect("OperationOutcome body");
    assert_eq!(body["resourceType"], "OperationOutcome");
    let text = body["issue"].to_string();
    assert!(
        text.to_lowercase().contains(&needle.to_lowercase()),
        "'{needle}' not in {text}"
    );
}

#[tokio::test]
async fn every_bad_write_is_refused_and_changes_nothing() {
    let app = spawn_app_with(|c| {
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_bundle_entries = 5;
    })
    .await;
    app.create(&json!({"resourceType": "Patient", "id": "ignored", "gender": "female"}))
        .await;
    let before = app.history_total().await;
    let raw = |method: reqwest::Method, path: &str, ct: &str, body: String| {
        app.client
            .request(method, app.url(path))
            .header("content-type", ct.to_string())
            .body(body)
            .send()
    };
    let fhir = "application/fhir+json";
    expect_outcome(
        raw(reqwest::Method::POST, "Patient", fhir, "{not json".into())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "not valid JSON",
    )
    .await;
    // A Quantity's value must be a finite number, also in choice elements
    // and components (a string "nan" answered 500 from the indexer).
    let obs = |q: &str| {
        format!(r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},{q}}}"#)
    };
    for q in [
        r#""valueQuantity":{"value":"nan"}"#,
        r#""valueQuantity":{"value":"NaN","unit":"mg"}"#,
        r#""valueQuantity":{"value":"12"}"#,
        r#""valueQuantity":{"value":1e400}"#,
        r#""component":[{"code":{"text":"y"},"valueQuantity":{"value":"inf"}}]"#,
    ] {
        expect_outcome(
            raw(reqwest::Method::POST, "Observation", fhir, obs(q))
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "must be a decimal JSON number",
        )
        .await;
    }
    // Choice elements are checked by their type like ordinary ones (they
    // were stored, then silently skipped by measures and derivations), and
    // literal references must name something; alone and in a transaction.
    for (q, at) in [
        (
            r#""effectiveDateTime":"2025-02-30""#,
            "Observation.effectiveDateTime",
        ),
        (
            r#""effectiveDateTime":"2025-02-01T24:00:00Z""#,
            "Observation.effectiveDateTime",
        ),
        (
            r#""effectiveDateTime":"2025-02-01T10:00:00+25:00""#,
            "Observation.effectiveDateTime",
        ),
        (r#""valueTime":"24:00:00""#, "Observation.valueTime"),
        (r#""valueInteger":"12""#, "Observation.valueInteger"),
        (
            r##""subject":{"reference":"#nothing"}"##,
            "Observation.subject.reference",
        ),
        (
            r#""subject":{"reference":"Patient/"}"#,
            "Observation.subject.reference",
        ),
    ] {
        expect_outcome(
            raw(reqwest::Method::POST, "Observation", fhir, obs(q))
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            at,
        )
        .await;
        let bundle = format!(
            r#"{{"resourceType":"Bundle","type":"transaction","entry":[{{"resource":{},"request":{{"method":"POST","url":"Observation"}}}}]}}"#,
            obs(q)
        );
        expect_outcome(
            raw(reqwest::Method::POST, "", fhir, bundle).await.unwrap(),
            StatusCode::BAD_REQUEST,
            at,
        )
        .await;
    }
    // A key twice: serde_json would keep the last, the stored text both.
    for (path, body) in [
        (
            "Patient",
            r#"{"resourceType":"Patient","gender":"male","gender":"female"}"#,
        ),
        (
            "",
            r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":
              {"resourceType":"Patient","active":true,"active":false},
              "request":{"method":"POST","url":"Patient"}}]}"#,
        ),
    ] {
        expect_outcome(
            raw(reqwest::Method::POST, path, fhir, body.into())
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "appears twice",
        )
        .await;
    }
    expect_outcome(
        raw(reqwest::Method::POST, "Patient", fhir, "[1,2]".into())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "JSON object",
    )
    .await;
    expect_outcome(
        app.post("Patient", &json!({"resourceType": "Observation"}))
            .await,
        StatusCode::BAD_REQUEST,
        "does not match the URL",
    )
    .await;
    expect_outcome(
        app.put("Patient/a", &json!({"resourceType": "Patient", "id": "b"}))
            .await,
        StatusCode::BAD_REQUEST,
        "differs from the URL id",
    )
    .await;
    expect_outcome(
        app.post("Nonsense", &json!({"resourceType": "Nonsense"}))
            .await,
        StatusCode::NOT_FOUND,
        "not an R4 resource type",
    )
    .await;
    expect_outcome(
        app.put(
            "Patient/bad_id!",
            &json!({"resourceType": "Patient", "id": "bad_id!"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "not valid",
    )
    .await;
    let wrong = app
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "active": "yes"}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let oo: Value = wrong.json().await.unwrap();
    assert_eq!(
        oo["issue"][0]["expression"][0], "Patient.active",
        "the issue names the element"
    );
    let big = json!({"resourceType": "Patient", "text": {"status": "generated", "div": "x".repeat(100 * 1024)}});
    expect_outcome(
        app.post("Patient", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "limit",
    )
    .await;
    let deep = format!(
        "{{\"resourceType\":\"Patient\",\"x\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    expect_outcome(
        raw(reqwest::Method::POST, "Patient", fhir, deep)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "recursion",
    )
    .await;
    expect_outcome(
        raw(
            reqwest::Method::POST,
            "Patient",
            "application/fhir+xml",
            "<Patient/>".into(),
        )
        .await
        .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not supported",
    )
    .await;
    expect_outcome(
        raw(reqwest::Method::POST, "Patient", "text/plain", "{}".into())
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "text/plain",
    )
    .await;
    let too_many = json!({"resourceType": "Bundle", "type": "batch", "entry": (0..6).map(|_| json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}})).collect::<Vec<_>>()});
    expect_outcome(
        app.post("", &too_many).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "limit is 5",
    )
    .await;
    assert_eq!(
        app.history_total().await,
        before,
        "no bad request changed anything"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_search_values() {
    let app = spawn_app_with(|_| {}).await;
    for (q, needle) in [
        ("Observation?date=notadate", "not a valid FHIR date"),
        ("Patient?_count=-1", "_count"),
        ("Observation?value-quantity=abc", "not a number"),
        ("Patient?_sort=nosuch", "sortable"),
        ("Patient?name:bogus=x", "modifier"),
        ("Patient?_include=Patient:nosuch", "reference parameter"),
    ] {
        expect_outcome(app.get(q).await, StatusCode::BAD_REQUEST, needle).await;
    }
    // Bounded searches (SQLite's expression depth answered 500 before):
    // refused with the limit named; at the limit they run.
    let values = |n: usize| vec!["a"; n].join(",");
    let repeated = |p: &str, n: usize| vec![p; n].join("&");
    let has = "_has:Observation:patient:code=x";
    for (q, needle) in [
        (format!("Patient?name={}", values(1000)), "limit is 100"),
        (
            format!("Patient?{}", repeated("name=a", 1000)),
            "limit is 32",
        ),
        (format!("Patient?{}", repeated(has, 9)), "limit is 8"),
    ] {
        expect_outcome(app.get(&q).await, StatusCode::BAD_REQUEST, needle).await;
    }
    for q in [
        format!("Patient?name={}", values(100)),
        format!("Patient?{}", repeated("name=a", 32)),
        format!("Patient?{}", repeated(has, 8)),
    ] {
        assert_eq!(app.get(&q).await.status(), StatusCode::OK, "{}", &q[..40]);
    }
    // Unknown parameter: lenient by default (ignored, reported), 400 when strict.
    let (status, b) = app.get_json("Patient?nosuch=1").await;
    assert_eq!(status, StatusCode::OK);
    let outcome = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("outcome entry");
    assert!(
        outcome["resource"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("nosuch")
    );
    let strict = app
        .get_with("Patient?nosuch=1", &[("prefer", "handling=strict")])
        .await;
    expect_outcome(strict, StatusCode::BAD_REQUEST, "nosuch").await;
    app.stop().await;
}

#[tokio::test]
async fn profile_checks_strict_and_warn() {
    let uc = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";
    let claim = json!({"resourceType": "Patient", "meta": {"profile": [uc]}, "gender": "female"});
    let strict = spawn_app_with(|c| c.validation = tandem::service::ValidationMode::Strict).await;
    let r = strict.post("Patient", &claim).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let oo: Value = r.json().await.unwrap();
    let exprs: Vec<&str> = oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert!(
        exprs.contains(&"Patient.identifier") && exprs.contains(&"Patient.name"),
        "{exprs:?}"
    );
    assert_eq!(strict.history_total().await, 0);
    strict.stop().await;

    let warn = spawn_app_with(|c| c.validation = tandem::service::ValidationMode::Warn).await;
    let r = warn.post("Patient", &claim).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let oo: Value = r.json().await.unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["severity"], "warning");
    assert_eq!(warn.history_total().await, 1);
    warn.stop().await;
}

/// Sends raw HTTP/1.1 `head` + `body` to the server and reads the answer;
/// with `give_up` the client half-closes after writing, as one that gave up
/// mid-body would.
async fn raw_http(base: &str, head: &str, body: &[u8], give_up: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    if give_up {
        s.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Protocol errors (issue 32 item 19): a compressed body is refused with 415
/// (Tandem does not decode it), a body cut short or with a broken chunked
/// encoding gets 400 — not 413 "too large" — and nothing is stored.
#[tokio::test]
async fn compressed_and_broken_bodies_get_the_right_status() {
    let app = spawn_app_with(|_| {}).await;
    let before = app.history_total().await;
    let patient = json!({"resourceType": "Patient"}).to_string();
    let r = app
        .client
        .post(app.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("content-encoding", "gzip")
        .body(patient.clone())
        .send()
        .await
        .unwrap();
    expect_outcome(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Encoding 'gzip'",
    )
    .await;
    let token = app
        .token_for("raw", tandem::auth::Role::Ehr, "default", "system/*.cruds")
        .await;
    let head = |extra: &str| {
        format!(
            "POST /Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/fhir+json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    let short = raw_http(
        &app.base,
        &head("Content-Length: 500\r\n"),
        patient.as_bytes(),
        true,
    )
    .await;
    assert!(short.starts_with("HTTP/1.1 400"), "{short}");
    assert!(short.contains("ended before it was complete"), "{short}");
    let chunked = raw_http(
        &app.base,
        &head("Transfer-Encoding: chunked\r\n"),
        b"5\r\n{\"res\r\nZZ\r\n",
        true,
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 400"), "{chunked}");
    // A whole body within the limit still works over the same raw path.
    let whole = raw_http(
        &app.base,
        &head(&format!("Content-Length: {}\r\n", patient.len())),
        patient.as_bytes(),
        false,
    )
    .await;
    assert!(whole.starts_with("HTTP/1.1 201"), "{whole}");
    assert_eq!(
        app.history_total().await,
        before + 1,
        "only the whole body stored"
    );
    app.stop().await;
}
