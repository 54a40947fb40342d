//! The one test harness: a real server on port 0 with its own temporary
//! SQLite database, spoken to over real HTTP.
#![allow(dead_code)]

pub mod process;

use std::path::PathBuf;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tandem::config::Config;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts a server with default config plus `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tandem.db");
    let mut cfg = Config {
        database: db.clone(),
        ..Config::default()
    };
    tweak(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(tandem::app::serve(cfg, listener, async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: Client::new(),
        db,
        _dir: dir,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET with extra headers (conditional read, Accept, Prefer, ...).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = self.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self.get(path).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .expect("PUT")
    }

    /// PUT with extra headers (If-Match, Prefer, ...).
    pub async fn put_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut req = self
            .client
            .put(self.url(path))
            .header("content-type", "application/fhir+json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body.to_string()).send().await.expect("PUT")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    /// Creates a resource and returns the stored JSON.
    pub async fn create(&self, body: &Value) -> Value {
        let rt = body["resourceType"].as_str().unwrap();
        let r = self.post(rt, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create {rt}");
        r.json().await.unwrap()
    }

    /// Number of versions ever written in the default tenant (system history total).
    pub async fn history_total(&self) -> u64 {
        let (_, b) = self.get_json("_history?_count=0").await;
        b["total"].as_u64().unwrap()
    }

    /// Stops the server gracefully and waits for the store to close.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server result");
        }
    }
}

/// The `meta`-less form of a resource, for round-trip comparison.
pub fn without_meta(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    v
}

/// The shared test data folder (`../shared/data` beside the repo).
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}
