//! `tandem import`: bulk loading of files into the embedded store.
//!
//! Transaction and batch Bundles are processed as sent; collection Bundles,
//! single resources and NDJSON lines are grouped into batches (PUT when the
//! resource has an id, so ids are kept; POST otherwise). A transaction whose
//! conditional references name resources not loaded yet (Synthea's patient
//! bundles point at its hospital and practitioner bundles) is retried after
//! every other file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::config::Config;
use crate::service::{FhirService, Prefer, ServiceError};
use crate::store::AccessContext;

#[derive(Default)]
struct Summary {
    loaded: u64,
    rejected: u64,
    reasons: Vec<String>,
    /// Single resources whose conditional references named something not
    /// loaded yet (NDJSON files refer to each other); retried at the end.
    pending: Vec<Value>,
    /// On the last pass nothing is deferred any more.
    final_pass: bool,
}

/// Files loaded concurrently.
const IN_FLIGHT: usize = 3;

impl Summary {
    fn merge(&mut self, other: Summary) {
        self.loaded += other.loaded;
        self.rejected += other.rejected;
        self.pending.extend(other.pending);
        let room = 50usize.saturating_sub(self.reasons.len());
        self.reasons.extend(other.reasons.into_iter().take(room));
    }

    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < 50 {
            self.reasons.push(reason);
        }
    }
}

/// Runs the import and prints a summary.
pub async fn run(
    cfg: &Config,
    paths: &[PathBuf],
    tenant: Option<String>,
    batch_size: usize,
) -> anyhow::Result<()> {
    let svc = crate::app::build_service(cfg, &cfg.base_url()).await?;
    let tenant = tenant.unwrap_or_else(|| cfg.default_tenant.clone());
    if !crate::fhir::id::is_valid_id(&tenant) {
        anyhow::bail!("--tenant '{tenant}' is not a valid FHIR id");
    }
    let mut ctx = AccessContext::internal(&tenant, "import");
    ctx.client_id = "tandem-import".into();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    files.sort();
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} files {msg} [{elapsed_precise}]",
    )?);
    let mut summary = Summary::default();
    let mut deferred = Vec::new();
    let started = std::time::Instant::now();
    // A few files in flight: parsing and validating the next file overlaps
    // with the store committing the current one.
    // Each file is its own task, so parsing and validation use every core
    // while the store commits.
    let mut loads = futures::stream::iter(files.iter().cloned())
        .map(|f| {
            let (svc, ctx) = (svc.clone(), ctx.clone());
            tokio::spawn(async move {
                let (mut part, mut later) = (Summary::default(), Vec::new());
                if let Err(e) =
                    load_file(&svc, &ctx, &f, batch_size, &mut part, Some(&mut later)).await
                {
                    part.reject(format!("{}: {e}", f.display()));
                }
                (part, later)
            })
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(done) = loads.next().await {
        let (part, later) = done?;
        summary.merge(part);
        deferred.extend(later);
        bar.inc(1);
        bar.set_message(format!("{} loaded", summary.loaded));
    }
    drop(loads);
    summary.final_pass = true;
    for f in deferred {
        if let Err(e) = load_file(&svc, &ctx, &f, batch_size, &mut summary, None).await {
            summary.reject(format!("{}: {e}", f.display()));
        }
    }
    let retry = std::mem::take(&mut summary.pending);
    for chunk in retry.chunks(batch_size.max(1)) {
        load_resources(&svc, &ctx, chunk.to_vec(), &mut summary).await;
    }
    bar.finish_and_clear();
    svc.shutdown().await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "loaded {} resources, rejected {} ({:.1}s, {:.0} resources/s)",
        summary.loaded,
        summary.rejected,
        secs,
        summary.loaded as f64 / secs.max(1e-9)
    );
    for r in &summary.reasons {
        println!("  rejected: {r}");
    }
    Ok(())
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if p.is_dir() {
        for e in std::fs::read_dir(p)? {
            collect(&e?.path(), out)?;
        }
    } else if p.is_file() {
        let name = p.to_string_lossy();
        if [
            ".json",
            ".ndjson",
            ".json.gz",
            ".json.bz2",
            ".ndjson.gz",
            ".ndjson.bz2",
        ]
        .iter()
        .any(|s| name.ends_with(s))
        {
            out.push(p.to_path_buf());
        }
    } else {
        anyhow::bail!("{} does not exist", p.display());
    }
    Ok(())
}

