//! Use-cases of the FHIR API. One write = one store transaction covering
//! validation results, storage, index rows (and, in later issues, derivations
//! and outbox messages). Handlers call this layer; it alone talks to the store.

pub(crate) mod attribution;
pub(crate) mod caregaps;
pub mod charts;
pub mod feed;
pub(crate) mod fhir_api;
pub(crate) mod hooks;
pub(crate) mod managed;
pub(crate) mod measures;
pub(crate) mod milestones;
mod outbox_admin;
pub(crate) mod population;
pub(crate) mod referrals;
mod report;
pub(crate) mod risk;
pub(crate) mod screening;
pub(crate) mod security;
pub(crate) mod transitions;

use std::collections::HashMap;
use std::sync::Arc;

use crate::fhir::outcome::Issue;
use crate::fhir::params::Registry;
use crate::fhir::profile::Profiles;
use crate::store::{AccessContext, Store, StoreError};

/// Store types the HTTP layer renders; it names them through the service.
pub use crate::store::{HistoryScope, StoredResource};
pub use fhir_api::capability::{CANONICAL_BASE, capability_statement};
pub use fhir_api::crud::{Conditional, WriteRequest};
pub use fhir_api::resource::{Prefer, WriteResult};
pub use fhir_api::search::SearchResult;
pub use measures::operations::measure_resource;
pub use milestones::MAX_EVIDENCE_BYTES;
pub use security::audit_log::TokenEvent;

/// How profile violations are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// Reject with 422.
    Strict,
    /// Accept, and return the issues as warnings.
    Warn,
    /// Skip profile checks (structural checks always run).
    Off,
}

/// Settings of the FHIR service, taken from the typed config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public base URL used in `Location`, `fullUrl` and links.
    pub base_url: String,
    pub validation: ValidationMode,
    /// Profiles applied to every resource of a type, whether claimed or not.
    pub default_profiles: HashMap<String, Vec<String>>,
    pub max_bundle_entries: usize,
    /// How HIE notifications are matched to the practice's patients.
    pub transitions: transitions::TransitionRules,
    /// Partners and their care compacts.
    pub referrals: Arc<referrals::Referrals>,
    /// Payers and the practices they send attribution lists to.
    pub payers: Arc<Vec<crate::rules::attribution::Payer>>,
    /// Screening derivations, or `None` to store inputs without deriving.
    pub derivations: Option<crate::rules::screening::ScreeningConfig>,
    /// The transitions-of-care hook (held notifications filed, follow-up
    /// Tasks completed by their evidence).
    pub transitions_enabled: bool,
    /// The referrals hook (Task workflow, automatic referrals, feedback).
    pub referrals_enabled: bool,
    /// Reporting programs and who is enrolled in them.
    pub programs: Arc<milestones::Programs>,
    /// The risk-stratification method.
    pub risk: Arc<crate::rules::risk::Method>,
}

/// The clock, passed in so tests and derivations can control time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The FHIR service shared by every handler.
pub struct FhirService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    profiles: Profiles,
    settings: Settings,
    clock: Arc<dyn Clock>,
    audit: security::audit_log::AuditLog,
    /// Each enabled capability's post-write hook, in the order they run.
    hooks: Arc<Vec<Box<dyn hooks::PostWriteHook>>>,
}

