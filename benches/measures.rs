//! Measure evaluation: how fast, how much memory, and — against fqm-execution
//! on the same patients — how much faster and whether the answers agree.
//!
//! The population is generated from the measure authors' 700 MADiE test
//! patients (which exercise every population boundary): patient `i` is test
//! patient `i mod 700` under a new id, parsed from JSON like a store read.
//! Every measure of the 2026 catalog (CMS2, 69, 122, 137, 138, 139, 155, 159,
//! 165) is evaluated on every patient, on all cores.
//!
//! Then the product path: the patients imported into a SQLite store and
//! `tandem measure` run over it (20,000 patients; quick 2,000).
//!
//! Run: `cargo bench --bench measures` (100,000 patients, then fqm-execution on
//! 1,000), `-- --quick` (10,000; fqm on 100). `-- --no-fqm` skips the engine.
//! `-- --synthea` instead runs both engines on the Synthea sample (period 2020).
//! `-- --generated N` runs both engines on N patients from `tandem generate`.
//! `-- --mutants [--per-case N] [--measure ID] [--out FILE]` instead runs both engines on
//! mutants of the authors' cases (`measures_parts/mutants.rs`) and lists
//! every disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use tandem::measure::catalog::{Catalog, MeasureDef};
use tandem::measure::record::Record;

#[path = "measures_parts/fqm.rs"]
mod fqm;
#[path = "measures_parts/mutants.rs"]
mod mutants;
#[path = "measures_parts/store.rs"]
mod store;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ecqm")
}

/// One test patient: its bundle text and the patient id to replace.
pub struct Template {
    text: String,
    id: String,
}

fn templates() -> Vec<Template> {
    let mut out = Vec::new();
    for set in ["qicore-2024", "qicore-2025"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(shared().join(set))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("tests"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                let b: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
                let resources: Vec<&Value> = b["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["resource"])
                    .filter(|r| {
                        r["resourceType"] != "MeasureReport" && r["resourceType"] != "Bundle"
                    })
                    .collect();
                let Some(p) = resources.iter().find(|r| r["resourceType"] == "Patient") else {
                    continue;
                };
                let id = p["id"].as_str().unwrap().to_string();
                out.push(Template {
                    text: serde_json::to_string(&resources).unwrap(),
                    id,
                });
            }
        }
    }
    out
}

impl Template {
    /// Patient number `i`'s resources (the template under a new id).
    pub fn resources(&self, i: usize) -> Vec<Value> {
        let text = self.text.replace(&self.id, &format!("{}-{i}", self.id));
        serde_json::from_str(&text).unwrap()
    }
}

/// The 2026 version of every measure (or the latest before it).
fn defs() -> Vec<&'static MeasureDef> {
    Catalog::get().all_for_period(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
}

/// Evaluates `defs` for patients `0..n` on `threads` threads; returns the
/// number of (patient, measure) evaluations in each initial population.
pub fn evaluate_all(
    t: &[Template],
    defs: &[&'static MeasureDef],
    n: usize,
    threads: usize,
) -> Vec<u64> {
    let catalog = Catalog::get();
    let (first, last) = (
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    );
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || {
                    let mut initial = vec![0u64; defs.len()];
                    for i in (w..n).step_by(threads) {
                        let record = Record::new(t[i % t.len()].resources(i)).unwrap();
                        for (k, d) in defs.iter().enumerate() {
                            let ctx = catalog.context(d, &record, first, last);
                            initial[k] += (d.evaluate)(&ctx)
                                .iter()
                                .filter(|g| g.populations.initial)
                                .count() as u64;
                        }
                    }
                    initial
                })
            })
            .collect();
        workers.into_iter().fold(vec![0; defs.len()], |mut acc, h| {
            for (a, b) in acc.iter_mut().zip(h.join().unwrap()) {
                *a += b;
            }
            acc
        })
    })
}

