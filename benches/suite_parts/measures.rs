//! Measure evaluation in the suite: `tandem measure` over the stored
//! practice, and every measure over a generated population in memory.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem::generate::{Options, chart::Span, draw, people::practices};
use tandem::measure::catalog::{Catalog, MeasureDef};
use tandem::measure::record::Record;
use tandem::measure::run::{MeasureTally, Period};

use super::process::cli;
use super::support::report;

/// `tandem measure --period 2026` (every measure, one pass) over `db`.
pub fn store_run(db: &Path, patients: usize) -> Value {
    let out = tempfile::tempdir().unwrap();
    let t = Instant::now();
    cli(
        db,
        &[
            "measure",
            "--period",
            "2026",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    let secs = t.elapsed().as_secs_f64();
    report(
        &format!("tandem measure, {patients} stored patients, all measures"),
        patients as f64 / secs,
        "patients/s",
        None,
    )
}

fn defs() -> Vec<&'static MeasureDef> {
    Catalog::get().all_for_period(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
}

/// Every measure for `n` generated patients on all cores. Each thread draws
/// its patients one at a time (memory stays bounded) and times only the
/// evaluation; the slowest thread's time is the wall time reported.
pub fn in_memory(n: usize) -> Value {
    let opts = Options {
        patients: n,
        practices: 1,
        seed: 7,
        out: "unused".into(),
        year: 2026,
        unassigned: 0.15,
    };
    let (practices, span) = (practices(1, opts.seed), Span::ending(2026));
    let period = Period::parse_sim("2026").unwrap();
    let defs = defs();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let secs = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let (defs, opts, practices, span) = (&defs, &opts, &practices, &span);
                s.spawn(move || {
                    let mut tallies: Vec<MeasureTally> =
                        defs.iter().map(|d| MeasureTally::new(d, false)).collect();
                    let mut busy = Duration::ZERO;
                    for i in (k..n).step_by(threads) {
                        let r = Record::new(draw(opts, practices, span, i).resources).unwrap();
                        let t = Instant::now();
                        for tally in &mut tallies {
                            tally.feed(Catalog::get(), &r, period);
                        }
                        busy += t.elapsed();
                    }
                    busy.as_secs_f64()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold(0.0, f64::max)
    });
    println!(
        "  {n} generated patients x {} measures: {secs:.2} s of evaluation",
        defs.len()
    );
    report(
        &format!("measures in memory, {n} generated patients"),
        n as f64 / secs,
        "patients/s",
        None,
    )
}
