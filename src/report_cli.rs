//! `tandem report`: a program's quarterly numbers for one practice or all
//! of its practices, as the spreadsheet programs without an endpoint take
//! (CSV, one row per practice × measure × period: numerator, denominator,
//! exclusions, exceptions, rate) or as JSON. The rows are read from the very
//! submission Bundles the feed sends, so the two never disagree.

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::service::feed::{ReportRow, rows_of};

pub use crate::cli::ReportArgs as Args;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let svc = crate::app::build_service(cfg, &cfg.base_url()).await?;
    let practices = match &args.practice {
        Some(p) => vec![p.clone()],
        None => svc.enrolled_in(&args.program),
    };
    if practices.is_empty() {
        anyhow::bail!(
            "--program {}: no practice is enrolled in it (see [[enrolments]] in the configuration)",
            args.program
        );
    }
    std::fs::create_dir_all(&args.out)?;
    let bar = ProgressBar::new(practices.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} practices [{elapsed_precise}, eta {eta}]",
    )?);
    let started = std::time::Instant::now();
    let mut rows: Vec<ReportRow> = Vec::new();
    let mut held = Vec::new();
    for p in &practices {
        let (bundle, checks) = svc
            .preview_submission(p, &args.period)
            .await
            .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
        if !checks.is_empty() {
            held.push(format!("{p}: {}", checks.join("; ")));
        }
        rows.extend(rows_of(p, &args.program, &args.period, &bundle));
        bar.inc(1);
    }
    bar.finish_and_clear();
    svc.shutdown().await;
    let stem = args.out.join(format!("{}-{}", args.program, args.period));
    let path = match args.format {
        Format::Csv => {
            let path = stem.with_extension("csv");
            let mut w = csv::Writer::from_path(&path)?;
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()?;
            path
        }
        Format::Json => {
            let path = stem.with_extension("json");
            std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            path
        }
    };
    println!(
        "{} rows for {} practice(s), {} ({:.1}s, peak memory {}) → {}",
        rows.len(),
        practices.len(),
        args.period,
        started.elapsed().as_secs_f64(),
        crate::measure_cli::peak_memory_mib()
            .map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "unknown".into()),
        path.display()
    );
    for h in &held {
        println!("pre-send checks failed for {h}");
    }
    Ok(())
}
