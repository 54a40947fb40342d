//! Turning a request into an [`AccessContext`]: bearer token → grant →
//! tenant, with the per-client rate limit. Handlers only ever see the context.
//!
//! Tenant rules: `ehr`, `hie`, `reporting` and `admin` clients work in their
//! own Organization's tenant (naming another in `X-Tandem-Tenant` is
//! refused); the hosting `operator` chooses one with the header; a
//! `bh-partner` names the referring practice with the header and works there
//! as a guest, seeing only what open referrals share with it; a `reporting`
//! client of a program (or a facilitator) names a practice enrolled in it
//! (assigned to them) and reads its reports, numbers only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::policy::Interaction;
use crate::auth::tokens::Tokens;
use crate::caller::AccessContext;
use crate::caller::grant::{Grant, Person, Role, UserRole};
use crate::fhir::id::is_valid_id;
use crate::fhir::outcome::Issue;
use crate::http::AppState;
use crate::http::error::ApiError;

pub const TENANT_HEADER: &str = "x-tandem-tenant";
pub const CLIENT_HEADER: &str = "x-tandem-client";

/// Addresses remembered as blocked at most; beyond it the limiter alone
/// refuses (after a verification), so memory stays bounded under a flood
/// from many addresses.
const MAX_BLOCKED: usize = 65_536;
/// How long an address over its limit is refused before it is charged again
/// (the limit is at least one per second, so one second is its next slot).
const ADDRESS_BLOCK: Duration = Duration::from_secs(1);

/// Token verification and abuse limits, shared by every request.
///
/// Two limits: per client (after its token verified) and per source address
/// for unauthenticated work (token requests and failed authentications). An
/// address over its limit is blocked for a short while and refused with 429
/// before any token is parsed, verified or audited, so a flood of bad tokens
/// is cheap to refuse and cannot fill the audit trail.
pub struct Gate {
    pub tokens: Arc<Tokens>,
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    blocked: parking_lot::Mutex<HashMap<IpAddr, Instant>>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second.max(1)).expect("at least 1"))
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
}

impl Gate {
    /// `client` and `address` are (per second, burst) pairs.
    pub fn new(tokens: Arc<Tokens>, client: (u32, u32), address: (u32, u32)) -> Gate {
        let per_second = client.0.max(1);
        Gate {
            tokens,
            limiter: RateLimiter::keyed(quota(client.0, client.1)),
            per_second,
            addresses: RateLimiter::keyed(quota(address.0, address.1)),
            blocked: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait when `ip` is blocked for unauthenticated work.
    pub fn address_blocked(&self, ip: IpAddr) -> Option<u64> {
        let mut blocked = self.blocked.lock();
        let until = *blocked.get(&ip)?;
        let now = Instant::now();
        if until <= now {
            blocked.remove(&ip);
            return None;
        }
        Some((until - now).as_secs().max(1))
    }

    /// Charges one unit of unauthenticated work to `ip`: Some(seconds to
    /// wait) when it is over its limit, and the address is then blocked.
    pub fn charge_address(&self, ip: IpAddr) -> Option<u64> {
        if let Some(wait) = self.address_blocked(ip) {
            return Some(wait);
        }
        if self.addresses.len() > MAX_BLOCKED {
            self.addresses.retain_recent();
        }
        if self.addresses.check_key(&ip).is_ok() {
            return None;
        }
        let mut blocked = self.blocked.lock();
        if blocked.len() >= MAX_BLOCKED {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < MAX_BLOCKED {
            blocked.insert(ip, Instant::now() + ADDRESS_BLOCK);
        }
        Some(ADDRESS_BLOCK.as_secs())
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

/// 429 with Retry-After.
pub fn throttled(wait: u64, what: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        Issue::error("throttled", format!("{what}; retry after {wait} s.")),
    );
    e.headers
        .push((header::RETRY_AFTER, HeaderValue::from(wait)));
    e
}

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
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let address = ip.map(|ip| ip.to_string());
        let tenant_header = header(TENANT_HEADER);
        if let Some(t) = &tenant_header
            && !is_valid_id(t)
        {
            return Err(ApiError::bad(Issue::error(
                "invalid",
                "X-Tandem-Tenant must be a FHIR id (1-64 of A-Z a-z 0-9 - .).",
            )));
        }
        state.svc.audit_room().await;
        let Some(gate) = &state.gate else {
            return Ok(Access(insecure_context(
                state,
                tenant_header,
                header(CLIENT_HEADER),
                request_id,
                address,
            )));
        };
        if let Some(wait) = ip.and_then(|ip| gate.address_blocked(ip)) {
            return Err(throttled(
                wait,
                "Too many failed authentications from this address",
            ));
        }
        // Every failed authentication is charged to the source address.
        let failed = |reason: &str| match ip.and_then(|ip| gate.charge_address(ip)) {
            Some(wait) => throttled(wait, "Too many failed authentications from this address"),
            None => unauthorized(reason),
        };
        let token = header("authorization")
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            })
            .ok_or_else(|| failed("No access token"))?;
        let now = chrono::Utc::now().timestamp();
        let grant = gate
            .tokens
            .verify(&token, now)
            .await
            .map_err(|e| failed(e.0))?;
        if let Some(wait) = gate.throttle(&grant.client_id) {
            return Err(throttled(wait, "Rate limit exceeded"));
        }
        let asked = Asked {
            tenant: tenant_header,
            request_id,
            address,
        };
        context_for(state, grant, asked, &parts.method, parts.uri.path()).map(Access)
    }
}

