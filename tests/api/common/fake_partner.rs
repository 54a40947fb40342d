//! A partner's FHIR server that is down for a while: a small real HTTP
//! server taking `PUT /{type}/{id}` (answering 503 to the first `fail_first`
//! requests) and keeping what it accepted by id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use parking_lot::Mutex;
use serde_json::Value;

#[derive(Clone, Default)]
pub struct FakePartner {
    pub base: String,
    /// Accepted resources by `Type/id`.
    pub stored: Arc<Mutex<HashMap<String, Value>>>,
    /// Every request: (`Type/id`, status answered, bearer token present).
    pub log: Arc<Mutex<Vec<(String, u16, bool)>>>,
    fail_left: Arc<Mutex<usize>>,
}

impl FakePartner {
    pub async fn start(fail_first: usize) -> FakePartner {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = FakePartner {
            base: format!("http://{}", listener.local_addr().unwrap()),
            fail_left: Arc::new(Mutex::new(fail_first)),
            ..Default::default()
        };
        let app = Router::new()
            .route("/{rt}/{id}", put(receive))
            .with_state(p.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        p
    }
}

async fn receive(
    State(p): State<FakePartner>,
    Path((rt, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let down = {
        let mut left = p.fail_left.lock();
        let down = *left > 0;
        *left = left.saturating_sub(1);
        down
    };
    let status = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    p.log
        .lock()
        .push((format!("{rt}/{id}"), status.as_u16(), bearer));
    if !down && let Ok(v) = serde_json::from_str(&body) {
        p.stored.lock().insert(format!("{rt}/{id}"), v);
    }
    status
}
