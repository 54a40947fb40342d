//! The binary: help, configuration errors that name their key, and graceful
//! shutdown on SIGTERM.

use std::process::Command;
use std::time::Duration;

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

#[test]
fn help_documents_every_command() {
    let out = tandem().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "import", "capability", "--database", "TANDEM_"] {
        assert!(text.contains(word), "--help mentions {word}");
    }
    let serve =
        String::from_utf8_lossy(&tandem().args(["serve", "--help"]).output().unwrap().stdout)
            .to_string();
    assert!(serve.contains("--listen"));
}

#[test]
fn invalid_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = tandem()
        .current_dir(dir.path())
        .env("TANDEM_LIMITS__MAX_BODY_BYTES", "lots")
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("max_body_bytes"), "{err}");

    std::fs::write(
        dir.path().join("tandem.toml"),
        "validation = \"sometimes\"\n",
    )
    .unwrap();
    let out = tandem()
        .current_dir(dir.path())
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("validation"));

    std::fs::write(dir.path().join("tandem.toml"), "listen_adress = \"x\"\n").unwrap();
    let out = tandem()
        .current_dir(dir.path())
        .args(["serve"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen_adress"),
        "unknown keys are refused, not ignored"
    );
}

#[test]
fn config_file_env_and_flags_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tandem.toml"),
        "default_tenant = \"from-file\"\n[limits]\nmax_bundle_entries = 7\n",
    )
    .unwrap();
    let file = dir.path().join("tandem.toml");
    let cfg =
        tandem::config::Config::load(Some(&file), &tandem::config::Overrides::default()).unwrap();
    assert_eq!(cfg.default_tenant, "from-file");
    assert_eq!(cfg.limits.max_bundle_entries, 7);
    let over = tandem::config::Overrides {
        listen: Some("127.0.0.1:9999".parse().unwrap()),
        database: Some("x.db".into()),
    };
    let cfg = tandem::config::Config::load(Some(&file), &over).unwrap();
    assert_eq!(cfg.listen.port(), 9999);
    assert_eq!(cfg.database, std::path::PathBuf::from("x.db"));
}

#[test]
fn sigterm_finishes_and_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = dir.path().join("t.db");
    let mut child = tandem()
        .args([
            "--database",
            db.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .is_ok()
        {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up);
    let r = client
        .post(format!("http://127.0.0.1:{port}/Patient"))
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM");
    // A clean close checkpoints the WAL into the database file.
    let wal = dir.path().join("t.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL checkpointed on close"
    );
}
