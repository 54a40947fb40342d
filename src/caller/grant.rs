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

/// What a person may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Coaches the practices assigned to them.
    Facilitator,
    /// Works in one practice (patient lists included).
    Practice,
    /// Program staff: every enrolled practice, aggregate numbers.
    Program,
    /// Runs the installation.
    Operator,
}

/// The person behind a user-level token (SMART App Launch): who signed in,
/// in which role, covering which practices. Tenancy and the audit trail's
/// agent come from here; the app's scopes still bound what the token does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The account name (`tandem user add NAME`).
    pub name: String,
    pub role: UserRole,
    /// A facilitator's assigned practices, a practice user's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub practices: Vec<String>,
    /// Whether this person may see patient lists (a practice user always;
    /// facilitators and program staff only where `[app] patient_lists` says).
    #[serde(default)]
    pub lists: bool,
}

impl Person {
    /// Whether the person may work in `practice`: an operator anywhere,
    /// program staff in any enrolled practice, a facilitator in the
    /// practices assigned to them, practice staff in their own.
    pub fn covers(&self, practice: &str, enrolled: impl Fn(&str) -> bool) -> bool {
        match self.role {
            UserRole::Operator => true,
            UserRole::Program => enrolled(practice),
            UserRole::Facilitator | UserRole::Practice => {
                self.practices.iter().any(|p| p == practice)
            }
        }
    }

    /// The practice a request naming none works in, if there is one.
    pub fn home(&self) -> Option<&str> {
        self.practices.first().map(String::as_str)
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
    /// The signed-in person, for a user-level token; `None` for systems.
    pub person: Option<Person>,
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
        person: None,
    })
});

impl Grant {
    /// Tandem itself (import, derivations, background delivery).
    pub fn internal() -> Arc<Grant> {
        INTERNAL.clone()
    }
}
