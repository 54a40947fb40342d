//! Typed configuration, read once at start-up.
//!
//! Layers, later winning: built-in defaults, `tandem.toml` (or `--config FILE`),
//! `TANDEM_*` environment variables (nested keys with `__`, e.g.
//! `TANDEM_LIMITS__MAX_BUNDLE_ENTRIES=500`), then command-line flags. An invalid
//! value stops start-up with a message naming the key; nothing falls back silently.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::service::ValidationMode;

mod database;
pub use database::Database;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// A SQLite database file (the default) or a `postgres://` URL.
    pub database: Database,
    /// SQLite settings beyond the file.
    #[serde(default)]
    pub sqlite: SqliteConfig,
    /// PostgreSQL settings beyond the URL.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Public base URL; defaults to `http://{listen}`.
    pub base_url: Option<String>,
    /// Tenant (practice Organization id) used when a request names none.
    pub default_tenant: String,
    /// With auth disabled only: whether `X-Tandem-Tenant` / `X-Tandem-Client`
    /// headers choose the access context. With auth on, the token decides.
    pub trust_tenant_header: bool,
    /// Profile checks: strict (422), warn (accept, report) or off.
    pub validation: ValidationMode,
    /// Profiles applied to every resource of a type, e.g. `Patient = ["...us-core-patient"]`.
    pub default_profiles: HashMap<String, Vec<String>>,
    pub limits: Limits,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub derivations: DerivationConfig,
    pub notifications: NotificationConfig,
    /// Matching HIE notifications to the practice's patients.
    pub transitions: crate::service::transitions::TransitionRules,
    /// Behavioral-health partners and their care compacts (`[[partners]]`).
    pub partners: Vec<crate::rules::referral::compact::Partner>,
    /// Payers and the practices they send attribution lists to (`[[payers]]`).
    pub payers: Vec<crate::rules::attribution::Payer>,
    /// The referrals capability's switch.
    #[serde(default)]
    pub referrals: ReferralConfig,
    /// Reporting programs (`[[programs]]`): calendar, tracks, good standing,
    /// the submission endpoint.
    #[serde(default)]
    pub programs: Vec<crate::measure::milestone::program::Program>,
    /// Which practice is in which program (`[[enrolments]]`).
    #[serde(default)]
    pub enrolments: Vec<crate::measure::milestone::program::Enrolment>,
    /// The quarterly program feed's scheduler.
    #[serde(default)]
    pub feed: FeedConfig,
    /// The web app for people (`/app`).
    #[serde(default)]
    pub app: WebAppConfig,
    /// The risk-stratification method (building block 6).
    #[serde(default)]
    pub risk: crate::rules::risk::Method,
}

/// `[feed]`: how often the scheduler looks for quarters to submit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    pub enabled: bool,
    /// Seconds between looks (each builds only what is due and missing).
    pub tick_secs: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            enabled: true,
            tick_secs: 300,
        }
    }
}

/// `[app]`: the web app's background work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebAppConfig {
    /// Seconds between refreshes of the run charts' monthly rates (0:
    /// only on `$refresh-charts`).
    pub charts_refresh_secs: u64,
    /// Refresh them once when the server starts, too.
    pub refresh_at_start: bool,
}

impl Default for WebAppConfig {
    fn default() -> Self {
        WebAppConfig {
            charts_refresh_secs: 3600,
            refresh_at_start: true,
        }
    }
}

/// `[referrals]`: the referral Task workflow (409/422 on bad transitions),
/// automatic referrals of positive screens to configured partners, and
/// partner feedback, on every write.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    pub enabled: bool,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        ReferralConfig { enabled: true }
    }
}

/// SQLite settings beyond the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// Hand the writer's WAL frames to the kernel once per commit
    /// (`store/sqlite/walbuf.rs`). Off by default: it relies on when SQLite
    /// writes and publishes frames, beyond the VFS contract, and has no
    /// simulated power-loss proof yet.
    pub wal_buffer: bool,
}

