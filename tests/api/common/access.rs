//! Who may read what, from the tests' side: the overseers of the generated
//! program's practice-0 (numbers only), and the guests (a payer, a BH
//! partner) refused a practice's reports.

use reqwest::Client;
use serde_json::Value;
use tandem::auth::Role;

use super::TestApp;

impl TestApp {
    /// The generated program's staff (`colorado-sim`) and practice-0's
    /// facilitator (`facilitator-1`): reporting clients that oversee the
    /// practice, each with its organization.
    pub async fn overseers(&self) -> Vec<(&'static str, Client)> {
        let mut out = Vec::new();
        for org in ["colorado-sim", "facilitator-1"] {
            let id = format!("{org}-staff");
            out.push((
                org,
                self.client_for(&id, Role::Reporting, org, "system/*.rs")
                    .await,
            ));
        }
        out
    }

    /// Program staff and the facilitator read `path` in practice-0: each
    /// gets 200 and numbers, never a patient. Returns their answers.
    pub async fn overseers_see_numbers_only(&self, path: &str) -> Vec<Value> {
        let url = self.url(path);
        let mut out = Vec::new();
        for (org, c) in self.overseers().await {
            let r = c
                .get(&url)
                .header("x-tandem-tenant", "practice-0")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{org} {path}");
            let b: Value = r.json().await.unwrap();
            assert!(!b.to_string().contains("Patient/"), "{org}: {b}");
            out.push(b);
        }
        out
    }

    /// A payer and a BH partner reading `path` in `tenant` (with read
    /// scopes on everything) are refused with 403.
    pub async fn guests_refused(&self, path: &str, tenant: &str) {
        for (id, role, org) in [
            ("acme-1", Role::Payer, "acme-health"),
            ("bh-1", Role::BhPartner, "bh-org"),
        ] {
            let c = self.client_for(id, role, org, "system/*.rs").await;
            let r = c
                .get(self.url(path))
                .header("x-tandem-tenant", tenant)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{id} {path}");
        }
    }
}
