//! Running the real `tandem` binary as a separate process (crash, signal and
//! benchmark runs), shared by tests and benches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tandem::config::Database;

/// What `--database` is given: a SQLite file, or whichever database a
/// test's run selected.
pub trait DbArg {
    fn arg(&self) -> String;
}

impl DbArg for Path {
    fn arg(&self) -> String {
        self.to_str().expect("UTF-8 path").to_string()
    }
}

impl DbArg for PathBuf {
    fn arg(&self) -> String {
        self.as_path().arg()
    }
}

impl<T: DbArg + ?Sized> DbArg for &T {
    fn arg(&self) -> String {
        (**self).arg()
    }
}

impl DbArg for Database {
    fn arg(&self) -> String {
        self.locator()
    }
}

/// A `tandem serve` child process. It binds port 0 itself and reports the
/// address it got on its first stdout line, so no port is chosen here and
/// bound later by someone else (the race a "free port" helper has).
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Held open: the child's later stdout writes must not hit a closed pipe.
    _stdout: std::process::ChildStdout,
}

impl Server {
    /// Kills the process (`kill -9`) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` (a `tandem serve` or `tandem demo` on `127.0.0.1:0`) and
/// reads stdout until the `tandem listening on URL` line. Blocks only until
/// the child has bound its listener; later stdout lines stay unread.
// The child is handed to the caller inside `Server` (which reaps it), or
// reaped here when it exits before listening.
#[allow(clippy::zombie_processes)]
pub fn spawn_listening(mut cmd: Command) -> Server {
    use std::io::BufRead;
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start tandem");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdout.read_line(&mut line).expect("read tandem's stdout");
        assert!(n > 0, "tandem exited before listening: {:?}", child.wait());
        if let Some(base) = line.trim().strip_prefix("tandem listening on ") {
            let base = base.to_string();
            return Server {
                child,
                base,
                _stdout: stdout.into_inner(),
            };
        }
    }
}

/// Starts `tandem [--config C] --database D serve` on a free port with
/// `TANDEM_*` settings `env` (log level `warn` unless they say), stderr
/// inherited: how the benchmarks run the server.
#[allow(dead_code)]
pub fn serve_with(
    db: &(impl DbArg + ?Sized),
    config: Option<&Path>,
    env: &[(&str, &str)],
) -> Server {
    let mut cmd = serve_command(db, config);
    cmd.env("TANDEM_LOG__LEVEL", "warn")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit());
    spawn_listening(cmd)
}

fn serve_command(db: &(impl DbArg + ?Sized), config: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    if let Some(c) = config {
        cmd.args(["--config", c.to_str().unwrap()]);
    }
    cmd.args(["--database", &db.arg(), "serve", "--listen", "127.0.0.1:0"]);
    cmd
}

/// Starts `tandem serve` with database `db`; stderr goes to `stderr`.
/// Request logs are on only when `logs` is set (nobody reads the others).
pub fn start_server(db: &(impl DbArg + ?Sized), stderr: Stdio, logs: bool) -> Server {
    start_server_env(db, stderr, logs, &[])
}

/// [`start_server`] with extra `TANDEM_*` settings, e.g. derivations off.
pub fn start_server_env(
    db: &(impl DbArg + ?Sized),
    stderr: Stdio,
    logs: bool,
    env: &[(&str, &str)],
) -> Server {
    let mut cmd = serve_command(db, None);
    cmd.env("TANDEM_LOG__LEVEL", if logs { "info" } else { "warn" })
        // These tests are about durability and throughput of the store; auth
        // has its own tests (tests/api/security*.rs) and the in-process harness.
        .env("TANDEM_AUTH__ENABLED", "false")
        .envs(env.iter().copied())
        .stderr(stderr);
    spawn_listening(cmd)
}

/// Starts `tandem serve` with auth on (the default), quiet.
pub fn start_secure_server(db: &(impl DbArg + ?Sized)) -> Server {
    let mut cmd = serve_command(db, None);
    cmd.env("TANDEM_LOG__LEVEL", "warn")
        // Benchmarks hammer from one client: lift the per-client rate limit.
        .env("TANDEM_AUTH__RATE_PER_SECOND", "10000000")
        .env("TANDEM_AUTH__RATE_BURST", "10000000")
        .stderr(Stdio::null());
    spawn_listening(cmd)
}

/// Runs a `tandem` CLI command against `db`; panics if it fails; returns stdout.
pub fn cli(db: &(impl DbArg + ?Sized), args: &[&str]) -> String {
    let out = run(db, args);
    assert!(
        out.status.success(),
        "tandem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `tandem --database DB ARGS…` to its end, whatever it answers.
#[allow(dead_code)]
pub fn run(db: &(impl DbArg + ?Sized), args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--database")
        .arg(db.arg())
        .args(args)
        .env("TANDEM_LOG__LEVEL", "warn")
        .output()
        .expect("run tandem")
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
pub fn run_import(db: &(impl DbArg + ?Sized), paths: &[&Path]) -> String {
    let mut args = vec!["import"];
    args.extend(paths.iter().map(|p| p.to_str().expect("UTF-8 path")));
    cli(db, &args)
}
