//! `tandem demo`'s population: on the first run, a generated practice
//! network (two practices, 2,000 patients over the current year) loaded
//! into the database, its program enrolment taken as configuration, and two
//! people to sign in to the web app with — a facilitator coaching both
//! practices and a member of practice-0's QI team (who sees patient lists).
//! Later runs reuse all of it. Passwords are generated and kept in
//! `tandem-demo/credentials.txt` (readable by the owner only), like the
//! demo client's key: local demo material, never for real data.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::auth::users::{self, User, UserRole};
use crate::config::{Config, Overrides};

/// Where the demo population and its credentials live.
pub const DIR: &str = "tandem-demo";
const PATIENTS: usize = 2000;
const PRACTICES: usize = 2;

/// The people the demo creates: (name, role, practices).
const PEOPLE: &[(&str, UserRole, &[&str])] = &[
    (
        "facilitator",
        UserRole::Facilitator,
        &["practice-0", "practice-1"],
    ),
    ("practice-0-qi", UserRole::Practice, &["practice-0"]),
];

/// Generates and loads the population when missing, enrols its practices
/// (unless the configuration names programs itself), and makes sure the
/// demo people exist. Returns the credentials to print.
pub async fn prepare(cfg: &mut Config) -> anyhow::Result<String> {
    let dir = PathBuf::from(DIR);
    let program = dir.join("program.toml");
    if !program.exists() {
        generate_and_load(cfg, &dir).await?;
    }
    if cfg.programs.is_empty() {
        let generated = Config::load(Some(&program), &Overrides::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", program.display()))?;
        cfg.programs = generated.programs;
        cfg.enrolments = generated.enrolments;
    }
    // The charts are computed when the server starts (and hourly after).
    cfg.app.refresh_at_start = true;
    people(cfg, &dir).await
}

async fn generate_and_load(cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    use chrono::Datelike;
    let opts = crate::generate::Options {
        patients: PATIENTS,
        practices: PRACTICES,
        seed: 2026,
        out: dir.to_path_buf(),
        year: chrono::Utc::now().year(),
        unassigned: 0.15,
    };
    println!("tandem demo: generating {PATIENTS} patients in {PRACTICES} practices into {DIR}/ …");
    crate::generate::run(&opts, |_| {})?;
    for i in 0..PRACTICES {
        let practice = format!("practice-{i}");
        let paths = [
            dir.join(format!("practices/{practice}.json")),
            dir.join(format!("bundles/{practice}")),
        ];
        crate::import::run(cfg, &paths, Some(practice), 200).await?;
    }
    Ok(())
}

async fn people(cfg: &Config, dir: &Path) -> anyhow::Result<String> {
    let file = dir.join("credentials.txt");
    let store = crate::admin::open_store(cfg).await?;
    let mut lines = Vec::new();
    let result: anyhow::Result<()> = async {
        for (name, role, practices) in PEOPLE {
            if store.get_user(name).await?.is_some() {
                continue;
            }
            let password = users::generate_password();
            let practices = practices.iter().map(|p| p.to_string()).collect();
            let user = User::new(
                name,
                *role,
                practices,
                &password,
                chrono::Utc::now().timestamp_millis(),
            )
            .map_err(anyhow::Error::msg)?;
            store.put_user(name, &serde_json::to_string(&user)?).await?;
            lines.push(format!("{name}\t{password}"));
        }
        Ok(())
    }
    .await;
    store.close().await;
    result?;
    if !lines.is_empty() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
        for l in &lines {
            writeln!(f, "{l}")?;
        }
    }
    Ok(std::fs::read_to_string(&file).unwrap_or_default())
}
