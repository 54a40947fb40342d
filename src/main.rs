//! The `tandem` binary: parse the command line, load config, run the command.

use clap::Parser;
use tandem::cli::{Cli, Command};
use tandem::config::{Config, LogFormat, Overrides};

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        listen,
        database: cli.database.clone(),
    };
    let cfg = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("tandem: {e}");
            std::process::exit(2);
        }
    };
    init_tracing(&cfg);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => {
                let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
                tandem::app::serve(cfg, listener, tandem::app::shutdown_signal()).await
            }
            Command::Import {
                paths,
                tenant,
                batch_size,
            } => tandem::import::run(&cfg, &paths, tenant, batch_size).await,
            Command::Capability => {
                let registry = tandem::fhir::params::Registry::builtin();
                let profiles = tandem::fhir::profile::Profiles::builtin();
                let cs = tandem::service::capability_statement(
                    &registry,
                    &profiles,
                    tandem::service::CANONICAL_BASE,
                );
                println!("{}", serde_json::to_string_pretty(&cs)?);
                Ok(())
            }
        }
    })
}