fn open(p: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let f = File::open(p)?;
    let name = p.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if name.ends_with(".bz2") {
        Box::new(bzip2::read::BzDecoder::new(f))
    } else {
        Box::new(f)
    })
}

async fn load_file(
    svc: &FhirService,
    ctx: &AccessContext,
    p: &Path,
    batch: usize,
    s: &mut Summary,
    deferred: Option<&mut Vec<PathBuf>>,
) -> anyhow::Result<()> {
    let name = p.to_string_lossy();
    if name.contains(".ndjson") {
        let mut chunk = Vec::new();
        for line in BufReader::new(open(p)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => chunk.push(v),
                Err(e) => s.reject(format!("{}: invalid JSON line: {e}", p.display())),
            }
            if chunk.len() >= batch {
                load_resources(svc, ctx, std::mem::take(&mut chunk), s).await;
            }
        }
        load_resources(svc, ctx, chunk, s).await;
        return Ok(());
    }
    // Reading, decompressing and parsing a file is blocking work: off the runtime.
    let path = p.to_path_buf();
    let v: Value = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let mut text = String::new();
        open(&path)?.read_to_string(&mut text)?;
        Ok(serde_json::from_str(&text)?)
    })
    .await??;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if v["resourceType"] == "Bundle" && (kind == "transaction" || kind == "batch") {
        match svc.process_bundle(ctx, v, Prefer::Minimal).await {
            Ok(resp) => {
                tally(&resp, s, false);
            }
            Err(ServiceError::PreconditionFailed(_)) if deferred.is_some() => {
                deferred.expect("checked").push(p.to_path_buf())
            }
            Err(e) => s.reject(format!("{}: {}", p.display(), describe(e))),
        }
    } else if v["resourceType"] == "Bundle" {
        let resources: Vec<Value> = v["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").cloned())
            .collect();
        for chunk in resources.chunks(batch.max(1)) {
            load_resources(svc, ctx, chunk.to_vec(), s).await;
        }
    } else {
        load_resources(svc, ctx, vec![v], s).await;
    }
    Ok(())
}

/// Loads resources as one batch Bundle.
async fn load_resources(
    svc: &FhirService,
    ctx: &AccessContext,
    resources: Vec<Value>,
    s: &mut Summary,
) {
    let (resources, strangers): (Vec<Value>, Vec<Value>) = resources
        .into_iter()
        .partition(|r| r["resourceType"].is_string());
    for _ in strangers {
        s.reject("not a FHIR resource: it has no resourceType".into());
    }
    if resources.is_empty() {
        return;
    }
    let originals = (!s.final_pass).then(|| resources.clone());
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let rt = r["resourceType"].as_str().unwrap_or_default().to_string();
            let request = match r.get("id").and_then(Value::as_str) {
                Some(id) => json!({"method": "PUT", "url": format!("{rt}/{id}")}),
                None => json!({"method": "POST", "url": rt}),
            };
            json!({"resource": r, "request": request})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
    match svc.process_bundle(ctx, bundle, Prefer::Minimal).await {
        Ok(resp) => {
            let retry_allowed = !s.final_pass;
            for i in tally(&resp, s, retry_allowed) {
                if let Some(r) = originals.as_ref().and_then(|o| o.get(i)) {
                    s.pending.push(r.clone());
                }
            }
        }
        Err(e) => s.reject(describe(e)),
    }
}

/// Counts a batch response; returns the entries answered 412 (a conditional
/// reference to something not loaded yet) when they can still be retried.
fn tally(response: &str, s: &mut Summary, retry_allowed: bool) -> Vec<usize> {
    let v: Value = serde_json::from_str(response).unwrap_or_default();
    let mut retry = Vec::new();
    for (i, e) in v["entry"].as_array().into_iter().flatten().enumerate() {
        let status = e["response"]["status"].as_str().unwrap_or_default();
        if status.starts_with('2') {
            s.loaded += 1;
        } else if status.starts_with("412") && retry_allowed {
            retry.push(i);
        } else {
            let why = e["response"]["outcome"]["issue"][0]["diagnostics"]
                .as_str()
                .unwrap_or(status);
            s.reject(format!("{status}: {why}"));
        }
    }
    retry
}

fn describe(e: ServiceError) -> String {
    let (code, issues) = e.status_and_issues();
    let text: Vec<String> = issues.into_iter().map(|i| i.diagnostics).collect();
    format!("{code}: {}", text.join("; "))
}
