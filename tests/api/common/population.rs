//! Generated populations in tests: options, the files a run wrote, its
//! answers, and loading a practice into a server over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::Value;
use tandem::generate::Options;

use super::TestApp;

pub fn options(out: &Path, patients: usize, practices: usize, seed: u64) -> Options {
    Options {
        patients,
        practices,
        seed,
        out: out.to_path_buf(),
        year: 2026,
        unassigned: 0.15,
    }
}

/// Every file under `root`, relative path → bytes.
pub fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// The lines of an NDJSON file under `root`.
pub fn ndjson(root: &Path, name: &str) -> Vec<Value> {
    std::fs::read_to_string(root.join(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bundle_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = files(dir).into_keys().map(|p| dir.join(p)).collect();
    out.sort();
    out
}

/// Posts practice-0's transaction, then every patient's, to `app`.
pub async fn load_practice(app: &TestApp, root: &Path) {
    load_paths(app, root, bundle_paths(&root.join("bundles"))).await
}

/// Posts practice-0's transaction, then only its own patients' (the others
/// belong in other practices' tenants).
pub async fn load_own_patients(app: &TestApp, root: &Path) {
    load_paths(app, root, bundle_paths(&root.join("bundles/practice-0"))).await
}

async fn load_paths(app: &TestApp, root: &Path, bundles: Vec<PathBuf>) {
    for path in std::iter::once(root.join("practices/practice-0.json")).chain(bundles) {
        let tx: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let r = app.post("", &tx).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}: {}",
            path.display(),
            r.text().await.unwrap()
        );
    }
}
