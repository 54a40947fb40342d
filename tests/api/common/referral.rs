//! Two real Tandem servers for referral tests: a primary-care practice
//! (tenant `default`) and a community mental health center (tenant `cmhc`),
//! each holding a client for the other, with the CMHC configured as the
//! practice's partner.

use std::path::PathBuf;

use reqwest::Client;
use serde_json::{Value, json};
use tandem::auth::Role;
use tandem::rules::referral::compact::{Accepts, Mode, Partner};

use super::{TestApp, register_client, spawn_app_with};

pub struct Pair {
    pub practice: TestApp,
    pub cmhc: TestApp,
    /// The CMHC's client, working as a guest in the practice's tenant.
    pub partner: Client,
}

/// The CMHC as a partner of the practice: PHQ-9 ≥ 10 and positive AUDIT-C.
pub fn cmhc_partner(endpoint: Option<String>, key_file: Option<PathBuf>, mode: Mode) -> Partner {
    let accepts = vec![
        Accepts::at_least("phq-9", 10.0),
        Accepts::positive("audit-c"),
    ];
    Partner {
        name: Some("North CMHC".into()),
        client_id: endpoint.as_ref().map(|_| "practice-at-cmhc".into()),
        endpoint,
        key_file,
        remote_tenant: Some("cmhc".into()),
        ..Partner::new("cmhc", vec!["default".into()], accepts, mode)
    }
}

/// Starts the CMHC (its compact names the practice, `default`, which pushes
/// referrals in), registers the practice's client there, then starts the
/// practice with `partner(cmhc base, key)` as its partner configuration and
/// a second partner, `other-bh`, that is never referred to.
pub async fn pair(partner: impl FnOnce(String, PathBuf) -> Partner) -> Pair {
    let cmhc = spawn_app_with(|c| {
        c.default_tenant = "cmhc".into();
        c.partners = vec![Partner::new(
            "default",
            vec!["cmhc".into()],
            Vec::new(),
            Mode::Propose,
        )];
    })
    .await;
    let key = register_client(
        &cmhc.db,
        &cmhc.dir,
        "practice-at-cmhc",
        Role::BhPartner,
        "default",
        "system/*.cruds",
    )
    .await;
    let p = partner(cmhc.base.clone(), key);
    let practice = spawn_app_with(move |c| {
        c.partners = vec![
            p,
            Partner::new(
                "other-bh",
                vec!["default".into()],
                Vec::new(),
                Mode::Propose,
            ),
        ];
        c.notifications.retry_base_ms = 30;
        c.notifications.retry_max_ms = 100;
    })
    .await;
    let partner = partner_client(&practice, "cmhc-at-practice", "cmhc").await;
    Pair {
        practice,
        cmhc,
        partner,
    }
}

/// A client of partner organization `org` at `practice`, working as a guest
/// in the practice's tenant (`default`).
pub async fn partner_client(practice: &TestApp, client_id: &str, org: &str) -> Client {
    let token = practice
        .token_for(client_id, Role::BhPartner, org, "system/*.cruds")
        .await;
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h.insert("x-tandem-tenant", "default".parse().unwrap());
    Client::builder().default_headers(h).build().unwrap()
}

impl Pair {
    pub async fn stop(self) {
        self.practice.stop().await;
        self.cmhc.stop().await;
    }
}

pub async fn patient(app: &TestApp, id: &str) {
    let r = app
        .put(&format!("Patient/{id}"), &json!({"resourceType": "Patient", "id": id, "gender": "male", "birthDate": "1980-04-01", "name": [{"family": "Referred"}]}))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
}

/// A screening total Observation (PHQ-9 44261-6, AUDIT-C 75626-2).
pub fn total(pid: &str, loinc: &str, score: i64) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": format!("Patient/{pid}")}, "effectiveDateTime": "2026-11-20T09:00:00Z", "valueInteger": score})
}

/// The referral Tasks (code fulfill) a client sees at `url`.
pub async fn referral_tasks(c: &Client, url: String) -> Vec<Value> {
    let page: Value = c.get(url).send().await.unwrap().json().await.unwrap();
    page["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["resource"].clone())
        .filter(|t| t["code"]["coding"][0]["code"] == "fulfill")
        .collect()
}

/// Waits (at most 10 s) until `url` answers 200, and returns the body.
pub async fn eventually_ok(c: &Client, url: &str) -> Value {
    for _ in 0..200 {
        let r = c.get(url).send().await.unwrap();
        if r.status() == 200 {
            return r.json().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{url} never appeared");
}

/// The partner's PUT of `task` changed by `edit`; returns the status code.
pub async fn partner_update(pair: &Pair, task: &Value, edit: impl FnOnce(&mut Value)) -> u16 {
    let mut t = task.clone();
    edit(&mut t);
    let id = t["id"].as_str().unwrap().to_string();
    pair.partner
        .put(pair.practice.url(&format!("Task/{id}")))
        .header("content-type", "application/fhir+json")
        .body(t.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
