//! The security commands as an operator uses them: `client add
//! --generate-key`, `client list|remove`, `token`, `keys rotate` and `demo`,
//! against a real server process with auth on (the default).

use crate::common;

use common::get_status;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::bearer_client;
use common::process::{run, start_secure_server, wait_ready};

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn operator_registers_a_client_gets_tokens_rotates_keys_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database::fresh(dir.path(), "t.db").await;
    let db = &database.db;
    let key = dir.path().join("ehr1.pem");
    let key_s = key.to_str().unwrap();
    let out = run(
        &db,
        &[
            "client",
            "add",
            "ehr1",
            "--role",
            "ehr",
            "--organization",
            "clinic-1",
            "--generate-key",
            key_s,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("tandem token ehr1 --key"),
        "{}",
        text(&out)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Never overwrites a key file.
    let again = run(
        &db,
        &[
            "client",
            "add",
            "ehr2",
            "--role",
            "ehr",
            "--organization",
            "clinic-1",
            "--generate-key",
            key_s,
        ],
    );
    assert!(!again.status.success());
    let bad = run(
        &db,
        &[
            "client",
            "add",
            "x",
            "--role",
            "ehr",
            "--organization",
            "bad org!",
            "--jwks-url",
            "https://x.example/jwks",
        ],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("organization"),
        "{}",
        text(&bad)
    );
    let list = run(&db, &["client", "list"]);
    assert!(
        text(&list).contains("ehr1\tehr\tOrganization/clinic-1"),
        "{}",
        text(&list)
    );
    let mut server = start_secure_server(&db);
    let base = server.base.clone();
    wait_ready(&reqwest::Client::new(), &base).await;
    let token = |db: &tandem::config::Database| {
        let o = run(db, &["token", "ehr1", "--key", key_s, "--server", &base]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let t1 = token(db);
    assert_eq!(
        get_status(&bearer_client(&t1), format!("{base}/Patient")).await,
        200
    );
    assert_eq!(
        reqwest::get(format!("{base}/Patient"))
            .await
            .unwrap()
            .status(),
        401,
        "auth is on by default"
    );
    // Rotation: old tokens keep working, new ones are signed by the new key.
    let rot = run(&db, &["keys", "rotate"]);
    assert!(rot.status.success(), "{}", text(&rot));
    let t2 = token(db);
    assert_eq!(
        get_status(&bearer_client(&t1), format!("{base}/Patient")).await,
        200
    );
    assert_eq!(
        get_status(&bearer_client(&t2), format!("{base}/Patient")).await,
        200
    );
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_ne!(kid(&t1), kid(&t2));
    let jwks: serde_json::Value = reqwest::get(format!("{base}/auth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "both keys published during the overlap"
    );
    // Removal: no more tokens.
    assert!(run(&db, &["client", "remove", "ehr1"]).status.success());
    let refused = run(&db, &["token", "ehr1", "--key", key_s, "--server", &base]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("invalid_client"),
        "{}",
        text(&refused)
    );
    server.kill();
}

#[tokio::test]
async fn demo_prints_a_working_token_and_curl_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("TANDEM_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("New token:");
            got.push(line);
            if done {
                break;
            }
        }
        got
    })
    .await
    .unwrap();
    let curl = lines
        .iter()
        .find(|l| l.starts_with("Try:"))
        .expect("a curl line");
    let token = curl
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let base = lines
        .iter()
        .find_map(|l| l.strip_prefix("tandem listening on "))
        .expect("the address line");
    let r = bearer_client(token)
        .get(format!("{base}/Patient"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(dir.path().join("tandem-demo-key.pem").exists());
    demo.kill().unwrap();
    demo.wait().unwrap();
}

#[test]
fn switching_auth_off_warns_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "--database",
            dir.path().join("t.db").to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("TANDEM_AUTH__ENABLED", "false")
        .env("TANDEM_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let mut warned = false;
    for line in BufReader::new(stderr).lines() {
        if line.unwrap().contains("AUTH IS DISABLED") {
            warned = true;
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(warned, "a loud warning when auth is off");
}
