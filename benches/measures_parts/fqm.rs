//! The independent engine: fqm-execution (the CQL reference engine the
//! measure authors' tool uses) on the same patients, one measure at a time,
//! timed against Tandem on one thread, with every population compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};
use tandem::measure::catalog::{Catalog, MeasureDef};
use tandem::measure::record::Record;

/// `node_modules` holding fqm-execution 1.8.6: `FQM_NODE_MODULES`, or
/// installed under `target/fqm` on first use.
pub fn node_modules() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FQM_NODE_MODULES") {
        let p = PathBuf::from(p);
        if p.join("fqm-execution").exists() {
            return Some(p);
        }
        // A stale setting is reported, not silently used.
        println!(
            "FQM_NODE_MODULES={} holds no fqm-execution: installing it",
            p.display()
        );
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fqm");
    let modules = dir.join("node_modules");
    if !modules.join("fqm-execution").exists() {
        println!("installing fqm-execution 1.8.6 into {}", dir.display());
        let ok = Command::new("npm")
            .args(["install", "--silent", "--prefix"])
            .arg(&dir)
            .arg("fqm-execution@1.8.6")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some(modules)
}

/// Population results per (patient, group) from one engine.
type Results = HashMap<(String, usize), HashMap<String, u8>>;

/// The patients and period both engines evaluate.
pub struct Run<'a> {
    /// Patient `i`'s resources.
    pub patient: &'a (dyn Fn(usize) -> Vec<Value> + Sync),
    pub count: usize,
    pub first: chrono::NaiveDate,
    pub last: chrono::NaiveDate,
    /// fqm-execution's trustMetaProfile (QI-Core test data claims profiles; Synthea does not).
    pub trust_meta: bool,
}

fn fqm_run(modules: &Path, bundle: &Path, patients: &Path, run: &Run) -> Option<(Results, f64)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fqm-populations.js");
    let started = Instant::now();
    let out = Command::new("node")
        .arg(script)
        .arg(bundle)
        .args([run.first.to_string(), run.last.to_string()])
        .arg(patients)
        .env("NODE_PATH", modules)
        .env("TRUST_META", if run.trust_meta { "1" } else { "0" })
        .output()
        .ok()?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        println!(
            "  fqm-execution failed on {}: {}",
            bundle.display(),
            err.lines().next().unwrap_or_default()
        );
        return None;
    }
    let mut results = Results::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).ok()?;
        let pops = v["populations"].as_object()?;
        let pops = pops
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0) as u8))
            .collect();
        results.insert(
            (
                v["patient"].as_str()?.to_string(),
                v["group"].as_u64()? as usize,
            ),
            pops,
        );
    }
    Some((results, secs))
}

fn tandem_run(run: &Run, def: &MeasureDef) -> (Results, f64) {
    let catalog = Catalog::get();
    let (first, last) = (run.first, run.last);
    // Records are built first, so this times evaluation only; fqm's time also
    // covers node start-up and reading its bundles (a few seconds per run).
    let records: Vec<Record> = (0..run.count)
        .map(|i| Record::new((run.patient)(i)).unwrap())
        .collect();
    let started = Instant::now();
    let mut results = Results::new();
    for record in &records {
        let ctx = catalog.context(def, record, first, last);
        for (g, r) in (def.evaluate)(&ctx).iter().enumerate() {
            let pops = tandem::measure::run::POPULATIONS
                .iter()
                .filter_map(|c| Some((c.to_string(), r.populations.get(c)? as u8)))
                .collect();
            results.insert((record.id().to_string(), g), pops);
        }
    }
    (results, started.elapsed().as_secs_f64())
}

/// Counts (populations, disagreements) over the populations fqm reports.
fn disagreements(tandem: &Results, fqm: &Results) -> (usize, Vec<(String, String)>) {
    let mut compared = 0;
    let mut diffs = Vec::new();
    for (key, theirs) in fqm {
        let ours = tandem.get(key);
        for (code, v) in theirs {
            compared += 1;
            let mine = ours.and_then(|o| o.get(code)).copied().unwrap_or(0);
            if mine != *v {
                diffs.push((
                    key.0.clone(),
                    format!("group {} {code}: tandem {mine} fqm {v}", key.1),
                ));
            }
        }
    }
    diffs.sort();
    (compared, diffs)
}

/// Both engines on one measure version: (populations compared, every
/// disagreement as `(patient, "group g code: tandem x fqm y")`), or `None`
/// when fqm-execution could not run.
pub struct Agreement {
    pub compared: usize,
    pub disagreements: Vec<(String, String)>,
    pub tandem_secs: f64,
    pub fqm_secs: f64,
}

/// Writes the run's patients as collection Bundles into a new directory.
pub fn write_patients(run: &Run) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..run.count {
        let entry: Vec<Value> = (run.patient)(i)
            .into_iter()
            .map(|r| json!({"resource": r}))
            .collect();
        let b = json!({"resourceType": "Bundle", "type": "collection", "entry": entry});
        std::fs::write(dir.path().join(format!("p{i:06}.json")), b.to_string()).unwrap();
    }
    dir
}

/// The authors' measure bundle of a measure version.
pub fn measure_bundle(shared: &Path, def: &MeasureDef) -> PathBuf {
    let set = if def.year == 2026 {
        "qicore-2025"
    } else {
        "qicore-2024"
    };
    shared.join(set).join(def.cms).join("measure-bundle.json")
}

/// Runs both engines on `patients` (written by [`write_patients`]).
pub fn agree(
    modules: &Path,
    patients: &Path,
    run: &Run,
    def: &MeasureDef,
    shared: &Path,
) -> Option<Agreement> {
    let (theirs, fqm_secs) = fqm_run(modules, &measure_bundle(shared, def), patients, run)?;
    let (ours, tandem_secs) = tandem_run(run, def);
    let (compared, disagreements) = disagreements(&ours, &theirs);
    Some(Agreement {
        compared,
        disagreements,
        tandem_secs,
        fqm_secs,
    })
}

pub fn compare(run: &Run, defs: &[&'static MeasureDef], shared: PathBuf) {
    let Some(modules) = node_modules() else {
        println!("fqm-execution unavailable (node/npm missing): comparison skipped");
        return;
    };
    let m = run.count;
    let dir = write_patients(run);
    println!(
        "fqm-execution 1.8.6 vs Tandem on the same {m} patients (one thread each, period {} .. {}):",
        run.first, run.last
    );
    println!(
        "{:<12} {:>10} {:>10} {:>9} {:>12} {:>10}",
        "measure", "tandem ms", "fqm ms", "ratio", "populations", "disagree"
    );
    let (mut t_total, mut f_total) = (0.0, 0.0);
    // Measures written from a specification have no CQL for fqm to run.
    for def in defs.iter().filter(|d| d.published_cql) {
        let Some(a) = agree(&modules, dir.path(), run, def, &shared) else {
            continue;
        };
        t_total += a.tandem_secs;
        f_total += a.fqm_secs;
        println!(
            "{:<12} {:>10.1} {:>10.0} {:>8.0}x {:>12} {:>10}",
            def.id,
            a.tandem_secs * 1e3,
            a.fqm_secs * 1e3,
            a.fqm_secs / a.tandem_secs.max(1e-9),
            a.compared,
            a.disagreements.len()
        );
        for (p, d) in a.disagreements.iter().take(5) {
            println!("    {p} {d}");
        }
    }
    println!(
        "  all measures: tandem {:.2} s, fqm-execution {:.1} s, ratio {:.0}x",
        t_total,
        f_total,
        f_total / t_total.max(1e-9)
    );
}
