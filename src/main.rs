//! The `tandem` binary: parse the command line, load config, run the command.

use clap::Parser;
use tandem::cli::{AppCommand, Cli, ClientCommand, Command, KeysCommand, UserCommand};
use tandem::config::{Config, LogFormat, Overrides};

/// Every allocation of the server goes through mimalloc (SQLite's already
/// did, see `store::sqlite::memory`). A request's JSON is parsed on one
/// thread, read on the SQLite writer and dropped on another: glibc's allocator
/// served those cross-thread frees under its arena locks and consolidated its
/// fast bins on the writer. With mimalloc the notification benchmark ran
/// faster than with glibc in 5 of 5 alternating rounds (README, notifications).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(cfg: &Config) {
    // `Config::load` refused a level that does not parse.
    let filter = tracing_subscriber::EnvFilter::new(&cfg.log.level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the command; a failure prints one line (what failed, and the cause
/// chain joined by `: `), with the full report and backtrace only when
/// `TANDEM_BACKTRACE=1` asks for it (not `RUST_BACKTRACE`, which machines
/// often set for every program).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if std::env::var_os("TANDEM_BACKTRACE").is_some_and(|v| v == "1") {
                eprintln!("tandem: {e:?}");
            } else {
                eprintln!("tandem: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // Process-wide SQLite settings first, before any thread or connection.
    if let Err(e) = tandem::store::sqlite::configure_process() {
        eprintln!("tandem: {e}");
        std::process::exit(70);
    }
    let cli = Cli::parse();
    // Generation reads no configuration and touches no store.
    if let Command::Generate(args) = &cli.command {
        return tandem::generate::cli(args);
    }
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen } => *listen,
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
                let listener = tandem::app::bind(cfg.listen).await?;
                tandem::app::announce(&listener)?;
                tandem::app::serve(cfg, listener, tandem::app::shutdown_signal()).await
            }
            Command::Import {
                paths,
                tenant,
                batch_size,
            } => tandem::import::run(&cfg, &paths, tenant, batch_size).await,
            Command::Measure(args) => tandem::measure_cli::run(&cfg, args).await,
            Command::Report(args) => tandem::report_cli::run(&cfg, args).await,
            Command::Generate(args) => tandem::generate::cli(&args),
            Command::Client { action } => run_client(&cfg, action).await,
            Command::App { action } => match action {
                AppCommand::Add {
                    client_id,
                    redirect_uris,
                    name,
                    scopes,
                } => {
                    tandem::admin_users::app_add(&cfg, client_id, redirect_uris, name, scopes).await
                }
                AppCommand::List => tandem::admin_users::app_list(&cfg).await,
                AppCommand::Remove { client_id } => {
                    tandem::admin_users::app_remove(&cfg, &client_id).await
                }
            },
            Command::User { action } => match action {
                UserCommand::Add {
                    name,
                    role,
                    practices,
                    password_stdin,
                } => {
                    tandem::admin_users::user_add(&cfg, &name, role, practices, password_stdin)
                        .await
                }
                UserCommand::List => tandem::admin_users::user_list(&cfg).await,
                UserCommand::Remove { name } => tandem::admin_users::user_remove(&cfg, &name).await,
            },
            Command::Token {
                client_id,
                key,
                server,
                scope,
            } => {
                let server = server.unwrap_or_else(|| cfg.base_url());
                let token =
                    tandem::admin::fetch_token(&server, &client_id, &key, scope.as_deref()).await?;
                println!("{token}");
                Ok(())
            }
            Command::Keys {
                action: KeysCommand::Rotate,
            } => tandem::admin::keys_rotate(&cfg).await,
            Command::Demo { .. } => tandem::admin::demo(cfg).await,
            Command::Backup { out } => {
                let db = sqlite_only(&cfg, "backup")?;
                let pages = tandem::store::sqlite::backup(db, &out).map_err(anyhow::Error::msg)?;
                println!(
                    "backed up {} ({pages} pages) to {}",
                    db.display(),
                    out.display()
                );
                Ok(())
            }
            Command::Restore { from } => {
                let db = sqlite_only(&cfg, "restore")?;
                let pages =
                    tandem::store::sqlite::restore(&from, db).map_err(anyhow::Error::msg)?;
                println!(
                    "restored {} ({pages} pages) as {}",
                    from.display(),
                    db.display()
                );
                Ok(())
            }
            Command::Migrate => {
                let version = tandem::store::migrate(&cfg.database)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot migrate {}: {e}", cfg.database))?;
                println!("{} is at schema version {version}", cfg.database);
                Ok(())
            }
            Command::Copy {
                from,
                to,
                tenant,
                batch,
            } => tandem::copy_cli::run(&cfg, &from, &to, tenant, batch).await,
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

/// The SQLite file of a command that only SQLite has; PostgreSQL's own
/// tools do that job for a PostgreSQL database.
fn sqlite_only<'a>(cfg: &'a Config, command: &str) -> anyhow::Result<&'a std::path::Path> {
    cfg.database.sqlite_path().ok_or_else(|| {
        anyhow::anyhow!(
            "tandem {command} works on a SQLite file; for PostgreSQL use its own tools \
             (pg_dump / pg_restore, or pg_basebackup and WAL archiving): see docs/operations.md"
        )
    })
}

async fn run_client(cfg: &Config, action: ClientCommand) -> anyhow::Result<()> {
    use tandem::admin::{KeySource, NewClient};
    match action {
        ClientCommand::Add {
            client_id,
            role,
            organization,
            name,
            scopes,
            jwks,
            jwks_url,
            generate_key,
        } => {
            let keys = match (jwks, jwks_url, generate_key) {
                (Some(f), _, _) => KeySource::Inline(f),
                (_, Some(u), _) => KeySource::Url(u),
                (_, _, Some(f)) => KeySource::Generate(f),
                _ => {
                    anyhow::bail!("give one of --jwks FILE, --jwks-url URL or --generate-key FILE")
                }
            };
            let c = NewClient {
                client_id,
                name,
                role,
                organization,
                scopes,
                keys,
            };
            tandem::admin::client_add(cfg, c).await
        }
        ClientCommand::List => tandem::admin::client_list(cfg).await,
        ClientCommand::Remove { client_id } => tandem::admin::client_remove(cfg, &client_id).await,
    }
}
