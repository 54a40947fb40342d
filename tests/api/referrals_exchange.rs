//! Referral delivery and access: a partner that is down at first gets the
//! package once it is back (one referral, however many attempts); a
//! pull-only partner polls for its Tasks and another partner sees none of
//! them; Part 2 data travels only under the patient's consent, and every
//! decision is audited; a CMHC refers to primary care with the same machinery.

use crate::common;

use common::fake_partner::FakePartner;
use common::referral::{cmhc_partner, eventually_ok, pair, patient, referral_tasks, total};
use common::{TestApp, register_client, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::rules::referral::compact::{Mode, Partner};

async fn outbox(app: &TestApp, state: &str) -> Vec<Value> {
    let admin = app.admin().await;
    let p: Value = app.json_as(&admin, &format!("$outbox?state={state}")).await;
    p["parameter"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_partner_down_at_first_gets_the_referral_once() {
    let fake = FakePartner::start(3).await;
    let url = fake.base.clone();
    let pair = pair(move |cmhc_base, key| {
        let mut p = cmhc_partner(Some(url), Some(key), Mode::Auto);
        p.token_url = Some(format!("{cmhc_base}/auth/token")); // a real token endpoint
        p
    })
    .await;
    let practice = &pair.practice;
    patient(practice, "p1").await;
    practice.create(&total("p1", "44261-6", 18)).await;
    let task = referral_tasks(&practice.client, practice.url("Task?patient=Patient/p1"))
        .await
        .remove(0);
    let task_ref = format!("Task/{}", task["id"].as_str().unwrap());
    for _ in 0..200 {
        if fake.stored.lock().contains_key(&task_ref) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let log = fake.log.lock().clone();
    assert!(
        log.iter().all(|(_, _, bearer)| *bearer),
        "every call carries the SMART token"
    );
    assert_eq!(log.iter().filter(|(_, s, _)| *s == 503).count(), 3);
    let tasks_at_partner: Vec<_> = fake
        .stored
        .lock()
        .keys()
        .filter(|k| k.starts_with("Task/"))
        .cloned()
        .collect();
    assert_eq!(
        tasks_at_partner,
        vec![task_ref.clone()],
        "one referral at the partner"
    );
    assert!(fake.stored.lock().contains_key("Patient/p1"));
    // Delivered once: no further sends after success.
    // Settled (delivered, nothing pending): the Task was accepted once.
    practice.outbox_settled().await;
    let accepted = fake
        .log
        .lock()
        .iter()
        .filter(|(urls, status, _)| *status == 200 && urls.split(',').any(|u| u == task_ref))
        .count();
    assert_eq!(
        accepted, 1,
        "one transaction carried the Task, accepted once"
    );
    let delivered = outbox(practice, "delivered").await;
    assert_eq!(delivered.len(), 1);
    pair.stop().await;
}

#[tokio::test]
async fn a_pull_partner_polls_its_tasks_and_another_partner_sees_nothing() {
    let pair = pair(|_, _| cmhc_partner(None, None, Mode::Auto)).await;
    let practice = &pair.practice;
    patient(practice, "p1").await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    practice.create(&total("p1", "44261-6", 12)).await;
    let poll = practice.url(&format!(
        "Task?owner=Organization/cmhc&status=requested&_lastUpdated=gt{since}"
    ));
    let tasks = referral_tasks(&pair.partner, poll.replace('+', "%2B")).await;
    assert_eq!(tasks.len(), 1, "the partner finds its new referral");
    let sr_ref = tasks[0]["focus"]["reference"].as_str().unwrap();
    let sr: Value = practice.json_as(&pair.partner, sr_ref).await;
    let result = sr["reasonReference"][0]["reference"].as_str().unwrap();
    for r in [sr_ref, result, "Patient/p1"] {
        assert_eq!(
            pair.partner
                .get(practice.url(r))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK,
            "{r}"
        );
    }
    // Another partner of the practice sees none of it.
    let other = practice
        .client_for("other-bh", Role::BhPartner, "other-bh", "system/*.cruds")
        .await;
    let task_url = practice.url(&format!("Task/{}", tasks[0]["id"].as_str().unwrap()));
    let r = other
        .get(&task_url)
        .header("x-tandem-tenant", "default")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = other
        .get(practice.url("Task?owner=Organization/cmhc"))
        .header("x-tandem-tenant", "default")
        .send()
        .await
        .unwrap();
    let page: Value = r.json().await.unwrap();
    let matches = page["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    assert_eq!(matches, 0, "{page}");
    // Nor can it change it.
    let mut t = tasks[0].clone();
    t["status"] = json!("accepted");
    let r = other
        .put(&task_url)
        .header("x-tandem-tenant", "default")
        .header("content-type", "application/fhir+json")
        .body(t.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nor is it pushed anywhere: the partner is pull-only.
    assert!(
        outbox(practice, "all")
            .await
            .iter()
            .all(|m| m["part"][1]["valueString"] != "referral")
    );
    pair.stop().await;
}

fn consent(pid: &str) -> Value {
    json!({"resourceType": "Consent", "status": "active",
      "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
      "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}],
      "patient": {"reference": format!("Patient/{pid}")},
      "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}]},
      "provision": {"type": "permit", "period": {"start": "2026-01-01"},
        "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                   "reference": {"reference": "Organization/cmhc"}}],
        "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}],
        "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"}]}})
}

#[tokio::test]
async fn part2_results_travel_only_under_consent_and_each_decision_is_audited() {
    let pair = pair(|base, key| cmhc_partner(Some(base), Some(key), Mode::Auto)).await;
    let (practice, cmhc) = (&pair.practice, &pair.cmhc);
    patient(practice, "nocon").await;
    patient(practice, "con").await;
    practice.create(&consent("con")).await;
    for pid in ["nocon", "con"] {
        practice.create(&total(pid, "75626-2", 7)).await; // AUDIT-C 7: positive, SUD-labelled
    }
    let mut results = Vec::new();
    for pid in ["nocon", "con"] {
        let task = referral_tasks(
            &practice.client,
            practice.url(&format!("Task?patient=Patient/{pid}")),
        )
        .await
        .remove(0);
        let pushed = eventually_ok(
            &cmhc.client,
            &cmhc.url(&format!("Task/{}", task["id"].as_str().unwrap())),
        )
        .await;
        let (_, sr) = practice
            .get_json(task["focus"]["reference"].as_str().unwrap())
            .await;
        let result = sr["reasonReference"][0]["reference"]
            .as_str()
            .unwrap()
            .to_string();
        results.push((pid, pushed, cmhc.get(&result).await.status()));
    }
    let (_, withheld_task, withheld) = &results[0];
    assert_eq!(
        *withheld,
        StatusCode::NOT_FOUND,
        "no consent: the AUDIT-C result stays at the practice"
    );
    assert!(
        withheld_task["note"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Withheld")
    );
    let (_, sent_task, sent) = &results[1];
    assert_eq!(
        *sent,
        StatusCode::OK,
        "consent names the partner: the result goes"
    );
    assert!(sent_task.get("note").is_none());
    let admin = practice.admin().await;
    let audit = |q: &str| admin.get(practice.url(&format!("AuditEvent?{q}"))).send();
    let page: Value = audit("subtype=AuthZ-Consent")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = page["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"4") && outcomes.contains(&"0"),
        "a deny and a permit: {outcomes:?}"
    );
    let page: Value = audit("subtype=disclose")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["entry"].as_array().unwrap().len(),
        2,
        "one disclosure per package"
    );
    pair.stop().await;
}

#[tokio::test]
async fn a_cmhc_refers_its_client_to_primary_care_with_roles_swapped() {
    // The practice's compact names the CMHC, which pushes its referral in.
    let practice = spawn_app_with(|c| {
        c.partners = vec![Partner::new(
            "cmhc",
            vec!["default".into()],
            Vec::new(),
            Mode::Propose,
        )]
    })
    .await;
    let key = register_client(
        &practice.db,
        &practice.dir,
        "cmhc-at-practice",
        Role::BhPartner,
        "cmhc",
        "system/*.cruds",
    )
    .await;
    let (base, k) = (practice.base.clone(), key.clone());
    let cmhc = spawn_app_with(move |c| {
        c.default_tenant = "cmhc".into();
        let mut p = cmhc_partner(Some(base), Some(k), Mode::Auto);
        p.id = "default".into();
        p.tenants = vec!["cmhc".into()];
        p.client_id = Some("cmhc-at-practice".into());
        p.remote_tenant = Some("default".into());
        c.partners = vec![p];
    })
    .await;
    let r = cmhc
        .put(
            "Patient/c1",
            &json!({"resourceType": "Patient", "id": "c1", "name": [{"family": "Client"}]}),
        )
        .await;
    assert!(r.status().is_success());
    let sr = json!({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "code": {"text": "Primary care: diabetes management"},
        "subject": {"reference": "Patient/c1"}, "requester": {"reference": "Organization/cmhc"},
        "performer": [{"reference": "Organization/default"}]});
    assert_eq!(
        cmhc.post("ServiceRequest", &sr).await.status(),
        StatusCode::CREATED
    );
    let task = referral_tasks(&cmhc.client, cmhc.url("Task?patient=Patient/c1"))
        .await
        .remove(0);
    assert_eq!(task["owner"]["reference"], "Organization/default");
    let id = task["id"].as_str().unwrap();
    // Pushed to the practice's server, where the practice works it.
    let at_practice = eventually_ok(&practice.client, &practice.url(&format!("Task/{id}"))).await;
    assert_eq!(at_practice["requester"]["reference"], "Organization/cmhc");
    // The practice accepts at the CMHC's server, as the Task's owner.
    let token = cmhc
        .token_for(
            "practice-at-cmhc",
            Role::BhPartner,
            "default",
            "system/*.cruds",
        )
        .await;
    let mut accepted = task.clone();
    accepted["status"] = json!("accepted");
    let r = reqwest::Client::new()
        .put(cmhc.url(&format!("Task/{id}")))
        .bearer_auth(&token)
        .header("x-tandem-tenant", "cmhc")
        .header("content-type", "application/fhir+json")
        .body(accepted.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The CMHC (requester) cannot accept for the practice.
    let (_, now) = cmhc.get_json(&format!("Task/{id}")).await;
    let mut done = now.clone();
    done["status"] = json!("completed");
    assert_eq!(
        cmhc.put(&format!("Task/{id}"), &done).await.status(),
        StatusCode::CONFLICT
    );
    practice.stop().await;
    cmhc.stop().await;
}
