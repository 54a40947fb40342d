//! Assembling and running the server: store, service, router, graceful shutdown.
//!
//! `serve` takes its listener and a shutdown future from the caller (as
//! mini-redis does), so tests bind port 0 and stop servers deterministically.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::auth::tokens::Tokens;
use crate::http::access::Gate;

use crate::config::Config;
use crate::fhir::params::Registry;
use crate::fhir::profile::Profiles;
use crate::http::budget::Budget;
use crate::http::serve::ConnLimits;
use crate::http::{AppState, HttpLimits, router};
use crate::service::{Clock, FhirService, Settings, SystemClock, capability_statement};
use crate::store::Store;

/// Opens the configured store and builds the service on it.
pub async fn build_service(cfg: &Config, base_url: &str) -> anyhow::Result<Arc<FhirService>> {
    build_service_at(cfg, base_url, Arc::new(SystemClock)).await
}

/// [`build_service`] on a given clock: every time the service stamps
/// (`meta.lastUpdated`, `authoredOn`, due points) comes from it.
pub async fn build_service_at(
    cfg: &Config,
    base_url: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<FhirService>> {
    let options = crate::store::OpenOptions {
        query_budget: Some(Duration::from_millis(cfg.limits.query_time_ms)),
        ..cfg.store_options()
    };
    let store: Arc<dyn Store> = crate::store::open(&cfg.database, &options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", cfg.database))?;
    let registry = Arc::new(Registry::builtin());
    if !registry.unsupported.is_empty() {
        tracing::debug!(
            count = registry.unsupported.len(),
            "search parameters with unsupported expressions are not indexed"
        );
    }
    let settings = Settings {
        base_url: base_url.to_string(),
        validation: cfg.validation,
        default_profiles: cfg.default_profiles.clone(),
        max_bundle_entries: cfg.limits.max_bundle_entries,
        transitions: cfg.transitions.clone(),
        referrals: Arc::new(crate::service::referrals::Referrals {
            partners: cfg.partners.clone(),
        }),
        payers: Arc::new(cfg.payers.clone()),
        derivations: cfg
            .derivations
            .enabled
            .then(|| cfg.derivations.screening.clone()),
        transitions_enabled: cfg.transitions.enabled,
        referrals_enabled: cfg.referrals.enabled,
        programs: Arc::new(
            crate::service::milestones::Programs::load(&cfg.programs, &cfg.enrolments)
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        risk: Arc::new(cfg.risk.clone()),
    };
    Ok(Arc::new(FhirService::new(
        store,
        registry,
        Profiles::builtin(),
        settings,
        clock,
    )))
}

/// Binds the listener, saying what to do when the address is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e} (is another server using it? choose another \
             address with --listen or `listen` in the configuration)"
        )
    })
}

/// Prints `tandem listening on http://ADDR` on stdout: with `--listen
/// 127.0.0.1:0` the kernel picks the port, and whoever started the process
/// (a supervisor, the test harness) learns it from this line.
pub fn announce(listener: &tokio::net::TcpListener) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "tandem listening on http://{}", listener.local_addr()?)?;
    out.flush()
}

/// Serves the FHIR API on `listener` until `shutdown` completes, then finishes
/// in-flight requests and closes the store.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_at(cfg, listener, shutdown, Arc::new(SystemClock)).await
}