/// PostgreSQL settings beyond the URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connections each node keeps at most. Several nodes share the
    /// server's `max_connections` (100 by default): size them together.
    pub pool_size: usize,
    /// How long a node's claim on an outbox message lasts before another
    /// node may take it (a node that died mid-delivery): longer than one
    /// delivery attempt can take.
    pub outbox_lease_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            pool_size: 16,
            outbox_lease_secs: 120,
        }
    }
}

impl Config {
    /// How the store is opened, from the layers above.
    pub fn store_options(&self) -> crate::store::OpenOptions {
        crate::store::OpenOptions {
            wal_buffer: self.sqlite.wal_buffer,
            pool_size: Some(self.postgres.pool_size),
            outbox_lease_ms: Some(self.postgres.outbox_lease_secs as i64 * 1000),
            query_budget: None,
        }
    }
}

/// Screening derivations (results, safety alerts, care plans) on writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DerivationConfig {
    pub enabled: bool,
    /// Program choices: PHQ-2 and EPDS cut-offs, Morse high band.
    #[serde(default)]
    pub screening: crate::rules::screening::ScreeningConfig,
}

/// Deliveries from the outbox to practices' endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// First retry delay; doubles per failed attempt.
    pub retry_base_ms: u64,
    /// Longest delay between attempts.
    pub retry_max_ms: u64,
    /// Per-attempt HTTP timeout.
    pub timeout_secs: u64,
    /// Attempts before a message is dead-lettered (kept, listed for operators,
    /// retryable with `$outbox-retry`).
    pub max_attempts: u32,
    /// Deliveries in flight at once (practice endpoints and partners together).
    pub concurrency: usize,
    /// Where each practice (tenant) receives its notifications.
    pub endpoints: Vec<crate::exchange::practice::Endpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// SMART Backend Services on every FHIR request. Turning it off is for
    /// local experiments only and is logged as a warning on every start.
    pub enabled: bool,
    /// Lifetime of issued access tokens (at most 300 s).
    pub token_lifetime_secs: u64,
    /// Requests per second per client before 429.
    pub rate_per_second: u32,
    /// Requests a client may send at once above its rate.
    pub rate_burst: u32,
    /// Unauthenticated work per source address and second: token requests
    /// and failed authentications. Above it (after `address_burst`) the
    /// address gets 429 with Retry-After, before any token is verified.
    pub address_rate_per_second: u32,
    /// Unauthenticated requests an address may send at once above its rate.
    pub address_burst: u32,
    /// Identity providers whose tokens are accepted besides Tandem's own.
    pub external_issuers: Vec<crate::auth::tokens::ExternalIssuer>,
    /// Who besides a practice's own staff sees its patient lists
    /// (drill-downs): `facilitator`, `program`, both, or nobody (the
    /// default: they see numbers only).
    #[serde(default)]
    pub patient_lists: Vec<crate::auth::users::UserRole>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Largest number of entries in a transaction or batch (413 above it).
    pub max_bundle_entries: usize,
    /// Requests taking longer are answered 408.
    pub request_timeout_secs: u64,
    /// Requests processed at once; further ones wait.
    pub max_concurrent_requests: usize,
    /// Largest total size of request headers (431 above it).
    pub max_header_bytes: usize,
    /// Connections open at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head (headers)
    /// within this time is closed — also an idle keep-alive connection.
    pub header_read_timeout_secs: u64,
    /// A body not received whole within this time is answered 408.
    pub body_read_timeout_secs: u64,
    /// Of `max_concurrent_requests`, slots only token requests may use, so
    /// a flood of other requests never stops token issuance.
    pub token_reserve: usize,
    /// How long a request waits for a slot before it is answered 503.
    pub queue_wait_ms: u64,
    /// Request bytes being worked on at once (large bodies take their size,
    /// bodies without a Content-Length the body limit); a body that does
    /// not fit waits for room, then 503.
    pub body_budget_bytes: usize,
    /// How long one client search (or history page) may run in the
    /// database before it is stopped and answered 422 `too-costly`.
    pub query_time_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `tandem=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("constant address"),
            database: Database::Sqlite(PathBuf::from("./tandem.db")),
            sqlite: SqliteConfig::default(),
            postgres: PostgresConfig::default(),
            base_url: None,
            default_tenant: "default".into(),
            trust_tenant_header: true,
            validation: ValidationMode::Warn,
            default_profiles: HashMap::new(),
            limits: Limits {
                max_body_bytes: 16 * 1024 * 1024,
                max_bundle_entries: 10_000,
                request_timeout_secs: 120,
                max_concurrent_requests: 256,
                max_header_bytes: 32 * 1024,
                max_connections: 1024,
                header_read_timeout_secs: 10,
                body_read_timeout_secs: 60,
                token_reserve: 16,
                queue_wait_ms: 10_000,
                body_budget_bytes: 64 * 1024 * 1024,
                query_time_ms: 10_000,
            },
            auth: AuthConfig {
                enabled: true,
                token_lifetime_secs: 300,
                rate_per_second: 1000,
                rate_burst: 2000,
                address_rate_per_second: 20,
                address_burst: 200,
                external_issuers: Vec::new(),
                patient_lists: Vec::new(),
            },
            derivations: DerivationConfig {
                enabled: true,
                screening: Default::default(),
            },
            transitions: Default::default(),
            partners: Vec::new(),
            payers: Vec::new(),
            referrals: ReferralConfig::default(),
            programs: Vec::new(),
            enrolments: Vec::new(),
            feed: FeedConfig::default(),
            app: WebAppConfig::default(),
            risk: Default::default(),
            notifications: NotificationConfig {
                retry_base_ms: 1000,
                retry_max_ms: 900_000,
                timeout_secs: 10,
                max_attempts: 12,
                concurrency: 32,
                endpoints: Vec::new(),
            },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
        }
    }
}

/// Command-line values that override every other layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
}

impl Config {
    /// Loads the layered configuration. `file` defaults to `./tandem.toml` when present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) if !f.exists() => {
                return Err(format!("config file {} does not exist", f.display()));
            }
            Some(f) => fig = fig.merge(Toml::file(f)),
            None if Path::new("tandem.toml").exists() => fig = fig.merge(Toml::file("tandem.toml")),
            None => {}
        }
        fig = fig
            .merge(Env::prefixed("TANDEM_").split("__"))
            .merge(Serialized::defaults(overrides));
        let cfg: Config = fig
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), String> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(format!(
                "invalid configuration: key 'log.level': '{}' is not a log filter ({e}); use e.g. 'info' or 'tandem=debug,warn'",
                self.log.level
            ));
        }
        if !crate::fhir::id::is_valid_id(&self.default_tenant) {
            return Err(format!(
                "invalid configuration: key 'default_tenant': '{}' is not a valid FHIR id",
                self.default_tenant
            ));
        }
        self.risk.check()?;
        let l = &self.limits;
        if self.postgres.pool_size < 2 {
            return Err(
                "invalid configuration: key 'postgres.pool_size' must be at least 2".into(),
            );
        }
        if self.postgres.outbox_lease_secs == 0 {
            return Err(
                "invalid configuration: key 'postgres.outbox_lease_secs' must be greater than zero"
                    .into(),
            );
        }
        if l.max_body_bytes == 0
            || l.max_bundle_entries == 0
            || l.max_concurrent_requests == 0
            || l.request_timeout_secs == 0
            || l.max_connections == 0
            || l.header_read_timeout_secs == 0
            || l.body_read_timeout_secs == 0
            || l.query_time_ms == 0
            || l.queue_wait_ms == 0
        {
            return Err(
                "invalid configuration: keys under 'limits' must be greater than zero".into(),
            );
        }
        if l.token_reserve >= l.max_concurrent_requests {
            return Err(
                "invalid configuration: key 'limits.token_reserve' must be less than \
                        'limits.max_concurrent_requests'"
                    .into(),
            );
        }
        if l.body_budget_bytes < l.max_body_bytes {
            return Err(
                "invalid configuration: key 'limits.body_budget_bytes' must be at least \
                        'limits.max_body_bytes' (one largest body must fit)"
                    .into(),
            );
        }
        if self.auth.token_lifetime_secs == 0 || self.auth.token_lifetime_secs > 300 {
            return Err(
                "invalid configuration: key 'auth.token_lifetime_secs' must be 1-300".into(),
            );
        }
        if let Some(r) = self.auth.patient_lists.iter().find(|r| {
            !matches!(
                r,
                crate::auth::users::UserRole::Facilitator | crate::auth::users::UserRole::Program
            )
        }) {
            return Err(format!(
                "invalid configuration: key 'auth.patient_lists' lists roles beyond a practice's \
                 own staff: facilitator or program, not {r:?}"
            ));
        }
        if self.auth.rate_per_second == 0 || self.limits.max_header_bytes == 0 {
            return Err("invalid configuration: 'auth.rate_per_second' and 'limits.max_header_bytes' must be greater than zero".into());
        }
        if self.auth.address_rate_per_second == 0 || self.auth.address_burst == 0 {
            return Err("invalid configuration: 'auth.address_rate_per_second' and 'auth.address_burst' must be greater than zero".into());
        }
        for e in &self.auth.external_issuers {
            if !crate::auth::jwks::url_allowed(&e.jwks_url) {
                return Err(format!(
                    "invalid configuration: external issuer '{}': jwks_url must be https",
                    e.issuer
                ));
            }
        }
        for e in &self.notifications.endpoints {
            // Notifications carry patient data: TLS, except to this machine.
            if !crate::auth::jwks::url_allowed(&e.url) {
                return Err(format!(
                    "invalid configuration: notification endpoint of tenant '{}': url must be https (http only to localhost)",
                    e.tenant
                ));
            }
        }
        for p in &self.payers {
            let ids = std::iter::once(&p.id).chain(&p.tenants);
            if p.tenants.is_empty() || ids.into_iter().any(|i| !crate::fhir::id::is_valid_id(i)) {
                return Err(format!(
                    "invalid configuration: payers: '{}' needs an id and tenants that are FHIR ids",
                    p.id
                ));
            }
        }
        for p in &self.partners {
            let urls = [p.endpoint.as_deref(), p.token_url.as_deref()];
            if urls
                .into_iter()
                .flatten()
                .any(|u| !crate::auth::jwks::url_allowed(u))
            {
                return Err(format!(
                    "invalid configuration: partner '{}': endpoint and token_url must be https (http only to localhost)",
                    p.id
                ));
            }
            if p.tenants.is_empty() || p.accepts.iter().any(|a| a.instrument.is_empty()) {
                return Err(format!(
                    "invalid configuration: partner '{}' needs the tenants holding its compact, and an instrument in each accepts entry",
                    p.id
                ));
            }
        }
        if self.notifications.retry_base_ms == 0
            || self.notifications.timeout_secs == 0
            || self.notifications.max_attempts == 0
            || self.notifications.concurrency == 0
        {
            return Err("invalid configuration: 'notifications.retry_base_ms', 'timeout_secs', 'max_attempts' and 'concurrency' must be greater than zero".into());
        }
        crate::service::milestones::Programs::load(&self.programs, &self.enrolments)?;
        if self.feed.tick_secs == 0 {
            return Err(
                "invalid configuration: key 'feed.tick_secs' must be greater than zero".into(),
            );
        }
        if let Some(b) = &self.base_url
            && !(b.starts_with("http://") || b.starts_with("https://"))
        {
            return Err(format!(
                "invalid configuration: key 'base_url': '{b}' must start with http:// or https://"
            ));
        }
        Ok(())
    }

    /// The public base URL without trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }
}
