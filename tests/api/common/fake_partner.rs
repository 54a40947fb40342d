//! A partner's FHIR server that is down for a while: a small real HTTP
//! server taking transaction Bundles of PUTs at `POST /` (answering 503 to
//! the first `fail_first` requests) and keeping what it accepted by id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;

#[derive(Clone, Default)]
pub struct FakePartner {
    pub base: String,
    /// Accepted resources by `Type/id`.
    pub stored: Arc<Mutex<HashMap<String, Value>>>,
    /// Every request: (the entries' `Type/id`s joined by `,`, status
    /// answered, bearer token present).
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
            .route("/", post(receive))
            .with_state(p.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        p
    }
}

async fn receive(State(p): State<FakePartner>, headers: HeaderMap, body: String) -> StatusCode {
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
    let bundle: Value = serde_json::from_str(&body).unwrap_or_default();
    let entries: Vec<(String, Value)> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["request"]["method"] == "PUT" && bundle["type"] == "transaction")
        .filter_map(|e| {
            Some((
                e["request"]["url"].as_str()?.to_string(),
                e["resource"].clone(),
            ))
        })
        .collect();
    let urls: Vec<&str> = entries.iter().map(|(u, _)| u.as_str()).collect();
    p.log.lock().push((urls.join(","), status.as_u16(), bearer));
    if !down {
        p.stored.lock().extend(entries);
    }
    status
}
