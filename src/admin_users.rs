//! `tandem user add|list|remove`: people's accounts for the web app (see
//! `auth::users`). A password is read from standard input or generated and
//! printed once; it is never an argument (arguments show in `ps` and shell
//! history).

use std::io::Read;

use crate::auth::users::{self, User, UserRole};
use crate::config::Config;

/// `tandem user add`.
pub async fn user_add(
    cfg: &Config,
    name: &str,
    role: UserRole,
    practices: Vec<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (users::generate_password(), true)
    };
    let now = chrono::Utc::now().timestamp_millis();
    let user = User::new(name, role, practices, &password, now).map_err(anyhow::Error::msg)?;
    let store = crate::admin::open_store(cfg)?;
    let new = store.put_user(name, &serde_json::to_string(&user)?).await?;
    store.close().await;
    println!(
        "{} user '{name}' ({role:?})",
        if new { "added" } else { "updated" }
    );
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

/// `tandem user list`: names, roles and practices, never the hashes.
pub async fn user_list(cfg: &Config) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg)?;
    let docs = store.list_users().await?;
    store.close().await;
    for doc in docs {
        let u: User = serde_json::from_str(&doc)?;
        println!("{}\t{:?}\t{}", u.name, u.role, u.practices.join(","));
    }
    Ok(())
}

/// `tandem user remove`.
pub async fn user_remove(cfg: &Config, name: &str) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg)?;
    let removed = store.remove_user(name).await?;
    store.close().await;
    if !removed {
        anyhow::bail!("no user '{name}'");
    }
    println!("removed user '{name}'");
    Ok(())
}
