//! One budget for the whole server, shared by every route (a tower
//! `ConcurrencyLimitLayer` added with `Router::layer` makes one semaphore
//! per route, so slow bodies on `/auth/token` blocked token issuance for
//! everyone while other routes had room):
//! * request slots: `max_concurrent_requests`, of which `token_reserve`
//!   only token requests use;
//! * request bytes: a large body (1 MiB or more by `Content-Length`, or any
//!   body without one, counted at the body limit) takes its size from
//!   `body_budget_bytes` until its response is ready, because working on a
//!   transaction takes many times its size in memory.
//!
//! A request that finds no room within `queue_wait` is answered 503 with
//! Retry-After, as an OperationOutcome.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::fhir::outcome::Issue;

/// Bodies below this size take no byte budget (their cost is bounded by
/// the request slots).
const LARGE_BODY: usize = 1024 * 1024;
/// One unit of the byte budget.
const UNIT: usize = 64 * 1024;

pub struct Budget {
    general: Arc<Semaphore>,
    token: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_body: usize,
    wait: Duration,
}

impl Budget {
    pub fn new(
        max_concurrent: usize,
        token_reserve: usize,
        body_budget_bytes: usize,
        max_body: usize,
        wait: Duration,
    ) -> Budget {
        Budget {
            general: Arc::new(Semaphore::new(max_concurrent - token_reserve)),
            token: Arc::new(Semaphore::new(token_reserve)),
            bytes: Arc::new(Semaphore::new(units(body_budget_bytes))),
            max_body,
            wait,
        }
    }

    /// Byte-budget units a request takes.
    fn body_units(&self, req: &Request) -> usize {
        if matches!(
            *req.method(),
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
        ) {
            return 0;
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match declared {
            Some(n) if n < LARGE_BODY => 0,
            // Above the limit it is refused unread: only the limit's worth.
            Some(n) => units(n.min(self.max_body)),
            None => units(self.max_body),
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

fn busy(what: &str) -> Response {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        Issue::error(
            "transient",
            format!("The server is at its limit of {what}; retry after 1 s."),
        ),
    );
    e.headers
        .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
    e.into_response()
}

/// Admits a request within the budget, holding its share until the
/// response is ready.
pub async fn admit(State(b): State<Arc<Budget>>, req: Request, next: Next) -> Response {
    let token_route = req.uri().path() == "/auth/token";
    let reserved = if token_route {
        b.token.clone().try_acquire_owned().ok()
    } else {
        None
    };
    let slot: OwnedSemaphorePermit = match reserved {
        Some(s) => s,
        None => match tokio::time::timeout(b.wait, b.general.clone().acquire_owned()).await {
            Ok(Ok(s)) => s,
            _ => return busy("requests in progress"),
        },
    };
    let want = b.body_units(&req);
    let bytes = if want == 0 {
        None
    } else {
        let n = u32::try_from(want).unwrap_or(u32::MAX);
        match tokio::time::timeout(b.wait, b.bytes.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Some(p),
            _ => return busy("request bodies being worked on"),
        }
    };
    let resp = next.run(req).await;
    drop(bytes);
    drop(slot);
    resp
}