/// What a request says about where it works, besides its grant.
pub(crate) struct Asked {
    /// The tenant named (`X-Tandem-Tenant`, or the practice in an app URL).
    pub tenant: Option<String>,
    pub request_id: String,
    pub address: Option<String>,
}

/// The context a verified grant works in, or the refusal (audited on the
/// named practice's trail: it is that practice's data the caller tried to
/// reach). `method` and `path` describe the attempt for the audit record.
pub(crate) fn context_for(
    state: &AppState,
    grant: Arc<Grant>,
    asked: Asked,
    method: &axum::http::Method,
    path: &str,
) -> Result<AccessContext, ApiError> {
    let settings = state.svc.settings();
    let links = Links {
        oversees: &|org: &str, t: &str| settings.programs.oversees(org, t),
        compact: &|org: &str, t: &str| settings.referrals.partner(t, org).is_some(),
        serves: &|org: &str, t: &str| crate::rules::attribution::serves(&settings.payers, org, t),
        enrolled: &|t: &str| settings.programs.enrolled(t).is_some(),
    };
    let chosen = choose_tenant(&grant, asked.tenant, &state.default_tenant, &links);
    let ctx = |tenant: String, guest: bool| AccessContext {
        tenant,
        client_id: grant.client_id.clone(),
        request_id: asked.request_id.clone(),
        guest,
        address: asked.address.clone(),
        grant: grant.clone(),
    };
    match chosen {
        Ok((tenant, guest)) => Ok(ctx(tenant, guest)),
        Err(Refused { tenant, error }) => {
            let (rt, i) = attempted(method, path);
            state.svc.audit_refusal(&ctx(tenant, true), i, &rt);
            Err(error)
        }
    }
}

/// The relations between organizations that let a client work in another
/// organization's tenant.
struct Links<'a> {
    /// (program or facilitator, practice): the practice is overseen by it.
    oversees: &'a dyn Fn(&str, &str) -> bool,
    /// (partner, practice): a care compact names the partner for the practice.
    compact: &'a dyn Fn(&str, &str) -> bool,
    /// (payer, practice): the payer sends the practice attribution lists.
    serves: &'a dyn Fn(&str, &str) -> bool,
    /// The practice is enrolled in a program.
    enrolled: &'a dyn Fn(&str) -> bool,
}

