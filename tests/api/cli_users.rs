//! `tandem user add|list|remove` as an operator uses them: the password from
//! standard input or generated and printed once, roles checked against the
//! practices given, hashes never shown.

use std::io::Write;
use std::process::{Command, Stdio};

fn tandem(db: &tandem::config::Database, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--database")
        .arg(db.locator())
        .args(args)
        .env("TANDEM_LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tandem");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn operator_adds_lists_and_removes_people() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::common::database::fresh_blocking(dir.path(), "t.db");
    let db = &database.db;
    let add = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["user", "add"];
        all.extend_from_slice(args);
        tandem(db, &all, stdin)
    };
    let (ok, out) = add(
        &[
            "fay",
            "--role",
            "facilitator",
            "--practices",
            "clinic-1,clinic-2",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    assert!(ok, "{out}");
    assert!(out.contains("added user 'fay'"), "{out}");
    assert!(
        !out.contains("correct horse"),
        "a given password is not echoed: {out}"
    );

    let (ok, out) = add(
        &["pat", "--role", "practice", "--practices", "clinic-1"],
        None,
    );
    assert!(ok, "{out}");
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .unwrap_or_else(|| panic!("a generated password is printed: {out}"));
    assert_eq!(generated.len(), 20);

    // Refused, naming what to fix, and nothing stored.
    for (args, stdin, says) in [
        (
            vec!["x", "--role", "facilitator", "--password-stdin"],
            Some("long enough password"),
            "--practices",
        ),
        (
            vec![
                "x",
                "--role",
                "practice",
                "--practices",
                "a,b",
                "--password-stdin",
            ],
            Some("long enough password"),
            "exactly one",
        ),
        (
            vec!["x", "--role", "program", "--password-stdin"],
            Some("short\n"),
            "at least 12",
        ),
        (
            vec!["x y", "--role", "program", "--password-stdin"],
            Some("long enough password"),
            "user name",
        ),
    ] {
        let (ok, out) = add(&args, stdin);
        assert!(!ok, "{args:?} must be refused");
        assert!(out.contains(says), "{args:?}: {out}");
    }

    let (ok, list) = tandem(db, &["user", "list"], None);
    assert!(ok, "{list}");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines,
        [
            "fay\tFacilitator\tclinic-1,clinic-2",
            "pat\tPractice\tclinic-1"
        ]
    );
    assert!(!list.contains("argon2"), "hashes are never listed");

    let (ok, out) = tandem(db, &["user", "remove", "pat"], None);
    assert!(ok, "{out}");
    let (ok, out) = tandem(db, &["user", "remove", "pat"], None);
    assert!(!ok && out.contains("no user 'pat'"), "{out}");
    let (_, list) = tandem(db, &["user", "list"], None);
    assert_eq!(list.lines().count(), 1);
}

#[test]
fn operator_registers_a_smart_app() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::common::database::fresh_blocking(dir.path(), "t.db");
    let db = &database.db;
    let (ok, out) = tandem(
        db,
        &[
            "app",
            "add",
            "qi-board",
            "--redirect-uri",
            "https://qi.example/cb",
            "--name",
            "QI board",
        ],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("registered app 'qi-board'"), "{out}");
    let (ok, out) = tandem(db, &["app", "list"], None);
    assert!(
        ok && out.contains("qi-board\tQI board\thttps://qi.example/cb"),
        "{out}"
    );
    // A bad registration changes nothing and says why.
    let (ok, out) = tandem(
        db,
        &[
            "app",
            "add",
            "bad",
            "--redirect-uri",
            "http://qi.example/cb",
        ],
        None,
    );
    assert!(!ok && out.contains("https"), "{out}");
    let (_, out) = tandem(db, &["app", "list"], None);
    assert!(!out.contains("bad"), "{out}");
    // Apps and backend clients share one namespace but are removed apart.
    let (ok, out) = tandem(db, &["client", "list"], None);
    assert!(ok && !out.contains("qi-board"), "{out}");
    let (ok, out) = tandem(db, &["app", "remove", "qi-board"], None);
    assert!(ok, "{out}");
    let (ok, _) = tandem(db, &["app", "remove", "qi-board"], None);
    assert!(!ok);
}
