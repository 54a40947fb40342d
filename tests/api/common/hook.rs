//! A practice's notification endpoint, as a small real HTTP server: records
//! every POST and answers 503 to the first `fail_first` of them (an endpoint
//! that is down for a while); while held, it records and keeps each request
//! waiting (an endpoint that hangs: the sender is caught mid-delivery).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub key: String,
    pub topic: String,
    pub accepted: bool,
    pub body: Value,
}

#[derive(Clone)]
pub struct Hook {
    pub url: String,
    pub log: Arc<Mutex<Vec<Received>>>,
    fail_left: Arc<Mutex<usize>>,
    held: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Hook {
    pub async fn start(fail_first: usize) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let hook = Hook {
            url,
            log: Arc::new(Mutex::new(Vec::new())),
            fail_left: Arc::new(Mutex::new(fail_first)),
            held: Arc::new(tokio::sync::watch::Sender::new(false)),
        };
        let app = Router::new()
            .route("/notify", post(receive))
            // A program's FHIR base at `url`: submissions are POSTed to `Bundle`.
            .route("/notify/Bundle", post(receive))
            .with_state(hook.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        hook
    }

    /// From now on, keep every request waiting (recorded as not accepted)
    /// until [`Hook::release`], which answers them 503.
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// From now on, refuse the next `n` deliveries (0: accept all).
    pub fn set_failures(&self, n: usize) {
        *self.fail_left.lock() = n;
    }

    /// The deliveries answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.log
            .lock()
            .iter()
            .filter(|r| r.accepted)
            .cloned()
            .collect()
    }

    /// Waits until `n` deliveries were accepted (at most 10 s).
    pub async fn wait_accepted(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.accepted().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.accepted()
    }
}

async fn receive(State(h): State<Hook>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let record = |accepted: bool| {
        h.log.lock().push(Received {
            key: header("idempotency-key"),
            topic: header("x-tandem-topic"),
            accepted,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        })
    };
    if *h.held.borrow() {
        record(false);
        let _ = h.held.subscribe().wait_for(|held| !held).await;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let accepted = {
        let mut left = h.fail_left.lock();
        if *left > 0 {
            *left -= 1;
            false
        } else {
            true
        }
    };
    record(accepted);
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