/// A tenant a client may not work in, and the answer it gets.
struct Refused {
    tenant: String,
    error: ApiError,
}

fn choose_tenant(
    grant: &Grant,
    named: Option<String>,
    default_tenant: &str,
    links: &Links,
) -> Result<(String, bool), Refused> {
    if let Some(p) = &grant.person {
        return person_tenant(p, named, default_tenant, links);
    }
    match (grant.role, named) {
        (Role::Operator, named) => Ok((named.unwrap_or_else(|| default_tenant.to_string()), false)),
        // Program staff and facilitators: the practices they oversee.
        (Role::Reporting, Some(t)) if t != grant.org && (links.oversees)(&grant.org, &t) => {
            Ok((t, false))
        }
        // A partner works as a guest only where a care compact names it:
        // without one no referral can reach it, so it has no business there.
        (Role::BhPartner, Some(t)) if t != grant.org && (links.compact)(&grant.org, &t) => {
            Ok((t, true))
        }
        // A payer sends attribution lists to the practices it serves, as a
        // guest: it reads back what it sent and nothing else.
        (Role::Payer, Some(t)) if t != grant.org && (links.serves)(&grant.org, &t) => Ok((t, true)),
        (Role::Payer, Some(t)) if t != grant.org => Err(Refused {
            error: forbidden(format!(
                "Organization/{} sends no attribution lists to practice '{t}' ([[payers]]).",
                grant.org
            )),
            tenant: t,
        }),
        (Role::BhPartner, Some(t)) if t != grant.org => Err(Refused {
            error: forbidden(format!(
                "Organization/{} has no care compact with practice '{t}', so it cannot work in \
                 that tenant.",
                grant.org
            )),
            tenant: t,
        }),
        (_, Some(t)) if t != grant.org => Err(Refused {
            error: forbidden(format!(
                "This client acts for Organization/{} and cannot work in tenant '{t}'.",
                grant.org
            )),
            tenant: t,
        }),
        _ => Ok((grant.org.clone(), false)),
    }
}

/// A signed-in person's tenant: the practice named (or their own, or for
/// an operator the default), if the person covers it.
fn person_tenant(
    p: &Person,
    named: Option<String>,
    default_tenant: &str,
    links: &Links,
) -> Result<(String, bool), Refused> {
    let chosen = named.or_else(|| match p.role {
        UserRole::Operator => Some(default_tenant.to_string()),
        _ => p.home().map(str::to_string),
    });
    let Some(t) = chosen else {
        return Err(Refused {
            tenant: default_tenant.to_string(),
            error: ApiError::bad(Issue::error(
                "required",
                "Name the practice to work in with X-Tandem-Tenant.",
            )),
        });
    };
    if p.covers(&t, links.enrolled) {
        return Ok((t, false));
    }
    Err(Refused {
        error: forbidden(format!(
            "{} ({:?}) does not cover practice '{t}'.",
            p.name, p.role
        )),
        tenant: t,
    })
}

/// The resource type and interaction a refused request attempted, for the
/// audit record (its path, as routed: `/{type}`, `/{type}/{id}`, `/$op`).
fn attempted(method: &axum::http::Method, path: &str) -> (String, Interaction) {
    use axum::http::Method;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rt = segments
        .iter()
        .find(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map_or("-", |s| s)
        .to_string();
    let operation = segments.iter().any(|s| s.starts_with('$'));
    let by_id = segments.len() >= 2 && !segments.iter().any(|s| s.starts_with('_'));
    let i = match *method {
        _ if operation => Interaction::Operation,
        Method::GET if by_id => Interaction::Read,
        Method::GET => Interaction::Search,
        Method::PUT | Method::PATCH => Interaction::Update,
        Method::DELETE => Interaction::Delete,
        _ => Interaction::Create,
    };
    (rt, i)
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
