//! Who is asking: the caller's identity and grant, carried on every service
//! and store call. A neutral module so that `store` (which stamps and filters
//! rows by the caller's tenant) and `auth` (which builds the context from a
//! token) both depend on it and not on each other.

pub mod grant;
pub mod scopes;

use std::sync::Arc;

pub use grant::{Grant, Role};

/// Who is asking, on whose behalf: passed to every store call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessContext {
    /// The practice Organization the data belongs to.
    pub tenant: String,
    /// The calling client.
    pub client_id: String,
    /// Correlates logs and errors of one request.
    pub request_id: String,
    /// True when the caller works in a tenant that is not its own (a BH partner
    /// inside a referring practice): the store records what it writes, so the
    /// partner can read its own writes back and nothing else of its own.
    pub guest: bool,
    /// The caller's network address (audited).
    pub address: Option<String>,
    /// What the caller's token grants (role, organization, scopes).
    pub grant: Arc<Grant>,
}

impl AccessContext {
    /// Tandem acting for itself (CLI import, background jobs): full access to `tenant`.
    pub fn internal(tenant: &str, request_id: &str) -> AccessContext {
        AccessContext {
            tenant: tenant.to_string(),
            client_id: "tandem".into(),
            request_id: request_id.to_string(),
            guest: false,
            address: None,
            grant: Grant::internal(),
        }
    }
}
