//! The one test harness: a real server on port 0 with its own fresh
//! database (SQLite, or PostgreSQL with `TEST_STORE=postgres`, see
//! `database`), spoken to over real HTTP.

pub mod access;
pub mod adt;
pub mod audit;
pub mod browser;
pub mod database;
pub mod fake_partner;
pub mod hook;
pub mod jwt;
pub mod people;
pub mod population;
pub mod process;
pub mod referral;
pub mod reports;
pub mod screening;

use std::path::{Path, PathBuf};

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tandem::auth::Role;
use tandem::auth::{clients, keys};
use tandem::config::{Config, Database};
use tandem::store::Store;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    /// The address clients know the service by (`base_url`; nodes behind
    /// one load balancer share it): where tokens are asked for.
    pub public: String,
    /// Sends the default EHR client's token (tenant `default`) on every request.
    pub client: Client,
    pub db: Database,
    pub dir: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Last: the database goes after the server.
    _database: database::TestDatabase,
}

/// Starts a server with default config plus `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_at(std::sync::Arc::new(tandem::service::SystemClock), tweak).await
}

/// A clock a test sets and moves: the server's time stands still between moves.
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl tandem::service::Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// [`spawn_app_with`] on a given clock (see `tandem::app::serve_at`).
pub async fn spawn_app_at(
    clock: std::sync::Arc<dyn tandem::service::Clock>,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    // `TEST_LOG=error` (any filter) shows the servers' logs while debugging.
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(filter)
            .try_init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = database::fresh(dir.path(), "tandem.db").await;
    let mut cfg = Config {
        database: fresh.db.clone(),
        ..Config::default()
    };
    // Tests run side by side, each with its own server and database.
    cfg.postgres.pool_size = 6;
    // The periodic risk pass would write RiskAssessments while a test
    // loads data; tests stratify with `$stratify` or turn it on.
    cfg.risk.restratify_secs = 0;
    // Likewise the run charts' refresh: tests ask for it with $refresh-charts.
    cfg.app.refresh_at_start = false;
    tweak(&mut cfg);
    let db = cfg.database.clone();
    // Create and migrate the database before the server opens it, as an
    // operator's first command would: the test then registers its clients
    // through a second store on the same file, and that must not race the
    // server's first open of a fresh file.
    open_store(&db).await.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let auth = cfg.auth.enabled;
    let public = cfg.base_url.clone().unwrap_or_else(|| base.clone());
    let tenant = cfg.default_tenant.clone();
    let task = tokio::spawn(tandem::app::serve_at(
        cfg,
        listener,
        async {
            let _ = stopped.await;
        },
        clock,
    ));
    let mut app = TestApp {
        base,
        public,
        client: Client::new(),
        db,
        dir: dir.path().to_path_buf(),
        _dir: dir,
        stop: Some(stop),
        task: Some(task),
        _database: fresh,
    };
    app.wait_until_serving().await;
    if auth {
        app.client = app
            .client_for("test-ehr", Role::Ehr, &tenant, "system/*.cruds")
            .await;
    }
    app
}

/// Registers a client directly in the database (as `tandem client add`
/// would), with a fresh ES384 key; returns the private key file.
pub async fn register_client(
    db: &Database,
    dir: &Path,
    client_id: &str,
    role: Role,
    org: &str,
    scopes: &str,
) -> PathBuf {
    let pkcs8 = keys::generate_pkcs8().unwrap();
    let (_, jwk) = keys::public_jwk(&pkcs8).unwrap();
    let key_file = dir.join(format!("{client_id}.pem"));
    std::fs::write(&key_file, keys::to_pem(&pkcs8)).unwrap();
    let client = clients::Client {
        client_id: client_id.into(),
        name: client_id.into(),
        role,
        organization: org.into(),
        jwks: Some(serde_json::json!({"keys": [jwk]})),
        jwks_url: None,
        scopes: scopes.into(),
    };
    let store = open_store(db).await;
    clients::save(store.as_ref(), &client).await.unwrap();
    store.close().await;
    key_file
}

/// A second store on a test's database (as an operator's command opens one).
pub async fn open_store(db: &Database) -> std::sync::Arc<dyn Store> {
    let options = tandem::store::OpenOptions {
        pool_size: Some(2),
        ..Default::default()
    };
    tandem::store::open(db, &options)
        .await
        .expect("open the test database")
}

/// Registers (or replaces) a client document directly in the database.
pub async fn save_client(db: &Database, client: &clients::Client) {
    let store = open_store(db).await;
    clients::save(store.as_ref(), client).await.unwrap();
    store.close().await;
}

