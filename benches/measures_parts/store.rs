//! The product path: the generated patients loaded into a SQLite store with
//! `tandem import`, then `tandem measure` (both the release binary) evaluating
//! every measure from the store in one pass.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use super::Template;

fn tandem() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tandem"));
    c.env("TANDEM_LOG__LEVEL", "warn");
    c
}

/// Imports `n` patients and times `tandem measure` over them.
pub fn run(t: &[Template], n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let files = 8;
    let mut out: Vec<_> = (0..files)
        .map(|k| {
            std::io::BufWriter::new(
                std::fs::File::create(data.join(format!("part{k}.ndjson"))).unwrap(),
            )
        })
        .collect();
    let mut resources = 0usize;
    for i in 0..n {
        for r in t[i % t.len()].resources(i) {
            writeln!(out[i % files], "{r}").unwrap();
            resources += 1;
        }
    }
    drop(out);
    let db = dir.path().join("bench.db");
    let started = Instant::now();
    let imported = tandem()
        .args([
            "--database",
            db.to_str().unwrap(),
            "import",
            "--tenant",
            "default",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let load_secs = started.elapsed().as_secs_f64();
    let summary = String::from_utf8_lossy(&imported.stdout);
    println!("store path: {n} patients ({resources} resources) imported in {load_secs:.1} s");
    println!("  {}", summary.lines().next().unwrap_or_default());
    let reports = dir.path().join("reports");
    let started = Instant::now();
    let measured = tandem()
        .args([
            "--database",
            db.to_str().unwrap(),
            "measure",
            "--period",
            "2026",
            "--tenant",
            "default",
            "--out",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    if !measured.status.success() {
        println!(
            "  tandem measure failed: {}",
            String::from_utf8_lossy(&measured.stderr)
        );
        return;
    }
    let line = String::from_utf8_lossy(&measured.stdout);
    println!(
        "  tandem measure (all measures, one pass): {secs:.2} s wall, {:.0} patients/s",
        n as f64 / secs
    );
    println!("  {}", line.trim());
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!("  database {:.0} MiB", size as f64 / 1048576.0);
}
