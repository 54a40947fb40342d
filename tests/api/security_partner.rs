//! The BH-partner policy point and 42 CFR Part 2 consent: a partner sees
//! exactly what open referrals share with it; labelled SUD data only while an
//! active, current consent names the partner.

use crate::common;

use common::process::fetch_json;
use common::{TestApp, get_status, spawn_app_with};
use reqwest::Client;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::rules::referral::compact::{Mode, Partner};

pub const TENANT: &str = "practice-a";

/// A practice (`practice-a`) whose care compact names the partner `bh-org`.
pub async fn spawn_practice() -> TestApp {
    spawn_app_with(|c| {
        c.partners = vec![Partner::new(
            "bh-org",
            vec![TENANT.into()],
            Vec::new(),
            Mode::Propose,
        )];
    })
    .await
}

pub async fn put(c: &Client, app: &TestApp, body: Value) -> u16 {
    let path = format!(
        "{}/{}",
        body["resourceType"].as_str().unwrap(),
        body["id"].as_str().unwrap()
    );
    let r = c
        .put(app.url(&path))
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

pub async fn partner_get(c: &Client, app: &TestApp, path: &str) -> (u16, Value) {
    let r = c
        .get(app.url(path))
        .header("x-tandem-tenant", TENANT)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A write by the partner inside the referring practice.
pub async fn partner_write(
    c: &Client,
    app: &TestApp,
    m: reqwest::Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    c.request(m, app.url(path))
        .header("x-tandem-tenant", TENANT)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn sud_obs() -> Value {
    json!({"resourceType": "Observation", "id": "audit-c", "status": "final", "code": {"text": "AUDIT-C"},
      "subject": {"reference": "Patient/p1"},
      "meta": {"security": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}]}})
}

fn consent(status: &str, end: &str) -> Value {
    json!({"resourceType": "Consent", "id": "c1", "status": status,
      "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
      "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}],
      "patient": {"reference": "Patient/p1"},
      "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}]},
      "provision": {"type": "permit", "period": {"start": "2025-01-01", "end": end},
        "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                   "reference": {"reference": "Organization/bh-org"}}],
        "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"}]}})
}

/// Patients p1 (referred to bh-org: a referral ServiceRequest sharing the
/// PHQ-9 and the Part 2 AUDIT-C, and its Task) and p2 (not referred), and
/// the EHR's and the partner's clients.
pub async fn setup(app: &TestApp) -> (Client, Client) {
    let ehr = app
        .client_for("ehr-a", Role::Ehr, TENANT, "system/*.cruds")
        .await;
    let partner = app
        .client_for("bh-1", Role::BhPartner, "bh-org", "system/*.crus")
        .await;
    for r in [
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Shared"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "NotReferred"}]}),
        json!({"resourceType": "Observation", "id": "phq9", "status": "final", "code": {"text": "PHQ-9"}, "subject": {"reference": "Patient/p1"}}),
        json!({"resourceType": "Observation", "id": "bp", "status": "final", "code": {"text": "BP"}, "subject": {"reference": "Patient/p1"}}),
        sud_obs(),
    ] {
        assert_eq!(put(&ehr, app, r).await, 201);
    }
    let sr = json!({"resourceType": "ServiceRequest", "id": "sr1", "status": "active", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "subject": {"reference": "Patient/p1"}, "requester": {"reference": format!("Organization/{TENANT}")},
        "performer": [{"reference": "Organization/bh-org"}],
        "supportingInfo": [{"reference": "Observation/phq9"}, {"reference": "Observation/audit-c"}]});
    let task = json!({"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": "ServiceRequest/sr1"}, "for": {"reference": "Patient/p1"},
        "requester": {"reference": format!("Organization/{TENANT}")},
        "owner": {"reference": "Organization/bh-org"}});
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": sr, "request": {"method": "PUT", "url": "ServiceRequest/sr1"}},
        {"resource": task, "request": {"method": "PUT", "url": "Task/t1"}}]});
    let r = ehr
        .post(app.url(""))
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    (ehr, partner)
}