/// The status of `GET url` sent with `c`.
pub async fn get_status(c: &Client, url: String) -> u16 {
    c.get(url).send().await.expect("GET").status().as_u16()
}

/// A reqwest client sending `token` on every request.
pub fn bearer_client(token: &str) -> Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Client::builder().default_headers(h).build().unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    /// Waits for the server's first answer. If the server stops instead,
    /// panics with its error: a bound listener that is dropped later only
    /// shows up as "connection refused" in whatever request comes next.
    async fn wait_until_serving(&mut self) {
        let probe = self.client.get(self.url("metadata")).send();
        let task = self.task.as_mut().expect("server task");
        tokio::select! {
            answered = probe => {
                answered.expect("the server answers GET /metadata");
            }
            ended = task => panic!("the server stopped while starting: {ended:?}"),
        }
    }

    /// Registers a client, performs the Backend Services token exchange over
    /// HTTP and returns an HTTP client carrying the token.
    pub async fn client_for(&self, id: &str, role: Role, org: &str, scopes: &str) -> Client {
        let token = self.token_for(id, role, org, scopes).await;
        bearer_client(&token)
    }

    pub async fn token_for(&self, id: &str, role: Role, org: &str, scopes: &str) -> String {
        let key = register_client(&self.db, &self.dir, id, role, org, scopes).await;
        tandem::admin::fetch_token(&self.public, id, &key, None)
            .await
            .expect("token exchange")
    }

    /// An admin client of tenant `default` (operators' reads: audit, outbox, held messages).
    pub async fn admin(&self) -> Client {
        self.client_for("ops", Role::Admin, "default", "system/*.rs")
            .await
    }

    /// Waits until the default tenant's outbox has no pending message: every
    /// message delivered or dead-lettered, so the worker sends nothing more
    /// on its own. The positive signal a "nothing more was sent" assertion
    /// waits for. Returns every message listed (no payloads).
    pub async fn outbox_settled(&self) -> Vec<Value> {
        let admin = self.admin().await;
        for _ in 0..400 {
            let pending = self.json_as(&admin, "$outbox?state=pending").await;
            if pending["parameter"].as_array().is_none_or(|p| p.is_empty()) {
                let all = self.json_as(&admin, "$outbox?state=all&_count=1000").await;
                return all["parameter"].as_array().cloned().unwrap_or_default();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the outbox never settled");
    }

    /// GET `path` with client `c`, parsed.
    pub async fn json_as(&self, c: &Client, path: &str) -> Value {
        c.get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

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

    /// The matched resources of a search (which must answer 200).
    pub async fn search_resources(&self, query: &str) -> Vec<Value> {
        let (s, b) = self.get_json(query).await;
        assert_eq!(s, StatusCode::OK, "{query}");
        b["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect()
    }

    /// The screening results Tandem derived for `Patient/{pid}`.
    pub async fn screening_results(&self, pid: &str) -> Vec<Value> {
        self.search_resources(&format!(
            "Observation?_tag=http://tandem.health/fhir/CodeSystem/derived|screening-result&subject=Patient/{pid}"
        ))
        .await
    }

    /// Number of versions ever written in the default tenant (system history total).
    pub async fn history_total(&self) -> u64 {
        let (_, b) = self.get_json("_history?_count=0").await;
        b["total"].as_u64().unwrap()
    }

    /// Stops the server gracefully and waits for the store to close.
    /// `POST Organization/{org}/$stratify?{query}` as the practice's
    /// client: 200, and its answer.
    pub async fn stratify(&self, org: &str, query: &str) -> Value {
        let r = self
            .client
            .post(self.url(&format!("Organization/{org}/$stratify?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server result");
        }
    }
}

/// The part named `name` of a Parameters parameter (Null when absent).
pub fn part(p: &Value, name: &str) -> Value {
    p["part"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A finished Encounter of `class` (v3 ActCode: AMB, VR, IMP, …) for
/// `Patient/{pid}` from `start`, to `end` when given.
pub fn encounter(pid: &str, class: &str, start: &str, end: Option<&str>) -> Value {
    let mut period = serde_json::json!({ "start": start });
    if let Some(end) = end {
        period["end"] = serde_json::json!(end);
    }
    serde_json::json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class},
        "subject": {"reference": format!("Patient/{pid}")}, "period": period})
}

/// A top-level parameter of a Parameters resource (Null when absent).
pub fn param(p: &Value, name: &str) -> Value {
    part(&serde_json::json!({ "part": p["parameter"] }), name)
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