/// Peak resident memory of this process, in MiB.
fn peak_rss_mib() -> f64 {
    tandem::measure_cli::peak_memory_mib().unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--synthea") {
        return synthea();
    }
    if let Some(i) = args.iter().position(|a| a == "--generated") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(200);
        return generated(n);
    }
    if args.iter().any(|a| a == "--mutants") {
        let value = |flag: &str| {
            let i = args.iter().position(|a| a == flag)?;
            args.get(i + 1).cloned()
        };
        let per_case = value("--per-case").map_or(24, |n| n.parse().expect("--per-case N"));
        let out = value("--out").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mutants/disagreements.txt"),
            PathBuf::from,
        );
        return mutants::run(&shared(), per_case, value("--measure").as_deref(), &out);
    }
    let n = if quick { 10_000 } else { 100_000 };
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1);
    let t = templates();
    let defs = defs();
    let _ = Catalog::get();
    let rss_before = peak_rss_mib();
    let started = Instant::now();
    let initial = evaluate_all(&t, &defs, n, threads);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "measure evaluation: {n} patients x {} measures on {threads} threads",
        defs.len()
    );
    println!(
        "  {secs:.2} s, {:.0} patients/s, {:.1} µs per patient-measure",
        n as f64 / secs,
        secs * 1e6 / (n * defs.len()) as f64
    );
    println!(
        "  peak RSS {:.0} MiB (templates and value sets loaded: {rss_before:.0} MiB)",
        peak_rss_mib()
    );
    let per: BTreeMap<&str, u64> = defs.iter().map(|d| d.id).zip(initial).collect();
    println!("  initial-population memberships: {per:?}");
    store::run(&t, if quick { 2_000 } else { 20_000 });
    if !args.iter().any(|a| a == "--no-fqm") {
        let patient = |i: usize| t[i % t.len()].resources(i);
        let run = fqm::Run {
            patient: &patient,
            count: if quick { 100 } else { 1_000 },
            first: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            last: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            trust_meta: true,
        };
        fqm::compare(&run, &defs, shared());
    }
}

/// `-- --generated N`: a population from `tandem generate` (one practice, N
/// patients, seed 7, year 2026; no QI-Core profile claims) through both
/// engines for every 2026 measure.
fn generated(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let opts = tandem::generate::Options {
        patients: n,
        practices: 1,
        seed: 7,
        out: dir.path().to_path_buf(),
        year: 2026,
        unassigned: 0.15,
    };
    tandem::generate::run(&opts, |_| {}).unwrap();
    let mut files = Vec::new();
    let mut stack = vec![dir.path().join("bundles")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let bundles: Vec<Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    compare_bundles(&bundles, 2026, &defs());
}

/// Both engines on one patient per Bundle, over calendar year `year`,
/// without trusting profile claims (neither source makes QI-Core ones).
fn compare_bundles(bundles: &[Value], year: i32, defs: &[&'static MeasureDef]) {
    let patients: Vec<Vec<Value>> = bundles
        .iter()
        .map(|b| {
            b["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["resource"].clone())
                .collect()
        })
        .collect();
    let patient = |i: usize| patients[i].clone();
    let run = fqm::Run {
        patient: &patient,
        count: patients.len(),
        first: chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap(),
        last: chrono::NaiveDate::from_ymd_opt(year, 12, 31).unwrap(),
        trust_meta: false,
    };
    fqm::compare(&run, defs, shared());
}

/// `-- --synthea`: the Synthea sample (120 patients, no QI-Core profile
/// claims, data up to 2020) through both engines for every measure version,
/// measurement period 2020.
fn synthea() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/synthea/blaze-r4-120-patients");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains("Information"))
        .collect();
    files.sort();
    let bundles: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut text = String::new();
            let mut bz = bzip2::read::BzDecoder::new(std::fs::File::open(f).unwrap());
            std::io::Read::read_to_string(&mut bz, &mut text).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    let defs: Vec<&'static MeasureDef> = Catalog::get().defs.iter().collect();
    compare_bundles(&bundles, 2020, &defs);
}