#[tokio::test]
async fn partner_sees_exactly_the_shared_set() {
    let app = spawn_practice().await;
    let (ehr, partner) = setup(&app).await;
    for p in [
        "Patient/p1",
        "ServiceRequest/sr1",
        "Task/t1",
        "Observation/phq9",
    ] {
        assert_eq!(partner_get(&partner, &app, p).await.0, 200, "shared: {p}");
    }
    for p in ["Patient/p2", "Observation/bp", "Observation/audit-c"] {
        assert_eq!(
            partner_get(&partner, &app, p).await.0,
            404,
            "not shared: {p}"
        );
    }
    let (s, b) = partner_get(&partner, &app, "Observation").await;
    assert_eq!(s, 200);
    let got: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .filter_map(|e| e["resource"]["id"].as_str())
        .collect();
    assert_eq!(got, vec!["phq9"]);
    let withheld = b["entry"].as_array().unwrap().iter().any(|e| {
        e["search"]["mode"] == "outcome" && e["resource"]["issue"][0]["code"] == "suppressed"
    });
    assert!(
        withheld,
        "an informational OperationOutcome says data was withheld: {b}"
    );
    assert!(
        b.get("total").is_none(),
        "no total that would leak the hidden count"
    );
    // The notice is the same whether something was withheld or nothing
    // matched at all: no count, nothing to learn from it.
    let notice = |b: &Value| -> Vec<Value> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "outcome")
            .map(|e| e["resource"].clone())
            .collect()
    };
    let (_, none) = partner_get(&partner, &app, "Observation?code=http://loinc.org|0000-0").await;
    let (_, hidden) = partner_get(&partner, &app, "Patient?_id=p2").await;
    assert_eq!(notice(&b), notice(&none), "{none}");
    assert_eq!(notice(&b), notice(&hidden), "{hidden}");
    assert!(!b.to_string().contains("withheld by access policy"), "{b}");
    // Chained search and tenant-wide history are refused to partners.
    assert_eq!(
        partner_get(&partner, &app, "Observation?subject.family=NotReferred")
            .await
            .0,
        403
    );
    assert_eq!(partner_get(&partner, &app, "_history").await.0, 403);
    // Without naming the practice, the partner is in its own empty tenant.
    let r = partner.get(app.url("Patient/p1")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The partner updates the Task it owns and writes a note it can read back.
    let mut task = partner_get(&partner, &app, "Task/t1").await.1;
    task["status"] = json!("accepted");
    let r = partner_write(&partner, &app, reqwest::Method::PUT, "Task/t1", &task).await;
    assert_eq!(r.status(), 200);
    let note = json!({"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]});
    let r = partner_write(
        &partner,
        &app,
        reqwest::Method::POST,
        "DocumentReference",
        &note,
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        partner_get(&partner, &app, &format!("DocumentReference/{id}"))
            .await
            .0,
        200
    );
    // It cannot update what is not shared with it.
    let bp = json!({"resourceType": "Observation", "id": "bp", "status": "amended", "code": {"text": "BP"}});
    let r = partner_write(&partner, &app, reqwest::Method::PUT, "Observation/bp", &bp).await;
    assert_eq!(r.status(), 404);
    // The practice sees the partner's note (it lives in the practice's tenant).
    assert_eq!(
        get_status(&ehr, app.url(&format!("DocumentReference/{id}"))).await,
        200
    );
    // Once the referral is closed, nothing is shared any more except its own writes.
    let mut task = partner_get(&partner, &app, "Task/t1").await.1;
    task["status"] = json!("completed");
    let r = partner_write(&partner, &app, reqwest::Method::PUT, "Task/t1", &task).await;
    assert_eq!(r.status(), 200);
    assert_eq!(partner_get(&partner, &app, "Patient/p1").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn part2_data_follows_consent() {
    let app = spawn_practice().await;
    let (ehr, partner) = setup(&app).await;
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        404,
        "no consent yet"
    );
    // A consent the recipient writes itself is refused, by any write path,
    // and unlocks nothing; so is a Questionnaire (it would score the
    // practice's responses).
    let own = consent("active", "2099-01-01");
    let questionnaire = json!({"resourceType": "Questionnaire", "id": "q-own", "status": "active"});
    for (m, path, body) in [
        (reqwest::Method::PUT, "Consent/c1", own.clone()),
        (reqwest::Method::POST, "Consent", own.clone()),
        (
            reqwest::Method::PUT,
            "Questionnaire/q-own",
            questionnaire.clone(),
        ),
        (
            reqwest::Method::POST,
            "",
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": own.clone(), "request": {"method": "POST", "url": "Consent"}}]}),
        ),
    ] {
        let r = partner_write(&partner, &app, m.clone(), path, &body).await;
        let status = r.status();
        let b: Value = r.json().await.unwrap();
        assert_eq!(status, 403, "{m} {path}: {b}");
        assert_eq!(b["resourceType"], "OperationOutcome");
    }
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        404,
        "a partner's own consent unlocks nothing"
    );
    assert_eq!(
        get_status(&ehr, app.url("Consent/c1")).await,
        404,
        "not stored"
    );
    // The owning practice always sees it.
    assert_eq!(get_status(&ehr, app.url("Observation/audit-c")).await, 200);
    assert_eq!(put(&ehr, &app, consent("active", "2099-01-01")).await, 201);
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        200,
        "consent permits"
    );
    assert_eq!(
        put(&ehr, &app, consent("inactive", "2099-01-01")).await,
        200
    );
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        404,
        "revoked"
    );
    assert_eq!(put(&ehr, &app, consent("active", "2025-06-01")).await, 200);
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        404,
        "expired"
    );
    // Each consent decision is audited: permits and denials, naming the consent.
    let admin = app
        .client_for("ops", Role::Operator, "ops", "system/*.rs")
        .await;
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        let b: Value = fetch_json(
            &admin,
            &app.url("AuditEvent?agent=bh-1&subtype=AuthZ-Consent&_count=100"),
        )
        .await;
        outcomes = b["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| e["resource"]["outcome"].as_str().unwrap().to_string())
            .collect();
        if outcomes.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        outcomes.contains(&"0".to_string()) && outcomes.contains(&"4".to_string()),
        "{outcomes:?}"
    );
    app.stop().await;
}

