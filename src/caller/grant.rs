//! What an authenticated caller may do: its role, the Organization it acts for
//! and its granted scopes. Built from a verified access token.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::caller::scopes::{Scope, Scopes};

/// The kind of client, fixed at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A practice's EHR: reads and writes its own practice's data only.
    Ehr,
    /// A health information exchange: submits notifications, reads back what it sent.
    Hie,
    /// A behavioral-health partner: sees only what active referrals share with it.
    BhPartner,
    /// Program staff: measure and milestone outputs only.
    Reporting,
    /// A payer: sends attribution lists (Groups) to the practices it
    /// attributes patients to, and reads back only what it sent.
    Payer,
    /// A practice's administrators: everything in their own practice,
    /// including its audit trail and outbox.
    Admin,
    /// The hosting operator: works in any tenant (named with
    /// `X-Tandem-Tenant`) and reads the audit trail across tenants; every
    /// such read is itself audited.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ehr => "ehr",
            Role::Hie => "hie",
            Role::BhPartner => "bh-partner",
            Role::Reporting => "reporting",
            Role::Payer => "payer",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// Administrative rights (audit trail, outbox, held messages): a
    /// practice admin in its practice, the operator in any tenant.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Ehr,
            Role::Hie,
            Role::BhPartner,
            Role::Reporting,
            Role::Payer,
            Role::Admin,
            Role::Operator,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub role: Role,
    /// The Organization id the client acts for; for `ehr` and `hie` clients
    /// also their tenant.
    pub org: String,
    pub scopes: Scopes,
    /// The access token's `jti` (audited with consent decisions).
    pub token_id: String,
}

static INTERNAL: LazyLock<Arc<Grant>> = LazyLock::new(|| {
    Arc::new(Grant {
        client_id: "tandem".into(),
        role: Role::Admin,
        org: "tandem".into(),
        scopes: Scopes(vec![
            Scope::parse("system/*.cruds").expect("constant scope"),
        ]),
        token_id: String::new(),
    })
});

impl Grant {
    /// Tandem itself (import, derivations, background delivery).
    pub fn internal() -> Arc<Grant> {
        INTERNAL.clone()
    }
}
