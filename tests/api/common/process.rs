//! Running the real `tandem` binary as a separate process (crash, signal and
//! benchmark runs), shared by tests and benches.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `tandem serve` on `port` with database `db`; stderr goes to `stderr`.
/// Request logs are on only when `logs` is set (nobody reads the others).
pub fn start_server(db: &Path, port: u16, stderr: Stdio, logs: bool) -> Child {
    start_server_env(db, port, stderr, logs, &[])
}

/// [`start_server`] with extra `TANDEM_*` settings, e.g. derivations off.
pub fn start_server_env(
    db: &Path,
    port: u16,
    stderr: Stdio,
    logs: bool,
    env: &[(&str, &str)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "--database",
            db.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TANDEM_LOG__LEVEL", if logs { "info" } else { "warn" })
        // These tests are about durability and throughput of the store; auth
        // has its own tests (tests/security*.rs) and the in-process harness.
        .env("TANDEM_AUTH__ENABLED", "false")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start tandem")
}

/// Starts `tandem serve` with auth on (the default), quiet.
pub fn start_secure_server(db: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "--database",
            db.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TANDEM_LOG__LEVEL", "warn")
        // Benchmarks hammer from one client: lift the per-client rate limit.
        .env("TANDEM_AUTH__RATE_PER_SECOND", "10000000")
        .env("TANDEM_AUTH__RATE_BURST", "10000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tandem")
}

/// Runs a `tandem` CLI command against `db`; panics if it fails; returns stdout.
pub fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--database")
        .arg(db)
        .args(args)
        .env("TANDEM_LOG__LEVEL", "warn")
        .output()
        .expect("run tandem");
    assert!(
        out.status.success(),
        "tandem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `GET /health` answers.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

/// The `next` link of a Bundle page, if any.
pub fn next_link(bundle: &serde_json::Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(String::from)
}

/// GETs `url` and parses the JSON body.
pub async fn fetch_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON body")
}

/// Runs `tandem --database DB import PATHS...`, asserts success, returns stdout.
pub fn run_import(db: &Path, paths: &[&Path]) -> String {
    let mut args = vec!["import"];
    args.extend(paths.iter().map(|p| p.to_str().expect("UTF-8 path")));
    cli(db, &args)
}