/// [`serve`] on a given clock. Tests that replay weeks of a workflow (a
/// partner answering a referral days later) move this clock instead of
/// waiting; tokens, HTTP timeouts and the outbox's retry schedule keep
/// real time.
pub async fn serve_at(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let base_url = match &cfg.base_url {
        Some(_) => cfg.base_url(),
        None => format!("http://{}", listener.local_addr()?),
    };
    // The measures and the library versions they include are checked before
    // serving: a version Tandem does not implement stops start-up.
    crate::measure::catalog::Catalog::check()
        .map_err(|e| anyhow::anyhow!("measure catalog: {e}"))?;
    let svc = build_service_at(&cfg, &base_url, clock).await?;
    let published = svc
        .publish_milestones()
        .await
        .map_err(|e| anyhow::anyhow!("cannot publish the milestone Measures: {e}"))?;
    if published > 0 {
        tracing::info!(
            published,
            "milestone Measures published to enrolled practices"
        );
    }
    let capability = capability_statement(svc.registry(), svc.profiles(), &base_url).to_string();
    let mut tokens = Tokens::open(
        svc.store(),
        &base_url,
        cfg.auth.token_lifetime_secs as i64,
        cfg.auth.external_issuers.clone(),
        chrono::Utc::now().timestamp_millis(),
    )
    .await?;
    tokens.patient_lists = cfg.auth.patient_lists.clone();
    let tokens = Arc::new(tokens);
    let gate = if cfg.auth.enabled {
        Some(Arc::new(Gate::new(
            tokens.clone(),
            (cfg.auth.rate_per_second, cfg.auth.rate_burst),
            (cfg.auth.address_rate_per_second, cfg.auth.address_burst),
        )))
    } else {
        tracing::warn!(
            "AUTH IS DISABLED (auth.enabled = false): every caller has full access to every tenant. Never run this way with real data."
        );
        None
    };
    let state = AppState {
        svc: svc.clone(),
        base_url: base_url.clone(),
        default_tenant: cfg.default_tenant.clone(),
        trust_tenant_header: cfg.trust_tenant_header,
        tokens,
        gate,
        max_body_bytes: cfg.limits.max_body_bytes,
        body_read_timeout: Duration::from_secs(cfg.limits.body_read_timeout_secs),
        capability: Arc::new(capability),
    };
    let l = &cfg.limits;
    let limits = HttpLimits {
        request_timeout: Duration::from_secs(l.request_timeout_secs),
        max_header_bytes: l.max_header_bytes,
        budget: Arc::new(Budget::new(
            l.max_concurrent_requests,
            l.token_reserve,
            l.body_budget_bytes,
            l.max_body_bytes,
            Duration::from_millis(l.queue_wait_ms),
        )),
    };
    let conn_limits = ConnLimits {
        max_connections: l.max_connections,
        header_read_timeout: Duration::from_secs(l.header_read_timeout_secs),
    };
    tracing::info!(address = %listener.local_addr()?, database = %cfg.database, "tandem listening");
    let app = router(state, limits);
    let outbox = outbox_worker(&cfg, svc.store(), svc.clock())?.spawn();
    let sweeper = svc.clone();
    let (stop_sweeps, sweeps) = periodic(
        svc.store(),
        "overdue-sweep",
        if cfg.transitions.enabled {
            cfg.transitions.overdue_sweep_secs
        } else {
            0
        },
        false,
        move || {
            let svc = sweeper.clone();
            async move {
                match svc.sweep_overdue().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(tasks = n, "follow-up tasks marked overdue"),
                    Err(e) => tracing::error!(error = %e, "overdue sweep failed"),
                }
            }
        },
    );
    // The feed's first pass runs at start-up (catching up after downtime),
    // then every tick; each builds only quarters missing from the ledger.
    let feeder = svc.clone();
    let (stop_feed, feed) = periodic(
        svc.store(),
        "program-feed",
        if cfg.feed.enabled {
            cfg.feed.tick_secs
        } else {
            0
        },
        true,
        move || {
            let svc = feeder.clone();
            async move {
                svc.run_feed().await;
            }
        },
    );

    // Risk strata are kept as RiskAssessments: a pass every `[risk]
    // restratify_secs` after start-up — the day's first whole, the others
    // over the patients whose records changed — writing only what changed
    // (`$stratify` runs a whole one at once).
    let stratifier = svc.clone();
    let passes = Arc::new(parking_lot::Mutex::new(
        crate::service::risk::Passes::default(),
    ));
    let (stop_risk, risk) = periodic(
        svc.store(),
        "restratify",
        cfg.risk.restratify_secs,
        false,
        move || {
            let (svc, passes) = (stratifier.clone(), passes.clone());
            async move {
                // One pass at a time (`periodic` awaits each): the state is
                // taken for the pass and put back after it.
                let mut state = std::mem::take(&mut *passes.lock());
                match svc.restratify_all(&mut state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(patients = n, "risk strata changed"),
                    Err(e) => tracing::error!(error = %e, "re-stratification failed"),
                }
                *passes.lock() = state;
            }
        },
    );

    // The web app's run charts read monthly rates kept in the store.
    let charter = svc.clone();
    let every = match (cfg.app.charts_refresh_secs, cfg.app.refresh_at_start) {
        // Once at start, then not again (a century).
        (0, true) => 100 * 365 * 86_400,
        (secs, _) => secs,
    };
    let (stop_charts, charts) = periodic(
        svc.store(),
        "chart-refresh",
        every,
        cfg.app.refresh_at_start,
        move || {
            let svc = charter.clone();
            async move { svc.refresh_all_charts().await }
        },
    );

    crate::http::serve::serve(listener, app, conn_limits, shutdown).await?;
    let _ = stop_charts.send(true);
    let _ = charts.await;
    let _ = stop_risk.send(true);
    let _ = risk.await;
    let _ = stop_sweeps.send(true);
    let _ = sweeps.await;
    let _ = stop_feed.send(true);
    let _ = feed.await;
    outbox.stop().await;
    svc.shutdown().await;
    tracing::info!("tandem stopped; store closed");
    Ok(())
}

