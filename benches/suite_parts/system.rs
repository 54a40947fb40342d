//! Process memory, store size and the JSON results file of the suite.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The peak resident set (`VmHWM`) of a process, in MiB (0 where /proc is absent).
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The SQLite file and its WAL, in bytes.
pub fn database_bytes(db: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    [db.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Writes the results as `target/bench/suite-<unix>.json` and `suite-latest.json`.
pub fn write_results(results: &[Value], quick: bool, secs: f64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let doc = json!({
        "suite": "tandem", "quick": quick, "commit": commit, "unixTime": now,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "seconds": secs, "results": results,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let path = dir.join(format!("suite-{now}.json"));
    std::fs::write(&path, &text).unwrap();
    std::fs::write(dir.join("suite-latest.json"), &text).unwrap();
    path
}
