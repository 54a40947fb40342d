//! Who is calling and for which practice: the access context of every request.
//!
//! Until SMART Backend Services lands (issue 3), the tenant and client come from
//! `X-Tandem-Tenant` / `X-Tandem-Client` headers when `trust_tenant_header` is on,
//! otherwise from `default_tenant`. Handlers only ever see an [`AccessContext`],
//! so swapping in token-derived contexts changes this module alone.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::fhir::id::is_valid_id;
use crate::fhir::outcome::Issue;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::AccessContext;

pub const TENANT_HEADER: &str = "x-tandem-tenant";
pub const CLIENT_HEADER: &str = "x-tandem-client";

/// Extracts the [`AccessContext`] of a request.
pub struct Access(pub AccessContext);

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut tenant = state.default_tenant.clone();
        let mut client_id = "anonymous".to_string();
        if state.trust_tenant_header {
            if let Some(t) = header(TENANT_HEADER) {
                if !is_valid_id(&t) {
                    return Err(ApiError::bad(Issue::error(
                        "invalid",
                        "X-Tandem-Tenant must be a FHIR id (1-64 of A-Z a-z 0-9 - .).",
                    )));
                }
                tenant = t;
            }
            if let Some(c) = header(CLIENT_HEADER) {
                client_id = c;
            }
        }
        Ok(Access(AccessContext {
            tenant,
            client_id,
            request_id,
        }))
    }
}
