//! The HTTP surface: axum routes, middleware (request ids, tracing without
//! patient data, limits) and rendering. Depends on `service`, never on `store`.

pub(crate) mod access;
pub(crate) mod app;
mod auth_routes;
mod body;
pub mod budget;
pub mod error;
mod handlers;
pub mod negotiate;
mod operations;
mod respond;
pub mod serve;
mod sign_in;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::service::FhirService;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<FhirService>,
    pub base_url: String,
    pub default_tenant: String,
    pub trust_tenant_header: bool,
    /// Token issuing and verification (always available).
    pub tokens: Arc<crate::auth::tokens::Tokens>,
    /// Enforcement; `None` only when auth is switched off.
    pub gate: Option<Arc<crate::http::access::Gate>>,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive (408 after).
    pub body_read_timeout: Duration,
    /// The CapabilityStatement, rendered once at start-up.
    pub capability: Arc<String>,
}

/// Limits applied by middleware.
pub struct HttpLimits {
    pub request_timeout: Duration,
    pub max_header_bytes: usize,
    /// Request slots and body bytes, shared by every route.
    pub budget: Arc<budget::Budget>,
}

/// Longest request target (path and query) accepted; 414 above it.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// Builds the router with every FHIR route and middleware.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    use handlers as h;
    Router::new()
        .route("/metadata", get(h::metadata))
        .route("/health", get(h::health))
        .route(
            "/.well-known/smart-configuration",
            get(auth_routes::smart_configuration),
        )
        .route("/auth/token", post(auth_routes::token))
        .route("/auth/jwks", get(auth_routes::jwks))
        .route(
            "/auth/authorize",
            get(sign_in::authorize_page).post(sign_in::authorize_submit),
        )
        .route("/auth/revoke", post(sign_in::revoke))
        .merge(app::routes())
        .route("/", post(h::bundle))
        .route("/$process-message", post(operations::process_message))
        .route("/$outbox", get(operations::outbox))
        .route("/$outbox-retry", post(operations::outbox_retry))
        .route("/$sweep-overdue", post(operations::sweep_overdue))
        .route("/$run-feed", post(operations::run_feed))
        .route("/_history", get(h::system_history))
        .route("/Measure/$care-gaps", get(operations::care_gaps))
        .route(
            "/{rt}",
            get(h::search)
                .post(h::create)
                .put(h::conditional_update)
                .delete(h::conditional_delete),
        )
        .route("/{rt}/_search", post(h::search_post))
        .route("/{rt}/_history", get(h::type_history))
        .route("/{rt}/{id}", get(h::read).put(h::update).delete(h::delete))
        .route("/{rt}/{id}/_history", get(h::instance_history))
        .route(
            "/{rt}/{id}/{op}",
            get(operations::instance_operation).post(operations::instance_operation_post),
        )
        .route("/{rt}/{id}/_history/{vid}", get(h::vread))
        .fallback(h::fallback)
        .method_not_allowed_fallback(h::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            trace_request,
        ))
        .layer(middleware::from_fn_with_state(limits.budget, budget::admit))
        .layer(middleware::from_fn_with_state(
            limits.max_header_bytes,
            header_limit,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Logs each request by route template (never the concrete URL or query, which
/// can carry identifiers and names), with status and duration; makes the
/// request id available to error rendering; answers 408 (as an
/// OperationOutcome) when the request takes longer than the configured timeout
/// before any write of it reached the store (see `crate::deadline`).
async fn trace_request(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "<unmatched>".into());
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let (committing, run) =
        crate::deadline::scope(error::REQUEST_ID.scope(id.clone(), next.run(req)));
    tokio::pin!(run);
    let resp = match tokio::time::timeout(timeout, &mut run).await {
        Ok(resp) => resp,
        // A write already handed to the store: its client gets the real
        // outcome, never a 408 for a write that then commits.
        Err(_) if crate::deadline::is_committing(&committing) => run.await,
        Err(_) => error::ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            crate::fhir::outcome::Issue::error(
                "timeout",
                format!(
                    "The request took longer than {} s; split the work or retry.",
                    timeout.as_secs()
                ),
            ),
        )
        .into_response(),
    };
    tracing::info!(request_id = %id, %method, route = %route, status = resp.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    resp
}

/// Refuses requests whose headers exceed the configured size (431) or whose
/// target is longer than [`MAX_URI_BYTES`] (414), with an OperationOutcome
/// (below hyper's own limits, whose answers have no body).
async fn header_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let uri = req.uri().to_string().len();
    if uri > MAX_URI_BYTES {
        return error::ApiError::new(
            axum::http::StatusCode::URI_TOO_LONG,
            crate::fhir::outcome::Issue::error(
                "too-long",
                format!(
                    "The request target is {uri} bytes; the limit is {MAX_URI_BYTES}. Send a \
                     long search as POST [type]/_search with a form body."
                ),
            ),
        )
        .into_response();
    }
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > max {
        return error::ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            crate::fhir::outcome::Issue::error(
                "too-long",
                format!("Request headers total {size} bytes; the limit is {max}."),
            ),
        )
        .into_response();
    }
    next.run(req).await
}
