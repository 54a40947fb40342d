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
    /// SQLite database file (default ./tandem.db). Overrides config and environment.
    #[arg(long, global = true)]
    pub database: Option<PathBuf>,
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
    /// Print the CapabilityStatement this build serves
    /// (regenerate the checked-in copy: tandem capability > conformance/CapabilityStatement.json).
    Capability,
}
