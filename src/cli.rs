//! Command-line interface (clap). `tandem --help` documents every command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Tandem: a FHIR R4 gateway for integrated primary and behavioral health care.
///
/// Configuration layers (later wins): defaults, tandem.toml (or --config),
/// TANDEM_* environment variables (nested keys joined with "__", e.g.
/// TANDEM_LIMITS__MAX_BODY_BYTES), then the flags below.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about, long_about)]
pub struct Cli {
    /// Configuration file (default: ./tandem.toml when it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// SQLite database file (default ./tandem.db) or a postgres:// URL.
    /// Overrides config and environment.
    #[arg(long, global = true)]
    pub database: Option<crate::config::Database>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the FHIR server (default 127.0.0.1:8080, database ./tandem.db).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080. Overrides config and environment.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Load FHIR JSON resources, Bundles (transaction, batch or collection) and
    /// NDJSON files (optionally .gz or .bz2 compressed) from files or directories.
    Import {
        /// Files or directories to load (directories are walked recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Tenant (practice Organization id) the data belongs to (default: config default_tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Resources per batch when loading NDJSON or collection Bundles.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Evaluate quality measures for a whole practice in one pass over its
    /// data and write one DEQM summary MeasureReport per measure to --out.
    Measure(MeasureArgs),
    /// A program's quarterly numbers (CQMs and milestones) for one practice
    /// or all, as CSV or JSON: the same numbers the quarterly feed sends.
    Report(ReportArgs),
    /// Write a deterministic synthetic population (FHIR transaction Bundles
    /// per patient, NDJSON per type, HIE notifications, payer attribution
    /// Groups) with an answers file of the results Tandem must reach.
    Generate(GenerateArgs),
    /// Register, list and remove API clients (SMART Backend Services).
    Client {
        #[command(subcommand)]
        action: ClientCommand,
    },
    /// Register, list and remove SMART apps that act for a signed-in person
    /// (standalone launch with PKCE against Tandem's authorization server).
    App {
        #[command(subcommand)]
        action: AppCommand,
    },
    /// Add, list and remove people's accounts (the web app's sign-in).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Get an access token from a running server with a client's private key
    /// (prints only the token, for scripts: curl -H "Authorization: Bearer $(tandem token ...)").
    Token {
        client_id: String,
        /// The client's private key (PEM, as written by `client add --generate-key`).
        #[arg(long)]
        key: PathBuf,
        /// Server base URL (default: the configured base URL).
        #[arg(long)]
        server: Option<String>,
        /// Scopes to ask for (default: all the client is allowed).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Manage Tandem's token-signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Secure quick start: registers a local `demo` EHR client (key in
    /// ./tandem-demo-key.pem), starts the server and prints a ready token and curl line.
    Demo {
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Copy the SQLite database while the server runs (SQLite's online
    /// backup API), checked and synced; never overwrites a file.
    Backup {
        /// The new file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a backup the database (the server stopped; the database file
    /// must not exist: move the old one away first).
    Restore {
        /// The backup file.
        from: PathBuf,
    },
    /// Create or upgrade the database schema and exit (servers also do this
    /// when they start; several may start together).
    Migrate,
    /// Copy practices' resources with their whole history (ids, versions,
    /// times, deletions) from one database to another, e.g. a SQLite file
    /// to PostgreSQL; run it again to finish an interrupted copy.
    Copy {
        /// The source: a SQLite file (`sqlite:PATH` or a path) or a postgres:// URL.
        #[arg(long)]
        from: crate::config::Database,
        /// The target (created and migrated as needed).
        #[arg(long)]
        to: crate::config::Database,
        /// Copy only this practice (repeatable); default every practice.
        #[arg(long)]
        tenant: Vec<String>,
        /// Versions per target transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Print the CapabilityStatement this build serves
    /// (regenerate the checked-in copy: tandem capability > conformance/CapabilityStatement.json).
    Capability,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register (or update) a client.
    Add {
        client_id: String,
        /// ehr, hie, bh-partner, reporting, admin (its own practice) or operator
        /// (the hosting operator: any tenant, every tenant's audit trail).
        #[arg(long, value_enum)]
        role: crate::auth::Role,
        /// The Organization id the client acts for (its practice, for ehr),
        /// e.g. `clinic-1`; `Organization/clinic-1` is accepted too.
        #[arg(long, value_parser = organization_id)]
        organization: String,
        #[arg(long)]
        name: Option<String>,
        /// Allowed scopes, space separated (default depends on the role).
        #[arg(long)]
        scopes: Option<String>,
        /// The client's public JWK Set (file).
        #[arg(long, group = "keys")]
        jwks: Option<PathBuf>,
        /// Where the client publishes its JWK Set (https).
        #[arg(long, group = "keys")]
        jwks_url: Option<String>,
        /// Generate a key pair and write the private key to this (new) file.
        #[arg(long, group = "keys")]
        generate_key: Option<PathBuf>,
    },
    /// List registered clients.
    List,
    /// Remove a client.
    Remove { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add (or update) a user. The password is read from standard input
    /// with --password-stdin, or generated and printed once.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: crate::auth::users::UserRole,
        /// Organization ids, comma separated: a facilitator's practices, a
        /// practice user's own.
        #[arg(long, value_delimiter = ',')]
        practices: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (name, role, practices).
    List,
    /// Remove a user.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register (or update) an app.
    Add {
        client_id: String,
        /// Where codes may be sent (exact match; https, or http on loopback).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Allowed scopes, space separated.
        #[arg(long, default_value = "openid fhirUser offline_access user/*.rs")]
        scopes: String,
    },
    /// List registered apps.
    List,
    /// Remove an app (its refresh tokens stop working).
    Remove { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start signing with a new key; the old one verifies for 10 more minutes.
    Rotate,
}

/// Arguments of `tandem measure`.
#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// Measurement period: a year (2026), the twelve months ending with a
    /// quarter (2026Q3), or START..END dates (2026-01-01..2026-06-30).
    #[arg(long)]
    pub period: String,
    /// Tenant (practice Organization id) to evaluate (default: config default_tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Directory for the MeasureReports (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Measures to evaluate (CMS122, CMS122-2026, …; repeatable). Default: all.
    #[arg(long = "measure")]
    pub measures: Vec<String>,
    /// A SIM measure set to evaluate: adult, pediatric or cpc (SIM + CPC+ adult sites).
    #[arg(long)]
    pub cohort: Option<String>,
    /// Write subject-list reports (patients per population) instead of summaries.
    #[arg(long)]
    pub subject_list: bool,
}

/// Arguments of `tandem report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The program (`[[programs]]` id).
    #[arg(long)]
    pub program: String,
    /// The quarter, e.g. 2026Q3.
    #[arg(long)]
    pub period: String,
    /// Only this practice (default: every practice enrolled in the program).
    #[arg(long)]
    pub practice: Option<String>,
    #[arg(long, value_enum, default_value_t = crate::report_cli::Format::Csv)]
    pub format: crate::report_cli::Format,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `tandem generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Number of patients.
    #[arg(long)]
    pub patients: usize,
    /// Number of practices (tenants) the patients are spread over.
    #[arg(long, default_value_t = 1)]
    pub practices: usize,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The last of the three years of data, and the measurement year answered.
    #[arg(long, default_value_t = 2026)]
    pub year: i32,
    /// Share of patients without a PCP (0.0–1.0).
    #[arg(long, default_value_t = 0.15, value_parser = fraction)]
    pub unassigned: f64,
}

fn fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!("{f} is not between 0 and 1"))
    }
}

/// `--organization`: an Organization's FHIR id, given bare or as a relative
/// reference. Anything else is refused with the form it should take.
fn organization_id(s: &str) -> Result<String, String> {
    let id = s.strip_prefix("Organization/").unwrap_or(s);
    if crate::fhir::id::is_valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(format!(
            "expected the practice Organization's FHIR id, e.g. `clinic-1` or \
             `Organization/clinic-1` (1-64 of A-Z a-z 0-9 - .), not `{s}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::organization_id;

    #[test]
    fn organization_is_an_id_or_a_relative_reference() {
        assert_eq!(organization_id("clinic-1").unwrap(), "clinic-1");
        assert_eq!(
            organization_id("Organization/clinic-1").unwrap(),
            "clinic-1"
        );
        for bad in [
            "",
            "Practitioner/x",
            "https://x.org/Organization/1",
            "a b",
            "Organization/",
        ] {
            let e = organization_id(bad).unwrap_err();
            assert!(e.contains("e.g. `clinic-1`"), "{bad}: {e}");
        }
    }
}