/// Errors of the service layer; `http::error` renders them as OperationOutcome.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("bad request")]
    BadRequest(Vec<Issue>),
    #[error("not found")]
    NotFound(Issue),
    #[error("gone")]
    Gone(Issue),
    #[error("conflict")]
    Conflict(Issue),
    #[error("forbidden")]
    Forbidden(Issue),
    #[error("method not allowed")]
    MethodNotAllowed(Issue),
    #[error("precondition failed")]
    PreconditionFailed(Issue),
    #[error("unprocessable")]
    Unprocessable(Vec<Issue>),
    #[error("payload too large")]
    TooLarge(Issue),
    #[error("unavailable")]
    Unavailable,
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn bad(issue: Issue) -> ServiceError {
        ServiceError::BadRequest(vec![issue])
    }

    /// The HTTP status and OperationOutcome issues of this error. The one
    /// mapping used for whole responses and for failed Bundle entries alike.
    pub fn status_and_issues(self) -> (u16, Vec<Issue>) {
        match self {
            ServiceError::BadRequest(v) => (400, v),
            ServiceError::NotFound(i) => (404, vec![i]),
            ServiceError::Gone(i) => (410, vec![i]),
            ServiceError::Conflict(i) => (409, vec![i]),
            ServiceError::Forbidden(i) => (403, vec![i]),
            ServiceError::MethodNotAllowed(i) => (405, vec![i]),
            ServiceError::PreconditionFailed(i) => (412, vec![i]),
            ServiceError::Unprocessable(v) => (422, v),
            ServiceError::TooLarge(i) => (413, vec![i]),
            ServiceError::Unavailable => (
                503,
                vec![Issue::error(
                    "transient",
                    "The server is shutting down; retry shortly.",
                )],
            ),
            ServiceError::Internal(_) => (500, vec![Issue::error("exception", "Internal error.")]),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ServiceError::Conflict(Issue::error(
                "conflict",
                format!("{m}; re-read the resource and retry."),
            )),
            StoreError::BadCursor => ServiceError::bad(Issue::error(
                "invalid",
                "The paging cursor is not valid; restart the search from its first page.",
            )),
            StoreError::Closed => ServiceError::Unavailable,
            StoreError::Aborted => {
                ServiceError::Internal("unit of work aborted without an error".into())
            }
            StoreError::Backend(m) => ServiceError::Internal(m),
            StoreError::TooCostly(m) => ServiceError::Unprocessable(vec![Issue::error(
                "too-costly",
                format!(
                    "The search is too costly: {m}. Narrow it (fewer _has, chained or OR-ed \
                     values, a date range, a patient), or drop _total=accurate."
                ),
            )]),
        }
    }
}

impl FhirService {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        profiles: Profiles,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> FhirService {
        let audit = security::audit_log::AuditLog::start(store.clone());
        let mut registered: Vec<Box<dyn hooks::PostWriteHook>> = Vec::new();
        if let Some(c) = settings.derivations.clone() {
            registered.push(Box::new(screening::ScreeningHook(Arc::new(
                screening::Deriver::new(c),
            ))));
        }
        if settings.transitions_enabled {
            registered.push(Box::new(hooks::TransitionsHook(
                settings.transitions.clone(),
            )));
        }
        // Attribution lists are checked whatever else is switched on: a
        // list Tandem cannot reconcile is refused when it is sent.
        registered.push(Box::new(attribution::AttributionHook));
        // Tier overrides are checked whatever else is switched on: one Tandem
        // cannot apply is refused when it is sent.
        registered.push(Box::new(risk::RiskHook(settings.risk.clone())));
        if settings.referrals_enabled {
            registered.push(Box::new(hooks::ReferralsHook(settings.referrals.clone())));
        }
        if !settings.programs.practices().is_empty() {
            registered.push(Box::new(milestones::MilestonesHook(
                settings.programs.clone(),
            )));
        }
        let names: Vec<&str> = registered.iter().map(|h| h.name()).collect();
        tracing::info!(hooks = ?names, "post-write hooks registered");
        FhirService {
            hooks: Arc::new(registered),
            store,
            registry,
            profiles,
            settings,
            clock,
            audit,
        }
    }

    /// Today (UTC) on the service clock.
    pub(crate) fn today(&self) -> chrono::NaiveDate {
        crate::fhir::datetime::utc_date(self.clock.now_ms())
    }

    /// The service clock (shared with the outbox worker's bookkeeping).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The post-write hooks for a unit of work of `ctx` (none when every
    /// capability is off).
    pub(crate) fn write_hooks(&self, ctx: &AccessContext) -> hooks::Unit {
        hooks::Unit {
            hooks: self.hooks.clone(),
            stamper: self.stamper(),
            tenant: ctx.tenant.clone(),
            writer: referrals::Writer {
                org: ctx.grant.org.clone(),
                guest: ctx.guest,
                role: ctx.grant.role,
                client: ctx.client_id.clone(),
                person: ctx.grant.person.as_ref().map(|p| p.name.clone()),
            },
        }
    }

    /// The store, for the security layer (client registry, keys).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Closes the store: finishes queued writes and releases the database.
    pub async fn shutdown(&self) {
        self.audit.close().await;
        self.store.close().await;
    }
}
