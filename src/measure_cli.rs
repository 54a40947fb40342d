//! `tandem measure`: whole-practice measure evaluation from the command line,
//! writing one MeasureReport file per measure (the quarterly CQM feed).

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::measure::catalog::{Catalog, MeasureDef};
use crate::measure::run::Period;
use crate::service::measures::evaluate::measure_def;
use crate::store::AccessContext;

pub use crate::cli::MeasureArgs as Args;

/// `2026`, `2026Q3` or `2026-01-01..2026-06-30`.
pub fn parse_period(text: &str) -> anyhow::Result<Period> {
    let p = match text.split_once("..") {
        Some((a, b)) => Period::from_bounds(a, b),
        None => Period::parse_sim(text),
    };
    p.map_err(|e| anyhow::anyhow!("--period: {e}"))
}

fn chosen(names: &[String], period: Period) -> anyhow::Result<Vec<&'static MeasureDef>> {
    let catalog = Catalog::check().map_err(|e| anyhow::anyhow!("measure catalog: {e}"))?;
    if names.is_empty() {
        return Ok(catalog.all_for_period(period.first));
    }
    names
        .iter()
        .map(|n| {
            measure_def(n, period).map_err(|_| anyhow::anyhow!("--measure {n}: unknown measure"))
        })
        .collect()
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<()> {
    let period = parse_period(&args.period)?;
    let mut names = args.measures.clone();
    if let Some(c) = &args.cohort {
        let set = crate::measure::catalog::cohort(c)
            .ok_or_else(|| anyhow::anyhow!("--cohort {c}: one of adult, pediatric, cpc"))?;
        names.extend(set.iter().map(|m| m.to_string()));
        names.sort();
        names.dedup();
    }
    let defs = chosen(&names, period)?;
    let tenant = args.tenant.unwrap_or_else(|| cfg.default_tenant.clone());
    if !crate::fhir::id::is_valid_id(&tenant) {
        anyhow::bail!("--tenant '{tenant}' is not a valid FHIR id");
    }
    std::fs::create_dir_all(&args.out)?;
    let svc = crate::app::build_service(cfg, &cfg.base_url()).await?;
    let mut ctx = AccessContext::internal(&tenant, "measure");
    ctx.client_id = "tandem-measure".into();
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {pos} patients evaluated [{elapsed_precise}]",
    )?);
    let started = std::time::Instant::now();
    let progress_bar = bar.clone();
    let reports = svc
        .measure_reports(&ctx, period, &defs, args.subject_list, move |n| {
            progress_bar.set_position(n)
        })
        .await
        .map_err(|e| anyhow::anyhow!("evaluation failed: {e}"))?;
    let patients = bar.position();
    bar.finish_and_clear();
    svc.shutdown().await;
    for r in &reports {
        let id = r["id"].as_str().unwrap_or("report");
        let path = args.out.join(format!("MeasureReport-{id}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(r)?)?;
    }
    println!(
        "{} measures, {patients} patients, {} → {} ({:.1}s, peak memory {}); reports in {}",
        reports.len(),
        period.first,
        period.last,
        started.elapsed().as_secs_f64(),
        peak_memory(),
        args.out.display()
    );
    Ok(())
}

/// This process's peak resident memory in MiB (Linux `VmHWM`), when known.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn peak_memory() -> String {
    peak_memory_mib()
        .map(|m| format!("{m:.0} MiB"))
        .unwrap_or_else(|| "unknown".into())
}