/// Item 4 over HTTP: a permit naming the partner with a nested deny by code
/// keeps that result hidden; periods are instants (a start written with a
/// +14:00 offset that sorts after "now" as text has already begun, an end
/// written with -10:00 that sorts before it has not yet passed).
#[tokio::test]
async fn consent_provisions_nest_and_periods_are_instants() {
    let app = spawn_practice().await;
    let (ehr, partner) = setup(&app).await;
    let now = chrono::Utc::now();
    let east = chrono::FixedOffset::east_opt(14 * 3600).unwrap();
    let west = chrono::FixedOffset::west_opt(10 * 3600).unwrap();
    let began = (now - chrono::Duration::hours(1))
        .with_timezone(&east)
        .to_rfc3339();
    let ends = (now + chrono::Duration::hours(1))
        .with_timezone(&west)
        .to_rfc3339();
    let now_text = now.to_rfc3339();
    assert!(began.as_str() > now_text.as_str() && ends.as_str() < now_text.as_str());
    let mut c = consent("active", "2099-01-01");
    c["provision"]["period"] = json!({"start": began, "end": ends});
    assert_eq!(put(&ehr, &app, c.clone()).await, 201);
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        200,
        "inside the period, as instants"
    );
    c["provision"]["provision"] = json!([{"type": "deny",
        "code": [{"coding": [{"system": "http://loinc.org", "code": "75626-2"}]}]}]);
    assert_eq!(put(&ehr, &app, c.clone()).await, 200);
    let mut obs = sud_obs();
    obs["code"] =
        json!({"coding": [{"system": "http://loinc.org", "code": "75626-2"}], "text": "AUDIT-C"});
    assert_eq!(put(&ehr, &app, obs).await, 200);
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        404,
        "the nested deny by code wins"
    );
    c["provision"]["provision"][0]["code"][0]["coding"][0]["code"] = json!("44261-6");
    assert_eq!(put(&ehr, &app, c).await, 200);
    assert_eq!(
        partner_get(&partner, &app, "Observation/audit-c").await.0,
        200,
        "a deny for another code leaves it permitted"
    );
    app.stop().await;
}
