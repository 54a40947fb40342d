//! Turning a request into an [`AccessContext`]: bearer token → grant →
//! tenant, with the per-client rate limit. Handlers only ever see the context.
//!
//! Tenant rules: `ehr`, `hie` and `reporting` clients work in their own
//! Organization's tenant (naming another in `X-Tandem-Tenant` is refused);
//! `admin` chooses one with the header; a `bh-partner` names the referring
//! practice with the header and works there as a guest, seeing only what open
//! referrals share with it.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::grant::{Grant, Role};
use super::tokens::Tokens;
use crate::fhir::id::is_valid_id;
use crate::fhir::outcome::Issue;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::AccessContext;

pub const TENANT_HEADER: &str = "x-tandem-tenant";
pub const CLIENT_HEADER: &str = "x-tandem-client";

/// Token verification and abuse limits, shared by every request.
pub struct Gate {
    pub tokens: Arc<Tokens>,
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
}

impl Gate {
    pub fn new(tokens: Arc<Tokens>, per_second: u32, burst: u32) -> Gate {
        let per_second = per_second.max(1);
        let quota = Quota::per_second(NonZeroU32::new(per_second).expect("at least 1"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"));
        Gate {
            tokens,
            limiter: RateLimiter::keyed(quota),
            per_second,
        }
    }

    /// Seconds until `client` may send again, if it is over its rate.
    pub fn throttle(&self, client: &str) -> Option<u64> {
        self.limiter
            .check_key(&client.to_string())
            .err()
            .map(|_| (1.0 / self.per_second as f64).ceil().max(1.0) as u64)
    }
}

/// Extracts the [`AccessContext`] of a request.
pub struct Access(pub AccessContext);

pub fn unauthorized(reason: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        Issue::error(
            "login",
            format!("{reason}. Send Authorization: Bearer <token> from POST /auth/token."),
        ),
    );
    let challenge = if reason.starts_with("No access token") {
        "Bearer".to_string()
    } else {
        "Bearer error=\"invalid_token\"".to_string()
    };
    e.headers.push((
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("ASCII challenge"),
    ));
    e
}

fn forbidden(msg: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, Issue::error("forbidden", msg))
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("x-request-id").unwrap_or_else(|| "-".into());
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let tenant_header = header(TENANT_HEADER);
        if let Some(t) = &tenant_header
            && !is_valid_id(t)
        {
            return Err(ApiError::bad(Issue::error(
                "invalid",
                "X-Tandem-Tenant must be a FHIR id (1-64 of A-Z a-z 0-9 - .).",
            )));
        }
        let Some(gate) = &state.gate else {
            return Ok(Access(insecure_context(
                state,
                tenant_header,
                header(CLIENT_HEADER),
                request_id,
                address,
            )));
        };
        let token = header("authorization")
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            })
            .ok_or_else(|| unauthorized("No access token"))?;
        let now = chrono::Utc::now().timestamp();
        let grant = gate
            .tokens
            .verify(&token, now)
            .await
            .map_err(|e| unauthorized(e.0))?;
        if let Some(wait) = gate.throttle(&grant.client_id) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Issue::error(
                    "throttled",
                    format!("Rate limit exceeded; retry after {wait} s."),
                ),
            );
            e.headers
                .push((header::RETRY_AFTER, HeaderValue::from(wait)));
            return Err(e);
        }
        let (tenant, guest) = choose_tenant(&grant, tenant_header, &state.default_tenant)?;
        Ok(Access(AccessContext {
            tenant,
            client_id: grant.client_id.clone(),
            request_id,
            guest,
            address,
            grant,
        }))
    }
}

fn choose_tenant(
    grant: &Grant,
    named: Option<String>,
    default_tenant: &str,
) -> Result<(String, bool), ApiError> {
    match (grant.role, named) {
        (Role::Admin, named) => Ok((named.unwrap_or_else(|| default_tenant.to_string()), false)),
        (Role::BhPartner, Some(t)) if t != grant.org => Ok((t, true)),
        (_, Some(t)) if t != grant.org => Err(forbidden(format!(
            "This client acts for Organization/{} and cannot work in tenant '{t}'.",
            grant.org
        ))),
        _ => Ok((grant.org.clone(), false)),
    }
}

/// Auth switched off (`auth.enabled = false`, logged loudly at start-up):
/// the old header-chosen context with full access.
fn insecure_context(
    state: &AppState,
    tenant: Option<String>,
    client: Option<String>,
    request_id: String,
    address: Option<String>,
) -> AccessContext {
    let mut ctx = AccessContext::internal(&state.default_tenant, &request_id);
    ctx.address = address;
    if state.trust_tenant_header {
        if let Some(t) = tenant {
            ctx.tenant = t;
        }
        if let Some(c) = client {
            ctx.client_id = c;
        }
    }
    ctx
}
