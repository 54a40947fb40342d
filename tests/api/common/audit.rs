//! Reading the audit trail in tests. Audit records of reads are committed
//! in the background, so a test waits for the event it expects to appear
//! (polling the trail, up to a deadline) rather than for a fixed time.

use std::time::Duration;

use serde_json::Value;

use super::TestApp;

/// The AuditEvents `AuditEvent?{query}` finds, once one of them satisfies
/// `seen` — or, after ten seconds, what the last read found.
pub async fn audit_until(
    client: &reqwest::Client,
    app: &TestApp,
    query: &str,
    seen: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = super::process::fetch_json(client, &app.url(&format!("AuditEvent?{query}"))).await;
        let events: Vec<Value> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["resource"].clone())
            .collect();
        if events.iter().any(&seen) || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An admin client of `practice` that reads its audit trail.
pub async fn auditor(app: &TestApp, practice: &str) -> reqwest::Client {
    let id = format!("auditor-{practice}");
    app.client_for(&id, tandem::auth::Role::Admin, practice, "system/*.rs")
        .await
}

/// Whether `event` names `person` as its requesting agent.
pub fn requested_by(event: &Value, person: &str) -> bool {
    event["agent"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["name"] == person && a["requestor"] == true)
}