/// Runs job `name` every `secs` seconds (never when 0; first at once with
/// `at_start`) until stopped: the overdue sweep, the program feed,
/// re-stratification and the chart refresh. Every node ticks; the store's
/// job lease lets one node run each period (`store::jobs`).
fn periodic<F, Fut>(
    store: Arc<dyn crate::store::Store>,
    name: &'static str,
    secs: u64,
    at_start: bool,
    job: F,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        if secs == 0 {
            return;
        }
        let mut first = at_start;
        loop {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                    _ = stopped.changed() => return,
                }
            }
            // Wall-clock time: periods are about when nodes work, not the
            // clinical clock the service stamps records with.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let tick = crate::store::jobs::JobTick::at(name, secs, now_ms, first);
            first = false;
            match store.job_claim(tick).await {
                Ok(Some(lease)) => {
                    job().await;
                    if let Err(e) = store.job_release(name, lease).await {
                        tracing::warn!(job = name, error = %e, "job lease not released; it expires");
                    }
                }
                Ok(None) => tracing::debug!(job = name, "another node has this period"),
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "job not claimed; next tick retries")
                }
            }
        }
    });
    (stop, handle)
}

/// The outbox delivery worker with its channels, from config.
fn outbox_worker(
    cfg: &Config,
    store: Arc<dyn crate::store::Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<crate::exchange::outbox::Worker> {
    use crate::exchange::outbox::{Backoff, Channels, Worker, http_client};
    let n = &cfg.notifications;
    let client = http_client(Duration::from_secs(n.timeout_secs))?;
    let channels = Channels {
        practice: Arc::new(crate::exchange::practice::PracticeHooks::new(
            &n.endpoints,
            client.clone(),
        )),
        partner: Some(Arc::new(crate::exchange::partner::PartnerPush::new(
            &cfg.partners,
            client.clone(),
        )?)),
        program: Some(Arc::new(crate::exchange::program::ProgramFeed::new(
            &cfg.programs,
            client,
        )?)),
    };
    let backoff = Backoff {
        base_ms: n.retry_base_ms,
        max_ms: n.retry_max_ms,
        max_attempts: n.max_attempts,
        concurrency: n.concurrency,
    };
    Ok(Worker::new(store, channels, backoff, clock))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}
