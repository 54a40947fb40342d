//! The web app's pages at practice scale: a generated practice of 10,000
//! patients imported with `tandem import`, the release server on loopback
//! with the generated program, a practice user signed in through the
//! standalone launch, then
//! - the chart refresh (24 months of milestone and CQM rates, CQMs by
//!   provider, the year's milestones and good standing, done by the
//!   scheduler) once, and
//! - `GET /app` (portfolio), `/app/practice/practice-0` (grid and run
//!   charts), the CQMs by provider and a drill-down, 20 times each: p50 and max of the request
//!   time seen by the client on loopback (target: under 300 ms).
//!
//! Run: `cargo bench --bench app_pages [-- --patients N]` (`--quick`: 1,000).

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/api/common/process.rs"]
mod process;
#[path = "support.rs"]
mod support;

use process::{cli, serve_with, wait_ready};
use support::arg;

const PASSWORD: &str = "correct horse battery staple";

fn hidden(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap();
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let patients = arg("--patients").unwrap_or(if quick { 1_000 } else { 10_000 });
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    tandem::generate::run(
        &tandem::generate::Options {
            patients,
            practices: 1,
            seed: 2026,
            out: pop.clone(),
            year: 2026,
            unassigned: 0.15,
        },
        |_| {},
    )
    .unwrap();
    let config = pop.join("program.toml");
    let (db, c) = (dir.path().join("bench.db"), config.to_str().unwrap());
    let t = Instant::now();
    let files = [
        pop.join("practices/practice-0.json"),
        pop.join("bundles/practice-0"),
    ];
    let mut args = vec!["--config", c, "import", "--tenant", "practice-0"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    cli(&db, &args);
    println!(
        "imported {patients} patients in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let mut add = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["--database", db.to_str().unwrap(), "user", "add", "qi"])
        .args([
            "--role",
            "practice",
            "--practices",
            "practice-0",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());

    let server = serve_with(
        &db,
        Some(&config),
        &[
            ("TANDEM_FEED__ENABLED", "false"),
            ("TANDEM_APP__REFRESH_AT_START", "false"),
            ("TANDEM_RISK__RESTRATIFY_SECS", "0"),
        ],
    );
    let base = server.base.clone();
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    wait_ready(&b, &base).await;

    // Sign in: /app → the form → posted → back at /app.
    let form = b.get(format!("{base}/app")).send().await.unwrap();
    let at = form.url().clone();
    let html = form.text().await.unwrap();
    let mut fields: HashMap<String, String> = at.query_pairs().into_owned().collect();
    fields.insert("csrf".into(), hidden(&html, "csrf"));
    fields.insert("username".into(), "qi".into());
    fields.insert("password".into(), PASSWORD.into());
    let page = b
        .post(format!("{base}/auth/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(page.url().path(), "/app");
    let csrf = hidden(&page.text().await.unwrap(), "csrf");

    // "Recompute now" starts the refresh in the background; it is done
    // when the page shows a computed time.
    let t = Instant::now();
    let r = b
        .post(format!("{base}/app/practice/practice-0/refresh-charts"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    loop {
        let page = b
            .get(format!("{base}/app/practice/practice-0"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("Monthly rates computed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "chart refresh (24 months of milestone and CQM rates, CQMs by provider, the year's milestones, standing and subject lists), {patients} patients: {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let pages = [
        ("portfolio", "app".to_string()),
        ("practice (grid, run charts)", "app/practice/practice-0".to_string()),
        ("CQMs by provider", "app/practice/practice-0/providers".to_string()),
        (
            "drill-down (BB7.Y1.2 patients)",
            "app/practice/practice-0/milestone/colorado-sim-BB7.Y1.2?periodStart=2026-01-01&periodEnd=2026-12-31"
                .to_string(),
        ),
    ];
    for (name, path) in pages {
        let mut ms = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r = b.get(format!("{base}/{path}")).send().await.unwrap();
            assert!(r.status().is_success(), "{name}: {}", r.status());
            let body = r.text().await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(body.len() > 1000);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "GET /{name}: p50 {:.0} ms, max {:.0} ms (20 requests)",
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
    }
    drop(server);
}
