//! The binary: help, configuration errors that name their key, and graceful
//! shutdown on SIGTERM.

use crate::common;

use std::process::Command;

use common::process::{start_server, wait_ready};

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
fn a_failing_command_prints_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file.ndjson");
    let out = tandem()
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1") // set machine-wide on many hosts; not an ask
        .env_remove("TANDEM_BACKTRACE")
        .env("TANDEM_LOG__LEVEL", "error")
        .args(["--database", "t.db", "import", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("tandem: "), "{err}");
    assert!(
        lines[0].contains("no-such-file.ndjson"),
        "names what failed: {err}"
    );
    assert!(
        !err.contains("Caused by") && !err.contains("backtrace"),
        "{err}"
    );

    // A wrong --organization form says which form is expected.
    let add = |organization: &str| {
        tandem()
            .current_dir(dir.path())
            .args(["--database", "t.db", "client", "add", "ehr1"])
            .args(["--role", "ehr", "--organization", organization])
            .args(["--generate-key", "k.pem"])
            .output()
            .unwrap()
    };
    let out = add("Practitioner/clinic-1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("e.g. `clinic-1` or `Organization/clinic-1`"),
        "{err}"
    );
    assert!(!dir.path().join("k.pem").exists(), "nothing was registered");
    // The reference form is accepted and stored as the id.
    let out = add("Organization/clinic-1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Organization/clinic-1,"));
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

    // A log level that does not parse stops startup instead of becoming "info".
    let out = tandem()
        .current_dir(dir.path())
        .env("TANDEM_LOG__LEVEL", "loud=[")
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log.level"), "{err}");

    // Each bad file stops start-up, and the error names the key (or says
    // why): unknown keys are refused, not ignored; notifications carry
    // patient data, so plain http only to this machine; bad cut-offs are
    // refused by type; a risk method whose tiers do not climb.
    for (file, named) in [
        ("validation = \"sometimes\"\n", "validation"),
        ("listen_adress = \"x\"\n", "listen_adress"),
        (
            "[[notifications.endpoints]]\ntenant = \"default\"\nurl = \"http://practice.example.org/hook\"\n",
            "must be https",
        ),
        (
            "[derivations.screening]\nepds_cutoff = \"high\"\n",
            "epds_cutoff",
        ),
        (
            "[risk]\ntiers = [{code = \"low\", display = \"Low\", min_points = 0}, {code = \"high\", display = \"High\", min_points = 0}]\nhigh_tiers = [\"high\"]\n",
            "risk.tiers",
        ),
    ] {
        std::fs::write(dir.path().join("tandem.toml"), file).unwrap();
        let out = tandem()
            .current_dir(dir.path())
            .args(["serve"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{file}: {err}");
    }
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
        database: Some("x.db".parse().unwrap()),
    };
    let cfg = tandem::config::Config::load(Some(&file), &over).unwrap();
    assert_eq!(cfg.listen.port(), 9999);
    assert_eq!(cfg.database, "x.db".parse().unwrap());
}

#[tokio::test]
async fn sigterm_finishes_closes_the_store_and_logs_no_patient_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let child = start_server(&db, std::process::Stdio::piped(), true);
    let base = child.base.clone();
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let body = r#"{"resourceType":"Patient","name":[{"family":"Zyxwvutson"}],"identifier":[{"value":"MRN-998877"}]}"#;
    let r = client
        .post(format!("{base}/Patient"))
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = client
        .get(format!(
            "{base}/Patient?family=Zyxwvutson&identifier=MRN-998877"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/Patient/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    Command::new("kill")
        .args(["-TERM", &child.child.id().to_string()])
        .status()
        .unwrap();
    let out = child.child.wait_with_output().unwrap();
    assert!(out.status.success(), "clean exit on SIGTERM");
    // A clean close checkpoints the WAL into the database file.
    let wal = dir.path().join("t.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL checkpointed on close"
    );
    // Logs carry route templates, statuses and timings, never patient data.
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("/{rt}/{id}"),
        "requests are logged by route template: {logs}"
    );
    for secret in ["Zyxwvutson", "MRN-998877", id.as_str()] {
        assert!(
            !logs.contains(secret),
            "patient data '{secret}' leaked into logs"
        );
    }
}
